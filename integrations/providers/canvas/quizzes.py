"""Canvas's classic quizzes and their submissions, as two opt-in streams.

With the ``sync_quizzes`` setting on, two streams follow the others:

- ``quizzes``: per synced course, ``GET /api/v1/courses/:id/quizzes``
  (Quizzes API; Canvas lists the course's active quizzes, unpublished ones
  to teachers and admins), paged by the ``Link`` header as every listing.
- ``quiz_results``: per synced quiz, ``GET /api/v1/courses/:course_id/
  quizzes/:quiz_id/submissions`` (Quiz Submissions API, which needs
  manage_grades or view_all_grades), whose pages come wrapped as
  ``{"quiz_submissions": [...]}``. Canvas keeps one QuizSubmission per
  learner and quiz (attempts are its versions), so its id is the result's
  external id; ``kept_score`` (the score the quiz's scoring policy keeps)
  is the score. ``untaken``, ``settings_only`` and ``preview`` submissions
  are no results and are skipped. The listing asks for
  ``include[]=submission``, which adds the page's assignment Submissions
  beside them (``"submissions": [...]``, in the same response): a graded
  quiz's result is stored only once its Submission is posted to the
  learner (``posted_at``), as the assignment submissions stream does.

Canvas's "New Quizzes" are an external tool without these endpoints and are
not read (docs/providers/canvas.md). Secrets of a quiz (``access_code``,
``ip_filter``) are never stored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from integrations import errors
from integrations.providers.base import Page
from integrations.providers.canvas.client import API, CanvasApi, seg
from integrations.providers.canvas.sync import (
    CanvasStream,
    PerCourseStream,
    _datetime,
    _id,
    _ignore_cursor,
    _is_pk,
    _number,
    _text,
    pages_by_parent,
)
from integrations.providers.items import ItemError, map_items

if TYPE_CHECKING:
    from integrations.providers.base import StreamContext
    from integrations.providers.canvas.sync import CanvasConfig
    from integrations.records import QuizRecord, QuizResultRecord, Record

logger = logging.getLogger(__name__)

#: QuizSubmission ``workflow_state`` values that are results, and their state.
RESULT_STATES = {"complete": "complete", "pending_review": "pending_review"}
SUBMISSIONS_KEY = "quiz_submissions"
#: The key of the assignment Submissions that ``include[]=submission`` adds.
ASSIGNMENT_SUBMISSIONS_KEY = "submissions"


def quiz_record(item: dict[str, Any], course_id: str) -> QuizRecord:
    """Return the portal quiz for a Canvas Quiz object."""
    title = _text(item, "title").strip()
    if not title:
        raise ItemError("title: the quiz has no title")
    time_limit = item.get("time_limit")
    if time_limit is not None and (
        isinstance(time_limit, bool) or not isinstance(time_limit, int)
    ):
        raise ItemError(f"time_limit: expected minutes, got {time_limit!r}")
    return {
        "type": "quiz",
        "external_id": _id(item, "id"),
        "course_external_id": course_id,
        "title": title,
        "description": _text(item, "description"),
        "published": item.get("published") is not False,
        "points_possible": _number(item, "points_possible"),
        "time_limit_minutes": time_limit if time_limit and time_limit > 0 else None,
        "due_at": _datetime(item, "due_at"),
        "url": _text(item, "html_url"),
    }


def posted_submissions(body: Any) -> dict[str, bool]:
    """Return whether each assignment Submission of a page is posted, by id.

    ``body`` is a quiz submissions page fetched with ``include[]=submission``.
    A Submission whose ``posted_at`` is null is hidden from its learner (a
    manual post policy); one without the key comes from a Canvas without
    post policies, where every grade is visible.
    """
    listed = body.get(ASSIGNMENT_SUBMISSIONS_KEY) if isinstance(body, dict) else None
    posted: dict[str, bool] = {}
    for submission in listed if isinstance(listed, list) else []:
        if not isinstance(submission, dict):
            continue
        try:
            submission_id = _id(submission, "id")
        except ItemError:
            continue
        posted[submission_id] = not (
            "posted_at" in submission and submission["posted_at"] is None
        )
    return posted


def quiz_result_record(
    item: dict[str, Any],
    quiz_id: str,
    points_possible: Any,
    posted: Mapping[str, bool] | None = None,
) -> QuizResultRecord | None:
    """Return the result of a QuizSubmission, or None when it is no result yet.

    The score is ``kept_score`` (else ``score``); the most is the
    submission's ``quiz_points_possible``, else the quiz's points.
    ``posted`` says which assignment Submissions the learner can see
    (posted_submissions): a graded quiz's result (its ``submission_id`` set)
    is no result until its Submission is posted. An ungraded quiz (practice
    quiz, survey) has no assignment, no Submission and no post policy.
    """
    state = item.get("workflow_state")
    if state not in RESULT_STATES:
        return None
    submission_id = item.get("submission_id")
    if submission_id is not None:
        visible = (posted or {}).get(_id(item, "submission_id"))
        if visible is None:
            # Fail closed: without its Submission the posted state is unknown.
            raise ItemError(
                "submission_id: Canvas sent no assignment submission for it, so "
                "whether its score is posted is unknown; not stored"
            )
        if not visible:
            # Scored but not posted: the portal's token sees the score, the
            # learner does not yet; the first sync after posting stores it.
            return None
    user_id = _id(item, "user_id")
    score = _number(item, "kept_score")
    if score is None:
        score = _number(item, "score")
    if score is None:
        raise ItemError("kept_score: a finished submission has no score")
    most = _number(item, "quiz_points_possible")
    if most is None and points_possible is not None:
        most = _number({"points": points_possible}, "points")
    if most is None:
        raise ItemError("quiz_points_possible: the quiz has no points")
    submitted_at = _datetime(item, "finished_at")
    if submitted_at is None:
        raise ItemError("finished_at: a finished submission has no time")
    attempt = item.get("attempt")
    return {
        "type": "quiz_result",
        "external_id": _id(item, "id"),
        "quiz_external_id": quiz_id,
        "learner": {"remote_user_id": user_id},
        "score": score,
        "max_score": most,
        "state": RESULT_STATES[state],
        "submitted_at": submitted_at,
        "attempt": attempt if isinstance(attempt, int) and attempt > 0 else None,
    }


def latest_attempts(records: list[Record]) -> list[Record]:
    """Keep one record per submission id: its highest attempt.

    A student's own listing lists each finished attempt of the one
    submission; an admin's lists the submission once.
    """
    latest: dict[str, Record] = {}
    for record in records:
        known = latest.get(record["external_id"])
        if known is None or (record.get("attempt") or 0) >= (known.get("attempt") or 0):
            latest[record["external_id"]] = record
    return list(latest.values())


class QuizzesStream(PerCourseStream):
    """Each synced course's classic quizzes."""

    name = "quizzes"
    record_type = "quiz"

    def listing(
        self, context: StreamContext, course_id: str
    ) -> tuple[str, dict[str, Any]]:
        """Return GET /courses/:id/quizzes with Canvas's largest page."""
        params = {"per_page": self.config.page_size(context)}
        return f"{API}/courses/{seg(course_id)}/quizzes", params

    def map_page(
        self,
        context: StreamContext,
        api: CanvasApi,
        course_id: str,
        items: list[Any],
        prepared: Any,
    ) -> tuple[list[Record], list[dict[str, Any]]]:
        """Map Quiz objects."""
        return map_items(items, lambda item: quiz_record(item, course_id))


