"""The ``slack_channel`` command: create (or find) a course's Slack channel.

``python manage.py slack_channel INTEGRATION --course ID`` names the
channel after the portal course's title; ``--title`` takes any title.
Prints the channel's id and name; exit 1 when Slack refuses, 2 for a
usage error. The bot token is never printed.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.errors import IntegrationError
from integrations.models import Integration
from integrations.providers.slack.channels import (
    InvalidChannelName,
    create_course_channel,
)

EXIT_FAILURE = 1
EXIT_USAGE = 2


class Command(BaseCommand):
    """Create a course channel with a Slack bot integration's token."""

    help = "Create (or find) the Slack channel of a course with a 'slack' integration."

    def add_arguments(self, parser: CommandParser) -> None:
        """Declare the integration, the course or title, and privacy."""
        parser.add_argument("integration", help="Name of a 'slack' integration.")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--course", type=int, help="A portal course's id.")
        source.add_argument("--title", help="A title to name the channel after.")
        parser.add_argument("--private", action="store_true", help="A private channel.")

    def handle(self, *args: Any, **options: Any) -> None:
        """Create the channel and print its id and name."""
        integration = self._integration(options["integration"])
        title = options["title"] or self._course_title(options["course"])

        try:
            channel = create_course_channel(
                integration, title, is_private=options["private"]
            )
        except InvalidChannelName as error:
            raise CommandError(str(error), returncode=EXIT_USAGE) from error
        except IntegrationError as error:
            raise CommandError(error.message, returncode=EXIT_FAILURE) from error

        verb = "Created" if channel.created else "Found existing"
        self.stdout.write(f"{verb} channel #{channel.name} ({channel.id}).")

    def _integration(self, name: str) -> Integration:
        try:
            integration = Integration.objects.get(name=name)
        except Integration.DoesNotExist:
            raise CommandError(
                f"No integration named {name!r}.", returncode=EXIT_USAGE
            ) from None
        if integration.provider != "slack":
            raise CommandError(
                f"Integration {name!r} uses provider {integration.provider!r}; "
                "channels are created with a 'slack' (bot token) integration.",
                returncode=EXIT_USAGE,
            )
        return integration

    def _course_title(self, course_id: int) -> str:
        from portal.learning.models import Course

        try:
            return Course.objects.get(pk=course_id).title
        except Course.DoesNotExist:
            raise CommandError(
                f"No course with id {course_id}.", returncode=EXIT_USAGE
            ) from None
