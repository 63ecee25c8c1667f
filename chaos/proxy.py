"""A TCP proxy whose faults the chaos run switches: pass traffic, refuse connections,
hang (accept and forward nothing, on new and open connections alike), or cut everything.

The chaos run starts each proxy in a process of its own (`ProxyProcess`): every query of the
web and the worker passes through it, and in the run's own process its threads would wait
for the interpreter lock behind the senders, adding milliseconds to each round trip.

    python -m chaos.proxy PORT UPSTREAM_HOST:UPSTREAM_PORT NAME   # switched on stdin
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

PASS, REFUSE, HANG = "pass", "refuse", "hang"


class FaultProxy:
    """127.0.0.1:`port` -> `upstream`. One thread per direction per connection: the chaos
    run opens a few dozen connections at most."""

    def __init__(self, port: int, upstream: tuple[str, int], name: str) -> None:
        self.port, self.upstream, self.name = port, upstream, name
        self.mode = PASS
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._running = True
        self._listen()
        threading.Thread(target=self._accept_loop, daemon=True, name=f"{name}-accept").start()

    # --- switches --------------------------------------------------------------------------

    def set_mode(self, mode: str) -> None:
        """PASS, REFUSE (nothing listens: connection refused) or HANG."""
        if mode == REFUSE:
            self.cut()
            self._close_listener()
        elif self._listener is None:
            self._listen()
        self.mode = mode

    def cut(self) -> None:
        """Close every open connection (both sides), as a network failure would."""
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._running = False
        self.cut()
        self._close_listener()

    # --- plumbing --------------------------------------------------------------------------

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(256)
        listener.settimeout(0.2)
        self._listener = listener

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown() first: close() alone leaves the socket listening while the accept
            # thread is still inside accept() on it (up to its timeout).
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()

    def _accept_loop(self) -> None:
        while self._running:
            listener = self._listener
            if listener is None:
                time.sleep(0.05)
                continue
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            self._track(client)
            if self.mode == HANG:
                continue  # held open, never answered
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                self._drop(client)
                continue
            upstream.settimeout(None)
            self._track(upstream)
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(source, target), daemon=True, name=self.name
                ).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                while self.mode == HANG:
                    time.sleep(0.05)  # stop answering; the bytes wait, as in a stuck network
                target.sendall(data)
        except OSError:
            pass
        finally:
            self._drop(source)
            self._drop(target)

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.add(sock)

    def _drop(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        # close() alone sends no FIN while the other direction's thread is blocked in recv()
        # on this socket (the kernel keeps it open for that call): the peer would then wait
        # forever on a connection whose other end is gone. shutdown() closes it now.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()


class ProxyProcess:
    """A FaultProxy in a child process, switched with one line on its stdin per command
    (a mode, or "cut"); each command is applied before `set_mode` or `cut` returns."""

    def __init__(self, port: int, upstream: tuple[str, int], name: str) -> None:
        self.port, self.upstream, self.name = port, upstream, name
        self.mode = PASS
        self._lock = threading.Lock()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "chaos.proxy", str(port), f"{upstream[0]}:{upstream[1]}", name],
            cwd=Path(__file__).resolve().parent.parent,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._command("ping")  # listening once it answers

    def _command(self, line: str) -> None:
        with self._lock:
            assert self._process.stdin is not None and self._process.stdout is not None
            self._process.stdin.write(line + "\n")
            self._process.stdin.flush()
            answer = self._process.stdout.readline().strip()
        if answer != "ok":
            raise RuntimeError(f"{self.name}: {line!r} answered {answer!r}")

    def set_mode(self, mode: str) -> None:
        self._command(mode)
        self.mode = mode

    def cut(self) -> None:
        self._command("cut")

    def close(self) -> None:
        if self._process.poll() is None:
            with contextlib.suppress(OSError, RuntimeError):
                self._command("close")
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


def main(argv: list[str]) -> int:
    port, upstream, name = int(argv[0]), argv[1], argv[2]
    host, _, upstream_port = upstream.rpartition(":")
    proxy = FaultProxy(port, (host, int(upstream_port)), name)
    for line in sys.stdin:
        command = line.strip()
        if command == "cut":
            proxy.cut()
        elif command in (PASS, REFUSE, HANG):
            proxy.set_mode(command)
        elif command == "close":
            proxy.close()
            print("ok", flush=True)
            return 0
        elif command != "ping":
            print(f"unknown command {command}", flush=True)
            continue
        print("ok", flush=True)
    proxy.close()  # the chaos run went away
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
