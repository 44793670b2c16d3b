"""Saved test events, as the Lambda console keeps them: a shareable event is seen by everyone who
can see the function, a private one only by the identity that saved it. Kept durably in the
resource store under the console's own kind, per account and region.

AWS keeps shareable events in the EventBridge schema registry `lambda-testevent-schemas`; Lamina
has no schema registry, so both kinds live here (docs/compatibility.md)."""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass

from lamina.store.resource_ports import ResourceKey, ResourceStore, Write

__all__ = ["MAX_EVENTS_PER_FUNCTION", "SavedEvent", "SavedEvents", "valid_event_name"]

KIND = "console/test-event"
MAX_EVENTS_PER_FUNCTION = 10  # per scope and owner, as the Lambda console allows
PRIVATE, SHAREABLE = "private", "shareable"
_NAME = re.compile(r"[A-Za-z0-9_-]{1,25}")


def valid_event_name(name: str) -> bool:
    """The Lambda console's rule: up to 25 letters, digits, hyphens and underscores."""
    return _NAME.fullmatch(name) is not None


@dataclass(frozen=True, slots=True)
class SavedEvent:
    key: str  # "<scope>/<name>": what a form sends back
    name: str
    scope: str
    event: str
    saved_by: str


def _owner(principal_arn: str) -> str:
    return hashlib.sha256(principal_arn.encode()).hexdigest()[:24]


class SavedEvents:
    def __init__(self, store: ResourceStore) -> None:
        self._store = store

    @staticmethod
    def _prefix(function: str, scope: str, principal_arn: str) -> str:
        owner = "all" if scope == SHAREABLE else _owner(principal_arn)
        return f"{function}/{scope}/{owner}/"

    async def list(self, account: str, region: str, function: str, principal_arn: str) -> list[SavedEvent]:
        """The function's shareable events and the caller's private ones, by name."""
        found: list[SavedEvent] = []
        for scope in (PRIVATE, SHAREABLE):
            prefix = self._prefix(function, scope, principal_arn)
            for name, document in await self._store.list_in(KIND, account, region, prefix):
                short = name.removeprefix(prefix)
                found.append(
                    SavedEvent(
                        f"{scope}/{short}", short, scope, str(document["event"]), str(document["savedBy"])
                    )
                )
        return sorted(found, key=lambda item: (item.name, item.scope))

    async def save(
        self, account: str, region: str, function: str, principal_arn: str, scope: str, name: str, event: str
    ) -> None:
        """Save (or replace) an event; ValueError when the scope already holds the most it may."""
        prefix = self._prefix(function, scope, principal_arn)
        existing = [item for item, _ in await self._store.list_in(KIND, account, region, prefix)]
        if prefix + name not in existing and len(existing) >= MAX_EVENTS_PER_FUNCTION:
            raise ValueError(f"A function keeps at most {MAX_EVENTS_PER_FUNCTION} {scope} test events.")
        document = {"event": event, "savedBy": principal_arn, "saved": time.time()}
        await self._store.apply([Write(ResourceKey(KIND, account, region, prefix + name), document)])

    async def forget(self, account: str, region: str, function: str, principal_arn: str, key: str) -> None:
        scope, _, name = key.partition("/")
        if scope not in (PRIVATE, SHAREABLE) or not valid_event_name(name):
            return
        prefix = self._prefix(function, scope, principal_arn)
        await self._store.apply([Write(ResourceKey(KIND, account, region, prefix + name), None)])

    async def forget_function(self, account: str, region: str, function: str) -> None:
        """Every saved event of a deleted function (a new function of that name starts with none)."""
        names = [name for name, _ in await self._store.list_in(KIND, account, region, f"{function}/")]
        if names:
            await self._store.apply([Write(ResourceKey(KIND, account, region, name), None) for name in names])
