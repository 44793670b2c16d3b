"""Provisioned concurrency: what was asked for is stored, the environment pool keeps it.

Lambda API reference (PutProvisionedConcurrencyConfig): a configuration belongs to an alias or a
published version, never to $LATEST; the call returns at once with Status IN_PROGRESS and the
environments are initialised in the background until Status is READY (or FAILED with a
StatusReason). Here the store holds the requested count (durable, restored at start-up) and the
pool holds the environments and reports how many are allocated.

The pool keeps environments per version. A configuration on an alias becomes environments of the
version(s) it runs, divided by the alias's routing weights (AllocatedProvisionedConcurrentExecutions
"fluctuates depending on the amount of concurrency that is provisioned for the function versions"
when a weighted alias is used); when the alias moves, its environments move with it. A version
with configurations of its own and through aliases gets their sum.

Error messages follow LocalStack's Lambda provider, whose tests are recorded against AWS.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from lamina.domain.functions import LATEST, FunctionConfig, format_last_modified
from lamina.errors import AwsError, conflict, invalid_parameter, provisioned_concurrency_config_not_found
from lamina.execution.pool import ProvisionedState
from lamina.functions.aliases import AliasService
from lamina.functions.concurrency import FunctionConcurrency
from lamina.functions.manager import FunctionManager
from lamina.store.ports import MetadataStore, ProvisionedConcurrencyConfig

_log = logging.getLogger(__name__)

_VERSION = re.compile(r"[0-9]+")
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
    def __init__(
        self,
        manager: FunctionManager,
        aliases: AliasService,
        store: MetadataStore,
        pool: ProvisioningPool,
        concurrency: FunctionConcurrency,
    ) -> None:
        self._manager = manager
        self._concurrency = concurrency
        self._aliases = aliases
        self._store = store
        self._pool = pool
        # function -> version -> provisioned environments handed to the pool (and the limiter)
        self._applied: dict[str, dict[str, int]] = {}
        manager.on_delete(self._forget)
        aliases.on_change(self.apply)

    def _targets(self, name: str, qualifier: str, requested: int) -> dict[str, int]:
        """How many environments of which published versions `requested` on `qualifier` means,
        or the error AWS gives when the qualifier names no alias or published version."""
        if _VERSION.fullmatch(qualifier):
            self._manager.get(name, qualifier)
            return {qualifier: requested}
        alias = self._aliases.get(name, qualifier)
        if alias.function_version == LATEST:
            raise invalid_parameter(_UNPUBLISHED)
        return alias.shares(requested)

    def _check_overlap(
        self, name: str, qualifier: str, targets: dict[str, int], others: list[ProvisionedConcurrencyConfig]
    ) -> None:
        """AWS's 409s: a version provisioned both by itself and through an alias."""
        for other in others:
            try:
                their_versions = set(self._targets(name, other.qualifier, other.requested))
            except AwsError:
                continue
            if not their_versions & set(targets):
                continue
            if _VERSION.fullmatch(qualifier):
                raise conflict("Version is pointed by a Provisioned Concurrency alias")
            raise conflict(
                "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version"
            )

    def _check_limits(self, name: str, total: int) -> None:
        """Provisioned concurrency comes out of the function's reservation, or else out of the
        account's unreserved concurrency, which must keep its minimum (AWS's messages, which carry
        no Type)."""
        reserved = self._concurrency.get(name)
        if reserved is not None:
            if total > reserved:
                raise invalid_parameter(
                    "Requested Provisioned Concurrency should not be greater than the "
                    "reservedConcurrentExecution for function"
                )
            return
        unreserved = self._concurrency.unreserved_limit
        if total > unreserved:
            raise AwsError(
                "InvalidParameterValueException",
                f"Specified ConcurrentExecutions for function is greater than account's unreserved "
                f"concurrency [{unreserved}].",
                400,
                error_type=None,
            )
        if unreserved - total < self._concurrency.min_unreserved:
            raise AwsError(
                "InvalidParameterValueException",
                "Specified ConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of [{self._concurrency.min_unreserved}].",
                400,
                error_type=None,
            )

    async def apply(self, name: str) -> None:
        """Hand the pool the environments every configuration of `name` asks for, per version."""
        totals: dict[str, int] = {}
        for config in await self._store.list_provisioned_concurrency(name):
            try:
                targets = self._targets(name, config.qualifier, config.requested)
            except AwsError:
                continue  # its alias moved to $LATEST: nothing to keep warm until it moves back
            for version, count in targets.items():
                totals[version] = totals.get(version, 0) + count
        for version in set(self._applied.get(name, {})) - set(totals):
            self._pool.unprovision(name, version)
        for version, count in totals.items():
            self._pool.provision(self._manager.get(name, version), count)
        self._applied[name] = totals
        self._concurrency.set_provisioned(name, totals)

    def _forget(self, name: str, version: str | None) -> None:
        """A deleted function or version takes its provisioned concurrency with it."""
        applied = self._applied.pop(name, {}) if version is None else self._applied.get(name, {})
        applied.pop(version or "", None)
        self._concurrency.set_provisioned(name, applied if version is not None else {})

    def _status(self, config: ProvisionedConcurrencyConfig) -> ProvisionedConcurrencyStatus:
        try:
            targets = self._targets(config.function_name, config.qualifier, config.requested)
        except AwsError as error:
            return ProvisionedConcurrencyStatus(config, 0, "FAILED", error.message)
        allocated, statuses, reasons = 0, set(), []
        for version, share in targets.items():
            state = self._pool.provisioned_state(config.function_name, version)
            if state is None:  # not handed to the pool yet
                statuses.add("IN_PROGRESS")
                continue
            allocated += min(share, state.allocated)
            statuses.add(state.status)
            if state.reason:
                reasons.append(state.reason)
        status = "FAILED" if "FAILED" in statuses else "IN_PROGRESS" if "IN_PROGRESS" in statuses else "READY"
        return ProvisionedConcurrencyStatus(config, allocated, status, "; ".join(reasons) or None)

    async def put(self, name: str, qualifier: str, count: int) -> ProvisionedConcurrencyStatus:
        """Store the configuration and hand it to the pool; Status is IN_PROGRESS until the pool
        has initialised `count` environments."""
        if qualifier == LATEST:
            raise invalid_parameter(_UNPUBLISHED)
        async with self._manager.lock(name):
            targets = self._targets(name, qualifier, count)
            others = [
                config
                for config in await self._store.list_provisioned_concurrency(name)
                if config.qualifier != qualifier
            ]
            self._check_overlap(name, qualifier, targets, others)
            self._check_limits(name, count + sum(config.requested for config in others))
            config = ProvisionedConcurrencyConfig(
                name, qualifier, count, format_last_modified(datetime.now(UTC))
            )
            await self._store.put_provisioned_concurrency(config)
            await self.apply(name)
        return self._status(config)

    async def get(self, name: str, qualifier: str) -> ProvisionedConcurrencyStatus:
        if qualifier == LATEST:
            raise invalid_parameter(_NOT_A_VERSION)
        self._targets(name, qualifier, 0)
        for config in await self._store.list_provisioned_concurrency(name):
            if config.qualifier == qualifier:
                return self._status(config)
        raise provisioned_concurrency_config_not_found(_NO_CONFIG)

    async def delete(self, name: str, qualifier: str) -> None:
        """Idempotent, like AWS: deleting a configuration that does not exist succeeds (the
        function and its version or alias must exist)."""
        if qualifier == LATEST:
            raise invalid_parameter(_NOT_A_VERSION)
        async with self._manager.lock(name):
            if _VERSION.fullmatch(qualifier):
                self._manager.get(name, qualifier)
            else:
                self._aliases.get(name, qualifier)
            await self._store.delete_provisioned_concurrency(name, qualifier)
            await self.apply(name)

    async def list(self, name: str) -> list[ProvisionedConcurrencyStatus]:
        """Every configuration of the function: versions in ascending order, then aliases."""
        self._manager.get(name)
        return [self._status(config) for config in await self._store.list_provisioned_concurrency(name)]

    async def restore(self) -> int:
        """At start-up: hand every stored configuration to the pool again. One whose version or
        alias no longer exists is deleted. Returns how many were restored."""
        restored, names = 0, set()
        for config in await self._store.list_provisioned_concurrency():
            try:
                self._manager.get(config.function_name)
                if _VERSION.fullmatch(config.qualifier):
                    self._manager.get(config.function_name, config.qualifier)
                else:
                    self._aliases.get(config.function_name, config.qualifier)
            except AwsError:
                _log.warning(
                    "dropping provisioned concurrency of %s:%s: it no longer exists",
                    config.function_name,
                    config.qualifier,
                )
                await self._store.delete_provisioned_concurrency(config.function_name, config.qualifier)
                continue
            names.add(config.function_name)
            restored += 1
        for name in sorted(names):
            await self.apply(name)
        return restored
