"""A fake SMTP server on loopback with a login, for the email sink's tests.

Not an HTTP service, so not built on :class:`tests.fakes.server.FakeServer`,
but used the same way (a context manager on 127.0.0.1 and a free port).
What it reproduces, from RFC 5321 (SMTP) and RFC 4954 (SMTP AUTH):

- a ``220`` greeting; ``EHLO`` answers ``250`` with the ``AUTH PLAIN``
  extension (``HELO`` a plain ``250``);
- ``AUTH PLAIN <base64 of NUL user NUL password>`` (the initial response
  smtplib sends): ``235 2.7.0`` for the configured login, ``535 5.7.8``
  otherwise; ``AUTH`` of another mechanism: ``504 5.5.4``;
- ``MAIL FROM``, ``RCPT TO`` and ``DATA`` need a login first (``530
  5.7.0``); a message ends with a line of one dot and is kept in
  ``messages``; ``RSET``, ``NOOP`` and ``QUIT`` (``221``) as the RFC says.
"""

from __future__ import annotations

import base64
import binascii
import socketserver
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Session:
    authenticated: bool = False
    sender: str = ""
    recipients: list[str] = field(default_factory=list)


class SmtpFake:
    """One mail server with one login; keeps the messages it accepts."""

    def __init__(self, *, username: str, password: str) -> None:
        self.username = username
        self.password = password
        self.messages: list[dict[str, Any]] = []
        self.logins: list[bool] = []
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                fake._converse(self.rfile, self.wfile)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )

    @property
    def host(self) -> str:
        """Return the address the server listens on."""
        return self._server.server_address[0]

    @property
    def port(self) -> int:
        """Return the port the server listens on."""
        return self._server.server_address[1]

    def __enter__(self) -> SmtpFake:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _converse(self, rfile: Any, wfile: Any) -> None:
        def reply(line: str) -> None:
            wfile.write(line.encode("ascii") + b"\r\n")
            wfile.flush()

        session = _Session()
        reply("220 fake-smtp.example.edu ESMTP ready")
        for raw in rfile:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb, _, argument = line.partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                reply("250-fake-smtp.example.edu")
                reply("250 AUTH PLAIN")
            elif verb == "HELO":
                reply("250 fake-smtp.example.edu")
            elif verb == "AUTH":
                session.authenticated = self._login(argument)
                self.logins.append(session.authenticated)
                if session.authenticated:
                    reply("235 2.7.0 Authentication successful")
                elif not argument.upper().startswith("PLAIN"):
                    reply("504 5.5.4 Unrecognized authentication type")
                else:
                    reply("535 5.7.8 Authentication credentials invalid")
            elif verb in {"MAIL", "RCPT", "DATA"} and not session.authenticated:
                reply("530 5.7.0 Authentication required")
            elif verb == "MAIL":
                session.sender, session.recipients = _address(argument), []
                reply("250 2.1.0 OK")
            elif verb == "RCPT":
                session.recipients.append(_address(argument))
                reply("250 2.1.5 OK")
            elif verb == "DATA":
                reply("354 End data with <CR><LF>.<CR><LF>")
                self._read_message(rfile, session)
                reply("250 2.0.0 OK: queued")
            elif verb in {"RSET", "NOOP"}:
                reply("250 2.0.0 OK")
            elif verb == "QUIT":
                reply("221 2.0.0 Bye")
                return
            else:
                reply("502 5.5.2 Command not recognized")

    def _login(self, argument: str) -> bool:
        mechanism, _, response = argument.partition(" ")
        if mechanism.upper() != "PLAIN" or not response:
            return False
        try:
            decoded = base64.b64decode(response, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        _, _, credentials = decoded.partition("\0")
        return credentials == f"{self.username}\0{self.password}"

    def _read_message(self, rfile: Any, session: _Session) -> None:
        lines = []
        for raw in rfile:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line == ".":
                break
            # RFC 5321 4.5.2: a leading dot was doubled by the sender.
            lines.append(line[1:] if line.startswith("..") else line)
        self.messages.append(
            {
                "from": session.sender,
                "to": list(session.recipients),
                "data": "\n".join(lines),
            }
        )


def _address(argument: str) -> str:
    """Return the path of ``FROM:<a@b> SIZE=1`` or ``TO:<a@b>``: ``a@b``."""
    _, _, rest = argument.partition(":")
    return rest.strip().split(" ", 1)[0].strip("<>")
