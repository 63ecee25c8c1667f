"""A local SMTP server that keeps what it received: the chaos run's view of the mail."""

from __future__ import annotations

import threading
from collections import Counter
from email import message_from_bytes
from email.header import decode_header, make_header

from aiosmtpd.controller import Controller


class _Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[tuple[str, tuple[str, ...]]] = []

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.original_content or envelope.content)
        subject = str(make_header(decode_header(message.get("Subject", ""))))
        with self.lock:
            self.received.append((subject, tuple(sorted(envelope.rcpt_tos))))
        return "250 OK"


class SmtpSink:
    """Start with `start()`; `mark()` then `since(mark)` gives what arrived in between."""

    def __init__(self, port: int) -> None:
        self.recorder = _Recorder()
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=port)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def mark(self) -> int:
        with self.recorder.lock:
            return len(self.recorder.received)

    def count(self) -> int:
        return self.mark()

    def since(self, mark: int) -> Counter:
        with self.recorder.lock:
            return Counter(self.recorder.received[mark:])
