"""URLs of the REST API, mounted at /api/v1/ by portal/urls.py."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from portal.achievements import api as achievements_api
from portal.api import issue_reports, views
from portal.api.exceptions import not_found_view
from portal.api.submissions import SubmissionViewSet
from portal.assessment import api as assessment_api

router = SimpleRouter()
router.register("courses", views.CourseViewSet, basename="course")
router.register("assignments", views.AssignmentViewSet, basename="assignment")
router.register("enrollments", views.EnrollmentViewSet, basename="enrollment")
router.register("progress", views.ProgressViewSet, basename="progress")
router.register("submissions", SubmissionViewSet, basename="submission")
router.register("repositories", views.RepositoryViewSet, basename="repository")
router.register(
    "repository-files", views.RepositoryFileViewSet, basename="repository-file"
)
router.register("playlists", views.PlaylistViewSet, basename="playlist")
router.register("videos", views.VideoViewSet, basename="video")
router.register("integrations", views.IntegrationViewSet, basename="integration")
router.register("sync-runs", views.SyncRunViewSet, basename="sync-run")
router.register("tokens", views.ApiTokenViewSet, basename="token")
router.register("quizzes", assessment_api.QuizViewSet, basename="quiz")
router.register(
    "quiz-results", assessment_api.QuizResultViewSet, basename="quiz-result"
)
router.register(
    "achievements", achievements_api.AchievementViewSet, basename="achievement"
)
router.register(
    "earned-achievements",
    achievements_api.EarnedAchievementViewSet,
    basename="earned-achievement",
)

urlpatterns = [
    path(
        "repositories/<int:pk>/issues/",
        issue_reports.RepositoryIssueView.as_view(),
        name="repository-issues",
    ),
    *router.urls,
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="api-schema"),
        name="api-docs",
    ),
    # Anything else under /api/v1/ answers in the API's error shape, not
    # with the site's HTML 404 page.
    re_path(r"^[\s\S]*$", not_found_view, name="api-not-found"),
]
