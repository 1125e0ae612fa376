"""YouTube's ISO 8601 durations, read strictly."""

from __future__ import annotations

import pytest

from integrations.providers.youtube.duration import DurationError, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT4M13S", 253),
        ("PT1H2M3S", 3723),
        ("PT1H", 3600),
        ("PT59S", 59),
        ("PT10M", 600),
        ("P1DT2H3M", 93780),
        ("P1D", 86400),
        ("P1W2DT3S", 777603),
        ("PT0S", 0),
        ("P0D", 0),
        ("PT120M", 7200),
    ],
)
def test_durations_read_as_seconds(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "",
        "P",
        "PT",
        "P1DT",
        "4M13S",
        "PT4M13",
        "pt4m13s",
        "PT1.5S",
        "P1Y",
        "P1M",
        "PT-1S",
        "PT4S3M",
        " PT4M13S",
        "PT4M13S\n",
        "PT\u0661S",
        "live",
    ],
)
def test_anything_else_is_refused_with_the_form_it_expects(text):
    with pytest.raises(DurationError, match="P#DT#H#M#S"):
        parse_duration(text)


def test_a_value_that_is_not_text_is_refused():
    with pytest.raises(DurationError, match="got int"):
        parse_duration(253)
