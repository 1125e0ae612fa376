"""A generic JSON quiz service on loopback, for the quiz_platform provider.

There is no one real service behind the provider: it talks to any quiz
platform that follows the shape documented in docs/providers/quiz_platform.md.
This fake answers that shape the way JSON APIs commonly do:

- ``POST /quizzes`` creates a quiz from the portal's document and answers
  201 with it and its new ``id``. An ``Idempotency-Key`` seen before answers
  the quiz that key created (200), without creating another, as Stripe's
  and the IETF draft's idempotency keys behave [assumed: a platform keeps
  keys at least as long as the portal retries]. A document without
  ``title`` or ``questions`` answers 422 with
  ``{"error": {"code": "invalid", "message", "fields"}}``.
- ``GET /quizzes?reference=R`` lists the quizzes made with reference R.
- ``GET /quizzes/{id}/results`` lists a quiz's results, paged with a Link
  header (``rel="next"``) or, with ``pagination = "page"``, by ``page`` and
  ``per_page`` numbers [assumed: an empty page ends the listing].
- Without ``Authorization: Bearer <token>`` (or the API key header, with
  ``auth = "header"``) every call answers 401 with
  ``{"error": {"code": "unauthorized", ...}}`` and ``WWW-Authenticate``.

``drop_create_responses`` drops the responses of the next N creation
requests (a TCP reset) after the creation happened, as when a proxy cuts a
slow answer; a repeat's response drops too while N lasts.
"""

from __future__ import annotations

import itertools
import re
import threading
from typing import Any
from urllib.parse import urlencode

from tests.fakes.faulty import Reset
from tests.fakes.server import FakeServer, RecordedRequest, Reply, links_header

RESULTS = re.compile(r"/quizzes/(?P<id>[^/]+)/results")


class QuizPlatformFake(FakeServer):
    """A quiz service on 127.0.0.1; use as a context manager."""

    def __init__(
        self,
        *,
        token: str = "quiz-token",
        auth: str = "bearer",
        auth_header: str = "X-API-Key",
        pagination: str = "link",
        page_size: int = 2,
    ) -> None:
        super().__init__()
        self.token = token
        self.auth = auth
        self.auth_header = auth_header
        self.pagination = pagination
        self.page_size = page_size
        self.quizzes: dict[str, dict[str, Any]] = {}
        self.results: dict[str, list[dict[str, Any]]] = {}
        self.keys: dict[str, str] = {}
        self.drop_create_responses = 0
        self._ids = itertools.count(101)
        self._quiz_lock = threading.Lock()
        self.route("POST", "/quizzes", self._create)
        self.route("GET", "/quizzes", self._find)
        self.route("GET", RESULTS, self._results)

    @property
    def base_url(self) -> str:
        """Return the URL integrations point at."""
        return self.url

    def add_result(self, quiz_id: str, **result: Any) -> dict[str, Any]:
        """Record a learner's submission of quiz ``quiz_id``; return it."""
        self.results.setdefault(quiz_id, []).append(result)
        return result

    def _refusal(self, request: RecordedRequest) -> Reply | None:
        if self.auth == "header":
            given = request.header(self.auth_header)
        else:
            header = request.header("Authorization") or ""
            given = header[7:] if header.startswith("Bearer ") else None
        if given == self.token:
            return None
        body = {"error": {"code": "unauthorized", "message": "Invalid token."}}
        return Reply.json(
            body, 401, headers={"WWW-Authenticate": 'Bearer realm="quiz"'}
        )

    def _create(self, request: RecordedRequest) -> Reply:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        document = request.json()
        missing = [name for name in ("title", "questions") if not document.get(name)]
        if missing:
            body = {
                "error": {
                    "code": "invalid",
                    "message": "The quiz is incomplete.",
                    "fields": {name: ["required"] for name in missing},
                }
            }
            return Reply.json(body, 422)

        key = request.header("Idempotency-Key")
        with self._quiz_lock:
            status = 200
            quiz_id = self.keys.get(key) if key else None
            if quiz_id is None:
                status = 201
                quiz_id = str(next(self._ids))
                self.quizzes[quiz_id] = {**document, "id": quiz_id}
                if key:
                    self.keys[key] = quiz_id
            if self.drop_create_responses > 0:
                self.drop_create_responses -= 1
                return Reset(None)
        return Reply.json(self.quizzes[quiz_id], status)

    def _find(self, request: RecordedRequest) -> Reply:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        reference = request.arg("reference")
        found = [
            quiz
            for quiz in self.quizzes.values()
            if reference is None or quiz.get("reference") == reference
        ]
        return Reply.json(found)

    def _results(self, request: RecordedRequest) -> Reply:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        quiz_id = request.match["id"]
        if quiz_id not in self.quizzes:
            body = {"error": {"code": "not_found", "message": "No such quiz."}}
            return Reply.json(body, 404)

        results = self.results.get(quiz_id, [])
        size = int(request.arg("per_page") or self.page_size)
        page = int(request.arg("page") or 1)
        chunk = results[(page - 1) * size : page * size]
        headers = {}
        if self.pagination == "link" and page * size < len(results):
            query = urlencode({"page": page + 1, "per_page": size})
            headers["Link"] = links_header(
                [(f"{self.url}{request.path}?{query}", "next")]
            )
        return Reply.json(chunk, headers=headers)
