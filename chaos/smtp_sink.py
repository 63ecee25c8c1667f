"""A local SMTP server that keeps what it received: the chaos run's view of the mail.

It runs in a process of its own and appends one JSON line per message (subject, sorted
recipients) to a file the chaos run reads: in the run's own process its replies would wait
for the interpreter lock behind the run's other threads, and every email the worker sends
waits for those replies.

    python -m chaos.smtp_sink PORT FILE
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class _Recorder:
    def __init__(self, out) -> None:
        self.out = out

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.original_content or envelope.content)
        subject = str(make_header(decode_header(message.get("Subject", ""))))
        recipients = sorted(envelope.rcpt_tos)
        # Written (and flushed) before the 250: an email the sender saw accepted is counted.
        self.out.write(json.dumps([subject, recipients]) + "\n")
        self.out.flush()
        return "250 OK"


class SmtpSink:
    """Start with `start()`; `mark()` then `since(mark)` gives what arrived in between."""

    def __init__(self, port: int, path: Path) -> None:
        self.port, self.path = port, path
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._received: list[tuple[str, tuple[str, ...]]] = []
        self._offset = 0
        self._partial = b""

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(b"")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "chaos.smtp_sink", str(self.port), str(self.path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        if self._process.stdout.readline().strip() != "ready":
            raise RuntimeError("the SMTP sink did not start")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def _read(self) -> None:
        """Take in the lines written since the last read."""
        with self.path.open("rb") as source:
            source.seek(self._offset)
            data = source.read()
        self._offset += len(data)
        data = self._partial + data
        *lines, self._partial = data.split(b"\n")
        for line in lines:
            subject, recipients = json.loads(line)
            self._received.append((subject, tuple(recipients)))

    def mark(self) -> int:
        with self._lock:
            self._read()
            return len(self._received)

    def count(self) -> int:
        return self.mark()

    def since(self, mark: int) -> Counter:
        with self._lock:
            self._read()
            return Counter(self._received[mark:])


def main(argv: list[str]) -> int:
    from aiosmtpd.controller import Controller

    port, path = int(argv[0]), Path(argv[1])
    with path.open("a", encoding="utf-8") as out:
        controller = Controller(_Recorder(out), hostname="127.0.0.1", port=port)
        controller.start()
        print("ready", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            controller.stop()
    return 0


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.exit(main(sys.argv[1:]))
