"""A lean HTTP/1.1 keep-alive client on one socket: serialised requests in, status and body out.

Benchmarks run the client on the same cores as the server, so every client microsecond is taken
from the server being measured. `http.client` parses each response's headers with the `email`
package (tens of microseconds); this reads exactly what an HTTP/1.1 server may send for our
requests (a status line, headers, a Content-Length or chunked body, `Connection: close`) and
nothing more. Standard library only: load-generator processes import it without botocore.
"""

from __future__ import annotations

import socket

_HEAD_END = b"\r\n\r\n"
# Answers that never carry a body, and so no framing headers either (RFC 9110 §6.4.1).
_BODILESS_STATUSES = frozenset((204, 304))
_RECEIVE_BYTES = 65536


class ConnectionClosed(OSError):
    """The server closed the connection before a complete response arrived."""

    def __init__(self, *, midway: bool) -> None:
        super().__init__("connection closed by the server" + (" mid-response" if midway else ""))
        self.midway = midway  # some of the response had arrived: the request was handled


class Connection:
    """One keep-alive connection to `host:port`. Not thread-safe: one user at a time.

    `exchange` reconnects by itself when the connection is not open; a request that fails on a
    reused connection before any response byte arrived (the server closed it while idle) is sent
    once more on a new one. Any other failure raises and leaves the connection closed.
    """

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self._address = (host, port)
        self._timeout = timeout
        self._socket: socket.socket | None = None
        self._buffer = b""
        self._reused = False

    def open(self) -> None:
        if self._socket is None:
            self._socket = socket.create_connection(self._address, timeout=self._timeout)
            self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._buffer = b""
            self._reused = False

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send one serialised request; return the response's status and body."""
        self.open()
        reused = self._reused
        try:
            return self._exchange_once(request)
        except (ConnectionClosed, ConnectionResetError, BrokenPipeError) as error:
            self.close()
            if not reused or (isinstance(error, ConnectionClosed) and error.midway):
                raise
        self.open()
        try:
            return self._exchange_once(request)
        except OSError:
            self.close()
            raise

    def _exchange_once(self, request: bytes) -> tuple[int, bytes]:
        assert self._socket is not None
        try:
            self._socket.sendall(request)
            status, body, keep_open = self._read_response(head_only=request.startswith(b"HEAD "))
        except OSError:
            self.close()
            raise
        if keep_open:
            self._reused = True
        else:
            self.close()
        return status, body

    def _receive(self, *, midway: bool) -> bytes:
        assert self._socket is not None
        data = self._socket.recv(_RECEIVE_BYTES)
        if not data:
            raise ConnectionClosed(midway=midway)
        return data

    def _read_response(self, *, head_only: bool) -> tuple[int, bytes, bool]:
        """`head_only`: the request was HEAD, so no body follows whatever the head announces."""
        buffer = self._buffer
        end = buffer.find(_HEAD_END)
        while end < 0:
            buffer += self._receive(midway=bool(buffer))
            end = buffer.find(_HEAD_END)
        lines = buffer[:end].split(b"\r\n")
        rest = buffer[end + len(_HEAD_END) :]
        status = int(lines[0].split(b" ", 2)[1])
        length: int | None = None
        chunked = False
        keep_open = not lines[0].startswith(b"HTTP/1.0")
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                keep_open = value.strip().lower() != b"close"
        if head_only or status in _BODILESS_STATUSES:
            body = b""
        elif chunked:
            body, rest = self._read_chunked(rest)
        elif length is not None:
            while len(rest) < length:
                rest += self._receive(midway=True)
            body, rest = rest[:length], rest[length:]
        else:  # no framing: the body runs to the end of the connection
            chunks = [rest]
            assert self._socket is not None
            while data := self._socket.recv(_RECEIVE_BYTES):
                chunks.append(data)
            body, rest, keep_open = b"".join(chunks), b"", False
        self._buffer = rest
        return status, body, keep_open

    def _read_chunked(self, rest: bytes) -> tuple[bytes, bytes]:
        chunks: list[bytes] = []
        while True:
            line_end = rest.find(b"\r\n")
            while line_end < 0:
                rest += self._receive(midway=True)
                line_end = rest.find(b"\r\n")
            size = int(rest[:line_end].split(b";", 1)[0], 16)
            rest = rest[line_end + 2 :]
            if size == 0:  # last chunk; skip trailers up to the empty line
                while not rest.startswith(b"\r\n"):
                    trailer_end = rest.find(b"\r\n")
                    if trailer_end >= 0:
                        rest = rest[trailer_end + 2 :]
                    else:
                        rest += self._receive(midway=True)
                return b"".join(chunks), rest[2:]
            while len(rest) < size + 2:
                rest += self._receive(midway=True)
            chunks.append(rest[:size])
            rest = rest[size + 2 :]
