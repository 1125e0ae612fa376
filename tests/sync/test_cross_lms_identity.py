"""The same learner in Canvas and in Moodle, matched by email, is one user."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from integrations.models import SyncStatus
from integrations.sync.runs import run_sync_now
from portal.learning.models import Enrollment, LearnerIdentity
from tests.fakes.canvas import CanvasFake
from tests.providers.canvas.helpers import TOKEN as CANVAS_TOKEN
from tests.providers.canvas.helpers import make_canvas_integration
from tests.providers.moodle.helpers import (
    ADA_MOODLE_ID,
    enrol_canvas_learner,
    make_moodle_integration,
    school_fake,
)

pytestmark = pytest.mark.django_db

ADA_EMAIL = "ada@example.edu"


@pytest.fixture(autouse=True)
def _loopback_http(loopback_http) -> None:
    """Let integrations reach loopback fakes, with tiny retry waits."""


@pytest.mark.parametrize("match", ["email", "none"])
def test_learner_in_canvas_and_moodle_is_one_portal_user(settings, match):
    settings.PORTAL_LEARNER_MATCH = match
    moodle_fake = enrol_canvas_learner(school_fake())

    with CanvasFake.school(token=CANVAS_TOKEN) as canvas_fake, moodle_fake:
        canvas = make_canvas_integration(canvas_fake, account_id=1)
        moodle = make_moodle_integration(moodle_fake)
        canvas_runs = run_sync_now(canvas)
        moodle_runs = run_sync_now(moodle)

    assert {run.status for run in canvas_runs + moodle_runs} == {SyncStatus.SUCCEEDED}
    in_canvas = LearnerIdentity.objects.get(integration=canvas, remote_user_id="501")
    in_moodle = LearnerIdentity.objects.get(
        integration=moodle, remote_user_id=str(ADA_MOODLE_ID)
    )
    if match == "email":
        assert in_canvas.user == in_moodle.user
        ada = in_canvas.user
        assert get_user_model().objects.filter(email__iexact=ADA_EMAIL).count() == 1
        assert Enrollment.objects.filter(learner=ada, integration=canvas).exists()
        assert Enrollment.objects.filter(learner=ada, integration=moodle).exists()
    else:
        assert in_canvas.user != in_moodle.user
