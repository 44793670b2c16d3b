"""Several servers on one PostgreSQL database telling each other what they changed (LISTEN/NOTIFY).

Each server answers from in-memory copies of functions, IAM and policies. When one of them writes,
its change feed (cluster/change_feed.py) publishes the scopes it touched here as well: a NOTIFY on
one channel, sent once the write is committed. Every other server LISTENs on its own connection and
reloads those scopes, as a worker does for its primary. Across servers this is eventual (a
notification takes milliseconds), where a server's own workers see a change before it is answered.
A server's own notifications come back to it and are skipped by its id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from psycopg import AsyncConnection

_log = logging.getLogger(__name__)
CHANNEL = "lamina_changes"
# A listening connection that failed is opened again after this long.
RECONNECT_SECONDS = 1.0

OnChange = Callable[[list[list[str]]], Awaitable[None]]


class PostgresChangeBus:
    def __init__(self, url: str, on_change: OnChange) -> None:
        self._url = url
        self._on_change = on_change
        self.server_id = secrets.token_hex(8)
        self._listener: asyncio.Task[None] | None = None
        self._sender: AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()
        self._listening = asyncio.Event()

    async def start(self) -> None:
        self._listener = asyncio.get_running_loop().create_task(self._listen_forever())
        await asyncio.wait_for(self._listening.wait(), 30)

    async def publish(self, scopes: list[tuple[str, ...]]) -> None:
        """Tell the other servers (the write is committed: the feed publishes after it)."""
        payload = json.dumps({"server": self.server_id, "scopes": [list(scope) for scope in scopes]})
        async with self._lock:
            if self._sender is None or self._sender.closed:
                self._sender = await AsyncConnection.connect(self._url, autocommit=True)
            await self._sender.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))

    async def _listen_forever(self) -> None:
        while True:
            try:
                connection = await AsyncConnection.connect(self._url, autocommit=True)
                async with connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    async for notice in connection.notifies():
                        await self._apply(notice.payload)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database restarted, say: listen again
                _log.warning("listening for other servers' changes failed (%s); again in a moment", error)
                await asyncio.sleep(RECONNECT_SECONDS)

    async def _apply(self, payload: str) -> None:
        try:
            message = json.loads(payload)
            if message.get("server") == self.server_id:
                return
            scopes = [[str(part) for part in scope] for scope in message["scopes"]]
        except (ValueError, KeyError, TypeError, AttributeError):
            _log.warning("ignored a malformed change notice: %.200s", payload)
            return
        try:
            await self._on_change(scopes)
        except Exception:
            _log.exception("applying another server's change failed")

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        if self._sender is not None:
            with contextlib.suppress(Exception):
                await self._sender.close()
