"""The learner's "Connected accounts" page and its Disconnect action."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from allauth.socialaccount.models import SocialAccount
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from portal.accounts.disconnect import disconnect
from portal.accounts.models import Connection, ProviderApp


@login_required
def connections(request: HttpRequest) -> HttpResponse:
    """List every service learners may connect, with this learner's state."""
    own = {
        connection.provider: connection
        for connection in Connection.objects.filter(user=request.user)
    }
    services = []
    for app in ProviderApp.objects.filter(enabled=True).order_by("name"):
        services.append(_service_row(request, app, own.get(app.provider)))
    return render(request, "accounts/connections.html", {"services": services})


def _service_row(
    request: HttpRequest, app: ProviderApp, connection: Connection | None
) -> dict[str, Any]:
    try:
        login_url = reverse(f"{app.provider}_login")
    except NoReverseMatch:
        login_url = ""
    query = urlencode({"process": "connect", "next": reverse("accounts_connections")})
    return {
        "app": app,
        "connection": connection,
        "connect_url": f"{login_url}?{query}" if login_url else "",
        "scopes": connection.scopes.split() if connection and connection.scopes else [],
    }


@login_required
@require_POST
def disconnect_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke and delete one of the signed-in learner's connections."""
    connection = get_object_or_404(
        Connection.objects.select_related("social_account"), pk=pk, user=request.user
    )
    title = _title(connection.provider)
    others = SocialAccount.objects.filter(user=request.user).exclude(
        pk=connection.social_account_id
    )
    if not request.user.has_usable_password() and not others.exists():
        # The account is the only way this learner signs in.
        messages.error(
            request,
            f"{title} is how you sign in: set a password first, then disconnect it.",
        )
        return redirect("accounts_connections")

    revoked = disconnect(connection)

    if revoked:
        messages.success(request, f"{title} is disconnected and its access revoked.")
    else:
        messages.warning(
            request,
            f"{title} is disconnected and the portal deleted its tokens, but "
            f"{title} did not confirm the revocation: you can also remove the "
            f"portal's access in your {title} settings.",
        )
    return redirect("accounts_connections")


def _title(provider: str) -> str:
    app = ProviderApp.objects.filter(provider=provider).first()
    return app.name if app else provider
