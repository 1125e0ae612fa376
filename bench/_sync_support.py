"""Serve the fake Canvas of bench/sync_throughput.py in a process of its own.

Run as ``python bench/_sync_support.py --account 2:50000 --account 3:200000``:
it builds the courses (account 2 gets 50,000, account 3 gets 200,000), starts
:class:`tests.fakes.canvas.CanvasFake` on loopback, prints its URL on one
line and serves until its standard input closes. A process of its own, as a
real Canvas is another machine: the fake's JSON encoding then does not
compete for the benchmark's interpreter lock.
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
    args = parser.parse_args()

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

    with fake:
        print(fake.base_url, flush=True)
        sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
