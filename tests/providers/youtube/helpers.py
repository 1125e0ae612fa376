"""Integrations, channels and readers shared by the YouTube provider's tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from integrations.models import Credential, Integration
from integrations.providers.base import Page, StreamContext
from integrations.registry import get_provider
from tests.fakes.youtube import YouTubeFake


@dataclass
class Channel:
    """A channel of the fake with two playlists of numbered videos."""

    channel_id: str
    course: str
    extra: str
    video_ids: list[str]

    @classmethod
    def build(cls, fake: YouTubeFake, *, course: int, extra: int) -> Channel:
        """Add the channel, its playlists and ``course`` + ``extra`` videos."""
        channel_id = fake.add_channel("School Channel")
        course_id = fake.add_playlist(channel_id, "Course", description="Lessons")["id"]
        extra_id = fake.add_playlist(channel_id, "Extras")["id"]
        video_ids = []
        for number in range(course + extra):
            video = fake.add_video(
                channel_id,
                f"Lesson {number + 1}",
                duration="PT1H2M3S" if number == 0 else "PT4M13S",
                view_count=100 + number,
                like_count=number,
            )
            playlist_id = course_id if number < course else extra_id
            fake.add_to_playlist(playlist_id, video["id"])
            video_ids.append(video["id"])
        return cls(channel_id, course_id, extra_id, video_ids)


def make_youtube_integration(
    fake: YouTubeFake,
    api_key: str | None,
    name: str = "youtube-test",
    *,
    base_url: str | None = None,
    **settings: Any,
) -> Integration:
    """Create a saved YouTube integration against the fake."""
    integration = Integration.objects.create(
        name=name,
        provider="youtube",
        base_url=fake.api_url if base_url is None else base_url,
        settings=settings,
    )
    if api_key is not None:
        Credential.objects.create(integration=integration, key="api_key", value=api_key)
    return integration


def read_pages(
    integration: Integration, stream: str = "playlists", cursor: Any = None
) -> list[Page]:
    """Return every page ``stream`` yields from ``cursor``."""
    provider = get_provider("youtube")
    context = StreamContext(
        integration, provider.build_client(integration), integration.settings
    )
    return list(provider.stream(integration, stream).pages(context, cursor))


def read_records(integration: Integration, stream: str = "playlists") -> list[Any]:
    """Return every record ``stream`` yields, in order."""
    return [
        record for page in read_pages(integration, stream) for record in page.records
    ]
