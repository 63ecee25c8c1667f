"""The chaos run's SMTP sink counts what arrived, by subject and recipients, from its own
process."""

from __future__ import annotations

import smtplib
import socket
from email.message import EmailMessage

from chaos.smtp_sink import SmtpSink


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _send(port: int, subject: str, *recipients: str) -> None:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = "lmo@example.com"
    message["To"] = ", ".join(recipients)
    message.set_content("body")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(message)


def test_sink__emails_since_a_mark__counted_by_subject_and_recipients(tmp_path):
    sink = SmtpSink(_free_port(), tmp_path / "mail.jsonl")
    sink.start()
    try:
        _send(sink.port, "before", "a@x.example")
        mark = sink.mark()
        _send(sink.port, "Lic-1 Acme: trial -> expired", "b@x.example", "a@x.example")
        _send(sink.port, "Lic-1 Acme: trial -> expired", "a@x.example", "b@x.example")

        assert mark == 1
        assert sink.since(mark) == {
            ("Lic-1 Acme: trial -> expired", ("a@x.example", "b@x.example")): 2
        }
        assert sink.count() == 3
    finally:
        sink.stop()
