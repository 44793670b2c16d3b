"""AWS::Lambda::Function, ::Permission, ::Version and ::Alias."""

from __future__ import annotations

import asyncio
import io
import time
import zipfile
from typing import Any

from lamina.deploy.errors import ResourceFailed
from lamina.deploy.providers.base import Created, ProviderContext, exists, unless_gone

__all__ = [
    "AliasProvider",
    "FunctionProvider",
    "LayerVersionProvider",
    "PermissionProvider",
    "VersionProvider",
]

ACTIVE_TIMEOUT_S = 120.0
_CONFIGURATION = (
    "Runtime",
    "Role",
    "Handler",
    "Description",
    "Timeout",
    "MemorySize",
    "Environment",
    "Layers",
    "DeadLetterConfig",
    "TracingConfig",
    "EphemeralStorage",
    "Architectures",
    "LoggingConfig",
    "PackageType",
    "ImageConfig",
    "KMSKeyArn",
    "SnapStart",
    "VpcConfig",
    "FileSystemConfigs",
)
_UPDATABLE = tuple(member for member in _CONFIGURATION if member not in ("Architectures", "PackageType"))


def inline_package(source: str, runtime: str) -> bytes:
    """Code.ZipFile as CloudFormation packages it: one file named `index` with the runtime's
    extension."""
    name = "index.js" if runtime.startswith("nodejs") else "index.py"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(name)
        info.external_attr = 0o644 << 16
        archive.writestr(info, source)
    return buffer.getvalue()


def _code(properties: dict[str, Any]) -> dict[str, Any]:
    code = properties.get("Code") or {}
    if not isinstance(code, dict):
        raise ResourceFailed("Properties validation failed: Code must be an object")
    if "ZipFile" in code:
        if not isinstance(code["ZipFile"], str):
            raise ResourceFailed("Properties validation failed: Code.ZipFile must be a string")
        return {"ZipFile": inline_package(str(code["ZipFile"]), str(properties.get("Runtime", "")))}
    return {
        member: code[member]
        for member in ("S3Bucket", "S3Key", "S3ObjectVersion", "ImageUri")
        if member in code
    }


async def _wait(context: ProviderContext, name: str, key: str, ready: str) -> dict[str, Any]:
    """The function's configuration once `key` (State, LastUpdateStatus) is `ready`."""
    deadline = time.monotonic() + ACTIVE_TIMEOUT_S
    while True:
        configuration = await context.call("lambda", "GetFunctionConfiguration", {"FunctionName": name})
        state = configuration.get(key)
        if state == ready:
            return configuration
        if state in ("Failed", "Inactive") or time.monotonic() > deadline:
            reason = configuration.get("StateReason") or configuration.get("LastUpdateStatusReason") or state
            raise ResourceFailed(f'Resource handler returned message: "{reason}"')
        await asyncio.sleep(0.05)


class FunctionProvider:
    type_name = "AWS::Lambda::Function"
    replaced_by = frozenset({"FunctionName", "PackageType"})

    async def made_by(
        self, context: ProviderContext, logical_id: str, properties: dict[str, Any]
    ) -> str | None:
        if properties.get("FunctionName"):
            return None
        name = context.physical_name(logical_id, 64)
        found = await exists(
            context.call("lambda", "GetFunction", {"FunctionName": name}), "ResourceNotFoundException"
        )
        return name if found else None

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        name = str(properties.get("FunctionName") or context.physical_name(logical_id, 64))
        params: dict[str, Any] = {"FunctionName": name, "Code": _code(properties)}
        params |= {member: properties[member] for member in _CONFIGURATION if member in properties}
        if properties.get("ReservedConcurrentExecutions") is not None:
            pass  # set below: CreateFunction does not take it
        if properties.get("Tags"):
            params["Tags"] = {tag["Key"]: tag["Value"] for tag in properties["Tags"]}
        created = await context.call("lambda", "CreateFunction", params)
        await _wait(context, name, "State", "Active")
        if properties.get("ReservedConcurrentExecutions") is not None:
            await context.call(
                "lambda",
                "PutFunctionConcurrency",
                {
                    "FunctionName": name,
                    "ReservedConcurrentExecutions": int(properties["ReservedConcurrentExecutions"]),
                },
            )
        return Created(name, {"Arn": created["FunctionArn"]})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        if properties.get("Code") != previous.get("Code"):
            await context.call(
                "lambda", "UpdateFunctionCode", {"FunctionName": physical_id, **_code(properties)}
            )
            await _wait(context, physical_id, "LastUpdateStatus", "Successful")
        changed = {
            member: properties.get(member)
            for member in _UPDATABLE
            if properties.get(member) != previous.get(member)
        }
        if changed:
            params = {member: value for member, value in changed.items() if value is not None}
            if "Environment" in changed and changed["Environment"] is None:
                params["Environment"] = {"Variables": {}}
            await context.call(
                "lambda", "UpdateFunctionConfiguration", {"FunctionName": physical_id, **params}
            )
            await _wait(context, physical_id, "LastUpdateStatus", "Successful")
        configuration = await context.call(
            "lambda", "GetFunctionConfiguration", {"FunctionName": physical_id}
        )
        return Created(physical_id, {"Arn": configuration["FunctionArn"]})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        await unless_gone(
            context.call("lambda", "DeleteFunction", {"FunctionName": physical_id}),
            "ResourceNotFoundException",
        )


