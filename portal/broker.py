"""The embedded broker: kombu's filesystem transport, made safe to share.

Kombu's filesystem transport creates a message file under its final name
and then writes it, so a consumer polling the folder can take the file while
it is still empty and crash on the empty payload ("Expecting value", see
kombu issue #1551). Here a message is written under a hidden temporary name
and renamed into place, which is atomic on one filesystem, so a consumer
sees a complete message or none. A message that cannot be decoded anyway
(a torn write from a killed process) is logged and skipped instead of
stopping the worker.
"""

from __future__ import annotations

import logging
import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

logger = logging.getLogger(__name__)


class Channel(filesystem.Channel):
    """A filesystem channel whose messages appear in the folder whole."""

    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        """Write the message under a temporary name, then rename it into place."""
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # The leading dot keeps _get from matching the file while it is written.
        temporary = os.path.join(self.data_folder_out, f".{name}.tmp")
        try:
            with open(temporary, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, final)
        except OSError as error:
            raise ChannelError(
                f"Cannot add a message to {self.data_folder_out!r}"
            ) from error

    def _get(self, queue: str) -> Any:
        """Return the next decodable message of ``queue``."""
        while True:
            try:
                return super()._get(queue)
            except ValueError:
                # A message torn by a killed writer: drop it, keep consuming.
                logger.error("broker.message_undecodable", extra={"queue": queue})


class Transport(filesystem.Transport):
    """Kombu's filesystem transport with the atomic channel above."""

    Channel = Channel
