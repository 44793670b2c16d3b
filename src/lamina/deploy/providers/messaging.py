"""AWS::SQS::Queue and AWS::SNS::Topic."""

from __future__ import annotations

import json
from typing import Any

from lamina.deploy.providers.base import Created, ProviderContext, exists, unless_gone
from lamina.errors import AwsError

__all__ = ["QueueProvider", "TopicProvider"]

_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "FifoQueue",
    "ContentBasedDeduplication",
    "KmsMasterKeyId",
    "SqsManagedSseEnabled",
    "DeduplicationScope",
    "FifoThroughputLimit",
)


def _attribute_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


class QueueProvider:
    type_name = "AWS::SQS::Queue"
    replaced_by = frozenset({"QueueName", "FifoQueue"})

    async def made_by(
        self, context: ProviderContext, logical_id: str, properties: dict[str, Any]
    ) -> str | None:
        if properties.get("QueueName"):
            return None
        fifo = str(properties.get("FifoQueue", "false")).lower() == "true"
        name = context.physical_name(logical_id, 80 - (5 if fifo else 0)) + (".fifo" if fifo else "")
        try:
            return str((await context.call("sqs", "GetQueueUrl", {"QueueName": name}))["QueueUrl"])
        except AwsError as error:
            if error.code in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
                return None
            raise

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        fifo = str(properties.get("FifoQueue", "false")).lower() == "true"
        name = properties.get("QueueName") or context.physical_name(logical_id, 80 - (5 if fifo else 0))
        if fifo and not str(name).endswith(".fifo"):
            name = f"{name}.fifo"
        attributes = {
            member: _attribute_text(properties[member])
            for member in _QUEUE_ATTRIBUTES
            if member in properties
        }
        params: dict[str, Any] = {"QueueName": str(name), "Attributes": attributes}
        if properties.get("Tags"):
            params["tags"] = {tag["Key"]: tag["Value"] for tag in properties["Tags"]}
        url = (await context.call("sqs", "CreateQueue", params))["QueueUrl"]
        return Created(url, self._attributes(context, url))

    @staticmethod
    def _attributes(context: ProviderContext, url: str) -> dict[str, Any]:
        name = url.rstrip("/").rsplit("/", 1)[1]
        return {
            "Arn": f"arn:aws:sqs:{context.region}:{context.account}:{name}",
            "QueueName": name,
            "QueueUrl": url,
        }

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        attributes = {
            member: _attribute_text(properties[member])
            for member in _QUEUE_ATTRIBUTES
            if member in properties and member != "FifoQueue"
        }
        if attributes:
            await context.call(
                "sqs", "SetQueueAttributes", {"QueueUrl": physical_id, "Attributes": attributes}
            )
        return Created(physical_id, self._attributes(context, physical_id))

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        await unless_gone(
            context.call("sqs", "DeleteQueue", {"QueueUrl": physical_id}),
            "AWS.SimpleQueueService.NonExistentQueue",
            "QueueDoesNotExist",
        )


class TopicProvider:
    type_name = "AWS::SNS::Topic"
    replaced_by = frozenset({"TopicName", "FifoTopic"})

    async def made_by(
        self, context: ProviderContext, logical_id: str, properties: dict[str, Any]
    ) -> str | None:
        if properties.get("TopicName"):
            return None
        fifo = str(properties.get("FifoTopic", "false")).lower() == "true"
        name = context.physical_name(logical_id, 256 - (5 if fifo else 0)) + (".fifo" if fifo else "")
        arn = f"arn:aws:sns:{context.region}:{context.account}:{name}"
        found = await exists(context.call("sns", "GetTopicAttributes", {"TopicArn": arn}), "NotFound")
        return arn if found else None

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        fifo = str(properties.get("FifoTopic", "false")).lower() == "true"
        name = str(properties.get("TopicName") or context.physical_name(logical_id, 256 - (5 if fifo else 0)))
        attributes: dict[str, str] = {}
        if fifo:
            attributes["FifoTopic"] = "true"
            name = name if name.endswith(".fifo") else f"{name}.fifo"
        if properties.get("DisplayName") is not None:
            attributes["DisplayName"] = str(properties["DisplayName"])
        params: dict[str, Any] = {"Name": name, "Attributes": attributes}
        if properties.get("Tags"):
            params["Tags"] = properties["Tags"]
        arn = (await context.call("sns", "CreateTopic", params))["TopicArn"]
        for subscription in properties.get("Subscription") or []:
            await context.call(
                "sns",
                "Subscribe",
                {"TopicArn": arn, "Protocol": subscription["Protocol"], "Endpoint": subscription["Endpoint"]},
            )
        return Created(arn, {"TopicArn": arn, "TopicName": name})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        if properties.get("DisplayName") != previous.get("DisplayName"):
            await context.call(
                "sns",
                "SetTopicAttributes",
                {
                    "TopicArn": physical_id,
                    "AttributeName": "DisplayName",
                    "AttributeValue": str(properties.get("DisplayName") or ""),
                },
            )
        return Created(physical_id, {"TopicArn": physical_id, "TopicName": physical_id.rsplit(":", 1)[1]})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        await context.call("sns", "DeleteTopic", {"TopicArn": physical_id})
