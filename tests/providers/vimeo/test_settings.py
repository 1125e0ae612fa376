"""The Vimeo provider's settings: sources, and errors that name the setting."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from integrations.providers.vimeo.provider import parse_settings
from integrations.registry import get_provider


def test_a_user_its_showcases_and_single_videos_are_read_in_order():
    config, problems = parse_settings(
        {"user_id": "101193", "showcase_ids": [55, "66"], "video_ids": ["77"]}
    )

    assert problems == []
    assert config.showcase_ids == ("55", "66")
    assert config.video_sources() == [
        ("listing", "/users/101193/videos"),
        ("listing", "/users/101193/albums/55/videos"),
        ("listing", "/users/101193/albums/66/videos"),
        ("video", "/videos/77"),
    ]


def test_me_and_no_user_read_showcases_under_me():
    me, _ = parse_settings({"user_id": "me", "showcase_ids": ["5"]})
    nobody, _ = parse_settings({"showcase_ids": ["5"]})

    assert me.video_sources()[0] == ("listing", "/me/videos")
    assert me.showcase_path("5") == nobody.showcase_path("5") == "/me/albums/5"
    assert [kind for kind, _ in nobody.video_sources()] == ["listing"]


@pytest.mark.parametrize(
    ("values", "start"),
    [
        ({}, "user_id: set user_id"),
        ({"user_id": "../admin"}, "user_id: '../admin' is not a Vimeo user"),
        ({"showcase_ids": ["abc"]}, "showcase_ids.0: 'abc' is not a Vimeo id"),
        ({"video_ids": ["1", True]}, "video_ids.1: True is not a Vimeo id"),
        ({"video_ids": ["1", 1]}, "video_ids: an id is listed twice"),
        ({"video_ids": [str(n) for n in range(501)]}, "video_ids: at most 500"),
        ({"showcase_ids": "55"}, "showcase_ids"),
        ({"user_id": "me", "colour": "red"}, "colour"),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(values, start):
    config, problems = parse_settings(values)

    assert config is None
    assert any(problem.startswith(start) for problem in problems), problems


def test_validate_settings_lists_every_problem():
    provider = get_provider("vimeo")

    with pytest.raises(ValidationError) as caught:
        provider.validate_settings({"showcase_ids": ["x"], "video_ids": ["y"]})

    problems = caught.value.message_dict["settings"]
    assert [problem.split(":")[0] for problem in problems] == [
        "showcase_ids.0",
        "video_ids.0",
    ]
