"""Read YouTube's ISO 8601 durations (``contentDetails.duration``) strictly.

YouTube gives a video's length as an ISO 8601 duration: ``PT4M13S``,
``PT1H2M3S``, ``P1DT2H3M`` for very long streams, ``PT0S`` or ``P0D`` for a
live broadcast that has no length yet. Only the forms without years and
months are accepted: their length in seconds is unambiguous.
(developers.google.com/youtube/v3/docs/videos#contentDetails.duration)
"""

from __future__ import annotations

import re

_DURATION = re.compile(
    r"P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?",
    re.ASCII,
)
_SECONDS = {
    "weeks": 604_800,
    "days": 86_400,
    "hours": 3_600,
    "minutes": 60,
    "seconds": 1,
}


class DurationError(ValueError):
    """A text is not a duration of the form P#W#DT#H#M#S."""


def parse_duration(text: str) -> int:
    """Return the seconds an ISO 8601 duration such as ``PT1H2M3S`` lasts.

    Raise DurationError for anything else: years or months, fractions,
    signs, spaces, a ``T`` with nothing after it, or no figure at all.
    """
    if not isinstance(text, str):
        raise DurationError(f"expected an ISO 8601 duration, got {type(text).__name__}")
    match = _DURATION.fullmatch(text)
    if match is None or text.endswith("T") or text == "P":
        raise DurationError(
            f"{text[:40]!r} is not an ISO 8601 duration of the form P#DT#H#M#S "
            "(for example PT4M13S)"
        )

    figures = match.groupdict()
    return sum(int(value) * _SECONDS[unit] for unit, value in figures.items() if value)
