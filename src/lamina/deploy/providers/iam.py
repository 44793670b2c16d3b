"""AWS::IAM::Role, AWS::IAM::Policy and AWS::IAM::ManagedPolicy."""

from __future__ import annotations

from typing import Any

from lamina.deploy.providers.base import Created, ProviderContext, as_json_text, exists, unless_gone
from lamina.errors import AwsError

__all__ = ["ManagedPolicyProvider", "PolicyProvider", "RoleProvider"]


class RoleProvider:
    type_name = "AWS::IAM::Role"
    replaced_by = frozenset({"RoleName", "Path"})

    async def made_by(
        self, context: ProviderContext, logical_id: str, properties: dict[str, Any]
    ) -> str | None:
        if properties.get("RoleName"):
            return None
        name = context.physical_name(logical_id, 64)
        found = await exists(context.call("iam", "GetRole", {"RoleName": name}), "NoSuchEntity")
        return name if found else None

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        name = str(properties.get("RoleName") or context.physical_name(logical_id, 64))
        params: dict[str, Any] = {
            "RoleName": name,
            "AssumeRolePolicyDocument": as_json_text(properties.get("AssumeRolePolicyDocument", {})),
        }
        for member in ("Path", "Description", "MaxSessionDuration", "PermissionsBoundary", "Tags"):
            if member in properties:
                params[member] = properties[member]
        role = (await context.call("iam", "CreateRole", params))["Role"]
        await self._attach(context, name, properties, {})
        return Created(name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})

    async def _attach(
        self, context: ProviderContext, name: str, properties: dict[str, Any], previous: dict[str, Any]
    ) -> None:
        wanted = {str(p["PolicyName"]): p["PolicyDocument"] for p in properties.get("Policies") or []}
        for policy_name in {str(p["PolicyName"]) for p in previous.get("Policies") or []} - set(wanted):
            await context.call("iam", "DeleteRolePolicy", {"RoleName": name, "PolicyName": policy_name})
        for policy_name, document in wanted.items():
            await context.call(
                "iam",
                "PutRolePolicy",
                {"RoleName": name, "PolicyName": policy_name, "PolicyDocument": as_json_text(document)},
            )
        attached = set(properties.get("ManagedPolicyArns") or [])
        for arn in set(previous.get("ManagedPolicyArns") or []) - attached:
            await context.call("iam", "DetachRolePolicy", {"RoleName": name, "PolicyArn": arn})
        for arn in attached:
            await context.call("iam", "AttachRolePolicy", {"RoleName": name, "PolicyArn": arn})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        document = as_json_text(properties.get("AssumeRolePolicyDocument", {}))
        await context.call(
            "iam", "UpdateAssumeRolePolicy", {"RoleName": physical_id, "PolicyDocument": document}
        )
        await self._attach(context, physical_id, properties, previous)
        role = (await context.call("iam", "GetRole", {"RoleName": physical_id}))["Role"]
        return Created(physical_id, {"Arn": role["Arn"], "RoleId": role["RoleId"]})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        try:
            policies = await context.call("iam", "ListRolePolicies", {"RoleName": physical_id})
            for name in policies.get("PolicyNames", []):
                await context.call("iam", "DeleteRolePolicy", {"RoleName": physical_id, "PolicyName": name})
            attached = await context.call("iam", "ListAttachedRolePolicies", {"RoleName": physical_id})
            for policy in attached.get("AttachedPolicies", []):
                await context.call(
                    "iam", "DetachRolePolicy", {"RoleName": physical_id, "PolicyArn": policy["PolicyArn"]}
                )
            await context.call("iam", "DeleteRole", {"RoleName": physical_id})
        except AwsError as error:
            if error.code != "NoSuchEntity":
                raise


class PolicyProvider:
    """An inline policy put on roles and users (AWS::IAM::Policy)."""

    type_name = "AWS::IAM::Policy"
    replaced_by = frozenset({"PolicyName"})

    async def _put(
        self, context: ProviderContext, properties: dict[str, Any], previous: dict[str, Any]
    ) -> None:
        name, document = str(properties["PolicyName"]), as_json_text(properties["PolicyDocument"])
        for role in set(previous.get("Roles") or []) - set(properties.get("Roles") or []):
            await context.call("iam", "DeleteRolePolicy", {"RoleName": role, "PolicyName": name})
        for user in set(previous.get("Users") or []) - set(properties.get("Users") or []):
            await context.call("iam", "DeleteUserPolicy", {"UserName": user, "PolicyName": name})
        for role in properties.get("Roles") or []:
            await context.call(
                "iam", "PutRolePolicy", {"RoleName": role, "PolicyName": name, "PolicyDocument": document}
            )
        for user in properties.get("Users") or []:
            await context.call(
                "iam", "PutUserPolicy", {"UserName": user, "PolicyName": name, "PolicyDocument": document}
            )

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        await self._put(context, properties, {})
        return Created(context.physical_name(logical_id, 64), {})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        await self._put(context, properties, previous)
        return Created(physical_id, {})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        name = str(properties["PolicyName"])
        for role in properties.get("Roles") or []:
            await unless_gone(
                context.call("iam", "DeleteRolePolicy", {"RoleName": role, "PolicyName": name}),
                "NoSuchEntity",
            )
        for user in properties.get("Users") or []:
            await unless_gone(
                context.call("iam", "DeleteUserPolicy", {"UserName": user, "PolicyName": name}),
                "NoSuchEntity",
            )


class ManagedPolicyProvider:
    """A customer managed policy, attached to roles and users (AWS::IAM::ManagedPolicy). Lamina's
    IAM keeps one version of a policy: a new document replaces the policy."""

    type_name = "AWS::IAM::ManagedPolicy"
    replaced_by = frozenset({"ManagedPolicyName", "Path", "PolicyDocument"})

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        params: dict[str, Any] = {
            "PolicyName": str(properties.get("ManagedPolicyName") or context.physical_name(logical_id, 128)),
            "PolicyDocument": as_json_text(properties["PolicyDocument"]),
        }
        for member in ("Path", "Description"):
            if member in properties:
                params[member] = properties[member]
        arn = (await context.call("iam", "CreatePolicy", params))["Policy"]["Arn"]
        await self._attach(context, arn, properties, {})
        return Created(arn, {"PolicyArn": arn})

    @staticmethod
    async def _attach(
        context: ProviderContext, arn: str, properties: dict[str, Any], previous: dict[str, Any]
    ) -> None:
        for role in set(previous.get("Roles") or []) - set(properties.get("Roles") or []):
            await context.call("iam", "DetachRolePolicy", {"RoleName": role, "PolicyArn": arn})
        for role in properties.get("Roles") or []:
            await context.call("iam", "AttachRolePolicy", {"RoleName": role, "PolicyArn": arn})
        for user in properties.get("Users") or []:
            await context.call("iam", "AttachUserPolicy", {"UserName": user, "PolicyArn": arn})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        await self._attach(context, physical_id, properties, previous)
        return Created(physical_id, {"PolicyArn": physical_id})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        for role in properties.get("Roles") or []:
            await unless_gone(
                context.call("iam", "DetachRolePolicy", {"RoleName": role, "PolicyArn": physical_id}),
                "NoSuchEntity",
            )
        for user in properties.get("Users") or []:
            await unless_gone(
                context.call("iam", "DetachUserPolicy", {"UserName": user, "PolicyArn": physical_id}),
                "NoSuchEntity",
            )
        await unless_gone(context.call("iam", "DeletePolicy", {"PolicyArn": physical_id}), "NoSuchEntity")
