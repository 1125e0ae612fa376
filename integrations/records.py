"""Normalized records: what a stream yields and the sync engine stores.

Dates are timezone-aware datetimes or None; ids are strings. A record's
``external_id`` is unique within its integration and record type.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal, NotRequired, TypedDict


class LearnerRef(TypedDict):
    """A person as a remote service knows them."""

    remote_user_id: str
    email: NotRequired[str]
    name: NotRequired[str]


class CourseRecord(TypedDict):
    """A course, normalized."""

    type: Literal["course"]
    external_id: str
    title: str
    code: NotRequired[str]
    state: NotRequired[str]
    starts_at: NotRequired[datetime | None]
    ends_at: NotRequired[datetime | None]
    url: NotRequired[str]
    remote_created_at: NotRequired[datetime | None]
    remote_updated_at: NotRequired[datetime | None]


class AssignmentRecord(TypedDict):
    """An assignment of a course, normalized."""

    type: Literal["assignment"]
    external_id: str
    course_external_id: str
    title: str
    due_at: NotRequired[datetime | None]
    points_possible: NotRequired[Decimal | None]
    remote_created_at: NotRequired[datetime | None]
    remote_updated_at: NotRequired[datetime | None]


class EnrollmentRecord(TypedDict):
    """A learner's enrollment in a course, normalized."""

    type: Literal["enrollment"]
    external_id: str
    course_external_id: str
    learner: LearnerRef
    role: NotRequired[str]
    state: NotRequired[str]
    remote_created_at: NotRequired[datetime | None]
    remote_updated_at: NotRequired[datetime | None]


class ProgressRecord(TypedDict):
    """A learner's progress in a course, normalized."""

    type: Literal["progress"]
    external_id: str
    course_external_id: str
    learner: LearnerRef
    percent: NotRequired[Decimal]
    grade: NotRequired[str]
    completed_at: NotRequired[datetime | None]
    remote_created_at: NotRequired[datetime | None]
    remote_updated_at: NotRequired[datetime | None]


Record = CourseRecord | AssignmentRecord | EnrollmentRecord | ProgressRecord

RECORD_TYPES = ("course", "assignment", "enrollment", "progress")
