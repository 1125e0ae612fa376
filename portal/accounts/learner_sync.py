"""A learner's own syncs: their data, fetched with their connected account.

Connecting an account of a service that has a learner sync gives the
learner an integration of their own: an ``Integration`` row tied to the
connection (``Integration.connection``), whose requests authenticate with
the learner's token (refreshed by ``portal.accounts.tokens``). The sync
engine, leases, runs and history are the same as for every integration;
the provider's code does not know it works for a learner.

Each service registers how its learner integration is made in
:data:`LEARNER_SYNCS`: Canvas (the learner's courses), GitHub (the
learner's repositories), GitLab (the learner's projects and their trees),
Google (the learner's YouTube playlists) and Vimeo (the learner's videos).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from integrations.models import Integration
from portal.accounts import services
from portal.accounts.models import Connection, ProviderApp
from portal.learning.models import LearnerIdentity

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LearnerSync:
    """How one service's learner integration is made."""

    provider: str
    #: The portal provider slug the learner integration runs.
    integration_provider: str
    #: Return (base URL, settings, schedule) for a connection's integration.
    configure: Callable[[Connection], tuple[str, dict[str, Any], str]]


def _configure_canvas(connection: Connection) -> tuple[str, dict[str, Any], str]:
    app = ProviderApp.objects.select_related("integration").get(provider="canvas")
    parent = app.integration
    settings = {
        # No account: GET /api/v1/courses lists the learner's own courses.
        "own_enrollments_only": True,
        "enrollment_types": ["student"],
        # bulk_user_progress needs a teacher; a learner reads their own.
        "module_progress": "per_user",
        "concurrency": 2,
    }
    for key in ("per_page", "include_completed"):
        if key in parent.settings:
            settings[key] = parent.settings[key]
    return parent.base_url, settings, parent.schedule


#: How often a learner's GitHub repositories are synced: every half hour,
#: like the Canvas integrations of the examples. A pass costs one request
#: per 100 repositories plus one per repository pushed to since the last.
GITHUB_SCHEDULE = "*/30 * * * *"


def _configure_github(connection: Connection) -> tuple[str, dict[str, Any], str]:
    settings = {
        # The learner's own repositories and those they were added to; an
        # organization's many others are not their work.
        "affiliation": ["owner", "collaborator"],
    }
    return services.github_api_url(), settings, GITHUB_SCHEDULE


#: How often a learner's GitLab projects are synced: every half hour, like
#: GitHub's. A pass costs one request per 100 projects and one per 100 tree
#: entries of each project.
GITLAB_SCHEDULE = "*/30 * * * *"


def _configure_gitlab(connection: Connection) -> tuple[str, dict[str, Any], str]:
    app = ProviderApp.objects.get(provider="gitlab")
    # The learner's own work: projects they are a member of with at least
    # the developer role, not every public project they can read.
    settings = {"min_access_level": 30}
    return services.gitlab_api_url(app), settings, GITLAB_SCHEDULE


#: How often a learner's YouTube playlists are synced: every six hours. A
#: pass costs a quota unit per 50 playlists, per 50 items of each playlist
#: and per 50 videos, from the portal's one daily quota (10,000 units by
#: default) that every learner shares.
YOUTUBE_SCHEDULE = "0 */6 * * *"


def _configure_youtube(connection: Connection) -> tuple[str, dict[str, Any], str]:
    # The learner's own playlists, private ones too: the token's channel.
    return services.youtube_api_url(), {"mine": True}, YOUTUBE_SCHEDULE


#: How often a learner's Vimeo videos are synced: every six hours, like
#: YouTube's. A pass costs one request per 100 videos.
VIMEO_SCHEDULE = "0 */6 * * *"


def _configure_vimeo(connection: Connection) -> tuple[str, dict[str, Any], str]:
    # The learner's own videos (/me/videos): the token's user, private
    # videos too with the "private" scope.
    return services.vimeo_api_url(), {"user_id": "me"}, VIMEO_SCHEDULE


LEARNER_SYNCS: dict[str, LearnerSync] = {
    "canvas": LearnerSync("canvas", "canvas", _configure_canvas),
    "github": LearnerSync("github", "github", _configure_github),
    "gitlab": LearnerSync("gitlab", "gitlab", _configure_gitlab),
    "google": LearnerSync("google", "youtube", _configure_youtube),
    "vimeo_oauth2": LearnerSync("vimeo_oauth2", "vimeo", _configure_vimeo),
}


def learner_integration_name(connection: Connection) -> str:
    """Return the URL-safe name of a connection's learner integration."""
    return f"learner-{connection.user_id}-{connection.provider}"


def ensure_learner_integration(connection: Connection) -> Integration | None:
    """Create or update the learner integration of ``connection``, if any.

    Return None for a service without a learner sync. A reconnection
    re-enables the integration a disconnection disabled, with its history.
    """
    sync = LEARNER_SYNCS.get(connection.provider)
    if sync is None:
        return None
    base_url, settings, schedule = sync.configure(connection)

    with transaction.atomic():
        integration, created = Integration.objects.update_or_create(
            name=learner_integration_name(connection),
            defaults={
                "provider": sync.integration_provider,
                "base_url": base_url,
                "settings": settings,
                "schedule": schedule,
                "enabled": True,
                "connection": connection,
            },
        )
        # The learner's remote id is known from the connection, so their
        # records land on them without any matching by email.
        LearnerIdentity.objects.update_or_create(
            integration=integration,
            remote_user_id=connection.uid,
            defaults={"user": connection.user, "display_name": connection.display_name},
        )

    logger.info(
        "accounts.learner_integration.ready",
        extra={
            "integration": integration.name,
            "connection_id": connection.pk,
            "new_integration": created,
        },
    )
    return integration


def start_learner_sync(connection: Connection) -> Integration | None:
    """Make sure the learner integration exists and queue its first sync."""
    from integrations.sync.runs import enqueue_sync

    integration = ensure_learner_integration(connection)
    if integration is None:
        return None
    # The runs are sent to workers when the transaction that stored the
    # tokens commits, so a worker that picks one up at once finds them.
    enqueue_sync(integration, trigger="connected")
    return integration
