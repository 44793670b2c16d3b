"""Create, change and delete functions: validation, code storage, versions, pool retirement.

Each operation validates everything first and stores code before metadata, so a rejected request
changes nothing and an accepted one is durable when it returns.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from typing import Any

from lamina.domain import lifecycle
from lamina.domain.arns import function_arn
from lamina.domain.code import PackageSummary
from lamina.domain.function_limits import FunctionLimits
from lamina.domain.functions import (
    LATEST,
    FunctionConfig,
    validate_dead_letter_target,
    validate_environment,
    validate_network_setting,
)
from lamina.domain.gpu_requests import check_gpu_request
from lamina.domain.handler import validate_handler
from lamina.domain.layers import check_function_layers
from lamina.domain.runtimes import aws_runtimes, check_aws_runtime
from lamina.errors import conflict, invalid_parameter, not_found, precondition_failed
from lamina.execution.code_cache import CodeCache
from lamina.execution.pool import EnvironmentPool
from lamina.execution.runtimes.catalog import runtime_sort_key
from lamina.functions.code_collector import CodeCollector
from lamina.functions.registry import FunctionRegistry
from lamina.functions.settling import Settler
from lamina.store.ports import BlobStore

REVISION_MISMATCH = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)
# What a published version copies from $LATEST and PublishVersion compares with the newest version
# ("Lambda doesn't publish a version if the function's configuration and code haven't changed
# since the last version"). The description is compared apart (_unchanged_since): PublishVersion
# may give the version its own.
_NOT_SNAPSHOTTED = frozenset(
    {
        "version",
        "revision_id",
        "last_modified",
        "description",
        "last_published",
        "published_description",
        "state",
        "state_reason",
        "state_reason_code",
        "last_update_status",
        "last_update_status_reason",
        "last_update_status_reason_code",
        "environment_revision",
    }
)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where functions live: used for ARNs and messages."""

    region: str
    account_id: str

    def arn(self, name: str, qualifier: str | None = None) -> str:
        return function_arn(self.region, self.account_id, name, qualifier)


