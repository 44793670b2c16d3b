"""`lamina server --http-limit` reaches the real public port: a smaller header limit answers 431, a
shorter head timeout answers 408, and the server stays healthy."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.support.server import running_server


def _exchange(port: int, request: bytes, wait: float = 30) -> bytes:
    """What the server sends back until it closes the connection (bounded by `wait`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received


def test_http_limits_from_the_command_line(tmp_path: Path) -> None:
    with running_server(
        tmp_path / "data", "--http-limit", "max_header_bytes=2048", "--http-limit", "header_timeout=1"
    ) as server:
        big_header = b"GET /_lamina/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 4096 + b"\r\n\r\n"
        assert _exchange(server.port, big_header).startswith(b"HTTP/1.1 431 ")
        # Within the limit: answered as usual.
        small = (
            b"GET /_lamina/health HTTP/1.1\r\nHost: x\r\nX-Small: "
            + b"a" * 512
            + b"\r\nConnection: close\r\n\r\n"
        )
        assert _exchange(server.port, small).startswith(b"HTTP/1.1 200 ")
        # A head that never ends is refused once header_timeout (1 s) has passed, not held forever.
        assert _exchange(server.port, b"GET /_lamina/health HTTP/1.1\r\nHost: x\r\n").startswith(
            b"HTTP/1.1 408 "
        )
        assert server.health()["status"] == "ok"
