"""The chaos run's TCP proxy must pass on a close made by the server it fronts.

A database that ends a session (pg_terminate_backend) closes its socket; an application
behind the proxy must see that close, or it waits forever for an answer that never comes,
and the chaos run reports the hang as events never applied.
"""

from __future__ import annotations

import socket
import threading

import pytest

from chaos.proxy import FaultProxy


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def upstream():
    """A server that reads one message, then ends the session without answering."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    received: list[bytes] = []

    def serve() -> None:
        conn, _ = server.accept()
        received.append(conn.recv(1024))
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname(), received
    thread.join(timeout=5)
    server.close()


def test_server_close_reaches_the_waiting_client(upstream):
    address, received = upstream
    proxy = FaultProxy(_free_port(), address, "test-proxy")
    try:
        client = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        with client:
            client.sendall(b"SELECT 1")
            # Without the close passed on, this recv times out: the client hangs.
            assert client.recv(1024) == b""
        assert received == [b"SELECT 1"]
    finally:
        proxy.close()


def test_proxy_process__refuse_then_pass__connections_follow_the_switch(upstream):
    from chaos.proxy import PASS, REFUSE, ProxyProcess

    address, received = upstream
    proxy = ProxyProcess(_free_port(), address, "test-proxy")
    try:
        proxy.set_mode(REFUSE)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", proxy.port), timeout=5)

        proxy.set_mode(PASS)
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as client:
            client.sendall(b"SELECT 1")
            assert client.recv(1024) == b""
        assert received == [b"SELECT 1"]
    finally:
        proxy.close()
