"""A scratch PostgreSQL database for a benchmark's ``--database-url``.

The benchmark creates the database it is given, runs there and drops it at
the end; it refuses one that already exists, so it never runs on (and
drops) a database someone uses. Any other URL (SQLite) is used as it is.
"""

from __future__ import annotations

import sys
from urllib.parse import urlsplit, urlunsplit

DATABASE_FLAG = "--database-url"


def flag_value(name: str) -> str | None:
    """Return the value after ``name`` on the command line, if it is there.

    Read before Django starts, as the settings take the database from the
    environment.
    """
    if name in sys.argv[:-1]:
        return sys.argv[sys.argv.index(name) + 1]
    return None


def is_postgres(url: str) -> bool:
    """Tell whether ``url`` names a PostgreSQL database."""
    return url.startswith(("postgres://", "postgresql://"))


def create_scratch(url: str, default_name: str) -> tuple[str, str]:
    """Create the PostgreSQL database ``url`` names; return its URL and name."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/") or default_name
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if exists:
            raise SystemExit(
                f"database {name!r} already exists; name a scratch database that "
                "does not, the benchmark creates and drops it"
            )
        connection.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}")), name


def drop_scratch(url: str, name: str) -> None:
    """Drop the scratch database ``name`` that ``url`` points at."""
    import psycopg

    admin = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
