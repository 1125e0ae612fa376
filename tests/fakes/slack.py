"""A fake Slack incoming webhook on loopback, answering as Slack documents.

Built on :class:`tests.fakes.server.FakeServer`. What it reproduces, from
api.slack.com "Sending messages using incoming webhooks", the Block Kit
reference and the changelog "Improving error conditions for Incoming
Webhooks" (2016-05-17), plus codes seen in practice (routeforms' webhook
error decoder):

- ``POST /services/{team}/{bot}/{secret}`` with JSON ``{"text",
  "blocks"}``: 200 and the plain-text body ``ok``.
- 400 ``invalid_payload`` for a body that is not JSON; 400 ``no_text``
  for one with neither ``text`` nor ``blocks``; 400 ``invalid_blocks``
  for a section whose text is over 3000 characters, a ``block_id`` over
  255 or repeated in one message, or more than 50 blocks.
- A revoked webhook (:meth:`SlackFake.revoke`): 404 ``no_service``; an
  archived channel (:meth:`SlackFake.archive_channel`): 410
  ``channel_is_archived``; a workspace restriction: 403
  ``action_prohibited`` (:meth:`SlackFake.prohibit`).
- :meth:`SlackFake.rate_limit`: 429 ``rate_limited`` with ``Retry-After``
  seconds (Slack allows about one message a second per webhook).
- :meth:`SlackFake.fail`: 500 ``rollup_error`` the next ``n`` times.

Every accepted message is kept in ``messages``; ``delivered_keys()`` reads
the portal's idempotency keys from the section blocks' ``block_id``.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from tests.fakes.server import FakeServer, RecordedRequest, Reply

TEAM, BOT = "T0PORTAL1", "B0PORTAL2"
SECRET = "fakeSlackWebhookSecret42"
PATH = f"/services/{TEAM}/{BOT}/{SECRET}"
MAX_SECTION_TEXT = 3000
MAX_BLOCK_ID = 255
MAX_BLOCKS = 50


class SlackFake(FakeServer):
    """One incoming webhook, its accepted messages and switchable failures."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[dict[str, Any]] = []
        self._state = ""
        self._scripted: list[Reply] = []
        self._lock_script = threading.Lock()
        self.route("POST", PATH, self._post)

    @property
    def webhook_url(self) -> str:
        """Return the webhook URL an admin would paste (a secret)."""
        return self.url_for(PATH)

    def revoke(self) -> None:
        """Remove the webhook: 404 ``no_service`` from now on."""
        self._state = "no_service"

    def archive_channel(self) -> None:
        """Archive the channel: 410 ``channel_is_archived`` from now on."""
        self._state = "channel_is_archived"

    def prohibit(self) -> None:
        """Restrict the workspace: 403 ``action_prohibited`` from now on."""
        self._state = "action_prohibited"

    def rate_limit(self, retry_after: int) -> None:
        """Answer the next post with 429 and ``Retry-After``."""
        reply = Reply.text("rate_limited", 429, {"Retry-After": str(retry_after)})
        with self._lock_script:
            self._scripted.append(reply)

    def fail(self, times: int) -> None:
        """Answer the next ``times`` posts with 500 ``rollup_error``."""
        with self._lock_script:
            self._scripted.extend(Reply.text("rollup_error", 500) for _ in range(times))

    def delivered_keys(self) -> list[str]:
        """Return the block ids of every accepted section, in arrival order."""
        return [
            block.get("block_id", "")
            for message in self.messages
            for block in message.get("blocks", [])
        ]

    def _post(self, request: RecordedRequest) -> Reply:
        states = {
            "no_service": 404,
            "channel_is_archived": 410,
            "action_prohibited": 403,
        }
        if self._state:
            return Reply.text(self._state, states[self._state])
        with self._lock_script:
            scripted = self._scripted.pop(0) if self._scripted else None
        if scripted is not None:
            return scripted

        try:
            body = json.loads(request.body)
        except ValueError:
            return Reply.text("invalid_payload", 400)
        if not isinstance(body, dict):
            return Reply.text("invalid_payload", 400)
        if not body.get("text") and not body.get("blocks"):
            return Reply.text("no_text", 400)
        if not blocks_valid(body.get("blocks") or []):
            return Reply.text("invalid_blocks", 400)
        self.messages.append(body)
        return Reply.text("ok")


def blocks_valid(blocks: list[Any]) -> bool:
    """Tell whether blocks keep to the limits the fake checks."""
    if len(blocks) > MAX_BLOCKS:
        return False
    seen: set[str] = set()
    for block in blocks:
        block_id = block.get("block_id", "")
        if len(block_id) > MAX_BLOCK_ID or (block_id and block_id in seen):
            return False
        seen.add(block_id)
        text = block.get("text", {}).get("text", "")
        if block.get("type") == "section" and len(text) > MAX_SECTION_TEXT:
            return False
    return True
