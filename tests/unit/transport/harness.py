"""A lean HTTP server on a real loopback socket for the transport's tests, and a raw client."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from lamina.transport.http11 import Handler
from lamina.transport.limits import HttpLimits
from lamina.transport.listener import HttpListener

# Small enough for a test to reach every limit quickly; timeouts long enough never to fire by accident.
SMALL = HttpLimits(
    max_url_bytes=256,
    max_header_bytes=1024,
    max_header_count=10,
    max_body_bytes=1024,
    header_timeout=0.3,
    body_timeout=0.3,
    idle_timeout=0.3,
    send_timeout=None,
    max_connections=100,
)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    head: bytes  # the status line and headers as sent
    body: bytes

    def header(self, name: str) -> str | None:
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name.lower().encode():
                return value.strip().decode("latin-1")
        return None


@contextlib.asynccontextmanager
async def serving(handler: Handler, limits: HttpLimits = SMALL) -> AsyncIterator[HttpListener]:
    listener = HttpListener(handler, limits)
    await listener.bind("127.0.0.1", 0)
    try:
        yield listener
    finally:
        listener.close()
        listener.close_connections()
        await asyncio.sleep(0.01)  # let the transports finish closing


async def connect(listener: HttpListener) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = listener.addresses[0]
    return await asyncio.open_connection(host, port)


async def read_response(reader: asyncio.StreamReader) -> Response:
    """One response with a Content-Length body."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    response = Response(status, head[:-4], b"")
    length = int(response.header("content-length") or 0)
    return Response(status, head[:-4], await reader.readexactly(length))


async def closed(reader: asyncio.StreamReader) -> bool:
    """Whether the server has closed the connection (everything it sent before is skipped)."""
    try:
        while await reader.read(65536):
            pass
    except ConnectionResetError:
        pass
    return True
