"""Calls to a quiz platform: find a quiz by reference, create one, read results."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from integrations.http.pagination import FetchedPage, extract_items

if TYPE_CHECKING:
    from integrations.http.client import HttpClient
    from integrations.providers.quiz_platform.provider import QuizPlatformConfig


class QuizPlatformClient:
    """Talk to one quiz platform through the shared HTTP client."""

    def __init__(self, client: HttpClient, config: QuizPlatformConfig) -> None:
        self.client = client
        self.config = config

    def find_by_reference(self, reference: str) -> dict[str, Any] | None:
        """Return the platform's quiz created with ``reference``, or None."""
        params = {self.config.reference_param: reference}
        response = self.client.request("GET", self.config.quizzes_path, params=params)
        items = extract_items(response, response.json(), self.config.items_path)

        for item in items:
            if isinstance(item, dict) and item.get("reference") == reference:
                return item
        return None

    def create_quiz(self, document: dict[str, Any], idempotency_key: str) -> dict:
        """POST the quiz document and return the created quiz.

        The ``Idempotency-Key`` makes the POST safe to retry: the platform
        answers a repeat with the quiz the first request created.
        """
        response = self.client.request(
            "POST",
            self.config.quizzes_path,
            json=document,
            headers={"Idempotency-Key": idempotency_key},
            idempotent=True,
        )
        body = response.json()
        if not isinstance(body, dict) or not _usable_id(body.get("id")):
            raise response.invalid("The created quiz has no 'id'")
        return body

    def result_pages(
        self, quiz_id: str, cursor: dict[str, Any] | None
    ) -> Iterator[FetchedPage]:
        """Yield pages of the results of the platform's quiz ``quiz_id``."""
        paging = self.config.paging
        yield from self.client.paginate(
            self.config.results_path_for(quiz_id),
            params=paging.size_params(paging.page_size),
            pagination=paging.pagination(paging.page_size),
            cursor=cursor,
            items_path=self.config.items_path,
        )


def _usable_id(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, str) and bool(value.strip()))
