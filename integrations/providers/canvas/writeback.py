"""Write a learner's progress back to Canvas as a grade.

Canvas has no endpoint that sets a learner's progress in a course (course
progress is read-only; there is no ``PUT /courses/:id/progress``). What it
has is grading: the portal keeps one assignment per course (named by the
``writeback_assignment_name`` setting, "Portal progress" by default) and
posts the learner's grade on it::

    PUT /api/v1/courses/:course_id/assignments/:assignment_id/submissions/:user_id
    submission[posted_grade]=85%

The assignment is found among the synced assignments, else by Canvas's
assignment search, else created when ``writeback_create_assignment`` allows
(published, graded as a percentage out of 100, omitted from the final grade
so the portal's number does not feed back into Canvas's course score).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from integrations import errors
from integrations.providers.canvas.client import CanvasApi

if TYPE_CHECKING:
    from integrations.http.client import HttpClient
    from integrations.models import Integration
    from integrations.providers.canvas.sync import CanvasConfig

logger = logging.getLogger(__name__)


def push_progress(
    config: CanvasConfig, integration: Integration, client: HttpClient, progress: Any
) -> dict[str, Any]:
    """Post ``progress``'s grade to Canvas; return what was done (no secrets).

    ``progress`` is a portal.learning Progress row. Raises ConfigurationError
    when the course is not this integration's or the portal assignment is
    missing and may not be created, NotFound when the learner has no Canvas
    account linked, and the HTTP layer's typed errors for Canvas's answers.
    """
    from portal.learning.models import LearnerIdentity

    course = progress.course
    if course.integration_id != integration.pk:
        raise errors.ConfigurationError(
            f"Progress {progress.pk} belongs to a course of another integration; "
            f"'{integration.name}' can only write back its own courses",
            integration=integration.name,
        )
    identity = (
        LearnerIdentity.objects.filter(integration=integration, user=progress.learner)
        .order_by("id")
        .first()
    )
    if identity is None:
        raise errors.NotFound(
            f"Learner {progress.learner_id} has no Canvas account in "
            f"'{integration.name}' (no enrollment of theirs was synced), so there is "
            "no Canvas user to grade",
            integration=integration.name,
        )
    posted_grade, source = posted_grade_for(config, progress)

    api = CanvasApi(client)
    assignment_id, created = _portal_assignment(config, integration, api, course)
    submission = api.grade(
        course.external_id, assignment_id, identity.remote_user_id, posted_grade
    )

    logger.info(
        "canvas.writeback.graded",
        extra={
            "integration": integration.name,
            "course": course.external_id,
            "assignment": assignment_id,
            "progress_id": progress.pk,
        },
    )
    return {
        "course_id": course.external_id,
        "assignment_id": assignment_id,
        "assignment_created": created,
        "user_id": identity.remote_user_id,
        "posted_grade": posted_grade,
        "posted_from": source,
        "grade": _plain(submission.get("grade")),
        "score": _plain(submission.get("score")),
        "workflow_state": _plain(submission.get("workflow_state")),
    }


def posted_grade_for(config: CanvasConfig, progress: Any) -> tuple[str, str]:
    """Return the ``submission[posted_grade]`` value and which field it came from.

    ``writeback_grade: percent`` posts the percent as "85%" or "62.5%";
    ``grade`` posts the progress grade as written (Canvas reads points,
    "85%", a letter on letter-graded assignments, pass/fail), falling back
    to the percent when the progress has no grade.
    """
    grade = (progress.grade or "").strip()
    if config.writeback_grade == "grade" and grade:
        return grade, "grade"

    percent = Decimal(str(progress.percent or 0))
    if not Decimal(0) <= percent <= Decimal(100):
        raise errors.ConfigurationError(
            f"Progress {progress.pk} has percent {percent}, outside 0 to 100"
        )
    return f"{format(percent.normalize(), 'f')}%", "percent"


def _portal_assignment(
    config: CanvasConfig, integration: Integration, api: CanvasApi, course: Any
) -> tuple[str, bool]:
    """Return the portal assignment's Canvas id in ``course`` and if it was made."""
    from portal.learning.models import Assignment

    name = config.writeback_assignment_name
    synced = (
        Assignment.objects.filter(
            integration=integration,
            course=course,
            title=name,
            deleted_at__isnull=True,
        )
        .order_by("id")
        .values_list("external_id", flat=True)
        .first()
    )
    if synced:
        return synced, False

    # Not synced yet (new, or unpublished and so not synced): ask Canvas.
    found = api.find_assignment(course.external_id, name)
    if found is not None:
        return str(found["id"]), False

    if not config.writeback_create_assignment:
        raise errors.ConfigurationError(
            f"Canvas course {course.external_id} has no assignment named {name!r} to "
            "write grades to: create it in Canvas, or set writeback_create_assignment "
            f"to true on '{integration.name}' to let the portal create it",
            integration=integration.name,
            details={"setting": "writeback_create_assignment"},
        )
    created = api.create_assignment(
        course.external_id,
        {
            "assignment[name]": name,
            "assignment[submission_types][]": "none",
            "assignment[grading_type]": "percent",
            "assignment[points_possible]": "100",
            "assignment[published]": "true",
            "assignment[omit_from_final_grade]": "true",
            "assignment[description]": (
                "Progress reported through the learning portal. Grades here are "
                "written by the portal."
            ),
        },
    )
    logger.info(
        "canvas.writeback.assignment_created",
        extra={"integration": integration.name, "course": course.external_id},
    )
    return str(created["id"]), True


def _plain(value: Any) -> Any:
    """Return ``value`` if it is a JSON scalar, else its text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