class FunctionManager:
    def __init__(
        self,
        registry: FunctionRegistry,
        blobs: BlobStore,
        code: CodeCache,
        pool: EnvironmentPool,
        runtimes: Mapping[str, object],
        placement: Placement,
        role_assumable: Callable[[str], bool] = lambda role: True,
        *,
        collector: CodeCollector | None = None,
        limits: Callable[[], FunctionLimits] = FunctionLimits,
        gpu_hosts: Callable[[], Sequence[Sequence[int]]] = list,
    ) -> None:
        """`role_assumable(role_arn)`: whether the role exists and trusts lambda.amazonaws.com.
        `limits()`: how far this account's configurations may go now (the operator may change it);
        `gpu_hosts()`: the memory of each GPU of each host functions run on (this server, or each
        node of its cluster): a GPU request is checked against them.
        `collector`: stores packages and removes code nothing uses any more; a manager without
        one cannot take code (unit tests of the other operations)."""
        self._registry = registry
        self._blobs = blobs
        self._code = code
        self._pool = pool
        self._runtimes = runtimes
        self.placement = placement
        self._role_assumable = role_assumable
        self._locks: dict[str, asyncio.Lock] = {}
        self._deletion_listeners: list[Callable[[str, str | None], None]] = []
        self._collector = collector
        self.limits = limits
        self._gpu_hosts = gpu_hosts
        # Creates and updates finish in the background, as on AWS (Pending, InProgress).
        self.settler = Settler(registry, code, self.lock)

    def on_delete(self, listener: Callable[[str, str | None], None]) -> None:
        """Call `listener(name, None)` once a function is deleted and `listener(name, version)`
        once one of its versions is, so services that keep something about it in memory can
        forget it."""
        self._deletion_listeners.append(listener)

    def lock(self, name: str) -> asyncio.Lock:
        """Serialises changes to one function. Services that store something belonging to a
        function hold it while they check the function and write, so DeleteFunction cannot
        interleave."""
        return self._locks.setdefault(name, asyncio.Lock())

    # queries ---------------------------------------------------------------------------------
    def get(self, name: str, qualifier: str | None = None, *, route: bool = False) -> FunctionConfig:
        """The configuration `qualifier` names; for a weighted alias, with `route`, the version one
        invocation runs (drawn by weight), else the alias's own version."""
        config = self._registry.resolve(name, qualifier, route=route)
        if config is None:
            raise not_found(f"Function not found: {self.placement.arn(name, qualifier)}")
        return config

    def revision_of(self, name: str, qualifier: str | None) -> str:
        """The RevisionId GetFunction or GetAlias reports for what `qualifier` names."""
        alias = self._registry.alias(name, qualifier) if qualifier is not None else None
        return alias.revision_id if alias is not None else self.get(name, qualifier).revision_id

    def list_versions(self, name: str) -> list[FunctionConfig]:
        """$LATEST, then the published versions in ascending order (ListVersionsByFunction)."""
        return [self.get(name), *self._registry.versions(name)]

    def list(self, *, include_versions: bool) -> list[FunctionConfig]:
        configs: list[FunctionConfig] = []
        for name in self._registry.names():
            latest = self._registry.latest(name)
            if latest is not None:
                configs.append(latest)
            if include_versions:
                configs.extend(self._registry.versions(name))
        return configs

    def total_code_size(self) -> int:
        return sum(config.code.size for config in self._registry.all_configs())

    def function_count(self) -> int:
        return len(self._registry.names())

    async def code_package(self, sha256_hex: str) -> bytes:
        return await asyncio.to_thread(self._blobs.get, sha256_hex)

    # validation helpers ----------------------------------------------------------------------
    def _check_runtime(self, runtime: str) -> str:
        if runtime in self._runtimes and runtime not in aws_runtimes():
            return runtime  # the operator's own (`lamina server --runtime python3.12-gpu=...`)
        check_aws_runtime(runtime)
        if runtime not in self._runtimes:
            available = ", ".join(sorted(self._runtimes, key=runtime_sort_key))
            raise invalid_parameter(
                f"The runtime parameter of {runtime} is not supported by this Lamina server. "
                f"Available runtimes: {available}. Add one with `lamina server --runtime "
                f"{runtime}=/path/to/its/interpreter`, or run such functions on the nearest "
                "available version with `lamina server --runtime-fallback nearest`"
            )
        return runtime

    def _store_package(self, zip_file: Any) -> AbstractAsyncContextManager[PackageSummary]:
        """Stored and held until the block that writes the metadata ends; collected if it fails."""
        if self._collector is None:
            raise RuntimeError("this FunctionManager was built without a code collector")
        return self._collector.store_package(zip_bytes(zip_file))

    async def _collect(self) -> None:
        """After a change that may leave code unused (replaced, deleted, a dry run's package)."""
        if self._collector is not None:
            await self._collector.collect_quietly()

    def _check_role(self, role: str) -> str:
        if not self._role_assumable(role):
            raise invalid_parameter("The role defined for the function cannot be assumed by Lambda.")
        return role

    @staticmethod
    def _check_revision(config: FunctionConfig, revision_id: str | None) -> None:
        if revision_id is not None and revision_id != config.revision_id:
            raise precondition_failed(REVISION_MISMATCH)

    # commands --------------------------------------------------------------------------------
    async def create(self, params: dict[str, Any]) -> FunctionConfig:
        name = params["FunctionName"]
        if params.get("PackageType", "Zip") != "Zip":
            raise invalid_parameter("Lamina supports PackageType Zip only.")
        runtime = params.get("Runtime")
        handler = params.get("Handler")
        if runtime is None or handler is None:
            raise invalid_parameter(
                "Runtime and Handler are mandatory parameters for functions created with deployment packages."
            )
        self._check_runtime(runtime)
        validate_handler(handler)
        self._check_role(params["Role"])
        code = params.get("Code") or {}
        if "ZipFile" not in code:
            raise invalid_parameter("Please provide a source for function code: Code.ZipFile.")
        options = _configuration_options(params, self.limits(), self._gpu_hosts)
        validate_network_setting(options.get("environment", {}))
        async with self.lock(name):
            if self._registry.latest(name) is not None:
                raise conflict(f"Function already exist: {name}")
            async with self._store_package(code["ZipFile"]) as summary:
                if self._registry.latest(name) is not None:
                    raise conflict(f"Function already exist: {name}")
                check_function_layers(list(options.get("layers", ())), summary.unzipped_size)
                config = lifecycle.pending(
                    FunctionConfig(
                        name=name,
                        runtime=runtime,
                        handler=handler,
                        role=params["Role"],
                        code=summary.digest,
                        code_unzipped_size=summary.unzipped_size,
                        **options,
                    )
                )
                if not await self._registry.create(config):  # another server sharing the store
                    raise conflict(f"Function already exist: {name}")
                self.settler.start(config)
                if params.get("Publish"):  # AWS answers with the version published
                    return await self._publish(config)
        return config

    async def update_code(self, params: dict[str, Any]) -> FunctionConfig:
        name = params["FunctionName"]
        if "ZipFile" not in params:
            raise invalid_parameter("Please provide a source for function code: ZipFile.")
        try:
            async with self.lock(name):
                current = self.get(name)
                self._check_revision(current, params.get("RevisionId"))
                lifecycle.check_changeable(current, self.placement.arn(name))
                async with self._store_package(params["ZipFile"]) as summary:
                    check_function_layers(list(current.layers), summary.unzipped_size)
                    if params.get("DryRun"):
                        return current.with_changes(code=summary.digest, revision_id=current.revision_id)
                    changes: dict[str, Any] = {
                        "code": summary.digest,
                        "code_unzipped_size": summary.unzipped_size,
                    }
                    if params.get("Architectures"):
                        changes["architectures"] = tuple(params["Architectures"])
                    updated = lifecycle.updating(current.with_changes(**changes))
                    await self._save(updated)
                    self._pool.retire(name, keep=updated)
                    self.settler.start(updated)
                    if params.get("Publish"):  # AWS answers with the version published
                        return await self._publish(updated)
            return updated
        finally:
            await self._collect()  # the code it replaced, or a dry run's package

    async def update_configuration(self, params: dict[str, Any]) -> FunctionConfig:
        name = params["FunctionName"]
        changes = _configuration_options(params, self.limits(), self._gpu_hosts)
        if "Runtime" in params:
            changes["runtime"] = self._check_runtime(params["Runtime"])
        if "Handler" in params:
            changes["handler"] = validate_handler(params["Handler"])
        if "Role" in params:
            changes["role"] = self._check_role(params["Role"])
        async with self.lock(name):
            current = self.get(name)
            self._check_revision(current, params.get("RevisionId"))
            lifecycle.check_changeable(current, self.placement.arn(name))
            updated = lifecycle.updating(current.with_changes(**changes))
            if updated.log_format == "Text" and (updated.application_log_level or updated.system_log_level):
                raise invalid_parameter(_TEXT_LOG_LEVELS)
            validate_network_setting(updated.environment)
            if "layers" in changes:
                check_function_layers(list(updated.layers), updated.code_unzipped_size)
            await self._save(updated)
            self._pool.retire(name, keep=updated)
            self.settler.start(updated)
        if "layers" in changes:
            await self._collect()  # a deleted layer version only this function still used
        return updated

    async def delete(self, name: str, qualifier: str | None) -> None:
        if qualifier == LATEST:  # AWS answers this before looking the function up
            raise invalid_parameter("$LATEST version cannot be deleted without deleting the function.")
        async with self.lock(name):
            if self._registry.latest(name) is None:
                raise not_found(f"Function not found: {self.placement.arn(name)}")
            if qualifier is not None:
                await self._delete_version(name, qualifier)
            else:
                existed = await self._registry.delete(name)  # the store drops all that belongs to it
                self._pool.retire(name)
                self._pool.unprovision(name)
                for listener in self._deletion_listeners:
                    listener(name, None)
                if not existed:  # another server sharing the store deleted it meanwhile
                    raise not_found(f"Function not found: {self.placement.arn(name)}")
        if qualifier is None:
            self._locks.pop(name, None)
        await self._collect()

    async def _delete_version(self, name: str, version: str) -> None:
        """DeleteFunction with a Qualifier: one published version, unless an alias runs it."""
        if self._registry.version(name, version) is None:
            if self._registry.alias(name, version) is not None:
                raise invalid_parameter(
                    "Qualifier must name a published version: delete an alias with DeleteAlias."
                )
            return  # AWS: deleting a version that does not exist (any more) succeeds
        referring = [alias.name for alias in self._registry.aliases(name) if version in alias.versions()]
        if referring:
            raise conflict(
                "Unable to delete version because the following aliases reference it: "
                f"[{', '.join(referring)}]"
            )
        await self._registry.delete_version(name, version)  # the store drops what belongs to it
        self._pool.retire_version(name, version)
        for listener in self._deletion_listeners:
            listener(name, version)

    async def publish_version(
        self,
        name: str,
        code_sha256: str | None = None,
        description: str | None = None,
        revision_id: str | None = None,
    ) -> FunctionConfig:
        """PublishVersion: a new version from $LATEST, or the newest one when nothing changed."""
        async with self.lock(name):
            latest = self.get(name)
            self._check_revision(latest, revision_id)
            lifecycle.check_changeable(latest, self.placement.arn(name))
            current = latest.code.sha256_base64
            if code_sha256 and code_sha256 != current:
                raise invalid_parameter(
                    f"CodeSHA256 ({code_sha256}) is different from current CodeSHA256 in $LATEST "
                    f"({current}). Please try again with the CodeSHA256 in $LATEST."
                )
            versions = self._registry.versions(name)
            if versions and _unchanged_since(versions[-1], latest):
                return versions[-1]
            return await self._publish(latest, description)

    async def _publish(self, latest: FunctionConfig, description: str | None = None) -> FunctionConfig:
        existing = self._registry.versions(latest.name)
        number = max(latest.last_published, int(existing[-1].version) if existing else 0) + 1
        changes: dict[str, Any] = {
            "version": str(number),
            "last_published": 0,
            "published_description": latest.description,
        }
        if description is not None:
            changes["description"] = description
        version = latest.with_changes(**changes)
        if lifecycle.is_settling(latest):  # Publish=True on a create or a code update
            version = lifecycle.pending(version)
        if not await self._registry.add_version(version):  # another server published it meanwhile
            raise conflict(
                "The operation cannot be performed at this time. An update is in progress for resource: "
                f"{self.placement.arn(latest.name)}"
            )
        # Same revision: remembering the number is not a change of $LATEST's configuration.
        await self._save(replace(latest, last_published=number))
        return version

    async def _save(self, config: FunctionConfig) -> None:
        """$LATEST changed; NotFound when another server sharing the store deleted the function."""
        if not await self._registry.put_latest(config):
            self._pool.retire(config.name)
            raise not_found(
                f"Function not found: {self.placement.arn(config.name)}"
            )  # a Pending version settles with $LATEST (functions/settling.py)


