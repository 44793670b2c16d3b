"""PutFunctionConcurrency, GetFunctionConcurrency and DeleteFunctionConcurrency.

Reserved concurrency is stored (durable, restored at start-up) and handed to the limiter the
invocation path consults. AWS keeps a floor of unreserved concurrency for the functions without a
reservation (100 on AWS; configurable here, since a small machine has a small account limit).
"""

from __future__ import annotations

from lamina.errors import invalid_parameter
from lamina.execution.concurrency import ConcurrencyLimiter
from lamina.functions.manager import FunctionManager
from lamina.store.ports import MetadataStore

DEFAULT_MIN_UNRESERVED = 100


class FunctionConcurrency:
    def __init__(
        self,
        manager: FunctionManager,
        store: MetadataStore,
        limiter: ConcurrencyLimiter,
        min_unreserved: int = DEFAULT_MIN_UNRESERVED,
    ) -> None:
        self._manager = manager
        self._store = store
        self._limiter = limiter
        self.min_unreserved = min_unreserved
        manager.on_delete(self._forget)

    def _forget(self, name: str, version: str | None) -> None:
        if version is None:
            self._limiter.set_reserved(name, None)

    @property
    def account_limit(self) -> int:
        return self._limiter.account_limit

    @property
    def unreserved_limit(self) -> int:
        return self._limiter.unreserved_limit

    def set_provisioned(self, name: str, per_version: dict[str, int]) -> None:
        """What ProvisionedConcurrency keeps of `name`'s versions: it counts against the
        reservation (or the unreserved pool) at invocation time."""
        self._limiter.set_provisioned(name, per_version)

    def get(self, name: str) -> int | None:
        self._manager.get(name)
        return self._limiter.reserved(name)

    async def put(self, name: str, reserved: int) -> int:
        async with self._manager.lock(name):
            self._manager.get(name)
            provisioned = self._limiter.provisioned_total(name)
            if reserved < provisioned:
                raise invalid_parameter(
                    "Specified ReservedConcurrentExecutions for function is less than the provisioned "
                    f"concurrency configured for it [{provisioned}]."
                )
            unreserved_after = self._limiter.unreserved_limit + (self._limiter.reserved(name) or 0) - reserved
            if unreserved_after < self.min_unreserved:
                raise invalid_parameter(
                    "Specified ReservedConcurrentExecutions for function decreases account's "
                    f"UnreservedConcurrentExecution below its minimum value of [{self.min_unreserved}]."
                )
            await self._store.put_reserved_concurrency(name, reserved)
            self._limiter.set_reserved(name, reserved)
        return reserved

    async def delete(self, name: str) -> None:
        async with self._manager.lock(name):
            self._manager.get(name)
            await self._store.put_reserved_concurrency(name, None)
            self._limiter.set_reserved(name, None)

    async def restore(self) -> None:
        for name, reserved in (await self._store.list_reserved_concurrency()).items():
            self._limiter.set_reserved(name, reserved)

    async def reload(self) -> None:
        """A worker's reservations replaced by the stored ones (the primary changed them)."""
        stored = await self._store.list_reserved_concurrency()
        for name in self._limiter.reserved_names():
            if name not in stored:
                self._limiter.set_reserved(name, None)
        for name, reserved in stored.items():
            if self._limiter.reserved(name) != reserved:
                self._limiter.set_reserved(name, reserved)
