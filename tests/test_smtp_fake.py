"""The fake SMTP server answers as RFC 5321 and 4954 say (tests/fakes/smtp.py)."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator

import pytest

from tests import leakcheck
from tests.fakes.smtp import SmtpFake

PASSWORD = leakcheck.secret("smtp-fake-password-41c7")


@pytest.fixture
def server() -> Iterator[SmtpFake]:
    with SmtpFake(username="portal", password=PASSWORD) as fake:
        yield fake


def test_the_right_login_sends_and_the_message_is_kept(server):
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        client.login("portal", PASSWORD)
        refused = client.sendmail(
            "portal@example.edu", ["ops@example.edu"], "Subject: hi\r\n\r\n.dot\r\n"
        )

    assert refused == {}
    assert server.logins == [True]
    [message] = server.messages
    assert (message["from"], message["to"]) == (
        "portal@example.edu",
        ["ops@example.edu"],
    )
    assert message["data"].endswith(".dot")


def test_a_wrong_password_is_refused_with_535(server):
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.login("portal", "not-the-password")

    assert refused.value.smtp_code == 535
    assert server.logins == [False]


def test_mail_without_a_login_is_refused_with_530(server):
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("portal@example.edu", ["ops@example.edu"], "hi")

    assert refused.value.smtp_code == 530
    assert server.messages == []
