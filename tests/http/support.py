"""Helpers shared by the HTTP layer's tests: tiny policies and client builders."""

from __future__ import annotations

import itertools
from typing import Any

from integrations.http.client import HttpClient, HttpPolicy

_names = itertools.count(1)


def tiny_policy(**overrides: Any) -> HttpPolicy:
    """Return a policy with short timeouts and millisecond backoff."""
    values: dict[str, Any] = {
        "connect_timeout": 2.0,
        "read_timeout": 2.0,
        "retry_budget": 10.0,
        "max_retries": 3,
        "backoff_base": 0.001,
        "backoff_cap": 0.01,
    }
    values.update(overrides)
    return HttpPolicy(**values)


def unique_name(prefix: str = "test") -> str:
    """Return an integration name no other test uses (metrics are per process)."""
    return f"{prefix}-{next(_names)}"


def make_client(
    base_url: str, *, policy: HttpPolicy | None = None, **kwargs: Any
) -> HttpClient:
    """Return a client for ``base_url`` with a fresh integration name."""
    kwargs.setdefault("integration", unique_name())
    return HttpClient(base_url=base_url, policy=policy or tiny_policy(), **kwargs)
