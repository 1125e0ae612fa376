"""Move the tokens allauth obtained into the portal's encrypted store.

allauth keeps the tokens of a social login on the ``SocialLogin`` object
(``SOCIALACCOUNT_STORE_TOKENS`` is off, so it never writes
``SocialToken`` rows). The handlers here run when allauth has saved the
account: a new connection (``social_account_added``), a sign-in or sign-up
through the service (``user_logged_in`` with a social login), and a
reconnection of an account the learner already had
(``social_account_updated``, guarded: allauth sends it before it checks that
the account belongs to the signed-in user).
"""

from __future__ import annotations

from typing import Any

from allauth.account.signals import user_logged_in
from allauth.socialaccount.models import SocialLogin
from allauth.socialaccount.signals import social_account_added, social_account_updated

from portal.accounts.learner_sync import start_learner_sync
from portal.accounts.tokens import store_tokens


def _store(sociallogin: SocialLogin | None) -> None:
    if sociallogin is None or sociallogin.account.pk is None:
        return
    connection = store_tokens(
        sociallogin.account, sociallogin.token, _requested_scopes(sociallogin)
    )
    start_learner_sync(connection)


def _requested_scopes(sociallogin: SocialLogin) -> str:
    # allauth keeps no record of what the service granted, so the learner's
    # page shows what the portal asked for.
    provider = sociallogin.provider
    get_scope = getattr(provider, "get_scope", None)
    return " ".join(get_scope()) if get_scope is not None else ""


def _on_added(
    sender: Any, request: Any, sociallogin: SocialLogin, **kwargs: Any
) -> None:
    _store(sociallogin)


def _on_updated(
    sender: Any, request: Any, sociallogin: SocialLogin, **kwargs: Any
) -> None:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        # A sign-in: stored by user_logged_in once allauth let the user in.
        return
    if sociallogin.account.user_id != user.pk:
        # Another portal user's account: allauth refuses this connection.
        return
    _store(sociallogin)


def _on_logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    _store(kwargs.get("sociallogin"))


def connect_handlers() -> None:
    """Connect the handlers (called once, from the app's ``ready``)."""
    social_account_added.connect(_on_added, dispatch_uid="portal.accounts.added")
    social_account_updated.connect(_on_updated, dispatch_uid="portal.accounts.updated")
    user_logged_in.connect(_on_logged_in, dispatch_uid="portal.accounts.logged_in")
