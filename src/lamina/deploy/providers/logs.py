"""AWS::Logs::LogGroup."""

from __future__ import annotations

from typing import Any

from lamina.deploy.providers.base import Created, ProviderContext, unless_gone

__all__ = ["LogGroupProvider"]


class LogGroupProvider:
    type_name = "AWS::Logs::LogGroup"
    replaced_by = frozenset({"LogGroupName", "LogGroupClass"})

    async def made_by(
        self, context: ProviderContext, logical_id: str, properties: dict[str, Any]
    ) -> str | None:
        if properties.get("LogGroupName"):
            return None
        name = context.physical_name(logical_id, 512)
        groups = await context.call("logs", "DescribeLogGroups", {"logGroupNamePrefix": name})
        return name if any(group["logGroupName"] == name for group in groups.get("logGroups") or []) else None

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        name = str(properties.get("LogGroupName") or context.physical_name(logical_id, 512))
        params: dict[str, Any] = {"logGroupName": name}
        if properties.get("Tags"):
            params["tags"] = {tag["Key"]: tag["Value"] for tag in properties["Tags"]}
        await context.call("logs", "CreateLogGroup", params)
        await self._retention(context, name, properties)
        arn = f"arn:aws:logs:{context.region}:{context.account}:log-group:{name}:*"
        return Created(name, {"Arn": arn})

    @staticmethod
    async def _retention(context: ProviderContext, name: str, properties: dict[str, Any]) -> None:
        days = properties.get("RetentionInDays")
        if days is not None:
            await context.call(
                "logs", "PutRetentionPolicy", {"logGroupName": name, "retentionInDays": int(days)}
            )
        else:
            await context.call("logs", "DeleteRetentionPolicy", {"logGroupName": name})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        await self._retention(context, physical_id, properties)
        return Created(
            physical_id, {"Arn": f"arn:aws:logs:{context.region}:{context.account}:log-group:{physical_id}:*"}
        )

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        await unless_gone(
            context.call("logs", "DeleteLogGroup", {"logGroupName": physical_id}), "ResourceNotFoundException"
        )
