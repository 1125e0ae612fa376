"""The YouTube provider's settings: sources, and errors that name the setting."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from integrations.providers.youtube.provider import parse_settings
from integrations.registry import get_provider

CHANNEL = "UC" + "a" * 22


def test_playlist_ids_go_fifty_to_a_call_then_the_channel():
    ids = [f"PL{number:03d}" for number in range(60)]

    config, problems = parse_settings({"playlist_ids": ids, "channel_id": CHANNEL})

    assert problems == []
    sources = config.sources()
    assert [len(source.get("id", "").split(",")) for source in sources[:2]] == [50, 10]
    assert sources[2] == {"channelId": CHANNEL}


def test_mine_reads_the_signed_in_accounts_playlists():
    config, problems = parse_settings({"mine": True})

    assert problems == []
    assert config.sources() == [{"mine": "true"}]


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({}, "playlist_ids: set playlist_ids or channel_id"),
        ({"mine": False}, "playlist_ids: set playlist_ids or channel_id"),
        ({"playlist_ids": ["PL ok"]}, "playlist_ids.0: 'PL ok' is not a YouTube"),
        ({"playlist_ids": ["PLa", "PLa"]}, "playlist_ids: an id is listed twice"),
        ({"playlist_ids": [f"PL{n}" for n in range(501)]}, "playlist_ids: at most 500"),
        ({"channel_id": "@school"}, "channel_id: '@school' is not a YouTube channel"),
        ({"playlist_ids": "PLa"}, "playlist_ids"),
        ({"mine": "yes"}, "mine"),
    ],
)
def test_bad_settings_name_the_setting(values, problem):
    config, problems = parse_settings(values)

    assert config is None
    assert any(message.startswith(problem) for message in problems), problems


def test_validate_settings_lists_every_problem():
    provider = get_provider("youtube")

    with pytest.raises(ValidationError) as caught:
        provider.validate_settings({"playlist_ids": ["bad id"], "channel_id": "x"})

    text = str(caught.value)
    assert "playlist_ids.0" in text
    assert "channel_id" in text
