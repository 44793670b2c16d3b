"""The control link between the primary and one worker: calls either way, each answered.

Frames are a 4-byte big-endian length and a JSON object: `{"id", "op", "args"}` asks, `{"re",
"value"}` or `{"re", "error"}` answers. Control traffic is small and rare (a change to apply, a
pool's figures, credentials for a new environment), so JSON over one Unix stream connection is
plenty; invocations never cross it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import struct
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

_log = logging.getLogger(__name__)
_LENGTH = struct.Struct("!I")
# A frame larger than this ends the link: nothing legitimate comes close.
MAX_FRAME_BYTES = 64 * 1024 * 1024

Handler = Callable[[dict[str, Any]], Awaitable[Any]]


class ChannelClosed(ConnectionError):
    """The other end went (or sent something that is not a frame)."""


class RemoteError(RuntimeError):
    """The other end's handler raised; the message is its text."""


class ControlChannel:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        handlers: Mapping[str, Handler],
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._handlers = dict(handlers)
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.closed = asyncio.Event()

    async def call(self, op: str, timeout: float | None = 30.0, **args: Any) -> Any:
        """Ask the other end; raises ChannelClosed, RemoteError or TimeoutError."""
        if self.closed.is_set():
            raise ChannelClosed("the control link is closed")
        request_id = next(self._ids)
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = answer
        try:
            self._send({"id": request_id, "op": op, "args": args})
            return await asyncio.wait_for(answer, timeout)
        finally:
            self._waiting.pop(request_id, None)

    def notify(self, op: str, **args: Any) -> None:
        """Tell the other end without waiting for its answer (id 0: none is sent)."""
        if not self.closed.is_set():
            self._send({"id": 0, "op": op, "args": args})

    def _send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message, separators=(",", ":")).encode()
        self._writer.write(_LENGTH.pack(len(data)) + data)

    async def serve(self) -> None:
        """Read frames until the link ends; answers this end's handlers' results."""
        try:
            while True:
                message = await self._read()
                if "re" in message:
                    waiting = self._waiting.get(message["re"])
                    if waiting is not None and not waiting.done():
                        if "error" in message:
                            waiting.set_exception(RemoteError(message["error"]))
                        else:
                            waiting.set_result(message.get("value"))
                    continue
                task = asyncio.get_running_loop().create_task(self._answer(message))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except (ChannelClosed, asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            self._close()

    async def _read(self) -> dict[str, Any]:
        (length,) = _LENGTH.unpack(await self._reader.readexactly(_LENGTH.size))
        if length > MAX_FRAME_BYTES:
            raise ChannelClosed(f"a control frame of {length} bytes")
        message = json.loads(await self._reader.readexactly(length))
        if not isinstance(message, dict):
            raise ChannelClosed("a control frame that is not an object")
        return message

    async def _answer(self, message: dict[str, Any]) -> None:
        request_id = message.get("id", 0)
        handler = self._handlers.get(str(message.get("op")))
        try:
            if handler is None:
                raise RemoteError(f"no such operation: {message.get('op')!r}")
            value = await handler(message.get("args") or {})
            reply: dict[str, Any] = {"re": request_id, "value": value}
        except Exception as error:  # the caller learns; this end keeps serving
            if not isinstance(error, RemoteError):
                _log.exception("control operation %s failed", message.get("op"))
            reply = {"re": request_id, "error": str(error) or type(error).__name__}
        if request_id and not self.closed.is_set():
            with contextlib.suppress(ConnectionError, RuntimeError):
                self._send(reply)

    def _close(self) -> None:
        self.closed.set()
        for waiting in self._waiting.values():
            if not waiting.done():
                waiting.set_exception(ChannelClosed("the control link closed"))
        self._writer.close()

    def close(self) -> None:
        self._close()
        for task in self._tasks:
            task.cancel()
