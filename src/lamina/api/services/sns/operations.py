"""The SNS operations: decoded params in, the topic service called, the wire output back. The
account is the caller's, the region the one the request was signed for."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from lamina.api.context import OperationResult, RequestContext
from lamina.api.services import paging
from lamina.domain.topics import errors
from lamina.domain.topics.records import Subscription, parse_topic_arn, topic_arn
from lamina.errors import AwsError
from lamina.sources.topics.service import TopicService

__all__ = ["SnsOperations"]

T = TypeVar("T")
_PAGE = 100  # ListTopics and ListSubscriptions: 100 per page
MAX_BATCH = 10
# Authorises an operation: (IAM action, topic ARN, caller's context); raises AuthorizationError.
Authorize = Callable[[str, str, RequestContext], None]


class SnsOperations:
    def __init__(self, service: TopicService, authorize: Authorize) -> None:
        self._service = service
        self._authorize = authorize

    # topics ------------------------------------------------------------------------------------
    async def create_topic(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        account, region = context.principal.account, context.region
        arn = topic_arn(region, account, params["Name"])
        self._authorize("sns:CreateTopic", arn, context)
        topic = await self._service.create_topic(
            account, region, params["Name"], params.get("Attributes") or {}
        )
        if params.get("Tags"):
            await self._service.tag(topic.arn, {tag["Key"]: tag["Value"] for tag in params["Tags"]})
        return OperationResult({"TopicArn": topic.arn})

    async def delete_topic(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        self._authorize("sns:DeleteTopic", params["TopicArn"], context)
        await self._service.delete_topic(params["TopicArn"])
        return OperationResult({})

    async def list_topics(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        account, region = context.principal.account, context.region
        self._authorize("sns:ListTopics", topic_arn(region, account, "*"), context)
        page, output = _page(self._service.topics(account, region), params)
        return OperationResult({"Topics": [{"TopicArn": topic.arn} for topic in page], **output})

    async def get_topic_attributes(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        self._authorize("sns:GetTopicAttributes", params["TopicArn"], context)
        return OperationResult({"Attributes": self._service.topic_attributes(params["TopicArn"])})

    async def set_topic_attributes(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        self._authorize("sns:SetTopicAttributes", params["TopicArn"], context)
        await self._service.set_topic_attribute(
            params["TopicArn"], params["AttributeName"], params.get("AttributeValue") or ""
        )
        return OperationResult({})

    # subscriptions -----------------------------------------------------------------------------
    async def subscribe(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        self._authorize("sns:Subscribe", params["TopicArn"], context)
        subscription = await self._service.subscribe(
            params["TopicArn"],
            params["Protocol"],
            params.get("Endpoint") or "",
            params.get("Attributes") or {},
            context.principal.account,
        )
        shown = (
            subscription.arn
            if subscription.confirmed or params.get("ReturnSubscriptionArn")
            else "pending confirmation"
        )
        return OperationResult({"SubscriptionArn": shown})

    async def confirm_subscription(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        self._authorize("sns:ConfirmSubscription", params["TopicArn"], context)
        subscription = await self._service.confirm(
            params["TopicArn"],
            params["Token"],
            authenticate_unsubscribe=str(params.get("AuthenticateOnUnsubscribe", "")).lower() == "true",
        )
        return OperationResult({"SubscriptionArn": subscription.arn})

    async def unsubscribe(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        arn = params["SubscriptionArn"]
        self._authorize("sns:Unsubscribe", arn.rpartition(":")[0], context)
        await self._service.unsubscribe(arn)
        return OperationResult({})

    async def list_subscriptions(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        account, region = context.principal.account, context.region
        self._authorize("sns:ListSubscriptions", topic_arn(region, account, "*"), context)
        page, output = _page(self._service.subscriptions(account, region), params)
        return OperationResult({"Subscriptions": [_listed(subscription) for subscription in page], **output})

    async def list_subscriptions_by_topic(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        account, region = context.principal.account, context.region
        self._authorize("sns:ListSubscriptionsByTopic", params["TopicArn"], context)
        subscriptions = self._service.subscriptions(account, region, params["TopicArn"])
        page, output = _page(subscriptions, params)
        return OperationResult({"Subscriptions": [_listed(subscription) for subscription in page], **output})

    async def get_subscription_attributes(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        arn = params["SubscriptionArn"]
        self._authorize("sns:GetSubscriptionAttributes", arn.rpartition(":")[0], context)
        return OperationResult({"Attributes": self._service.subscription(arn).described()})

    async def set_subscription_attributes(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        arn = params["SubscriptionArn"]
        self._authorize("sns:SetSubscriptionAttributes", arn.rpartition(":")[0], context)
        await self._service.set_subscription_attribute(
            arn, params["AttributeName"], params.get("AttributeValue") or ""
        )
        return OperationResult({})

    # publishing --------------------------------------------------------------------------------
    async def publish(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        if params.get("PhoneNumber") or (
            params.get("TargetArn")
            and not params.get("TopicArn")
            and parse_topic_arn(params["TargetArn"]) is None
        ):
            raise errors.invalid_parameter(
                "TargetArn", "Lamina publishes to topics only (no SMS or mobile push)"
            )
        arn = params.get("TopicArn") or params.get("TargetArn")
        if not arn:
            raise errors.invalid_parameter("TopicArn or TargetArn Reason: no value for required parameter")
        self._authorize("sns:Publish", arn, context)
        notification = await self._service.publish(
            arn,
            params.get("Message"),
            subject=params.get("Subject"),
            structure=params.get("MessageStructure"),
            attributes=params.get("MessageAttributes"),
            group_id=params.get("MessageGroupId"),
            deduplication_id=params.get("MessageDeduplicationId"),
        )
        output = {"MessageId": notification.message_id}
        if notification.sequence_number is not None:
            output["SequenceNumber"] = notification.sequence_number
        return OperationResult(output)

    async def publish_batch(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        arn = params["TopicArn"]
        self._authorize("sns:Publish", arn, context)
        entries = params.get("PublishBatchRequestEntries") or []
        if not entries:
            raise _batch_error("EmptyBatchRequest", "The batch request doesn't contain any entries")
        if len(entries) > MAX_BATCH:
            raise _batch_error(
                "TooManyEntriesInBatchRequest", "The batch request contains more entries than permissible"
            )
        ids = [entry["Id"] for entry in entries]
        if len(set(ids)) != len(ids):
            raise _batch_error(
                "BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id"
            )
        self._service.topic(arn)
        successful, failed = [], []
        for entry in entries:
            try:
                notification = await self._service.publish(
                    arn,
                    entry.get("Message"),
                    subject=entry.get("Subject"),
                    structure=entry.get("MessageStructure"),
                    attributes=entry.get("MessageAttributes"),
                    group_id=entry.get("MessageGroupId"),
                    deduplication_id=entry.get("MessageDeduplicationId"),
                )
            except Exception as error:  # an entry's own fault: reported per entry, as SNS does
                code = getattr(error, "code", "InternalError")
                failed.append(
                    {
                        "Id": entry["Id"],
                        "Code": code,
                        "Message": getattr(error, "message", str(error)),
                        "SenderFault": code != "InternalError",
                    }
                )
                continue
            result = {"Id": entry["Id"], "MessageId": notification.message_id}
            if notification.sequence_number is not None:
                result["SequenceNumber"] = notification.sequence_number
            successful.append(result)
        return OperationResult({"Successful": successful, "Failed": failed})

    # tags --------------------------------------------------------------------------------------
    async def tag_resource(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        self._authorize("sns:TagResource", params["ResourceArn"], context)
        await self._service.tag(params["ResourceArn"], {tag["Key"]: tag["Value"] for tag in params["Tags"]})
        return OperationResult({})

    async def untag_resource(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        self._authorize("sns:UntagResource", params["ResourceArn"], context)
        await self._service.untag(params["ResourceArn"], params["TagKeys"])
        return OperationResult({})

    async def list_tags_for_resource(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        self._authorize("sns:ListTagsForResource", params["ResourceArn"], context)
        tags = await self._service.tags(params["ResourceArn"])
        return OperationResult(
            {"Tags": [{"Key": key, "Value": value} for key, value in sorted(tags.items())]}
        )


def _listed(subscription: Subscription) -> dict[str, str]:
    return {
        "SubscriptionArn": subscription.arn if subscription.confirmed else "PendingConfirmation",
        "Owner": subscription.owner,
        "Protocol": subscription.protocol,
        "Endpoint": subscription.endpoint,
        "TopicArn": subscription.topic_arn,
    }


def _batch_error(code: str, message: str) -> AwsError:
    return AwsError(code, message, 400)


def _page(items: Sequence[T], params: dict[str, Any]) -> tuple[list[T], dict[str, Any]]:
    return paging.page(items, params.get("NextToken"), _PAGE, lambda: errors.invalid_parameter("NextToken"))
