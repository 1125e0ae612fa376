"""Serve the fake Canvas of bench/sync_throughput.py in a process of its own.

Run as ``python bench/_sync_support.py --account 2:50000 --account 3:200000
--assignments-per-course 2``: it builds the courses (account 2 gets 50,000,
account 3 gets 200,000), gives every course that many assignments, starts
:class:`tests.fakes.canvas.CanvasFake` on loopback, prints its URL on one
line and serves until its standard input closes. A process of its own, as a
real Canvas is another machine: the fake's JSON encoding then does not
compete for the benchmark's interpreter lock.

The assignments are made from the course id when a course's listing is
asked for, the same every time, so hundreds of thousands of them cost the
fake no memory.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.canvas import CanvasFake, load_fixture  # noqa: E402

TOKEN = "sync-bench-token-5d1c9e7a3b"
FIRST_COURSE_ID = 1_000_000
COURSE_URL = "https://canvas.example.edu/courses"


def build_courses(account_id: int, count: int, first_id: int) -> list[dict[str, Any]]:
    """Return ``count`` Canvas Course objects of ``account_id``, ids from ``first_id``.

    Each is the fixture's full Course JSON (with its term) under new ids and
    names; one in ten is concluded, so the state mapping has work to do.
    """
    template = load_fixture("courses.json")[0]
    courses = []
    for number in range(count):
        course = copy.deepcopy(template)
        course_id = first_id + number
        course.update(
            id=course_id,
            name=f"Course {course_id} of account {account_id}",
            course_code=f"C-{course_id}",
            sis_course_id=f"SIS-{course_id}",
            uuid=f"bench{course_id:035d}",
            account_id=account_id,
            workflow_state="completed" if number % 10 == 9 else "available",
        )
        courses.append(course)
    return courses


class GeneratedAssignments:
    """Every course's assignments, made on demand from the fixture's first one.

    Stands in for the fake's stored assignments where it lists a course's
    (``of_course``); ids are ``course id * 100 + n``, so they never collide.
    """

    def __init__(self, per_course: int) -> None:
        self.per_course = per_course
        self.template = load_fixture("assignments.json")[0]

    def of_course(self, course_id: int) -> list[dict[str, Any]]:
        """Return the assignments of ``course_id``, the same on every call."""
        assignments = []
        for number in range(self.per_course):
            assignment = dict(self.template)
            assignment.update(
                id=course_id * 100 + number,
                course_id=course_id,
                name=f"Assignment {number + 1} of course {course_id}",
                position=number + 1,
                html_url=f"{COURSE_URL}/{course_id}/assignments/{course_id * 100 + number}",
            )
            assignments.append(assignment)
        return assignments


def parse_account(text: str) -> tuple[int, int]:
    """Return (account id, course count) of an ``ID:COUNT`` argument."""
    account, _, count = text.partition(":")
    if not (account.isdigit() and count.isdigit()):
        raise argparse.ArgumentTypeError(f"expected ACCOUNT:COUNT, got {text!r}")
    return int(account), int(count)


def main() -> int:
    """Build the courses, serve them and print the fake's URL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--account", type=parse_account, action="append", default=[])
    parser.add_argument("--assignments-per-course", type=int, default=0)
    args = parser.parse_args()
    if not 0 <= args.assignments_per_course < 100:
        parser.error("--assignments-per-course must be 0 to 99")

    courses: list[dict[str, Any]] = []
    first_id = FIRST_COURSE_ID
    for account_id, count in args.account:
        courses.extend(build_courses(account_id, count, first_id))
        first_id += count
    fake = CanvasFake(token=TOKEN, courses=courses)
    del courses
    # The benchmark measures the portal, not Canvas's throttle: requests cost
    # nothing, so the quota headers stay full and no request is refused.
    fake.request_cost = 0.0
    fake.accounts.update(account_id for account_id, _ in args.account)
    fake.assignments = GeneratedAssignments(args.assignments_per_course)

    with fake:
        print(fake.base_url, flush=True)
        sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
