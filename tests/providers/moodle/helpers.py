"""Payloads, a school on the fake Moodle, and readers for the Moodle tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from integrations.models import Credential, Integration
from integrations.providers.base import Page, StreamContext
from integrations.registry import get_provider
from tests import leakcheck
from tests.fakes.moodle import MoodleFake

FIXTURES = Path(__file__).parent / "fixtures"
TOKEN = leakcheck.secret("moodle-school-token-7f3e9a1c5b2d4e6f")
ADMIN_PASSWORD = leakcheck.secret("Adm1n-School-Pa55word!")

# Completion times used by the school's learners.
QUIZ_DONE = 1736300000
LAB_DONE = 1737500000
# Course 21's criteria are the quiz and the lab report (all of them).
EXPECTED_COURSES = ["21", "22", "23", "24", "25"]
EXPECTED_ENROLLMENTS = [
    "21:501",
    "21:502",
    "21:610",
    "21:611",
    "22:501",
    "22:504",
    "22:610",
    "23:502",
    "23:504",
    "24:501",
    "24:503",
]
EXPECTED_PROGRESS = [
    "21:501",
    "21:502",
    "22:501",
    "22:504",
    "23:502",
    "23:504",
    "24:503",
]


def load_fixture(name: str) -> Any:
    """Return the parsed JSON of ``fixtures/<name>``."""
    return json.loads((FIXTURES / name).read_text())


def build_school(fake: MoodleFake) -> MoodleFake:
    """Fill ``fake`` with the school the tests sync.

    Five courses besides the front page: 21 with completion criteria and
    grades, 22 hidden and without criteria, 23 with completion disabled, 24
    ended, 25 empty. Learner 503 is suspended in 21, 501 has no role in 24.
    """
    fake.add_user(
        2,
        "Site",
        "Admin",
        "admin@school.example.edu",
        username="admin",
        password=ADMIN_PASSWORD,
    )
    fake.add_user(501, "Maria", "Lopez", "m.lopez@school.example.edu")
    fake.add_user(502, "Jun", "Chen", "j.chen@school.example.edu")
    fake.add_user(503, "Sam", "Patel", "s.patel@school.example.edu")
    fake.add_user(504, "Lea", "Novak", "l.novak@school.example.edu")
    fake.add_user(610, "Ngozi", "Okafor", "p.okafor@school.example.edu")
    fake.add_user(611, "Tom", "Berg", "t.berg@school.example.edu")
    fake.add_service("portal_sync", users=[2])

    fake.add_course(21, "Organic Chemistry", "CHEM-231", enddate=4102444800)
    fake.add_course(22, "World History", "HIST-110", visible=0)
    fake.add_course(23, "Statistics", "STAT-200", enablecompletion=0)
    fake.add_course(24, "Art Studio", "ART-105", enddate=1734566400)
    fake.add_course(25, "Physics", "PHY-101")

    fake.enrol(21, 501, "student")
    fake.enrol(21, 502, "student")
    fake.enrol(21, 503, "student", active=False)
    fake.enrol(21, 610, "editingteacher")
    fake.enrol(21, 611, "teacher")
    fake.enrol(22, 501, "student")
    fake.enrol(22, 504, "student")
    fake.enrol(22, 610, "manager", "editingteacher")
    fake.enrol(23, 502, "student")
    fake.enrol(23, 504, "student")
    fake.enrol(24, 503, "student")
    fake.enrol(24, 501)

    fake.add_activity(21, 701, "Stoichiometry quiz", modname="quiz")
    fake.add_activity(21, 702, "Lab report", grademax=25)
    fake.add_activity(
        21, 703, "Portal progress", idnumber="portal-progress", tracking=1, grademax=10
    )
    fake.set_criteria(21, [701, 702])
    fake.add_activity(22, 801, "Essay")
    fake.add_activity(23, 901, "Survey", modname="feedback", tracking=0)

    fake.set_state(21, 501, 701, 2, QUIZ_DONE)
    fake.set_state(21, 501, 702, 1, LAB_DONE)
    fake.set_state(21, 502, 701, 1, QUIZ_DONE)
    fake.set_grade(21, 501, 701, 80)
    fake.set_grade(21, 501, 702, 20)
    fake.set_grade(21, 502, 701, 55)
    fake.set_grade(22, 504, 801, 91)
    return fake


#: Ada Byron is user 501 of the Canvas fixtures. In the Moodle school she has
#: another id, and her address in another case.
ADA_MOODLE_ID = 777
ADA_MOODLE_EMAIL = "Ada@Example.edu"


def enrol_canvas_learner(fake: MoodleFake) -> MoodleFake:
    """Add Ada, Canvas's learner 501, to the school as a student of course 21.

    She has passed the stoichiometry quiz there (80 of 100) and has not
    handed in the lab report.
    """
    fake.add_user(ADA_MOODLE_ID, "Ada", "Byron", ADA_MOODLE_EMAIL)
    fake.enrol(21, ADA_MOODLE_ID, "student")
    fake.set_state(21, ADA_MOODLE_ID, 701, 2, QUIZ_DONE)
    fake.set_grade(21, ADA_MOODLE_ID, 701, 80)
    return fake


def school_fake(**options: Any) -> MoodleFake:
    """Return a fake Moodle (not started) holding the school."""
    return build_school(MoodleFake(token=TOKEN, **options))


def make_moodle_integration(
    fake: MoodleFake,
    name: str = "moodle",
    *,
    credentials: dict[str, str] | None = None,
    **settings: Any,
) -> Integration:
    """Create a Moodle integration pointed at ``fake`` with the school token."""
    integration = Integration.objects.create(
        name=name, provider="moodle", base_url=fake.base_url, settings=settings
    )
    for key, value in (
        credentials if credentials is not None else {"token": TOKEN}
    ).items():
        credential = Credential(integration=integration, key=key)
        credential.set_secret(value)
        credential.save()
    return integration


def read_pages(
    integration: Integration, stream_name: str, cursor: dict[str, Any] | None = None
) -> list[Page]:
    """Return every page a stream yields from ``cursor``."""
    provider = get_provider("moodle")
    context = StreamContext(
        integration,
        client=provider.build_client(integration),
        settings=integration.settings,
    )
    return list(provider.stream(integration, stream_name).pages(context, cursor))
