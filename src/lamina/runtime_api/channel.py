"""The framed Runtime API channel: Lamina's own runtime talks to its environment over a Unix socket.

Same operations as the HTTP Runtime API (next, response, error, init error) without HTTP: each
message is `struct ">II"` (header length, body length), a JSON header and the body. The runtime
sends `next` and waits; the server answers with an `invoke` frame once the mailbox has an
invocation. Posts are not acknowledged: the runtime sends its result and its next `next` in one
write.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from typing import Any, cast

from lamina.runtime_api.mailbox import Invocation, InvocationMailbox

FRAME_PREFIX = struct.Struct(">II")
_PREFIX_SIZE = FRAME_PREFIX.size
_MAX_HEADER_BYTES = 64 * 1024


def encode_frame(header: dict[str, Any], body: bytes = b"") -> bytes:
    encoded = json.dumps(header, separators=(",", ":")).encode()
    return FRAME_PREFIX.pack(len(encoded), len(body)) + encoded + body


class FramedRuntimeChannel(asyncio.Protocol):
    """Serves one environment's mailbox over the server's end of a socket pair.

    A protocol rather than a stream reader: frames are parsed in the read callback and a parked
    `next` is answered from `InvocationMailbox.submit`, so an invocation costs no task switches here.
    """

    def __init__(self, server_end: socket.socket, mailbox: InvocationMailbox) -> None:
        self._socket = server_end
        self._mailbox = mailbox
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._discarding = 0  # bytes of an oversized response still to drop

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_unix_connection(lambda: self, sock=self._socket)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Set here, before any data_received: a runtime that was running already (a Node standby)
        # may have written its first `next` before start() returns.
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio's subclasses

    def close(self) -> None:
        """Idempotent; the runtime sees end-of-file and exits."""
        self._mailbox.cancel_take()
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        else:
            self._socket.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._mailbox.cancel_take()

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            dropped = min(self._discarding, len(data))
            self._discarding -= dropped
            data = data[dropped:]
        buffer = self._buffer
        buffer += data
        try:
            while len(buffer) >= _PREFIX_SIZE and self._transport is not None:
                header_size, body_size = FRAME_PREFIX.unpack_from(buffer)
                if header_size > _MAX_HEADER_BYTES:
                    self.close()  # not our runtime speaking: drop the channel
                    return
                header_end = _PREFIX_SIZE + header_size
                if body_size > self._mailbox.max_response_bytes:
                    if len(buffer) < header_end:
                        return
                    header = json.loads(buffer[_PREFIX_SIZE:header_end])
                    self._mailbox.post_oversized_response(str(header.get("requestId", "")))
                    available = len(buffer) - header_end
                    del buffer[: header_end + min(body_size, available)]
                    self._discarding = max(0, body_size - available)
                    continue
                frame_end = header_end + body_size
                if len(buffer) < frame_end:
                    return
                header = json.loads(buffer[_PREFIX_SIZE:header_end])
                body = bytes(buffer[header_end:frame_end])
                del buffer[:frame_end]
                self._dispatch(header, body)
        except (ValueError, AttributeError):
            self.close()  # malformed frame

    def _dispatch(self, header: dict[str, Any], body: bytes) -> None:
        kind = header.get("type")
        if kind == "next":
            self._mailbox.take_next(self._send_invocation)
            return
        error_type = header.get("errorType")
        request_id = str(header.get("requestId", ""))
        if kind == "response":
            self._mailbox.post_response(request_id, body)
        elif kind == "error":
            self._mailbox.post_error(request_id, body, error_type)
        elif kind == "init_error":
            self._mailbox.post_init_error(body, error_type)

    def _send_invocation(self, invocation: Invocation) -> None:
        if self._transport is None:
            return
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
        self._transport.write(encode_frame(frame, invocation.payload))
