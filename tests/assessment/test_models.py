"""Validation of quizzes and questions: each error names its field and problem."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from portal.assessment.models import Question, QuestionKind, Quiz


def errors_of(instance) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        instance.full_clean()
    return caught.value.message_dict


def test_a_multiple_choice_question_needs_two_choices_and_one_correct(quiz):
    one_choice = Question(
        quiz=quiz,
        kind=QuestionKind.MULTIPLE_CHOICE,
        prompt="?",
        choices=[{"text": "Only", "correct": True}],
    )
    none_correct = Question(
        quiz=quiz,
        kind=QuestionKind.MULTIPLE_CHOICE,
        prompt="?",
        choices=[{"text": "A", "correct": False}, {"text": "B"}],
    )

    expected = [
        "a multiple-choice question needs at least two choices and one marked correct"
    ]
    assert errors_of(one_choice)["choices"] == expected
    assert errors_of(none_correct)["choices"] == expected


def test_a_choice_without_text_is_named_by_its_index(quiz):
    question = Question(
        quiz=quiz,
        kind=QuestionKind.MULTIPLE_CHOICE,
        prompt="?",
        choices=[{"text": "A", "correct": True}, {"text": " ", "correct": False}],
    )

    assert errors_of(question)["choices"] == ["choice 1 has no text"]


def test_a_true_false_question_needs_its_answer(quiz):
    question = Question(quiz=quiz, kind=QuestionKind.TRUE_FALSE, prompt="?")

    assert errors_of(question)["correct_answer"] == [
        "a true/false question needs its correct answer, true or false"
    ]


def test_a_short_answer_question_needs_accepted_answers(quiz):
    question = Question(quiz=quiz, kind=QuestionKind.SHORT_ANSWER, prompt="?")

    assert errors_of(question)["accepted_answers"] == [
        "a short-answer question needs at least one accepted answer"
    ]


def test_points_must_be_positive_and_answers_fit_the_kind(quiz):
    question = Question(
        quiz=quiz,
        kind=QuestionKind.TRUE_FALSE,
        prompt="?",
        correct_answer=False,
        points=Decimal("0"),
        accepted_answers=["yes"],
    )

    errors = errors_of(question)

    assert "points must be more than 0" in errors["points"]
    assert errors["accepted_answers"] == ["only short-answer questions accept answers"]


def test_a_time_limit_of_zero_is_refused(course):
    quiz = Quiz(course=course, title="Quick", time_limit_minutes=0)

    assert "time_limit_minutes" in errors_of(quiz)


def test_a_quiz_without_questions_cannot_be_published(course):
    quiz = Quiz.objects.create(course=course, title="Empty")

    with pytest.raises(ValidationError) as caught:
        quiz.check_publishable()

    assert caught.value.message_dict == {
        "questions": ["a quiz needs at least one question to be published"]
    }


def test_a_quiz_with_an_invalid_question_cannot_be_published(quiz):
    Question.objects.create(quiz=quiz, position=4, kind="true_false", prompt="?")

    with pytest.raises(ValidationError) as caught:
        quiz.check_publishable()

    assert caught.value.message_dict == {
        "questions[4]": [
            "correct_answer: a true/false question needs its correct answer, "
            "true or false"
        ]
    }


def test_a_valid_quiz_is_publishable(quiz):
    quiz.full_clean()
    quiz.check_publishable()

    assert quiz.max_score() == Decimal("4")