class QuizResultsStream(CanvasStream):
    """The submissions of every synced quiz, quiz by quiz.

    Cursors: ``{"quiz": pk, "url": next}`` continues the quiz whose portal
    id is ``pk`` at Canvas's next-page URL; ``{"after": pk}`` starts with
    the first quiz after it; None at the very end.
    """

    name = "quiz_results"
    record_type = "quiz_result"
    depends_on = ("quizzes",)

    def pages(
        self, context: StreamContext, cursor: dict[str, Any] | None
    ) -> Iterator[Page]:
        """Yield pages of submissions quiz after quiz, from ``cursor`` on."""
        start, inclusive, resume_url = _quiz_cursor(cursor, context, self.name)
        api = CanvasApi(context.client)
        yield from pages_by_parent(
            _synced_quizzes(context.integration, start, inclusive),
            lambda row, url, after: self._ending(
                self._quiz_pages(context, api, *row, url), after
            ),
            resume=(start, inclusive, resume_url),
            workers=self.config.concurrency,
            name=f"canvas-{self.name}",
        )

    def _ending(
        self, pages: Iterator[Page], after: dict[str, Any] | None
    ) -> Iterator[Page]:
        """Give the quiz's last page the cursor of the next quiz."""
        for page in pages:
            if page.next_cursor is None:
                page.next_cursor = after
            yield page

    def _quiz_pages(
        self,
        context: StreamContext,
        api: CanvasApi,
        pk: int,
        quiz_id: str,
        course_id: str,
        points: Any,
        url: str | None,
    ) -> Iterator[Page]:
        path = f"{API}/courses/{seg(course_id)}/quizzes/{seg(quiz_id)}/submissions"
        # include[]=submission: the posted state of the page's results comes
        # in the same response, at no extra request.
        params = {
            "per_page": self.config.page_size(context),
            "include[]": ["submission"],
        }
        try:
            for fetched in api.listing(path, params, url, items_path=SUBMISSIONS_KEY):
                posted = posted_submissions(fetched.response.json())
                records, failures = map_items(
                    fetched.items,
                    partial(
                        quiz_result_record,
                        quiz_id=quiz_id,
                        points_possible=points,
                        posted=posted,
                    ),
                )
                next_cursor = (
                    {"quiz": pk, "url": fetched.next_url} if fetched.next_url else None
                )
                yield self._page(
                    context, fetched, latest_attempts(records), failures, next_cursor
                )
        except errors.NotFound:
            # The quiz (or its course) went away since the quizzes stream ran;
            # the next quizzes pass marks it deleted. Its results are kept.
            logger.info(
                "canvas.sync.quiz_gone",
                extra={
                    "integration": context.integration.name,
                    "stream": self.name,
                    "quiz": quiz_id,
                },
            )
            yield Page(records=[], next_cursor=None)


