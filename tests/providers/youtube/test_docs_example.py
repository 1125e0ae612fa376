"""The example in docs/providers/youtube.md applies and syncs as written."""

from __future__ import annotations

import pytest
import yaml

from integrations.declarative import apply_document, parse_document
from integrations.models import Integration, SyncStatus
from integrations.sync.runs import run_sync_now
from portal.learning.models import Playlist, Video
from tests.provider_docs import doc_block


def test_doc_example_keeps_the_key_out_of_the_file():
    example = yaml.safe_load(doc_block("youtube"))["integrations"][0]

    assert example["provider"] == "youtube"
    assert example["credentials"] == {"api_key": "${YOUTUBE_API_KEY}"}


@pytest.mark.django_db
def test_doc_example_applies_and_syncs_against_the_fake(youtube, api_key):
    settings = yaml.safe_load(doc_block("youtube"))["integrations"][0]["settings"]
    channel = youtube.add_channel("School", channel_id=settings["channel_id"])
    youtube.add_playlist(channel, "Lectures")
    other = youtube.add_channel("Guest")
    [playlist_id] = settings["playlist_ids"]
    youtube.add_playlist(other, "Guest lecture", playlist_id=playlist_id)
    youtube.add_to_playlist(playlist_id, youtube.add_video(other, "Talk")["id"])
    text = doc_block("youtube").replace(
        "https://www.googleapis.com/youtube/v3", youtube.api_url
    )

    plan = apply_document(
        parse_document(text, format="yaml"), environ={"YOUTUBE_API_KEY": api_key}
    )

    assert plan.counts()["created"] == 1
    integration = Integration.objects.get(name="youtube-school")
    runs = run_sync_now(integration)
    assert all(run.status == SyncStatus.SUCCEEDED for run in runs)
    titles = set(Playlist.objects.values_list("title", flat=True))
    assert titles == {"Lectures", "Guest lecture"}
    assert Video.objects.get().title == "Talk"
