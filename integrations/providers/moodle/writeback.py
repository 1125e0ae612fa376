"""Write a learner's portal progress back to Moodle.

Moodle's web services cannot set a course's total grade or mark a course
complete for another user: ``core_completion_mark_course_self_completed``
acts only for the token's own user, and course totals are computed by the
gradebook. What they can do is set a learner's grade in an *activity*
(``core_grades_update_grades``, Moodle 2.7+, needs moodle/grade:edit) and
override an activity's completion (``core_completion_override_activity_
completion_status``, Moodle 3.4+, needs moodle/course:overridecompletion).

So write-back targets one activity per course that the portal manages: the
admin creates it (for example an assignment called "Portal progress") and
gives it the ID number named in the ``write_back_grade_item`` setting. The
push then:

1. finds that activity's grade item with ``gradereport_user_get_grade_items``
   (course and learner): its module, course module id, item number and
   range;
2. sets the learner's grade to the portal percent scaled to that range with
   ``core_grades_update_grades``;
3. when ``write_back_completion`` is on and the portal progress is completed,
   marks the activity complete for the learner with
   ``core_completion_override_activity_completion_status`` (newstate 1), so a
   course whose completion criteria include the activity completes.

Nothing is marked incomplete: an override to "incomplete" would undo a
completion the learner earned in Moodle itself.
"""

from __future__ import annotations

import logging
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from integrations import errors
from integrations.providers.moodle.sync import GRADE_ITEMS_FUNCTION

if TYPE_CHECKING:
    from integrations.models import Integration
    from integrations.providers.moodle.client import MoodleClient
    from integrations.providers.moodle.sync import MoodleConfig
    from portal.learning.models import Progress

logger = logging.getLogger(__name__)

UPDATE_GRADES_FUNCTION = "core_grades_update_grades"
OVERRIDE_COMPLETION_FUNCTION = "core_completion_override_activity_completion_status"
#: The ``source`` Moodle records in its grade history for portal updates.
GRADE_SOURCE = "orcatech-portal"
#: grade_update() results (lib/grade/constants.php).
GRADE_UPDATE_RESULTS = {
    0: "ok",
    1: "failed",
    2: "multiple grade items match",
    3: "grade item deleted",
    4: "grade item locked",
}
COMPLETION_COMPLETE = 1
GRADE_PLACES = Decimal("0.00001")


def push_progress(
    integration: Integration,
    moodle: MoodleClient,
    config: MoodleConfig,
    progress: Progress,
) -> dict[str, Any]:
    """Push one Progress row to its Moodle activity; return what was done."""
    from portal.learning.models import LearnerIdentity

    if not config.write_back_grade_item:
        raise errors.ConfigurationError(
            f"Integration '{integration.name}' has no write-back target: set "
            "'write_back_grade_item' to the ID number of the Moodle activity whose "
            "grade the portal manages.",
            integration=integration.name,
            details={"setting": "write_back_grade_item"},
        )
    course = progress.course
    if course.integration_id != integration.pk:
        raise errors.ConfigurationError(
            f"Progress {progress.pk} belongs to another integration's course.",
            integration=integration.name,
        )
    identity = LearnerIdentity.objects.filter(
        integration=integration, user_id=progress.learner_id
    ).first()
    if identity is None:
        raise errors.NotFound(
            f"The learner of progress {progress.pk} has no Moodle account linked in "
            f"'{integration.name}' (a sync links it)",
            integration=integration.name,
        )
    user_id = identity.remote_user_id

    item = find_grade_item(
        moodle, course.external_id, user_id, config.write_back_grade_item
    )
    grade = scaled_grade(progress.percent, item)
    result = moodle.call(
        UPDATE_GRADES_FUNCTION,
        {
            "source": GRADE_SOURCE,
            "courseid": course.external_id,
            "component": f"mod_{item['itemmodule']}",
            "activityid": item["cmid"],
            "itemnumber": item.get("itemnumber") or 0,
            "grades": [{"studentid": user_id, "grade": grade}],
        },
        write=True,
    )
    if result != 0:
        outcome = GRADE_UPDATE_RESULTS.get(result, "unknown result")
        raise errors.ProviderError(
            f"Moodle did not update the grade ({outcome})",
            integration=integration.name,
            provider_code=f"grade_update_{result}",
        )
    summary: dict[str, Any] = {
        "function": UPDATE_GRADES_FUNCTION,
        "course": course.external_id,
        "user": user_id,
        "component": f"mod_{item['itemmodule']}",
        "cmid": item["cmid"],
        "grade": str(grade),
        "grademax": str(item.get("grademax")),
        "completion": None,
    }

    if config.write_back_completion and progress.completed_at is not None:
        summary["completion"] = _mark_complete(moodle, item["cmid"], user_id)
    logger.info(
        "moodle.writeback.pushed",
        extra={
            "integration": integration.name,
            "course": course.external_id,
            "cmid": item["cmid"],
        },
    )
    return summary


