"""The quiz platform's one stream: the results of the quizzes published to it.

``quiz_results`` walks the portal quizzes published to the integration in
id order and pages through each one's results as the settings describe
(the REST provider's pagination). Its cursor is ``{"quiz": pk, "cursor":
<the platform's page cursor>}`` inside a quiz and ``{"after": pk}`` between
quizzes, so a killed run resumes at the page after the last one stored.
portal.assessment (its ``quiz_result`` record store) stores the results as
sync_quiz_results() does: progress and ``quiz.completed`` for new ones.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from integrations import errors
from integrations.providers.base import Page, Stream
from integrations.providers.quiz_platform.client import QuizPlatformClient

if TYPE_CHECKING:
    from integrations.providers.base import StreamContext
    from integrations.providers.quiz_platform.provider import QuizPlatformConfig

logger = logging.getLogger(__name__)


class PlatformResultsStream(Stream):
    """Learners' results of every portal quiz published to the platform."""

    name = "quiz_results"
    record_type = "quiz_result"

    def __init__(self, config: QuizPlatformConfig) -> None:
        self.config = config

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def pages(
        self, context: StreamContext, cursor: dict[str, Any] | None
    ) -> Iterator[Page]:
        """Yield each published quiz's result pages, resuming from ``cursor``."""
        start, inclusive, inner = _quiz_cursor(cursor, context)
        platform = QuizPlatformClient(context.client, self.config)
        quizzes = _published_quizzes(context, start, inclusive)
        if not quizzes:
            yield Page(records=[], next_cursor=None)
            return

        for index, (pk, external_id) in enumerate(quizzes):
            after = None if index == len(quizzes) - 1 else {"after": pk}
            resume = inner if inclusive and pk == start else None
            try:
                for fetched in platform.result_pages(external_id, resume):
                    records, failures = _records(fetched.items, external_id)
                    next_cursor = (
                        {"quiz": pk, "cursor": fetched.next_cursor}
                        if fetched.next_cursor
                        else after
                    )
                    yield Page(
                        records=records,
                        next_cursor=next_cursor,
                        fetched=len(fetched.items),
                        failures=failures,
                    )
            except errors.NotFound:
                # The platform no longer has this quiz: the other quizzes'
                # results are still read, and the run says which one is gone.
                logger.warning(
                    "quiz_platform.sync.quiz_gone",
                    extra={"integration": context.integration.name, "quiz": pk},
                )
                gone = {
                    "external_id": external_id,
                    "reason": "the platform has no "
                    "such quiz (404); publish it again or delete it here",
                }
                yield Page(records=[], next_cursor=after, failures=[gone])


def _records(
    items: list[Any], quiz_external_id: str
) -> tuple[list[Any], list[dict[str, Any]]]:
    """Return the result records of one page and a failure per bad item."""
    from portal.assessment.results import parse_result

    records: list[Any] = []
    failures: list[dict[str, Any]] = []
    for item in items:
        try:
            parsed = parse_result(item)
        except ValueError as error:
            external_id = item.get("id") if isinstance(item, dict) else None
            failures.append({"external_id": external_id, "reason": str(error)})
            continue
        records.append(
            {
                "type": "quiz_result",
                "quiz_external_id": quiz_external_id,
                "state": "complete",
                **parsed,
            }
        )
    return records, failures


def _published_quizzes(
    context: StreamContext, start: int, inclusive: bool
) -> list[tuple[int, str]]:
    """Return (pk, platform id) of the quizzes to read, in id order."""
    from portal.assessment.models import PublishState, Quiz, QuizOrigin

    quizzes = Quiz.objects.filter(
        integration=context.integration,
        publish_state=PublishState.PUBLISHED,
        origin=QuizOrigin.PORTAL,
    ).exclude(external_id="")
    lookup = "pk__gte" if inclusive else "pk__gt"
    rows = quizzes.filter(**{lookup: start}).order_by("pk")
    return list(rows.values_list("pk", "external_id"))


def _quiz_cursor(
    cursor: dict[str, Any] | None, context: StreamContext
) -> tuple[int, bool, dict[str, Any] | None]:
    """Return (quiz pk to start from, whether it is included, cursor inside it)."""
    if cursor is None:
        return 0, False, None
    quiz, after, inner = cursor.get("quiz"), cursor.get("after"), cursor.get("cursor")
    if _is_pk(quiz) and (inner is None or isinstance(inner, dict)):
        return quiz, True, inner
    if _is_pk(after):
        return after, False, None
    # A cursor of another shape starts the pass again; the upserts make the
    # pages read twice harmless.
    logger.warning(
        "quiz_platform.sync.cursor_ignored",
        extra={"integration": context.integration.name},
    )
    return 0, False, None


def _is_pk(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
