"""Map a REST API's 4xx answers to the portal's typed errors by status.

GitHub, GitLab and Vimeo answer a refused token with 401, a missing scope
or role with 403 and a hidden or missing resource with 404, each with a
body of its own. :class:`StatusErrors` holds that shared shape; a provider's
subclass names the service, says what each status means there and what to
fix, reads its body into the error's details, and adds the statuses only it
uses (GitHub's 410 and 422). 5xx answers and the statuses a subclass passes
through (a 429 its rate-limit hook reads) are left to the HTTP client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from integrations import errors

if TYPE_CHECKING:
    from integrations.http.response import HttpResponse


@dataclass(frozen=True)
class StatusErrors:
    """Map 401, 403, 404 and other 4xx answers to typed errors.

    ``learner`` says the token is a learner's connected account, so the fix
    an admin reads is a reconnection rather than a new credential.
    Subclasses set the class attributes and may override :meth:`details`
    and :meth:`special`. A frozen dataclass, so equal mappers compare equal
    and the client factory keeps reusing the integration's client.
    """

    learner: bool = False

    #: The service's name in messages ("GitHub").
    service: ClassVar[str] = ""
    #: What a 403 means there and what to fix.
    forbidden: ClassVar[str] = ""
    #: What a 404 means there.
    not_found: ClassVar[str] = ""
    #: What to do about a refused token of the integration's own credential.
    credential_fix: ClassVar[str] = ""
    #: 4xx statuses left to the client (its rate-limit hook reads them).
    passed_through: ClassVar[frozenset[int]] = frozenset()

    def __call__(self, response: HttpResponse) -> errors.IntegrationError | None:
        """Return the typed error ``response`` means (None: the client's default)."""
        status = response.status
        if status < 400 or status >= 500 or status in self.passed_through:
            return None

        details = self.details(response)
        special = self.special(response, details)
        if special is not None:
            return special
        if status == 401:
            return errors.AuthenticationFailed(self.auth_fix(), details=details)
        if status == 403:
            return errors.PermissionDenied(self.forbidden, details=details)
        if status == 404:
            return errors.NotFound(self.not_found, details=details)
        return errors.PermanentError(
            f"{self.service} refused the request", details=details
        )

    def details(self, response: HttpResponse) -> dict[str, Any]:
        """Return what of the error body goes into the error's details."""
        return {}

    def special(
        self, response: HttpResponse, details: dict[str, Any]
    ) -> errors.IntegrationError | None:
        """Return the error of a status only this service uses, else None."""
        return None

    def auth_fix(self) -> str:
        """Return what to do about a 401: reconnect, or replace the token."""
        if self.learner:
            return (
                f"{self.service} rejected the learner's token: it was revoked or "
                f"has expired; the learner must connect {self.service} again on "
                "their Connected accounts page"
            )
        return self.credential_fix