def _quiz_cursor(
    cursor: dict[str, Any] | None, context: StreamContext, stream: str
) -> tuple[int, bool, str | None]:
    """Return (quiz pk to start from, whether it is included, URL inside it)."""
    if cursor is None:
        return 0, False, None
    quiz, after, url = cursor.get("quiz"), cursor.get("after"), cursor.get("url")
    if _is_pk(quiz) and (url is None or isinstance(url, str)):
        return quiz, True, url or None
    if _is_pk(after):
        return after, False, None
    _ignore_cursor(context, stream)
    return 0, False, None


def _synced_quizzes(
    integration: Any, start: int, inclusive: bool
) -> Iterator[tuple[int, str, str, Any]]:
    """Yield (pk, Canvas quiz id, Canvas course id, points) of live quizzes."""
    from portal.assessment.models import Quiz, QuizOrigin

    quizzes = Quiz.objects.filter(
        integration=integration,
        origin=QuizOrigin.LMS,
        deleted_at__isnull=True,
        course__deleted_at__isnull=True,
    ).order_by("pk")
    lookup = "pk__gte" if inclusive else "pk__gt"
    rows = quizzes.filter(**{lookup: start}).values_list(
        "pk", "external_id", "course__external_id", "points_possible"
    )
    # Read in one go: a few thousand quizzes at most, and the pool must not
    # run queries while it fetches.
    yield from list(rows)


def quiz_streams(config: CanvasConfig) -> list[CanvasStream]:
    """Return the quiz streams when ``sync_quizzes`` is on, else none."""
    if not config.sync_quizzes:
        return []
    return [QuizzesStream(config), QuizResultsStream(config)]
