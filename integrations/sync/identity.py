"""Link remote users to portal users, so several LMSs land on one person.

A remote user already linked (LearnerIdentity) keeps their portal user. A new
one is matched to an existing portal user by email when
``PORTAL_LEARNER_MATCH`` is ``email`` (the default), but only to a user whose
email is trusted (see _trusted_user_with_email); otherwise a portal user is
created with an unusable password.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q

from integrations.models import Integration
from integrations.records import LearnerRef
from portal.learning.models import LearnerIdentity


def _match_by_email() -> bool:
    return getattr(settings, "PORTAL_LEARNER_MATCH", "email") == "email"


def resolve_learners(
    integration: Integration, refs: Iterable[LearnerRef]
) -> dict[str, int]:
    """Return ``{remote_user_id: portal user id}`` for ``refs``, creating links.

    Runs a constant number of queries for already-linked users; only users
    seen for the first time cost a few queries each.
    """
    by_remote_id: dict[str, LearnerRef] = {}
    for ref in refs:
        remote_id = str(ref.get("remote_user_id") or "")
        if remote_id:
            by_remote_id[remote_id] = ref
    if not by_remote_id:
        return {}

    linked = LearnerIdentity.objects.filter(
        integration=integration, remote_user_id__in=list(by_remote_id)
    ).values_list("remote_user_id", "user_id")
    resolved = dict(linked)

    for remote_id, ref in by_remote_id.items():
        if remote_id not in resolved:
            resolved[remote_id] = _link_new_learner(integration, remote_id, ref)
    return resolved


def _link_new_learner(integration: Integration, remote_id: str, ref: LearnerRef) -> int:
    user = _find_or_create_user(integration, remote_id, ref)
    try:
        with transaction.atomic():
            identity, _ = LearnerIdentity.objects.get_or_create(
                integration=integration,
                remote_user_id=remote_id,
                defaults={
                    "user": user,
                    "email": (ref.get("email") or "")[:254],
                    "display_name": (ref.get("name") or "")[:255],
                },
            )
    except IntegrityError:
        # Another process linked the same remote user first.
        identity = LearnerIdentity.objects.get(
            integration=integration, remote_user_id=remote_id
        )
    return identity.user_id


def _find_or_create_user(integration: Integration, remote_id: str, ref: LearnerRef):
    email = (ref.get("email") or "").strip().lower()
    if email and _match_by_email():
        existing = _trusted_user_with_email(email)
        if existing is not None:
            return existing

    base = (
        email if email and _match_by_email() else f"{integration.name}-{remote_id}"
    )[:140]
    first_name, _, last_name = (ref.get("name") or "").partition(" ")
    for attempt in range(5):
        username = base if attempt == 0 else f"{base}-{uuid.uuid4().hex[:8]}"
        try:
            with transaction.atomic():
                user = get_user_model()(
                    username=username,
                    email=email,
                    first_name=first_name[:150],
                    last_name=last_name[:150],
                )
                user.set_unusable_password()
                user.save()
                return user
        except IntegrityError:
            # The name is taken. It may be the same learner, just linked by
            # another process; only a trusted match may be adopted.
            existing = (
                _trusted_user_with_email(email) if email and _match_by_email() else None
            )
            if existing is not None:
                return existing
    raise IntegrityError(f"No free username for remote user {remote_id!r}")


def _trusted_user_with_email(email: str):
    """Return the learner this email safely identifies, or None.

    An email typed at sign-up proves nothing until it is verified, so only
    two kinds of account qualify: one already linked to a remote user with
    that email by a sync (the email came from an LMS the admin configured),
    or one whose allauth address is verified. Staff accounts are never
    matched: a learner record must not grant anyone a staff account's data.
    """
    candidates = get_user_model().objects.filter(
        email__iexact=email, is_staff=False, is_superuser=False
    )
    trusted = candidates.filter(
        Q(learner_identities__email__iexact=email)
        | Q(emailaddress__email__iexact=email, emailaddress__verified=True)
    )
    return trusted.distinct().order_by("id").first()
