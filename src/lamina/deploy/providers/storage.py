"""AWS::S3::Bucket, with its NotificationConfiguration in CloudFormation's shape (LambdaConfigurations,
QueueConfigurations, TopicConfigurations with S3Key filter rules) put as S3's; AWS::S3::BucketPolicy.
Versioning, encryption and public access block settings are accepted and not acted on (see
docs/compatibility.md: Lamina's buckets keep one version of an object)."""

from __future__ import annotations

from typing import Any

from lamina.deploy.providers.base import Created, ProviderContext, as_json_text, exists, unless_gone

__all__ = ["BucketPolicyProvider", "BucketProvider"]

_KINDS = (
    ("LambdaConfigurations", "LambdaFunctionConfigurations", "Function", "LambdaFunctionArn"),
    ("QueueConfigurations", "QueueConfigurations", "Queue", "QueueArn"),
    ("TopicConfigurations", "TopicConfigurations", "Topic", "TopicArn"),
)


def notification_configuration(template: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's NotificationConfiguration as PutBucketNotificationConfiguration takes it."""
    configuration: dict[str, Any] = {}
    for cfn_name, s3_name, target, s3_target in _KINDS:
        entries = []
        for entry in template.get(cfn_name) or []:
            converted: dict[str, Any] = {s3_target: entry[target], "Events": [entry["Event"]]}
            rules = ((entry.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
            if rules:
                converted["Filter"] = {
                    "Key": {"FilterRules": [{"Name": rule["Name"], "Value": rule["Value"]} for rule in rules]}
                }
            entries.append(converted)
        if entries:
            configuration[s3_name] = entries
    if (template.get("EventBridgeConfiguration") or {}).get("EventBridgeEnabled"):
        configuration["EventBridgeConfiguration"] = {}
    return configuration


class BucketProvider:
    type_name = "AWS::S3::Bucket"
    replaced_by = frozenset({"BucketName"})

    @staticmethod
    def _attributes(context: ProviderContext, name: str) -> dict[str, Any]:
        return {
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{context.region}.amazonaws.com",
            "WebsiteURL": f"http://{name}.s3-website-{context.region}.amazonaws.com",
        }

    async def _configure(self, context: ProviderContext, name: str, properties: dict[str, Any]) -> None:
        configuration = notification_configuration(properties.get("NotificationConfiguration") or {})
        await context.call(
            "s3",
            "PutBucketNotificationConfiguration",
            {"Bucket": name, "NotificationConfiguration": configuration},
        )
        if properties.get("Tags"):
            await context.call(
                "s3", "PutBucketTagging", {"Bucket": name, "Tagging": {"TagSet": properties["Tags"]}}
            )

    async def made_by(
        self, context: ProviderContext, logical_id: str, properties: dict[str, Any]
    ) -> str | None:
        if properties.get("BucketName"):
            return None
        name = context.physical_name(logical_id, 63, lower=True)
        found = await exists(
            context.call("s3", "HeadBucket", {"Bucket": name}), "NoSuchBucket", "404", "NotFound"
        )
        return name if found else None

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        name = str(properties.get("BucketName") or context.physical_name(logical_id, 63, lower=True))
        params: dict[str, Any] = {"Bucket": name}
        if context.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": context.region}
        await context.call("s3", "CreateBucket", params)
        await self._configure(context, name, properties)
        return Created(name, self._attributes(context, name))

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        await self._configure(context, physical_id, properties)
        return Created(physical_id, self._attributes(context, physical_id))

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        await unless_gone(context.call("s3", "DeleteBucket", {"Bucket": physical_id}), "NoSuchBucket")


class BucketPolicyProvider:
    type_name = "AWS::S3::BucketPolicy"
    replaced_by = frozenset({"Bucket"})

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        await context.call(
            "s3",
            "PutBucketPolicy",
            {"Bucket": properties["Bucket"], "Policy": as_json_text(properties["PolicyDocument"])},
        )
        return Created(str(properties["Bucket"]), {})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        return await self.create(context, logical_id, properties)

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        await unless_gone(context.call("s3", "DeleteBucketPolicy", {"Bucket": physical_id}), "NoSuchBucket")
