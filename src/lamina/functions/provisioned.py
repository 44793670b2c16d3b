"""Provisioned concurrency: what was asked for is stored, the environment pool keeps it.

Lambda API reference (PutProvisionedConcurrencyConfig): a configuration belongs to an alias or a
published version, never to $LATEST; the call returns at once with Status IN_PROGRESS and the
environments are initialised in the background until Status is READY (or FAILED with a
StatusReason). Here the store holds the requested count (durable, restored at start-up) and the
pool holds the environments and reports how many are allocated. Aliases do not exist yet, so a
qualifier always names a version.

Error messages follow LocalStack's Lambda provider, whose tests are recorded against AWS.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from lamina.domain.functions import LATEST, FunctionConfig, format_last_modified
from lamina.errors import AwsError, invalid_parameter, not_found, provisioned_concurrency_config_not_found
from lamina.execution.pool import ProvisionedState
from lamina.functions.manager import FunctionManager
from lamina.store.ports import MetadataStore, ProvisionedConcurrencyConfig

_log = logging.getLogger(__name__)

_VERSION = re.compile(r"[0-9]+")
_ALIAS = re.compile(r"[a-zA-Z0-9_-]+")  # and not all digits (CreateAlias: Name pattern)
_UNPUBLISHED = "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
_NOT_A_VERSION = "The function resource provided must be an alias or a published version."
_NO_CONFIG = "No Provisioned Concurrency Config found for this function"


class ProvisioningPool(Protocol):
    """What this service needs from the environment pool (`EnvironmentPool` provides it)."""

    def provision(self, config: FunctionConfig, count: int) -> None:
        """Keep `count` initialised environments of this published version, replacing any earlier
        count; returns at once, the work happens in the background."""

    def unprovision(self, name: str, version: str | None = None) -> None:
        """Drop the provisioned environments of one version (of every version when None);
        idempotent."""

    def provisioned_state(self, name: str, version: str) -> ProvisionedState | None: ...


@dataclass(frozen=True, slots=True)
class ProvisionedConcurrencyStatus:
    """A stored configuration with the pool's progress on it."""

    config: ProvisionedConcurrencyConfig
    allocated: int
    status: str  # IN_PROGRESS | READY | FAILED
    reason: str | None

    def to_api(self) -> dict[str, Any]:
        """Get/PutProvisionedConcurrencyConfig's output; ListProvisionedConcurrencyConfigs adds
        FunctionArn. Every allocated environment is initialised, so all of them are available."""
        output: dict[str, Any] = {
            "RequestedProvisionedConcurrentExecutions": self.config.requested,
            "AvailableProvisionedConcurrentExecutions": self.allocated,
            "AllocatedProvisionedConcurrentExecutions": self.allocated,
            "Status": self.status,
            "LastModified": self.config.last_modified,
        }
        if self.status == "FAILED" and self.reason:
            output["StatusReason"] = self.reason
        return output


class ProvisionedConcurrency:
    def __init__(self, manager: FunctionManager, store: MetadataStore, pool: ProvisioningPool) -> None:
        self._manager = manager
        self._store = store
        self._pool = pool

    def _version(self, name: str, qualifier: str) -> FunctionConfig:
        """The published version `qualifier` names, or the error AWS gives for it."""
        if _VERSION.fullmatch(qualifier):
            return self._manager.get(name, qualifier)
        arn = self._manager.placement.arn(name, qualifier)
        if _ALIAS.fullmatch(qualifier):
            raise not_found(f"Cannot find alias arn: {arn}")
        raise not_found(f"Function not found: {arn}")

    def _status(self, config: ProvisionedConcurrencyConfig) -> ProvisionedConcurrencyStatus:
        state = self._pool.provisioned_state(config.function_name, config.qualifier)
        if state is None:  # not handed to the pool yet
            return ProvisionedConcurrencyStatus(config, 0, "IN_PROGRESS", None)
        return ProvisionedConcurrencyStatus(config, state.allocated, state.status, state.reason)

    async def put(self, name: str, qualifier: str, count: int) -> ProvisionedConcurrencyStatus:
        """Store the configuration and hand it to the pool; Status is IN_PROGRESS until the pool
        has initialised `count` environments."""
        if qualifier == LATEST:
            raise invalid_parameter(_UNPUBLISHED)
        async with self._manager.lock(name):
            version = self._version(name, qualifier)
            config = ProvisionedConcurrencyConfig(
                name, qualifier, count, format_last_modified(datetime.now(UTC))
            )
            await self._store.put_provisioned_concurrency(config)
            self._pool.provision(version, count)
        return self._status(config)

    async def get(self, name: str, qualifier: str) -> ProvisionedConcurrencyStatus:
        if qualifier == LATEST:
            raise invalid_parameter(_NOT_A_VERSION)
        self._version(name, qualifier)
        for config in await self._store.list_provisioned_concurrency(name):
            if config.qualifier == qualifier:
                return self._status(config)
        raise provisioned_concurrency_config_not_found(_NO_CONFIG)

    async def delete(self, name: str, qualifier: str) -> None:
        """Idempotent, like AWS: deleting a configuration that does not exist succeeds (the
        function and version must exist)."""
        if qualifier == LATEST:
            raise invalid_parameter(_NOT_A_VERSION)
        async with self._manager.lock(name):
            self._version(name, qualifier)
            await self._store.delete_provisioned_concurrency(name, qualifier)
            self._pool.unprovision(name, qualifier)

    async def list(self, name: str) -> list[ProvisionedConcurrencyStatus]:
        """Every configuration of the function, versions in ascending order."""
        self._manager.get(name)
        return [self._status(config) for config in await self._store.list_provisioned_concurrency(name)]

    async def restore(self) -> int:
        """At start-up: hand every stored configuration to the pool again. One whose version no
        longer exists is deleted. Returns how many were restored."""
        restored = 0
        for config in await self._store.list_provisioned_concurrency():
            try:
                version = self._version(config.function_name, config.qualifier)
            except AwsError:
                _log.warning(
                    "dropping provisioned concurrency of %s:%s: the version no longer exists",
                    config.function_name,
                    config.qualifier,
                )
                await self._store.delete_provisioned_concurrency(config.function_name, config.qualifier)
                continue
            self._pool.provision(version, config.requested)
            restored += 1
        return restored
