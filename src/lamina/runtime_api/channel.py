"""The framed Runtime API channel: Lamina's own runtime talks to its environment over a Unix socket.

Same operations as the HTTP Runtime API (next, response, error, init error) without HTTP: each
message is `struct ">II"` (header length, body length), a JSON header and the body. The runtime
sends `next` and waits; the server answers with an `invoke` frame once the mailbox has an
invocation. Posts are not acknowledged: the runtime's next `next` follows immediately.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
from typing import Any

from lamina.runtime_api.mailbox import MAX_RESPONSE_BYTES, InvocationMailbox

FRAME_PREFIX = struct.Struct(">II")
_MAX_HEADER_BYTES = 64 * 1024
_DISCARD_CHUNK = 1 << 20


def encode_frame(header: dict[str, Any], body: bytes = b"") -> bytes:
    encoded = json.dumps(header, separators=(",", ":")).encode()
    return FRAME_PREFIX.pack(len(encoded), len(body)) + encoded + body


class FramedRuntimeChannel:
    """Serves one environment's mailbox over the server's end of a socket pair."""

    def __init__(self, server_end: socket.socket, mailbox: InvocationMailbox) -> None:
        self._socket = server_end
        self._mailbox = mailbox
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def start(self) -> None:
        reader, self._writer = await asyncio.open_unix_connection(sock=self._socket)
        self._task = asyncio.get_running_loop().create_task(self._serve(reader, self._writer))

    def close(self) -> None:
        """Idempotent; the runtime sees end-of-file and exits."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        else:
            self._socket.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, ValueError):
            while True:
                header_size, body_size = FRAME_PREFIX.unpack(await reader.readexactly(FRAME_PREFIX.size))
                if header_size > _MAX_HEADER_BYTES:
                    return  # not our runtime speaking: drop the channel
                header = json.loads(await reader.readexactly(header_size))
                kind = header.get("type")
                if kind == "next":
                    invocation = await self._mailbox.next()
                    frame: dict[str, Any] = {
                        "type": "invoke",
                        "requestId": invocation.request_id,
                        "deadlineMs": invocation.deadline_ms,
                        "functionArn": invocation.invoked_function_arn,
                        "traceId": invocation.trace_id,
                    }
                    if invocation.client_context is not None:
                        frame["clientContext"] = invocation.client_context
                    if invocation.cognito_identity is not None:
                        frame["cognitoIdentity"] = invocation.cognito_identity
                    writer.write(encode_frame(frame, invocation.payload))
                    continue
                request_id = str(header.get("requestId", ""))
                if body_size > MAX_RESPONSE_BYTES:
                    await _discard(reader, body_size)
                    self._mailbox.post_oversized_response(request_id)
                    continue
                body = await reader.readexactly(body_size) if body_size else b""
                error_type = header.get("errorType")
                if kind == "response":
                    self._mailbox.post_response(request_id, body)
                elif kind == "error":
                    self._mailbox.post_error(request_id, body, error_type)
                elif kind == "init_error":
                    self._mailbox.post_init_error(body, error_type)


async def _discard(reader: asyncio.StreamReader, size: int) -> None:
    while size:
        chunk = await reader.read(min(size, _DISCARD_CHUNK))
        if not chunk:
            raise asyncio.IncompleteReadError(b"", size)
        size -= len(chunk)
