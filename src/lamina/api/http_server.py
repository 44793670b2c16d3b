"""uvicorn, adjusted for a server that owns child processes.

Two differences from stock uvicorn: on SIGTERM/SIGINT the execution environments are stopped
*before* connections drain (so in-flight invocations answer with an error instead of being cut
off), and a signal-initiated clean stop exits with status 0 instead of re-raising the signal.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Awaitable, Callable, Generator

import uvicorn

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class LaminaHttpServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, before_shutdown: Callable[[], Awaitable[None]]) -> None:
        super().__init__(config)
        self._before_shutdown = before_shutdown

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in _STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self._before_shutdown()
        await super().shutdown(sockets)
