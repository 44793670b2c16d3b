"""Functions and their versions, kept in memory so the invocation path never touches the database.

Only this class writes function metadata, so its cache is always current: every change is written
to the store first, then applied to the cache.
"""

from __future__ import annotations

from lamina.domain.functions import LATEST, FunctionConfig
from lamina.store.ports import MetadataStore


class FunctionRegistry:
    def __init__(self, store: MetadataStore) -> None:
        self._store = store
        self._latest: dict[str, FunctionConfig] = {}
        self._versions: dict[str, dict[str, FunctionConfig]] = {}

    async def load(self) -> None:
        for config in await self._store.list_functions():
            self._latest[config.name] = config
            self._versions[config.name] = {v.version: v for v in await self._store.list_versions(config.name)}

    def latest(self, name: str) -> FunctionConfig | None:
        return self._latest.get(name)

    def resolve(self, name: str, qualifier: str | None) -> FunctionConfig | None:
        """The configuration a qualifier names ($LATEST when absent); None if there is none."""
        if qualifier is None or qualifier == LATEST:
            return self._latest.get(name)
        versions = self._versions.get(name)
        return versions.get(qualifier) if versions else None

    def names(self) -> list[str]:
        return sorted(self._latest)

    def versions(self, name: str) -> list[FunctionConfig]:
        return sorted(self._versions.get(name, {}).values(), key=lambda config: int(config.version))

    def all_configs(self) -> list[FunctionConfig]:
        configs = list(self._latest.values())
        for versions in self._versions.values():
            configs.extend(versions.values())
        return configs

    async def put_latest(self, config: FunctionConfig) -> None:
        await self._store.put_function(config)
        self._latest[config.name] = config
        self._versions.setdefault(config.name, {})

    async def add_version(self, config: FunctionConfig) -> None:
        await self._store.put_version(config)
        self._versions.setdefault(config.name, {})[config.version] = config

    async def delete(self, name: str) -> None:
        await self._store.delete_function(name)
        self._latest.pop(name, None)
        self._versions.pop(name, None)