def _unchanged_since(version: FunctionConfig, latest: FunctionConfig) -> bool:
    """Whether $LATEST's code and configuration, Description included, are what `version` froze."""
    frozen = (
        version.published_description if version.published_description is not None else version.description
    )
    return frozen == latest.description and _snapshot(version) == _snapshot(latest)


def _snapshot(config: FunctionConfig) -> dict[str, Any]:
    """The code and configuration a published version freezes."""
    return {key: value for key, value in config.to_record().items() if key not in _NOT_SNAPSHOTTED}


def zip_bytes(value: Any) -> bytes:
    """The protocol layer decodes blobs to bytes; accept base64 text defensively."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise invalid_parameter(
                "Could not unzip uploaded file. Please check your file, then try to upload again."
            ) from exc
    raise invalid_parameter("ZipFile must be a blob")


# AcceleratorConfig names accelerator memory per instance type of Lambda Managed Instances, which a
# self-hosted server does not choose: refused, naming Lamina's way, rather than accepted and ignored.
_ACCELERATOR_CONFIG = (
    "AcceleratorConfig needs Lambda Managed Instances (CapacityProviderConfig), which Lamina does not "
    "offer; ask for GPUs with LAMINA_GPUS (whole devices) or LAMINA_GPU_MEMORY_MB (a share of one) in "
    "the function's environment variables."
)


def _configuration_options(
    params: dict[str, Any], limits: FunctionLimits, gpu_hosts: Callable[[], Sequence[Sequence[int]]]
) -> dict[str, Any]:
    """Optional configuration members present in a request, validated, as FunctionConfig fields;
    `gpu_hosts()`: the GPUs a GPU request is checked against (read only when there is one)."""
    options: dict[str, Any] = {}
    if params.get("AcceleratorConfig"):
        raise invalid_parameter(_ACCELERATOR_CONFIG)
    if "MemorySize" in params:
        options["memory_size"] = limits.check_memory(params["MemorySize"])
    if "Timeout" in params:
        options["timeout"] = limits.check_timeout(params["Timeout"])
    if "Description" in params:
        options["description"] = params["Description"]
    if "Environment" in params:
        options["environment"] = validate_environment((params["Environment"] or {}).get("Variables") or {})
        limits.check_cpus(options["environment"])
        check_gpu_request(options["environment"], gpu_hosts)
        options["environment_declared"] = "Variables" in (params["Environment"] or {})
    if params.get("Architectures"):
        architectures = tuple(params["Architectures"])
        if len(architectures) != 1:
            raise invalid_parameter("Architectures must contain exactly one value.")
        options["architectures"] = architectures
    if params.get("SnapStart"):
        options["snap_start_apply_on"] = params["SnapStart"].get("ApplyOn") or "None"
    if params.get("EphemeralStorage"):
        options["ephemeral_storage_mb"] = limits.check_ephemeral_storage(params["EphemeralStorage"]["Size"])
    if "Layers" in params:  # resolved to FunctionLayer records by the caller
        options["layers"] = tuple(params["Layers"])
    if "DeadLetterConfig" in params:
        options["dead_letter_target"] = validate_dead_letter_target(
            (params["DeadLetterConfig"] or {}).get("TargetArn")
        )
    if params.get("TracingConfig"):
        options["tracing_mode"] = params["TracingConfig"].get("Mode", "PassThrough")
    logging_config = params.get("LoggingConfig")
    if logging_config:
        options.update(_logging_options(logging_config))
    return options


_TEXT_LOG_LEVELS = (
    'LogLevel is not supported when LogFormat is set to "Text". Remove LogLevel from your request or '
    'change the LogFormat to "Json" and try again.'
)


def _logging_options(logging_config: dict[str, Any]) -> dict[str, Any]:
    """LoggingConfig: log levels need the JSON format, which defaults both levels to INFO; switching
    to Text drops them."""
    options: dict[str, Any] = {}
    log_format = logging_config.get("LogFormat")
    levels = {
        option: logging_config[member]
        for member, option in (
            ("ApplicationLogLevel", "application_log_level"),
            ("SystemLogLevel", "system_log_level"),
        )
        if member in logging_config
    }
    if log_format == "Text":
        if levels:
            raise invalid_parameter(_TEXT_LOG_LEVELS)
        options.update(log_format="Text", application_log_level=None, system_log_level=None)
    elif log_format == "JSON":
        options.update(log_format="JSON", application_log_level="INFO", system_log_level="INFO")
    options.update(levels)
    if "LogGroup" in logging_config:
        options["log_group"] = logging_config["LogGroup"]
    return options
