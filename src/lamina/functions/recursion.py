"""PutFunctionRecursionConfig / GetFunctionRecursionConfig: whether a function may run in a
recursive loop (Allow) or is stopped after 16 invocations in one chain (Terminate, the default).
Cached in memory: every invocation consults it."""

from __future__ import annotations

from lamina.domain.recursion import DEFAULT_RECURSIVE_LOOP
from lamina.functions.manager import FunctionManager
from lamina.store.ports import MetadataStore


class RecursionConfigService:
    def __init__(self, manager: FunctionManager, store: MetadataStore) -> None:
        self._manager = manager
        self._store = store
        self._loops: dict[str, str] = {}
        manager.on_delete(self._forget)

    def _forget(self, name: str, version: str | None) -> None:
        if version is None:
            self._loops.pop(name, None)

    async def restore(self) -> None:
        self._loops = await self._store.list_recursion_configs()

    def loop(self, name: str) -> str:
        """The function's RecursiveLoop setting; hot path, no checks."""
        return self._loops.get(name, DEFAULT_RECURSIVE_LOOP)

    def get(self, name: str) -> str:
        self._manager.get(name)
        return self.loop(name)

    async def put(self, name: str, recursive_loop: str) -> str:
        async with self._manager.lock(name):
            self._manager.get(name)
            await self._store.put_recursion_config(name, recursive_loop)
            self._loops[name] = recursive_loop
        return recursive_loop
