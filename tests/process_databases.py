"""Fresh databases for tests that run the portal in processes of their own.

A test that kills a syncing process needs a database that outlives the
process and that no other test shares. The database follows DATABASE_URL:
SQLite by default (a file copied per test from a migrated template), or
PostgreSQL when DATABASE_URL selects it (a database created per test from a
template database on the same server, dropped at the end).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_SCHEMES = ("postgres", "postgresql", "pgsql")


class ProcessDatabases:
    """Make copies of one template database for processes to work on."""

    def __init__(self, root: Path, prefix: str, env: dict[str, str] | None = None):
        url = os.environ.get("DATABASE_URL", "")
        self.server = url if url.split("://", 1)[0] in POSTGRES_SCHEMES else None
        self.root = root
        self.prefix = prefix
        self.extra_env = dict(env or {})
        self.names: list[str] = []
        self.template_url = self.create("template")
        self.template_name = self.names[0]

    @classmethod
    @contextmanager
    def migrated(
        cls, root: Path, prefix: str, env: dict[str, str] | None = None
    ) -> Iterator[ProcessDatabases]:
        """Yield a maker whose template holds the portal's tables; drop all after."""
        databases = cls(root, prefix, env)
        try:
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
                cwd=ROOT,
                env=databases.env(databases.template_url),
                check=True,
            )
            yield databases
        finally:
            databases.drop_all()

    def create(self, label: str, template: str | None = None) -> str:
        """Return the URL of a new database (a copy of ``template`` if given)."""
        if self.server is None:
            path = self.root / f"{label}-{len(self.names)}.sqlite3"
            if template is not None:
                shutil.copyfile(template, path)
            self.names.append(str(path))
            return f"sqlite:///{path}"

        name = f"{self.prefix}_{os.getpid()}_{label}_{len(self.names)}"
        statement = f'CREATE DATABASE "{name}"'
        if template is not None:
            statement += f' TEMPLATE "{template}"'
        self.execute(statement)
        self.names.append(name)
        return urlunsplit(urlsplit(self.server)._replace(path=f"/{name}"))

    def copy(self) -> str:
        """Return the URL of a fresh copy of the template."""
        return self.create("run", template=self.template_name)

    def env(self, database_url: str) -> dict[str, str]:
        """Return the environment of a process working on ``database_url``."""
        return {
            **os.environ,
            "DATABASE_URL": database_url,
            "CACHE_URL": "locmemcache://",
            **self.extra_env,
        }

    def drop_all(self) -> None:
        """Drop the PostgreSQL databases made (SQLite files go with their folder)."""
        if self.server is not None:
            for name in reversed(self.names):
                self.execute(f'DROP DATABASE IF EXISTS "{name}"')

    def execute(self, statement: str) -> None:
        """Run one statement on the server's maintenance database."""
        import psycopg

        maintenance = urlunsplit(urlsplit(self.server)._replace(path="/postgres"))
        with psycopg.connect(maintenance, autocommit=True) as connection:
            connection.execute(statement)
