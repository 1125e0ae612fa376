"""The ``achievements`` command: award achievements for data already stored.

``achievements award [SLUG ...]`` awards each named achievement (every
enabled one when none is named) to the learners whose stored progress,
completions and quiz results meet it, with an ``achievement.earned`` event
each. Safe to re-run: learners who have an achievement are skipped. Exit
codes: 0 success, 2 an unknown slug (nothing is awarded then).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.achievements.awarding import award_existing
from portal.achievements.models import Achievement

EXIT_USAGE = 2


class Command(BaseCommand):
    """Award achievements retroactively, idempotently."""

    help = "Award achievements to learners whose stored data already meets them."

    def add_arguments(self, parser: CommandParser) -> None:
        """Declare the ``award`` subcommand and its slugs."""
        subcommands = parser.add_subparsers(
            dest="subcommand", metavar="SUBCOMMAND", title="subcommands", required=True
        )
        award = subcommands.add_parser(
            "award", help="Award achievements for data already stored."
        )
        award.add_argument(
            "slugs",
            nargs="*",
            metavar="SLUG",
            help="Achievements to award; none: every enabled achievement.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Award the chosen achievements and report each one's count."""
        slugs: list[str] = options["slugs"]
        if slugs:
            found = {a.slug: a for a in Achievement.objects.filter(slug__in=slugs)}
            unknown = [slug for slug in slugs if slug not in found]
            if unknown:
                raise CommandError(
                    f"No achievement with the slug {', '.join(unknown)}; "
                    "the admin's Achievements page lists them.",
                    returncode=EXIT_USAGE,
                )
            chosen = [found[slug] for slug in dict.fromkeys(slugs)]
        else:
            chosen = list(Achievement.objects.filter(enabled=True).order_by("slug"))

        for achievement in chosen:
            if not achievement.enabled:
                self.stdout.write(f"{achievement.slug}: disabled, not awarded")
                continue
            count = award_existing(achievement)
            noun = "learner" if count == 1 else "learners"
            self.stdout.write(f"{achievement.slug}: awarded to {count} {noun}")
