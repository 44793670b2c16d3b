"""AWS::IAM::Role, AWS::IAM::Policy and AWS::IAM::ManagedPolicy."""

from __future__ import annotations

from typing import Any

from lamina.deploy.providers.base import Created, ProviderContext, as_json_text
from lamina.errors import AwsError

__all__ = ["RoleProvider"]


class RoleProvider:
    type_name = "AWS::IAM::Role"
    replaced_by = frozenset({"RoleName", "Path"})

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
