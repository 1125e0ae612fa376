"""App configuration of the learning domain."""

from django.apps import AppConfig


class LearningConfig(AppConfig):
    """Courses, assignments, enrollments, progress and learner identities."""

    name = "portal.learning"
    label = "learning"
    verbose_name = "Learning"
