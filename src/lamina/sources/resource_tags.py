"""Tags of the event services' resources (EventBridge rules and buses, Scheduler groups, SNS
topics): one document per resource in the resource store, under the resource's ARN. The services
check that the resource exists and serialise changes; this keeps the documents."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lamina.store.resource_ports import ResourceKey, ResourceStore, Write

__all__ = ["ResourceTags"]


def _where(arn: str) -> tuple[str, str]:
    """(account, region) of an `arn:PARTITION:SERVICE:REGION:ACCOUNT:…` ARN."""
    parts = arn.split(":", 5)
    return parts[4], parts[3]


class ResourceTags:
    def __init__(self, store: ResourceStore, kind: str) -> None:
        self._store = store
        self._kind = kind

    def _key(self, arn: str) -> ResourceKey:
        account, region = _where(arn)
        return ResourceKey(self._kind, account, region, arn)

    async def get(self, arn: str) -> dict[str, str]:
        return dict(await self._store.get(self._key(arn)) or {})

    async def add(self, arn: str, tags: Mapping[str, str]) -> None:
        await self._store.apply([Write(self._key(arn), {**await self.get(arn), **tags})])

    async def remove(self, arn: str, names: Sequence[str]) -> None:
        gone = set(names)
        await self._store.apply(
            [Write(self._key(arn), {k: v for k, v in (await self.get(arn)).items() if k not in gone})]
        )

    def cleared(self, arn: str) -> Write:
        """The write that forgets the resource's tags (with the resource's own deletion)."""
        return Write(self._key(arn), None)
