"""Functions, their versions and aliases, kept in memory so the invocation path never touches the
database.

Only this class writes function metadata, so its cache is always current: every change is written
to the store first, then applied to the cache. A reload (another server or the primary changed the
store) keeps what this process wrote while the reload was reading: its snapshot may predate that
write, and a function created here would otherwise vanish until the next reload, and be found by
its settler gone (found by CI: a function stuck Pending on a server sharing PostgreSQL).
"""

from __future__ import annotations

from typing import TypeVar

from lamina.domain.aliases import Alias
from lamina.domain.functions import LATEST, FunctionConfig
from lamina.store.ports import MetadataStore

_Entry = TypeVar("_Entry")


class FunctionRegistry:
    def __init__(self, store: MetadataStore) -> None:
        self._store = store
        self._latest: dict[str, FunctionConfig] = {}
        self._versions: dict[str, dict[str, FunctionConfig]] = {}
        self._aliases: dict[str, dict[str, Alias]] = {}
        self._reloading: list[set[str]] = []  # per reload in progress: the names written meanwhile

    async def load(self) -> None:
        for config in await self._store.list_functions():
            self._latest[config.name] = config
            self._versions[config.name] = {v.version: v for v in await self._store.list_versions(config.name)}
            self._aliases[config.name] = {a.name: a for a in await self._store.list_aliases(config.name)}

    async def reload(self) -> None:
        """Replace the cache by what the store holds now: a worker's copy, after the primary
        (the only writer then) changed something. Readers see the old or the new view, whole."""
        latest: dict[str, FunctionConfig] = {}
        versions: dict[str, dict[str, FunctionConfig]] = {}
        aliases: dict[str, dict[str, Alias]] = {}
        written: set[str] = set()
        self._reloading.append(written)
        try:
            for config in await self._store.list_functions():
                latest[config.name] = config
                versions[config.name] = {v.version: v for v in await self._store.list_versions(config.name)}
            for alias in await self._store.list_aliases():
                aliases.setdefault(alias.function_name, {})[alias.name] = alias
        finally:
            self._reloading.remove(written)
        for name in written:  # this process's own write is at least as new as the snapshot
            _keep(latest, self._latest, name)
            _keep(versions, self._versions, name)
            _keep(aliases, self._aliases, name)
        self._latest, self._versions, self._aliases = latest, versions, aliases

    def _written(self, name: str) -> None:
        for written in self._reloading:
            written.add(name)

    def all_latest(self) -> list[FunctionConfig]:
        return list(self._latest.values())

    def latest(self, name: str) -> FunctionConfig | None:
        return self._latest.get(name)

    def resolve(self, name: str, qualifier: str | None, *, route: bool = False) -> FunctionConfig | None:
        """The configuration a qualifier names ($LATEST when absent); None if there is none.

        An alias names its version; with `route` a weighted alias draws the version one invocation
        runs, without it the alias's own version is returned (GetFunction and the like).
        """
        if qualifier is None or qualifier == LATEST:
            return self._latest.get(name)
        versions = self._versions.get(name)
        if not versions and name not in self._latest:
            return None
        config = versions.get(qualifier) if versions else None
        if config is not None:
            return config
        alias = self.alias(name, qualifier)
        if alias is None:
            return None
        version = alias.pick_version() if route else alias.function_version
        return self._latest.get(name) if version == LATEST else (versions or {}).get(version)

    def names(self) -> list[str]:
        return sorted(self._latest)

    def versions(self, name: str) -> list[FunctionConfig]:
        return sorted(self._versions.get(name, {}).values(), key=lambda config: int(config.version))

    def version(self, name: str, version: str) -> FunctionConfig | None:
        """$LATEST or one published version; aliases are not looked at."""
        if version == LATEST:
            return self._latest.get(name)
        return self._versions.get(name, {}).get(version)

    def alias(self, name: str, alias: str) -> Alias | None:
        return self._aliases.get(name, {}).get(alias)

    def aliases(self, name: str) -> list[Alias]:
        return sorted(self._aliases.get(name, {}).values(), key=lambda alias: alias.name)

    def all_configs(self) -> list[FunctionConfig]:
        configs = list(self._latest.values())
        for versions in self._versions.values():
            configs.extend(versions.values())
        return configs

    async def create(self, config: FunctionConfig) -> bool:
        """A new function; False when the store has one of that name (another server sharing it
        made it meanwhile)."""
        if not await self._store.create_function(config):
            return False
        self._remember(config)
        return True

    async def put_latest(self, config: FunctionConfig) -> bool:
        """An existing function's $LATEST changed; False when the store has no such function any
        more (another server deleted it meanwhile): it is forgotten here too."""
        if not await self._store.update_function(config):
            self._forget(config.name)
            return False
        self._remember(config)
        return True

    def _remember(self, config: FunctionConfig) -> None:
        self._written(config.name)
        self._latest[config.name] = config
        self._versions.setdefault(config.name, {})
        self._aliases.setdefault(config.name, {})

    async def add_version(self, config: FunctionConfig) -> bool:
        """False when the store has that version (another server published it meanwhile)."""
        if not await self._store.put_version(config):
            return False
        self._written(config.name)
        self._versions.setdefault(config.name, {})[config.version] = config
        return True

    async def put_state(self, config: FunctionConfig) -> None:
        """$LATEST or a published version in a later lifecycle state, if it still exists."""
        if config.version == LATEST:
            if config.name in self._latest:
                await self.put_latest(config)
        elif config.version in self._versions.get(config.name, {}):
            await self._store.update_version_state(config)
            if (versions := self._versions.get(config.name)) is not None:
                self._written(config.name)
                versions[config.version] = config

    async def delete_version(self, name: str, version: str) -> None:
        await self._store.delete_version(name, version)
        self._written(name)
        self._versions.get(name, {}).pop(version, None)

    async def put_alias(self, alias: Alias) -> None:
        await self._store.put_alias(alias)
        self._written(alias.function_name)
        self._aliases.setdefault(alias.function_name, {})[alias.name] = alias

    async def delete_alias(self, name: str, alias: str) -> None:
        await self._store.delete_alias(name, alias)
        self._written(name)
        self._aliases.get(name, {}).pop(alias, None)

    async def delete(self, name: str) -> bool:
        """Whether the store had the function (another server may have deleted it meanwhile)."""
        existed = await self._store.delete_function(name)
        self._forget(name)
        return existed

    def _forget(self, name: str) -> None:
        self._written(name)
        self._latest.pop(name, None)
        self._versions.pop(name, None)
        self._aliases.pop(name, None)


def _keep(fresh: dict[str, _Entry], cached: dict[str, _Entry], name: str) -> None:
    """`fresh` takes `cached`'s entry for `name`, or its absence."""
    if name in cached:
        fresh[name] = cached[name]
    else:
        fresh.pop(name, None)
