"""App configuration of assessment."""

from django.apps import AppConfig


class AssessmentConfig(AppConfig):
    """Quizzes, their questions and learners' quiz results."""

    name = "portal.assessment"
    label = "assessment"
    verbose_name = "Assessment"
