"""The example in docs/providers/vimeo.md: applied, tested, synced, listed."""

from __future__ import annotations

from io import StringIO

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

from integrations.models import Integration, SyncStatus
from integrations.sync.runs import run_sync_now
from tests.provider_docs import doc_block

pytestmark = pytest.mark.django_db


def test_doc_example_keeps_the_token_out_of_the_file():
    example = yaml.safe_load(doc_block("vimeo"))["integrations"][0]

    assert example["provider"] == "vimeo"
    assert example["credentials"] == {"access_token": "${VIMEO_ACCESS_TOKEN}"}


@pytest.fixture
def applied(vimeo, tmp_path, monkeypatch) -> Integration:
    """Serve the doc's showcase and video, and apply the doc's file to the fake."""
    settings = yaml.safe_load(doc_block("vimeo"))["integrations"][0]["settings"]
    school = vimeo.add_user("School of Film")
    lessons = [vimeo.add_video(school, f"Lesson {n}")["uri"] for n in (1, 2)]
    lesson_ids = [uri.rsplit("/", 1)[-1] for uri in lessons]
    [showcase_id] = settings["showcase_ids"]
    vimeo.add_showcase(school, "Course", lesson_ids, album_id=showcase_id)
    guest = vimeo.add_user("Guest")
    [video_id] = settings["video_ids"]
    vimeo.add_video(guest, "Guest talk", video_id=video_id, duration=3600)
    monkeypatch.setenv("VIMEO_ACCESS_TOKEN", vimeo.add_token(school))
    path = tmp_path / "integrations.yaml"
    path.write_text(doc_block("vimeo").replace("https://api.vimeo.com", vimeo.url))

    call_command("integrations", "apply", str(path), stdout=StringIO())

    return Integration.objects.get(name="vimeo-school")


def test_integrations_test_checks_the_token_and_previews_each_stream(applied, vimeo):
    out = StringIO()

    call_command("integrations", "test", applied.name, stdout=out)

    text = out.getvalue()
    assert "vimeo-school: OK (healthy" in text
    for stream in ("playlists", "playlist_items", "videos"):
        assert stream in text
    assert vimeo.count("/me") == 1
    assert applied.secret("access_token") not in text


def test_synced_rows_appear_in_the_api_for_staff_and_learners(applied):
    runs = run_sync_now(applied)
    users = get_user_model().objects
    staff = users.create_user("staff", "s@example.edu", "pw-123456", is_staff=True)
    learner = users.create_user("learner", "l@example.edu", "pw-123456")

    assert all(run.status == SyncStatus.SUCCEEDED for run in runs)
    for user in (staff, learner):
        client = APIClient()
        client.force_authenticate(user)
        playlists = client.get("/api/v1/playlists/").json()["results"]
        videos = client.get("/api/v1/videos/").json()["results"]
        assert [row["title"] for row in playlists] == ["Course"]
        assert playlists[0]["integration"] == "vimeo-school"
        assert playlists[0]["item_count"] == 2
        assert sorted(row["title"] for row in videos) == [
            "Guest talk",
            "Lesson 1",
            "Lesson 2",
        ]
    in_course = client.get("/api/v1/videos/", {"playlist": playlists[0]["id"]})
    assert sorted(row["title"] for row in in_course.json()["results"]) == [
        "Lesson 1",
        "Lesson 2",
    ]
    by_integration = client.get("/api/v1/videos/", {"integration": "vimeo-school"})
    assert len(by_integration.json()["results"]) == 3
