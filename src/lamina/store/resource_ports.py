"""ResourceStore: the definitions of the event services (EventBridge buses, rules and targets,
Scheduler schedules, SNS topics and subscriptions, SES receipt rules) as JSON documents under
(kind, account, region, name). Their shapes belong to the services; the store keeps them durably
and changes several at once atomically (a rule and its targets, a fire time and its state).

Adapters: SQLite (`resources.db` in the data directory) and PostgreSQL, held to one contract suite
(tests/contract/test_resource_stores.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["ResourceKey", "ResourceStore", "Write"]


@dataclass(frozen=True, slots=True, order=True)
class ResourceKey:
    kind: str  # such as "events/rule"; the service's own namespace
    account: str
    region: str
    name: str  # unique within (kind, account, region); may contain "/" (a bus's rules)


@dataclass(frozen=True, slots=True)
class Write:
    """One change of an `apply`: the document to store, or None to delete it."""

    key: ResourceKey
    document: dict[str, Any] | None


class ResourceStore(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def get(self, key: ResourceKey) -> dict[str, Any] | None: ...
    async def list_in(
        self, kind: str, account: str, region: str, prefix: str = ""
    ) -> list[tuple[str, dict[str, Any]]]:
        """(name, document) of one kind in one account-region, names starting with `prefix`, in
        byte order of the name."""

    async def list_kind(self, kind: str) -> list[tuple[ResourceKey, dict[str, Any]]]:
        """Every document of one kind, all accounts and regions (a scheduler's start)."""

    async def create(self, key: ResourceKey, document: dict[str, Any]) -> bool:
        """Store a new document; False (and nothing changed) when the key exists."""

    async def apply(self, writes: Sequence[Write]) -> None:
        """Every write, or none of them (a crash leaves all or nothing); puts replace."""
