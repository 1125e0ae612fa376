"""The quiz resources: learners never see answers or others' results."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from portal.assessment.models import PublishState, Quiz, QuizResult
from portal.learning.models import Course

ANSWER_KEYS = {"correct", "correct_answer", "accepted_answers"}


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def answer_keys_in(node) -> set[str]:
    if isinstance(node, dict):
        found = ANSWER_KEYS & set(node)
        for value in node.values():
            found |= answer_keys_in(value)
        return found
    if isinstance(node, list):
        return set().union(*(answer_keys_in(value) for value in node))
    return set()


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user(
        "staff", "staff@example.edu", "pw", is_staff=True
    )


@pytest.fixture
def published_quiz(quiz, platform):
    Quiz.objects.filter(pk=quiz.pk).update(
        publish_state=PublishState.PUBLISHED, integration=platform, external_id="101"
    )
    return quiz


@pytest.fixture
def results(published_quiz, platform, learner, other_learner):
    return [
        QuizResult.objects.create(
            quiz=published_quiz,
            learner=user,
            integration=platform,
            external_id=f"r-{user.username}",
            score=3,
            max_score=4,
            answers=[{"question": 1, "answer": "Nucleus"}],
            submitted_at=datetime(2026, 3, 1, tzinfo=UTC),
        )
        for user in (learner, other_learner)
    ]


def test_a_learner_sees_the_quiz_without_any_answer(published_quiz, learner):
    response = client_for(learner).get("/api/v1/quizzes/")

    assert response.status_code == 200
    (row,) = response.json()["results"]
    assert row["id"] == published_quiz.pk
    assert row["max_score"] == 4.0
    assert [q["kind"] for q in row["questions"]] == [
        "multiple_choice",
        "true_false",
        "short_answer",
    ]
    assert row["questions"][0]["choices"] == [{"text": "Nucleus"}, {"text": "Membrane"}]
    assert answer_keys_in(response.json()) == set()
    detail = client_for(learner).get(f"/api/v1/quizzes/{published_quiz.pk}/")
    assert answer_keys_in(detail.json()) == set()


def test_staff_see_the_answers(published_quiz, staff):
    response = client_for(staff).get(f"/api/v1/quizzes/{published_quiz.pk}/")

    questions = response.json()["questions"]
    assert questions[0]["choices"][0] == {"text": "Nucleus", "correct": True}
    assert questions[1]["correct_answer"] is True
    assert questions[2]["accepted_answers"] == ["mitochondria", "mitochondrion"]
    assert response.json()["integration"] == "quizzes"


def test_a_learner_sees_no_drafts_and_no_other_courses(quiz, learner, lms, staff):
    other_course = Course.objects.create(integration=lms, external_id="c2", title="X")
    Quiz.objects.create(
        course=other_course, title="Elsewhere", publish_state=PublishState.PUBLISHED
    )

    learner_rows = client_for(learner).get("/api/v1/quizzes/").json()["results"]
    staff_rows = client_for(staff).get("/api/v1/quizzes/").json()["results"]

    assert learner_rows == []
    assert len(staff_rows) == 2
    assert client_for(learner).get(f"/api/v1/quizzes/{quiz.pk}/").status_code == 404


def test_a_learner_sees_only_their_own_results(results, learner, staff):
    own, others = results

    rows = client_for(learner).get("/api/v1/quiz-results/").json()["results"]

    assert [row["id"] for row in rows] == [own.pk]
    assert rows[0]["score"] == 3.0
    assert rows[0]["course"] == own.quiz.course_id
    assert rows[0]["integration"] == "quizzes"
    assert (
        client_for(learner).get(f"/api/v1/quiz-results/{others.pk}/").status_code == 404
    )
    filtered = client_for(learner).get(
        "/api/v1/quiz-results/", {"learner": others.learner_id}
    )
    assert filtered.json()["results"] == []
    assert len(client_for(staff).get("/api/v1/quiz-results/").json()["results"]) == 2


def test_anonymous_callers_are_refused(published_quiz):
    assert APIClient().get("/api/v1/quizzes/").status_code in (401, 403)
    assert APIClient().get("/api/v1/quiz-results/").status_code in (401, 403)


def test_a_bad_filter_names_the_parameter(published_quiz, learner):
    response = client_for(learner).get("/api/v1/quizzes/", {"course": "abc"})

    assert response.status_code == 400
    assert "course" in response.json()["details"]


def test_the_resources_are_read_only(published_quiz, staff):
    response = client_for(staff).post("/api/v1/quizzes/", {}, format="json")

    assert response.status_code == 405


def test_a_page_costs_the_same_queries_whatever_its_length(
    published_quiz, results, staff
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(staff)

    def queries(path: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(path).status_code == 200
        return len(captured)

    before = (queries("/api/v1/quizzes/"), queries("/api/v1/quiz-results/"))
    for number in range(3):
        copy = Quiz.objects.create(course=published_quiz.course, title=f"Copy {number}")
        for question in published_quiz.questions.all():
            question.pk = None
            question.quiz = copy
            question.save()
        QuizResult.objects.create(
            quiz=copy,
            learner=results[0].learner,
            integration=results[0].integration,
            external_id=f"copy-{number}",
            score=1,
            max_score=4,
            submitted_at=results[0].submitted_at,
        )

    after = (queries("/api/v1/quizzes/"), queries("/api/v1/quiz-results/"))
    assert after == before
