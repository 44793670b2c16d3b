"""What the primary changed, told to every worker before the change is acknowledged.

Workers answer invocations from in-memory copies of functions, IAM and resource policies, loaded
from the shared stores. The primary is their only writer: its stores are wrapped here so that every
write marks its scope (one account's Lambda in one region, or IAM), and before the primary answers
the request that wrote, every worker has reloaded that scope (`settle`). A client that changed a
function is therefore never answered by a worker that has not seen the change, whichever worker its
next connection reaches. Writes no request waits for (a function becoming Active) are settled by
a periodic call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, cast

from lamina.store.ports import AlarmStore, IdentityStore, MetadataStore

IDENTITY_SCOPE = ("iam",)
# ("alarms", account id, region): servers sharing a database tell each other of alarm changes too.
ALARMS_SCOPE = "alarms"
# ("logs", account id, region): log groups and streams, for servers whose logs share a database.
LOGS_SCOPE = "logs"
Scope = tuple[str, ...]  # ("lambda", account id, region), IDENTITY_SCOPE or an alarms scope
# Methods of the wrapped stores that write (the rest only read).
_WRITE_PREFIXES = ("put", "create", "delete", "update", "next_", "add")


def lambda_scope(account_id: str, region: str) -> Scope:
    return ("lambda", account_id, region)


class ChangeFeed:
    def __init__(self, publish: Callable[[list[Scope]], Awaitable[None]]) -> None:
        """`publish(scopes)` returns once every worker has applied them."""
        self._publish = publish
        self._pending: set[Scope] = set()
        self._lock = asyncio.Lock()
        self._marked = 0
        self._applied = 0

    @property
    def pending(self) -> bool:
        return self._applied < self._marked

    def mark(self, scope: Scope) -> None:
        self._pending.add(scope)
        self._marked += 1

    async def settle(self) -> None:
        """Publish what is marked; returns once workers have applied every mark made before the
        call (one publication carries the marks of all callers waiting meanwhile)."""
        target = self._marked
        while self._applied < target:
            async with self._lock:
                if self._applied >= target:
                    return
                upto = self._marked
                scopes, self._pending = sorted(self._pending), set()
                await self._publish(scopes)
                self._applied = max(self._applied, upto)


class _MarkingStore:
    """Any store, with each write marking `scope` once it has returned."""

    def __init__(self, inner: Any, feed: ChangeFeed, scope: Scope) -> None:
        self._inner = inner
        self._feed = feed
        self._scope = scope

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not name.startswith(_WRITE_PREFIXES) or not callable(attribute):
            return attribute
        feed, scope = self._feed, self._scope

        async def write(*args: Any, **kwargs: Any) -> Any:
            try:
                return await attribute(*args, **kwargs)
            finally:
                feed.mark(scope)

        return write


def marking_metadata(store: MetadataStore, feed: ChangeFeed, account_id: str, region: str) -> MetadataStore:
    return cast(MetadataStore, _MarkingStore(store, feed, lambda_scope(account_id, region)))


def marking_alarms(store: AlarmStore, feed: ChangeFeed, account_id: str, region: str) -> AlarmStore:
    return cast(AlarmStore, _MarkingStore(store, feed, (ALARMS_SCOPE, account_id, region)))


def marking_identity(store: IdentityStore, feed: ChangeFeed) -> IdentityStore:
    return cast(IdentityStore, _MarkingStore(store, feed, IDENTITY_SCOPE))
