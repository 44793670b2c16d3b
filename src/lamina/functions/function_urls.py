"""Create/Get/Update/Delete/ListFunctionUrlConfigs: one URL per function and per alias.

Kept in memory by url-id as well, because every request to a URL looks its config up; the cache
follows the deletion of a function or alias, which takes its URL with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lamina.domain.function_urls import FunctionUrlConfig, new_url_id
from lamina.errors import conflict, not_found
from lamina.functions.aliases import AliasService
from lamina.functions.manager import FunctionManager
from lamina.store.ports import MetadataStore

_NO_URL = "The resource you requested does not exist."


class FunctionUrlService:
    def __init__(
        self,
        manager: FunctionManager,
        aliases: AliasService,
        store: MetadataStore,
        url_for: Callable[[str], str],
    ) -> None:
        """`url_for(url_id)` is the URL clients use (it depends on the server's host and port)."""
        self._manager = manager
        self._store = store
        self.url_for = url_for
        self._by_id: dict[str, FunctionUrlConfig] = {}
        manager.on_delete(self._forget)
        aliases.on_change(self._reload)

    async def restore(self) -> None:
        self._by_id = {config.url_id: config for config in await self._store.list_function_urls()}

    def lookup(self, url_id: str) -> FunctionUrlConfig | None:
        return self._by_id.get(url_id)

    def arn(self, config: FunctionUrlConfig) -> str:
        return self._manager.placement.arn(config.function_name, config.qualifier)

    def _find(self, name: str, qualifier: str | None) -> FunctionUrlConfig | None:
        return next(
            (c for c in self._by_id.values() if c.function_name == name and c.qualifier == qualifier), None
        )

    def get(self, name: str, qualifier: str | None) -> FunctionUrlConfig:
        self._manager.get(name, qualifier)
        config = self._find(name, qualifier)
        if config is None:
            raise not_found(_NO_URL)
        return config

    def list(self, name: str) -> list[FunctionUrlConfig]:
        self._manager.get(name)
        return sorted(
            (c for c in self._by_id.values() if c.function_name == name), key=lambda c: c.qualifier or ""
        )

    async def create(self, name: str, qualifier: str | None, params: dict[str, Any]) -> FunctionUrlConfig:
        async with self._manager.lock(name):
            self._manager.get(name, qualifier)
            if self._find(name, qualifier) is not None:
                raise conflict(
                    "Failed to create function url config for [functionArn = "
                    f"{self._manager.placement.arn(name, qualifier)}]. Error message:  "
                    "FunctionUrlConfig exists for this Lambda function"
                )
            config = FunctionUrlConfig(
                new_url_id(),
                name,
                qualifier,
                params["AuthType"],
                dict(params.get("Cors") or {}),
                params.get("InvokeMode"),
            )
            await self._store.put_function_url(config)
            self._by_id[config.url_id] = config
        return config

    async def update(self, name: str, qualifier: str | None, params: dict[str, Any]) -> FunctionUrlConfig:
        async with self._manager.lock(name):
            current = self.get(name, qualifier)
            changes: dict[str, Any] = {}
            if "AuthType" in params:
                changes["auth_type"] = params["AuthType"]
            if "Cors" in params:
                changes["cors"] = dict(params["Cors"] or {})
            if "InvokeMode" in params:
                changes["invoke_mode"] = params["InvokeMode"]
            updated = current.changed(**changes)
            await self._store.put_function_url(updated)
            self._by_id[updated.url_id] = updated
        return updated

    async def delete(self, name: str, qualifier: str | None) -> None:
        async with self._manager.lock(name):
            config = self.get(name, qualifier)
            await self._store.delete_function_url(config.url_id)
            del self._by_id[config.url_id]

    def _forget(self, name: str, version: str | None) -> None:
        if version is None:
            for url_id in [url_id for url_id, c in self._by_id.items() if c.function_name == name]:
                del self._by_id[url_id]

    async def _reload(self, name: str) -> None:
        """An alias changed or went: its URL may have gone with it."""
        self._forget(name, None)
        for config in await self._store.list_function_urls(name):
            self._by_id[config.url_id] = config