def find_grade_item(
    moodle: MoodleClient, course_id: str, user_id: str, idnumber: str
) -> dict[str, Any]:
    """Return the activity grade item with ID number ``idnumber`` in a course."""
    body = moodle.call(GRADE_ITEMS_FUNCTION, {"courseid": course_id, "userid": user_id})
    usergrades = body.get("usergrades") if isinstance(body, dict) else None
    if not isinstance(usergrades, list):
        raise errors.InvalidResponse(
            f"{GRADE_ITEMS_FUNCTION} did not answer 'usergrades'",
            integration=moodle.integration,
        )
    for entry in usergrades:
        for item in (
            entry.get("gradeitems") if isinstance(entry, dict) else None
        ) or []:
            if isinstance(item, dict) and item.get("idnumber") == idnumber:
                if item.get("itemtype") != "mod" or not item.get("cmid"):
                    raise errors.ConfigurationError(
                        f"The grade item with ID number {idnumber!r} in Moodle course "
                        f"{course_id} is not an activity's; core_grades_update_grades "
                        "can only set activity grades.",
                        integration=moodle.integration,
                    )
                if not item.get("itemmodule"):
                    raise errors.InvalidResponse(
                        f"{GRADE_ITEMS_FUNCTION} gave the grade item no module",
                        integration=moodle.integration,
                    )
                return item
    raise errors.NotFound(
        f"Moodle course {course_id} has no activity with grade item ID number "
        f"{idnumber!r}: create one (see docs/providers/moodle.md)",
        integration=moodle.integration,
    )


def scaled_grade(percent: Any, item: dict[str, Any]) -> Decimal:
    """Return ``percent`` (0 to 100) placed on the item's grade range."""
    try:
        share = Decimal(str(percent)) / 100
        low = Decimal(str(item.get("grademin") or 0))
        high = Decimal(
            str(item.get("grademax") if item.get("grademax") is not None else 100)
        )
    except InvalidOperation as error:
        raise errors.InvalidResponse("The grade item's range is not numeric") from error
    if high <= low:
        raise errors.ConfigurationError(
            "The write-back activity has no grade range (grade type none or scale?); "
            "give it a point grade."
        )
    share = min(max(share, Decimal(0)), Decimal(1))
    return (low + share * (high - low)).quantize(GRADE_PLACES, rounding=ROUND_HALF_UP)


def _mark_complete(moodle: MoodleClient, cmid: int, user_id: str) -> dict[str, Any]:
    result = moodle.call(
        OVERRIDE_COMPLETION_FUNCTION,
        {"userid": user_id, "cmid": cmid, "newstate": COMPLETION_COMPLETE},
        write=True,
    )
    if not isinstance(result, dict):
        raise errors.InvalidResponse(
            f"{OVERRIDE_COMPLETION_FUNCTION} answered no completion state",
            integration=moodle.integration,
        )
    tracking = result.get("tracking")
    if not tracking:
        # Moodle does nothing (and says tracking 0) for an activity without
        # completion tracking: the grade stands, the admin should know.
        logger.warning(
            "moodle.writeback.completion_untracked",
            extra={"integration": moodle.integration, "cmid": cmid},
        )
    return {
        "function": OVERRIDE_COMPLETION_FUNCTION,
        "state": result.get("state"),
        "tracked": bool(tracking),
    }
