"""URLs of the learner's connected accounts (under /accounts/)."""

from django.urls import path

from portal.accounts import views

urlpatterns = [
    path("connections/", views.connections, name="accounts_connections"),
    path(
        "connections/<int:pk>/disconnect/",
        views.disconnect_view,
        name="accounts_disconnect",
    ),
]
