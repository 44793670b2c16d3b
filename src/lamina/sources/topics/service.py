"""The embedded SNS's topics and subscriptions, kept in the resource store and indexed in memory,
and Publish: a message is checked, then handed to every confirmed subscription whose filter
policy accepts it (`delivery.py` sends it on; functions' and queues' deliveries are durable before
Publish answers).

FIFO topics (`.fifo`) take a MessageGroupId and deduplicate by id (or by content, with
ContentBasedDeduplication) for five minutes, as SNS does; their notifications carry a sequence
number.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from lamina.clock import Clock
from lamina.domain.iam.policy import Policy, resource_policy_of
from lamina.domain.topics import errors
from lamina.domain.topics.filter_policies import accepts
from lamina.domain.topics.notifications import Notification, check_message, message_for, sns_timestamp
from lamina.domain.topics.records import (
    DEFAULT_DELIVERY_POLICY,
    Subscription,
    Topic,
    check_endpoint,
    check_subscription_attribute,
    check_topic_attribute,
    check_topic_name,
    default_topic_policy,
    parse_topic_arn,
)
from lamina.sources.resource_tags import ResourceTags
from lamina.store.resource_ports import ResourceKey, ResourceStore, Write

__all__ = ["Deliverer", "TopicService"]

TOPIC_KIND = "sns/topic"
SUBSCRIPTION_KIND = "sns/subscription"
TAGS_KIND = "sns/tags"
DEDUPLICATION_S = 300.0
_CONFIRMED_AT_ONCE = frozenset(("lambda", "sqs"))
Region = tuple[str, str]


class Deliverer(Protocol):
    async def deliver(self, subscription: Subscription, notification: Notification) -> None:
        """Send one notification to one subscription (retried and dead-lettered as configured)."""

    async def request_confirmation(self, subscription: Subscription) -> None:
        """Send an HTTP(S) endpoint its SubscriptionConfirmation."""


class TopicService:
    def __init__(self, store: ResourceStore, clock: Clock, deliverer: Deliverer) -> None:
        self._store = store
        self._clock = clock
        self._deliverer = deliverer
        self._topics: dict[str, Topic] = {}  # by ARN
        self._subscriptions: dict[str, Subscription] = {}  # by ARN
        self._lock = asyncio.Lock()
        self._tags = ResourceTags(store, TAGS_KIND)
        self._deduplication: dict[tuple[str, str], tuple[float, str, str]] = {}  # -> (at, id, sequence)
        self._sequence = itertools.count(10_000_000_000_000_000_000)

    async def load(self) -> None:
        topics: dict[str, Topic] = {}
        for key, document in await self._store.list_kind(TOPIC_KIND):
            topic = Topic(key.name, key.account, key.region, document.get("attributes", {}))
            topics[topic.arn] = topic
        subscriptions: dict[str, Subscription] = {}
        for key, document in await self._store.list_kind(SUBSCRIPTION_KIND):
            subscription = Subscription.from_document(key.name.rpartition(":")[2], document)
            subscriptions[subscription.arn] = subscription
        self._topics, self._subscriptions = topics, subscriptions

    # topics ------------------------------------------------------------------------------------
    def topic(self, arn: str) -> Topic:
        if parse_topic_arn(arn) is None:
            raise errors.invalid_parameter("TopicArn")
        topic = self._topics.get(arn)
        if topic is None:
            raise errors.topic_not_found()
        return topic

    def topic_if_any(self, arn: str) -> Topic | None:
        return self._topics.get(arn)

    def policy(self, arn: str) -> Policy | None:
        """The topic's Policy attribute as a resource policy (None when unset or unreadable)."""
        topic = self._topics.get(arn)
        return resource_policy_of(topic.attributes.get("Policy") if topic is not None else None)

    def topics(self, account: str, region: str) -> list[Topic]:
        return sorted(
            (topic for topic in self._topics.values() if (topic.account, topic.region) == (account, region)),
            key=lambda topic: topic.name.encode(),
        )

    async def create_topic(
        self, account: str, region: str, name: str, attributes: Mapping[str, str]
    ) -> Topic:
        """Idempotent: the same name answers the same topic, unless the attributes differ."""
        check_topic_name(name, dict(attributes))
        for attribute, value in attributes.items():
            check_topic_attribute(attribute, value)
        topic = Topic(name, account, region, dict(attributes))
        async with self._lock:
            existing = self._topics.get(topic.arn)
            if existing is not None:
                if any(existing.attributes.get(key) != value for key, value in attributes.items()):
                    raise errors.invalid_parameter(
                        "Attributes", "Topic already exists with different attributes"
                    )
                return existing
            await self._store.apply([Write(self._topic_key(topic), topic.to_document())])
            self._topics[topic.arn] = topic
            return topic

    async def delete_topic(self, arn: str) -> None:
        """Idempotent, as SNS's is; the topic's subscriptions go with it."""
        if parse_topic_arn(arn) is None:
            raise errors.invalid_parameter("TopicArn")
        async with self._lock:
            topic = self._topics.get(arn)
            if topic is None:
                return
            gone = [
                subscription for subscription in self._subscriptions.values() if subscription.topic_arn == arn
            ]
            await self._store.apply(
                [
                    Write(self._topic_key(topic), None),
                    self._tags.cleared(arn),
                ]
                + [Write(self._subscription_key(subscription), None) for subscription in gone]
            )
            self._topics.pop(arn, None)
            for subscription in gone:
                self._subscriptions.pop(subscription.arn, None)

    def topic_attributes(self, arn: str) -> dict[str, str]:
        topic = self.topic(arn)
        subscriptions = [s for s in self._subscriptions.values() if s.topic_arn == arn]
        attributes = {
            "TopicArn": arn,
            "Owner": topic.account,
            "Policy": default_topic_policy(arn, topic.account),
            "DisplayName": "",
            "SubscriptionsConfirmed": str(sum(1 for s in subscriptions if s.confirmed)),
            "SubscriptionsPending": str(sum(1 for s in subscriptions if not s.confirmed)),
            "SubscriptionsDeleted": "0",
            "EffectiveDeliveryPolicy": json.dumps(DEFAULT_DELIVERY_POLICY, separators=(",", ":")),
            **topic.attributes,
        }
        if topic.fifo:
            attributes.setdefault("ContentBasedDeduplication", "false")
        return attributes

    async def set_topic_attribute(self, arn: str, name: str, value: str) -> None:
        check_topic_attribute(name, value)
        if name == "FifoTopic":
            raise errors.invalid_parameter("AttributeName", "FifoTopic cannot be changed")
        async with self._lock:
            topic = self.topic(arn).with_attribute(name, value)
            await self._store.apply([Write(self._topic_key(topic), topic.to_document())])
            self._topics[arn] = topic

    # subscriptions -----------------------------------------------------------------------------
    def subscription_if_any(self, arn: str) -> Subscription | None:
        return self._subscriptions.get(arn)

    def subscription(self, arn: str) -> Subscription:
        subscription = self._subscriptions.get(arn)
        if subscription is None:
            if arn.count(":") != 6 or parse_topic_arn(arn.rpartition(":")[0]) is None:
                raise errors.invalid_parameter("SubscriptionArn")
            raise errors.subscription_not_found()
        return subscription

    def subscriptions(self, account: str, region: str, topic_arn: str | None = None) -> list[Subscription]:
        if topic_arn is not None:
            self.topic(topic_arn)
        found = [
            subscription
            for subscription in self._subscriptions.values()
            if (topic_arn is None or subscription.topic_arn == topic_arn)
            and parse_topic_arn(subscription.topic_arn)[:2] == (region, account)  # type: ignore[index]
        ]
        return sorted(found, key=lambda subscription: subscription.arn)

    def subscriptions_of(self, topic_arn: str) -> list[Subscription]:
        return [
            subscription
            for subscription in self._subscriptions.values()
            if subscription.topic_arn == topic_arn
        ]

    async def subscribe(
        self, topic_arn: str, protocol: str, endpoint: str, attributes: Mapping[str, str], owner: str
    ) -> Subscription:
        """Idempotent for the same endpoint and attributes. Functions and queues are subscribed at
        once; an HTTP(S) endpoint is sent its SubscriptionConfirmation and stays pending."""
        topic = self.topic(topic_arn)
        check_endpoint(protocol, endpoint)
        for name, value in attributes.items():
            check_subscription_attribute(name, value)
        if topic.fifo and protocol != "sqs":
            raise errors.invalid_parameter(
                "Invalid parameter: Endpoint Reason: FIFO topics only deliver to SQS queues"
            )
        async with self._lock:
            for existing in self.subscriptions_of(topic_arn):
                if (existing.protocol, existing.endpoint) == (protocol, endpoint):
                    if any(existing.attributes.get(key) != value for key, value in attributes.items()):
                        raise errors.invalid_parameter(
                            "Attributes", "Subscription already exists with different attributes"
                        )
                    return existing
            confirmed = protocol in _CONFIRMED_AT_ONCE
            subscription = Subscription(
                str(uuid.uuid4()),
                topic_arn,
                protocol,
                endpoint,
                owner,
                dict(attributes),
                confirmed=confirmed,
                token=None if confirmed else secrets.token_hex(64),
            )
            await self._save(subscription)
        if not confirmed and protocol in ("http", "https"):
            await self._deliverer.request_confirmation(subscription)
        return subscription

    async def confirm(
        self, topic_arn: str, token: str, *, authenticate_unsubscribe: bool = False
    ) -> Subscription:
        """`authenticate_unsubscribe` (ConfirmSubscription's AuthenticateOnUnsubscribe): only a
        signed Unsubscribe may end the subscription, not its UnsubscribeURL."""
        self.topic(topic_arn)
        async with self._lock:
            for subscription in self.subscriptions_of(topic_arn):
                if subscription.token is not None and secrets.compare_digest(subscription.token, token):
                    confirmed = replace(
                        subscription, confirmed=True, authenticated_unsubscribe=authenticate_unsubscribe
                    )
                    await self._save(confirmed)
                    return confirmed
        raise errors.invalid_parameter("Token")

    async def unsubscribe(self, arn: str) -> None:
        async with self._lock:
            subscription = self.subscription(arn)
            await self._store.apply([Write(self._subscription_key(subscription), None)])
            self._subscriptions.pop(arn, None)

    async def set_subscription_attribute(self, arn: str, name: str, value: str) -> None:
        check_subscription_attribute(name, value)
        async with self._lock:
            subscription = self.subscription(arn)
            await self._save(replace(subscription, attributes={**subscription.attributes, name: value}))

    # publishing --------------------------------------------------------------------------------
    async def publish(
        self,
        topic_arn: str,
        message: str | None,
        *,
        subject: str | None = None,
        structure: str | None = None,
        attributes: Mapping[str, Mapping[str, Any]] | None = None,
        group_id: str | None = None,
        deduplication_id: str | None = None,
    ) -> Notification:
        topic = self.topic(topic_arn)
        attributes = attributes or {}
        check_message(message, subject, structure, attributes)
        assert message is not None
        sequence = None
        if topic.fifo:
            deduplication_id, sequence = self._fifo(topic, message, group_id, deduplication_id)
            if sequence is None:  # a duplicate: accepted, not sent again
                earlier = self._deduplication[(topic_arn, deduplication_id)]
                return Notification(
                    earlier[1],
                    topic_arn,
                    message,
                    subject,
                    attributes,
                    "",
                    group_id=group_id,
                    sequence_number=earlier[2],
                )
        elif group_id is not None:
            raise errors.invalid_parameter(
                "MessageGroupId",
                "The request includes MessageGroupId parameter that is not valid for this topic type",
            )
        notification = Notification(
            str(uuid.uuid4()),
            topic_arn,
            message,
            subject,
            attributes,
            sns_timestamp(self._clock.now()),
            structured=structure == "json",
            group_id=group_id,
            deduplication_id=deduplication_id,
            sequence_number=sequence,
        )
        if topic.fifo and deduplication_id is not None:
            self._deduplication[(topic_arn, deduplication_id)] = (
                self._clock.now(),
                notification.message_id,
                str(sequence),
            )
        for subscription in self.subscriptions_of(topic_arn):
            if subscription.confirmed and accepts(
                subscription.attributes.get("FilterPolicy"),
                subscription.attributes.get("FilterPolicyScope"),
                message_for(notification, subscription.protocol),
                attributes,
            ):
                await self._deliverer.deliver(subscription, notification)
        return notification

    def _fifo(
        self, topic: Topic, message: str, group_id: str | None, deduplication_id: str | None
    ) -> tuple[str, str | None]:
        """(the deduplication id, the new sequence number or None for a duplicate)."""
        if not group_id:
            raise errors.invalid_parameter("The MessageGroupId parameter is required for FIFO topics")
        if deduplication_id is None:
            if topic.attributes.get("ContentBasedDeduplication", "false").lower() != "true":
                raise errors.invalid_parameter(
                    "The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly"
                )
            deduplication_id = hashlib.sha256(message.encode()).hexdigest()
        now = self._clock.now()
        for key, (at, _, _) in list(self._deduplication.items()):
            if now - at > DEDUPLICATION_S:
                del self._deduplication[key]
        if (topic.arn, deduplication_id) in self._deduplication:
            return deduplication_id, None
        return deduplication_id, str(next(self._sequence))

    # tags --------------------------------------------------------------------------------------
    async def tags(self, arn: str) -> dict[str, str]:
        self._tagged(arn)
        return await self._tags.get(arn)

    async def tag(self, arn: str, tags: dict[str, str]) -> None:
        async with self._lock:
            self._tagged(arn)
            await self._tags.add(arn, tags)

    async def untag(self, arn: str, names: Sequence[str]) -> None:
        async with self._lock:
            self._tagged(arn)
            await self._tags.remove(arn, names)

    def _tagged(self, arn: str) -> Topic:
        topic = self._topics.get(arn)
        if topic is None:
            raise errors.resource_not_found()
        return topic

    # -------------------------------------------------------------------------------------------
    @staticmethod
    def _topic_key(topic: Topic) -> ResourceKey:
        return ResourceKey(TOPIC_KIND, topic.account, topic.region, topic.name)

    @staticmethod
    def _subscription_key(subscription: Subscription) -> ResourceKey:
        region, account, _ = parse_topic_arn(subscription.topic_arn) or ("", "", "")
        return ResourceKey(SUBSCRIPTION_KIND, account, region, subscription.arn.split(":", 5)[5])

    async def _save(self, subscription: Subscription) -> None:
        await self._store.apply([Write(self._subscription_key(subscription), subscription.to_document())])
        self._subscriptions[subscription.arn] = subscription
