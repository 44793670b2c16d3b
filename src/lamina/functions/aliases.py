"""CreateAlias, GetAlias, UpdateAlias, DeleteAlias and ListAliases.

An alias change is stored before it is applied, under the function's lock, so DeleteFunction and
DeleteFunction with a version cannot interleave. Provisioned concurrency configured on an alias
follows the alias: the `on_change` callback re-applies it when the alias moves or is deleted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from lamina.domain.aliases import ALIAS_NAME, Alias, check_routing, routing_weights
from lamina.domain.functions import FunctionConfig
from lamina.errors import conflict, not_found, precondition_failed
from lamina.functions.manager import REVISION_MISMATCH, FunctionManager
from lamina.functions.registry import FunctionRegistry


class AliasService:
    def __init__(self, manager: FunctionManager, registry: FunctionRegistry) -> None:
        self._manager = manager
        self._registry = registry
        self._listeners: list[Callable[[str], Awaitable[None]]] = []

    def on_change(self, listener: Callable[[str], Awaitable[None]]) -> None:
        """Call `listener(function_name)` after an alias of that function changed (inside the lock)."""
        self._listeners.append(listener)

    def arn(self, alias: Alias) -> str:
        return self._manager.placement.arn(alias.function_name, alias.name)

    def get(self, name: str, alias_name: str) -> Alias:
        self._manager.get(name)
        alias = self._registry.alias(name, alias_name)
        if alias is None:
            arn = self._manager.placement.arn(name, alias_name)
            if not ALIAS_NAME.fullmatch(alias_name):  # a qualifier that can name no alias
                raise not_found(f"Function not found: {arn}")
            raise not_found(f"Cannot find alias arn: {arn}")
        return alias

    def list(self, name: str, function_version: str | None = None) -> list[Alias]:
        """The function's aliases by name; with `function_version`, those that can run it."""
        self._manager.get(name)
        aliases = self._registry.aliases(name)
        if function_version is None:
            return aliases
        return [alias for alias in aliases if function_version in alias.versions()]

    async def create(self, name: str, params: dict[str, Any]) -> Alias:
        async with self._manager.lock(name):
            self._manager.get(name)
            alias_name = params["Name"]
            if self._registry.alias(name, alias_name) is not None:
                raise conflict(f"Alias already exists: {self._manager.placement.arn(name, alias_name)}")
            weights = routing_weights(params.get("RoutingConfig"))
            self._check_versions(name, params["FunctionVersion"], weights)
            alias = Alias(
                name, alias_name, params["FunctionVersion"], params.get("Description") or "", weights
            )
            await self._registry.put_alias(alias)
            await self._notify(name)
        return alias

    async def update(self, name: str, alias_name: str, params: dict[str, Any]) -> Alias:
        async with self._manager.lock(name):
            current = self.get(name, alias_name)
            if params.get("RevisionId") is not None and params["RevisionId"] != current.revision_id:
                raise precondition_failed(REVISION_MISMATCH)
            changes: dict[str, Any] = {}
            if "FunctionVersion" in params:
                changes["function_version"] = params["FunctionVersion"]
            if "Description" in params:
                changes["description"] = params["Description"] or ""
            if "RoutingConfig" in params:
                changes["weights"] = routing_weights(params["RoutingConfig"])
            updated = current.with_changes(**changes)
            self._check_versions(name, updated.function_version, updated.weights)
            await self._registry.put_alias(updated)
            await self._notify(name)
        return updated

    async def delete(self, name: str, alias_name: str) -> None:
        """Idempotent for the alias, as AWS is: only the function must exist."""
        async with self._manager.lock(name):
            self._manager.get(name)
            await self._registry.delete_alias(name, alias_name)
            await self._notify(name)

    def _check_versions(self, name: str, primary_version: str, weights: dict[str, float]) -> None:
        primary = self._existing_version(name, primary_version)
        additional = {version: self._existing_version(name, version) for version in weights}
        check_routing(primary, additional, weights)

    def _existing_version(self, name: str, version: str) -> FunctionConfig:
        config = self._registry.version(name, version)
        if config is None:
            raise not_found(f"Function not found: {self._manager.placement.arn(name, version)}")
        return config

    async def _notify(self, name: str) -> None:
        for listener in self._listeners:
            await listener(name)
