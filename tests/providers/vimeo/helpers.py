"""Accounts, integrations and readers shared by the Vimeo provider's tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from integrations.models import Credential, Integration
from integrations.providers.base import Page, StreamContext
from integrations.registry import get_provider
from tests.fakes.vimeo import VimeoFake


@dataclass
class Account:
    """A user of the fake with numbered videos, one showcase and a token."""

    user_id: str
    token: str
    video_ids: list[str]
    showcase: str

    @classmethod
    def build(cls, fake: VimeoFake, *, videos: int, showcase: int) -> Account:
        """Add the user, ``videos`` videos and a showcase of the first ``showcase``."""
        user_id = fake.add_user("School of Film")
        video_ids = [
            fake.add_video(user_id, f"Lesson {number + 1}", duration=60 + number)[
                "uri"
            ].rsplit("/", 1)[-1]
            for number in range(videos)
        ]
        showcase_id = fake.add_showcase(user_id, "Course", video_ids[:showcase])
        return cls(user_id, fake.add_token(user_id), video_ids, showcase_id)


def make_vimeo_integration(
    fake: VimeoFake,
    token: str | None,
    name: str = "vimeo-test",
    **settings: Any,
) -> Integration:
    """Create a saved Vimeo integration against the fake."""
    integration = Integration.objects.create(
        name=name, provider="vimeo", base_url=fake.url, settings=settings
    )
    if token is not None:
        Credential.objects.create(
            integration=integration, key="access_token", value=token
        )
    return integration


def read_pages(
    integration: Integration, stream: str = "videos", cursor: Any = None
) -> list[Page]:
    """Return every page ``stream`` yields from ``cursor``."""
    provider = get_provider("vimeo")
    context = StreamContext(
        integration, provider.build_client(integration), integration.settings
    )
    return list(provider.stream(integration, stream).pages(context, cursor))


def read_records(integration: Integration, stream: str = "videos") -> list[Any]:
    """Return every record ``stream`` yields, in order."""
    return [
        record for page in read_pages(integration, stream) for record in page.records
    ]
