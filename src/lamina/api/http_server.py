"""The public port: Lamina's lean HTTP/1.1 server, with a shutdown that suits a server owning processes.

Every API is served on the lean transport (`transport/http11.py`) rather than a general ASGI
server: an invocation is a few hundred microseconds of work, and a framework's per-request cost
would be a large share of it. The port's size, time and connection limits are `Settings.http_limits`
(`transport/limits.py`). On SIGTERM/SIGINT the execution environments are stopped *before*
connections drain (so in-flight invocations answer with an error instead of being cut off), requests
in progress get `GRACE_SECONDS` to finish, and the process exits with status 0. A second signal
skips the wait.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable

from lamina.transport.admission import Admit, SourceCounts
from lamina.transport.http11 import Handler, MovesEarly, StreamsBody
from lamina.transport.limits import HttpLimits
from lamina.transport.listener import HttpListener

_log = logging.getLogger(__name__)
GRACE_SECONDS = 10.0
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_POLL_SECONDS = 0.02

Hook = Callable[[], Awaitable[None]]


class ServerStartError(Exception):
    """The port could not be bound or the platform could not start; the message says why."""


class PublicHttpServer:
    def __init__(
        self,
        handler: Handler,
        host: str,
        port: int,
        *,
        limits: HttpLimits,
        admit: Admit | None = None,
        sources: SourceCounts | None = None,
        on_startup: Hook,
        before_shutdown: Hook,
        on_shutdown: Hook,
        on_listening: Callable[[], None] = lambda: None,
        after_listening: Hook | None = None,
        reuse_port: bool = False,
        streams: StreamsBody | None = None,
        moves_early: MovesEarly | None = None,
    ) -> None:
        """`after_listening` runs once the port is bound and announced (`on_listening`): this
        process serves meanwhile, and workers joining the port start there; `reuse_port`: other
        processes may listen on the port too."""
        self._handler = handler
        self._host = host
        self._port = port
        self._on_startup = on_startup
        self._before_shutdown = before_shutdown
        self._on_shutdown = on_shutdown
        self._on_listening = on_listening
        self._after_listening = after_listening
        self._reuse_port = reuse_port
        self.stop: Callable[[], None] = lambda: None  # as SIGTERM does, once running
        # `admit`/`sources`: connections from execution environments count against their cap here
        # too (transport/function_port.py).
        self.listener = HttpListener(
            handler, limits, admit=admit, sources=sources, streams=streams, moves_early=moves_early
        )

    async def run(self) -> None:
        """Serve until a stop signal; raises ServerStartError if serving never began."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        hurry = asyncio.Event()

        def on_signal() -> None:
            (hurry if stop.is_set() else stop).set()

        self.stop = on_signal

        for sig in _STOP_SIGNALS:
            loop.add_signal_handler(sig, on_signal)
        try:
            try:
                await self._on_startup()
            except Exception as error:
                _log.exception("startup failed")
                raise ServerStartError(f"startup failed: {error}") from error
            try:
                await self.listener.bind(self._host, self._port, backlog=2048, reuse_port=self._reuse_port)
            except OSError as error:
                await self._on_shutdown()
                raise ServerStartError(f"cannot listen on {self._host}:{self._port}: {error}") from error
            self._on_listening()
            if self._after_listening is not None:
                try:
                    await self._after_listening()
                except Exception as error:
                    _log.exception("startup failed")
                    self.listener.close()
                    await self._before_shutdown()
                    await self._on_shutdown()
                    raise ServerStartError(f"startup failed: {error}") from error
            await stop.wait()
            self.listener.close()
            await self._before_shutdown()
            await self._drain(hurry)
            self.listener.close_connections()
            await self._on_shutdown()
        finally:
            for sig in _STOP_SIGNALS:
                loop.remove_signal_handler(sig)

    async def _drain(self, hurry: asyncio.Event) -> None:
        """Let requests in progress finish, for at most GRACE_SECONDS or until a second signal."""
        deadline = time.monotonic() + GRACE_SECONDS
        while not hurry.is_set() and time.monotonic() < deadline:
            if not any(connection.busy for connection in self.listener.connections):
                return
            await asyncio.sleep(_POLL_SECONDS)


def run_server(server: PublicHttpServer) -> None:
    """Run on uvloop when it is installed (a faster event loop for the same code), else asyncio."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(server.run())
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(server.run())
