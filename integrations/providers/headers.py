"""Reading the numeric headers services send, such as rate-limit counters."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from integrations.http.response import HttpResponse


def number_header(response: HttpResponse, name: str) -> float | None:
    """Return a numeric header, or None when it is absent or unreadable."""
    raw = (response.headers.get(name) or "").strip()
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
