"""App configuration of assessment."""

from django.apps import AppConfig


class AssessmentConfig(AppConfig):
    """Quizzes, their questions and learners' quiz results."""

    name = "portal.assessment"
    label = "assessment"
    verbose_name = "Assessment"

    def ready(self) -> None:
        """Let the sync engine store quizzes and quiz results through this app."""
        from integrations.sync.upsert import register_record_store
        from portal.assessment.sync import QuizResultStore, QuizStore

        register_record_store("quiz", QuizStore())
        register_record_store("quiz_result", QuizResultStore())
