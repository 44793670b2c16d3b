"""A store that keeps nothing. The OpenAPI importers build an API on a service over this store,
where every check of the control plane applies to what the definition asks for, and the result
replaces the real API in one write: a definition with a fault in its last path changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lamina.store.resource_ports import ResourceKey, Write

__all__ = ["DraftStore"]


class DraftStore:
    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def get(self, key: ResourceKey) -> dict[str, Any] | None:
        return None

    async def list_in(
        self, kind: str, account: str, region: str, prefix: str = ""
    ) -> list[tuple[str, dict[str, Any]]]:
        return []

    async def list_kind(self, kind: str) -> list[tuple[ResourceKey, dict[str, Any]]]:
        return []

    async def create(self, key: ResourceKey, document: dict[str, Any]) -> bool:
        return True

    async def apply(self, writes: Sequence[Write]) -> None:
        return None
