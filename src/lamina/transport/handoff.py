"""Moving a client's connection to another process on this host (SCM_RIGHTS over a Unix socket).

With several workers on one port (`lamina server --workers N`), the kernel gives each new
connection to any of them, but some requests must be answered by one process (the primary, which
owns the control plane). Proxying them would copy every byte twice and break streamed responses;
instead the worker that read the request passes the connection itself: its descriptor and the
bytes read from it so far. The receiving process serves the connection from then on, as if it had
accepted it.

Wire format, one Unix stream connection per hand-off: the sender writes a 40-byte header (32 bytes
of the receiver's token, then the length of what follows as 8 bytes big-endian) with the
descriptor attached, then the bytes; the receiver answers one byte once it holds both. A peer
without the token (any other local process) is dropped unanswered: only the workers were given it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import socket
import struct
from collections.abc import Callable
from pathlib import Path

_log = logging.getLogger(__name__)
TOKEN_BYTES = 32
_HEADER = struct.Struct("!32sQ")
_TAKEN = b"\x01"
# What a hand-off may carry: a request the public port accepted, and those queued behind it.
MAX_HANDOFF_BYTES = 256 * 1024 * 1024
# A sender that has not delivered its header and bytes within this long is dropped.
_RECEIVE_SECONDS = 30.0

Adopt = Callable[[socket.socket, bytes], None]


async def send_connection(path: Path, token: bytes, fd: int, data: bytes) -> bool:
    """Hand descriptor `fd` and `data` to the process receiving at `path`; True once it holds them.
    `fd` is closed here in any case (the receiver has its own copy once it is sent)."""
    loop = asyncio.get_running_loop()
    link = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        link.setblocking(False)
        await loop.sock_connect(link, str(path))
        # 40 bytes into a fresh connection's empty buffer: never blocks.
        sent = socket.send_fds(link, [_HEADER.pack(token, len(data))], [fd])
        if sent != _HEADER.size:
            return False
        await loop.sock_sendall(link, data)
        return await asyncio.wait_for(loop.sock_recv(link, 1), _RECEIVE_SECONDS) == _TAKEN
    except (OSError, TimeoutError):
        return False
    finally:
        os.close(fd)
        link.close()


class ConnectionInbox:
    """Receives connections handed over at `path` and gives each to `adopt(connection, data)`."""

    def __init__(self, path: Path, token: bytes, adopt: Adopt) -> None:
        self.path = path
        self._token = token
        self._adopt = adopt
        self._server: socket.socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def open(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the socket file: this user only
        try:
            server.bind(str(self.path))
        finally:
            os.umask(old)
        server.listen(256)
        server.setblocking(False)
        self._server = server
        asyncio.get_running_loop().add_reader(server.fileno(), self._accept)

    def _accept(self) -> None:
        assert self._server is not None
        for _ in range(64):
            try:
                link, _ = self._server.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                _log.warning("cannot accept a handed-over connection: %s", error)
                return
            task = asyncio.get_running_loop().create_task(self._receive(link))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _receive(self, link: socket.socket) -> None:
        fds: list[int] = []
        try:
            link.setblocking(False)
            header, fds = await asyncio.wait_for(_header_and_fds(link), _RECEIVE_SECONDS)
            token, length = _HEADER.unpack(header)
            if not hmac.compare_digest(token, self._token) or len(fds) != 1 or length > MAX_HANDOFF_BYTES:
                return
            data = await asyncio.wait_for(_read_exactly(link, length), _RECEIVE_SECONDS)
            connection = socket.socket(fileno=fds.pop())
            await asyncio.get_running_loop().sock_sendall(link, _TAKEN)
            self._adopt(connection, data)
        except (OSError, TimeoutError, ValueError, struct.error) as error:
            _log.debug("a hand-off failed: %s", error)
        finally:
            for fd in fds:
                os.close(fd)
            link.close()

    def close(self) -> None:
        if self._server is not None:
            with contextlib.suppress(ValueError, RuntimeError):
                asyncio.get_running_loop().remove_reader(self._server.fileno())
            self._server.close()
            self._server = None
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        for task in self._tasks:
            task.cancel()


async def _header_and_fds(link: socket.socket) -> tuple[bytes, list[int]]:
    """The header, with the descriptor that came with its first byte."""
    loop = asyncio.get_running_loop()
    readable: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_reader(link.fileno(), ready)
    try:
        await readable
    finally:
        loop.remove_reader(link.fileno())
    message, fds, _, _ = socket.recv_fds(link, _HEADER.size, 4)
    if not message:
        raise ValueError("the sender left")
    if len(message) < _HEADER.size:
        message += await _read_exactly(link, _HEADER.size - len(message))
    return message, fds


async def _read_exactly(link: socket.socket, length: int) -> bytes:
    loop = asyncio.get_running_loop()
    parts: list[bytes] = []
    left = length
    while left:
        part = await loop.sock_recv(link, min(left, 1 << 20))
        if not part:
            raise ValueError("the sender left before sending everything")
        parts.append(part)
        left -= len(part)
    return b"".join(parts)