class PermissionProvider:
    type_name = "AWS::Lambda::Permission"
    replaced_by = frozenset(
        {
            "Action",
            "FunctionName",
            "Principal",
            "SourceArn",
            "SourceAccount",
            "EventSourceToken",
            "FunctionUrlAuthType",
            "PrincipalOrgID",
        }
    )

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        statement_id = context.physical_name(logical_id, 100)
        params: dict[str, Any] = {"StatementId": statement_id}
        for member in (
            "FunctionName",
            "Action",
            "Principal",
            "SourceArn",
            "SourceAccount",
            "EventSourceToken",
            "FunctionUrlAuthType",
            "PrincipalOrgID",
        ):
            if member in properties:
                params[member] = properties[member]
        await context.call("lambda", "AddPermission", params)
        return Created(f"{properties['FunctionName']}|{statement_id}", {})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        return Created(physical_id, {})  # every property replaces it

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        function, _, statement_id = physical_id.rpartition("|")
        await unless_gone(
            context.call(
                "lambda", "RemovePermission", {"FunctionName": function, "StatementId": statement_id}
            ),
            "ResourceNotFoundException",
        )


class VersionProvider:
    type_name = "AWS::Lambda::Version"
    replaced_by = frozenset({"FunctionName", "CodeSha256", "Description", "ProvisionedConcurrencyConfig"})

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        params: dict[str, Any] = {
            member: properties[member]
            for member in ("FunctionName", "CodeSha256", "Description")
            if member in properties
        }
        version = await context.call("lambda", "PublishVersion", params)
        return Created(
            version["FunctionArn"], {"Version": version["Version"], "FunctionArn": version["FunctionArn"]}
        )

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        return Created(physical_id, {"Version": physical_id.rsplit(":", 1)[1], "FunctionArn": physical_id})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        function, _, version = physical_id.rpartition(":")
        await unless_gone(
            context.call("lambda", "DeleteFunction", {"FunctionName": function, "Qualifier": version}),
            "ResourceNotFoundException",
            "ResourceConflictException",
        )


class AliasProvider:
    type_name = "AWS::Lambda::Alias"
    replaced_by = frozenset({"Name", "FunctionName"})

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        params: dict[str, Any] = {
            member: properties[member]
            for member in ("FunctionName", "Name", "FunctionVersion", "Description", "RoutingConfig")
            if member in properties
        }
        alias = await context.call("lambda", "CreateAlias", params)
        return Created(alias["AliasArn"], {"AliasArn": alias["AliasArn"]})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        params: dict[str, Any] = {
            member: properties[member]
            for member in ("FunctionName", "Name", "FunctionVersion", "Description", "RoutingConfig")
            if member in properties
        }
        alias = await context.call("lambda", "UpdateAlias", params)
        return Created(alias["AliasArn"], {"AliasArn": alias["AliasArn"]})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        await unless_gone(
            context.call(
                "lambda",
                "DeleteAlias",
                {"FunctionName": properties["FunctionName"], "Name": properties["Name"]},
            ),
            "ResourceNotFoundException",
        )


class LayerVersionProvider:
    """AWS::Lambda::LayerVersion: immutable, every change publishes a new version."""

    type_name = "AWS::Lambda::LayerVersion"
    replaced_by = frozenset(
        {
            "Content",
            "LayerName",
            "Description",
            "CompatibleRuntimes",
            "CompatibleArchitectures",
            "LicenseInfo",
        }
    )

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        content = dict(properties.get("Content") or {})
        params: dict[str, Any] = {
            "LayerName": str(properties.get("LayerName") or context.physical_name(logical_id, 64)),
            "Content": {
                member: content[member]
                for member in ("S3Bucket", "S3Key", "S3ObjectVersion")
                if member in content
            },
        }
        for member in ("Description", "CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo"):
            if member in properties:
                params[member] = properties[member]
        layer = await context.call("lambda", "PublishLayerVersion", params)
        return Created(layer["LayerVersionArn"], {"LayerVersionArn": layer["LayerVersionArn"]})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        return Created(physical_id, {"LayerVersionArn": physical_id})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        layer, _, version = physical_id.rpartition(":")
        await unless_gone(
            context.call("lambda", "DeleteLayerVersion", {"LayerName": layer, "VersionNumber": int(version)}),
            "ResourceNotFoundException",
        )
