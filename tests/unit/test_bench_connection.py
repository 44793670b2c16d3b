"""The benchmarks' and fuzzer's raw HTTP client reads each answer to its end and no further: an
answer with no body (204, 304, any answer to HEAD) must not be waited on until the server closes."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from bench.support.connection import Connection

NO_CONTENT = b"HTTP/1.1 204 No Content\r\nx-amzn-RequestId: r1\r\n\r\n"
HEAD_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


@contextmanager
def scripted_server(answers: list[bytes]) -> Iterator[int]:
    """A server on one kept-alive connection: one answer per request head it reads."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            pending = b""
            for answer in answers:
                while b"\r\n\r\n" not in pending:
                    data = connection.recv(4096)
                    if not data:
                        return
                    pending += data
                pending = pending.split(b"\r\n\r\n", 1)[1]
                connection.sendall(answer)
            connection.recv(1)  # keep the connection open until the client leaves

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        listener.close()
        thread.join(timeout=5)


def test_a_204_without_framing_is_complete_at_its_head() -> None:
    with scripted_server([NO_CONTENT, OK]) as port:
        connection = Connection("127.0.0.1", port, 2.0)
        try:
            assert connection.exchange(b"DELETE /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n") == (
                204,
                b"",
            )
            # The same connection goes on to the next answer.
            assert connection.exchange(b"GET /y HTTP/1.1\r\nHost: h\r\n\r\n") == (200, b"hello")
        finally:
            connection.close()


def test_an_answer_to_head_has_no_body_whatever_its_length_says() -> None:
    with scripted_server([HEAD_ANSWER, OK]) as port:
        connection = Connection("127.0.0.1", port, 2.0)
        try:
            assert connection.exchange(b"HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n") == (200, b"")
            assert connection.exchange(b"GET /y HTTP/1.1\r\nHost: h\r\n\r\n") == (200, b"hello")
        finally:
            connection.close()
