"""Sends a topic's notifications to its subscriptions (SNS developer guide, "Message delivery"):
- a function is invoked asynchronously as `sns.amazonaws.com` (its resource policy must allow the
  topic's ARN), through the durable async path, with the SNS event record;
- a queue receives the notification document, or with RawMessageDelivery the message itself and
  its attributes as message attributes; the queue's policy must let `sns.amazonaws.com` send for
  the topic;
- an HTTP(S) endpoint receives a POST of the document with SNS's headers (`x-amz-sns-message-type`
  and the others), and its SubscriptionConfirmation the same way.

Every document is signed (`signing.py`). A delivery that fails is tried again after 1, 2 and 4
seconds, then sent to the subscription's dead-letter queue (RedrivePolicy) when it has one. A
delivery not yet made (every HTTP(S) one until its endpoint answers, a function's or queue's once
it failed) is kept in the resource store (`sns/pending`) until it is made or dead-lettered, so a
killed server resumes it at its next start: every published message reaches its subscriber or its
dead-letter queue (a kill between the delivery and forgetting it sends it again: at least once).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lamina.domain.topics.notifications import (
    Notification,
    confirmation_document,
    lambda_event,
    message_for,
    notification_document,
    signed_string,
    sns_timestamp,
)
from lamina.domain.topics.records import Subscription, parse_topic_arn
from lamina.sources.queues.sender import QueueSender
from lamina.sources.topics.signing import CERTIFICATE_NAME, MessageSigner
from lamina.store.resource_ports import ResourceKey, ResourceStore, Write
from lamina.triggers.service_invoker import InvokerOf, function_location

__all__ = ["SNS_PRINCIPAL", "SubscriptionDelivery", "links"]

_log = logging.getLogger(__name__)
SNS_PRINCIPAL = "sns.amazonaws.com"
RETRY_DELAYS_S = (1.0, 2.0, 4.0)
HTTP_TIMEOUT_S = 15.0
HTTP_THREADS = 4
LINKS_PREFIX = "/_lamina/sns"
PENDING_KIND = "sns/pending"  # deliveries not yet made, kept across a restart


def links(base_url: str) -> dict[str, str]:
    """Where the certificate, confirmations and unsubscriptions are served (`api/sns_links.py`)."""
    return {
        "certificate": f"{base_url}{LINKS_PREFIX}/{CERTIFICATE_NAME}",
        "confirm": f"{base_url}{LINKS_PREFIX}/confirm",
        "unsubscribe": f"{base_url}{LINKS_PREFIX}/unsubscribe",
    }


class SubscriptionDelivery:
    def __init__(
        self,
        invoker_of: InvokerOf,
        queues: Callable[[], QueueSender | None],
        signer: MessageSigner,
        base_url: Callable[[], str],
        now: Callable[[], float],
        store: ResourceStore,
    ) -> None:
        self._store = store
        self._invoker_of = invoker_of
        self._queues = queues
        self._signer = signer
        self._base_url = base_url
        self._now = now
        self._retrying: set[asyncio.Task[None]] = set()
        # HTTP(S) posts block a thread each: on threads of their own, so that a slow or hanging
        # subscriber never holds the threads uploads and file work share (the default executor).
        self._http = ThreadPoolExecutor(max_workers=HTTP_THREADS, thread_name_prefix="sns-http")

    async def deliver(self, subscription: Subscription, notification: Notification) -> None:
        """Functions and queues are sent to before this returns; HTTP(S) endpoints after (their
        delivery is kept in the store first)."""
        if subscription.protocol in ("http", "https"):
            await self._keep(subscription, notification)
            self._later(self._with_retries(subscription, notification, first_done=False))
            return
        if not await self._attempt(subscription, notification):
            await self._keep(subscription, notification)
            self._later(self._with_retries(subscription, notification, first_done=True))

    async def resume(self, subscription_of: Callable[[str], Subscription | None]) -> int:
        """At start: take up the deliveries a stopped server left; returns how many."""
        resumed = 0
        for key, document in await self._store.list_kind(PENDING_KIND):
            subscription = subscription_of(str(document["subscription_arn"]))
            if subscription is None:  # unsubscribed meanwhile: nobody to deliver to
                await self._store.apply([Write(key, None)])
                continue
            notification = Notification.from_document(document["notification"])
            self._later(self._with_retries(subscription, notification, first_done=False))
            resumed += 1
        return resumed

    async def request_confirmation(self, subscription: Subscription) -> None:
        urls = links(self._base_url())
        query = urllib.parse.urlencode(
            {"TopicArn": subscription.topic_arn, "Token": subscription.token or ""}
        )
        document = confirmation_document(
            f"confirm-{subscription.id}",
            subscription.topic_arn,
            subscription.token or "",
            f"{urls['confirm']}?{query}",
            sns_timestamp(self._now()),
            urls["certificate"],
        )
        document["Signature"] = self._signer.sign(signed_string(document))
        self._later(self._post_until_taken(subscription, document, "SubscriptionConfirmation"))

    async def close(self) -> None:
        for task in list(self._retrying):
            task.cancel()
        for task in list(self._retrying):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._http.shutdown(wait=False, cancel_futures=True)

    # -------------------------------------------------------------------------------------------
    def _later(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._retrying.add(task)
        task.add_done_callback(self._retrying.discard)

    async def _with_retries(
        self, subscription: Subscription, notification: Notification, *, first_done: bool
    ) -> None:
        """Until delivered or dead-lettered; then the kept delivery is forgotten."""
        delivered = not first_done and await self._attempt(subscription, notification)
        for delay in () if delivered else RETRY_DELAYS_S:
            await asyncio.sleep(delay)
            if await self._attempt(subscription, notification):
                delivered = True
                break
        if not delivered:
            _log.warning("%s: notification %s was not delivered", subscription.arn, notification.message_id)
            dead_letters = subscription.dead_letter_arn
            if dead_letters is not None:
                await self._to_queue(subscription, notification, dead_letters, raw=False)
        await self._store.apply([Write(self._pending_key(subscription, notification), None)])

    def _pending_key(self, subscription: Subscription, notification: Notification) -> ResourceKey:
        region, account, _ = parse_topic_arn(subscription.topic_arn) or ("", "", "")
        return ResourceKey(PENDING_KIND, account, region, f"{subscription.arn}|{notification.message_id}")

    async def _keep(self, subscription: Subscription, notification: Notification) -> None:
        document = {"subscription_arn": subscription.arn, "notification": notification.to_document()}
        await self._store.apply([Write(self._pending_key(subscription, notification), document)])

    async def _post_until_taken(
        self, subscription: Subscription, document: dict[str, Any], kind: str
    ) -> None:
        for delay in (0.0, *RETRY_DELAYS_S):
            await asyncio.sleep(delay)
            if await self._post(subscription, document, kind):
                return

    async def _attempt(self, subscription: Subscription, notification: Notification) -> bool:
        try:
            if subscription.protocol == "lambda":
                return await self._to_function(subscription, notification)
            if subscription.protocol == "sqs":
                return await self._to_queue(
                    subscription, notification, subscription.endpoint, raw=subscription.raw
                )
            if subscription.protocol in ("http", "https"):
                return await self._post(
                    subscription, self._document(subscription, notification), "Notification"
                )
        except Exception:
            _log.exception("%s: delivering %s failed", subscription.arn, notification.message_id)
            return False
        return False  # protocols Lamina does not deliver to (email, sms, …)

    def _document(self, subscription: Subscription, notification: Notification) -> dict[str, Any]:
        urls = links(self._base_url())
        unsubscribe = f"{urls['unsubscribe']}?{urllib.parse.urlencode({'SubscriptionArn': subscription.arn})}"
        document = notification_document(
            notification, subscription.protocol, unsubscribe, urls["certificate"]
        )
        document["Signature"] = self._signer.sign(signed_string(document))
        return document

    async def _to_function(self, subscription: Subscription, notification: Notification) -> bool:
        location = function_location(subscription.endpoint)
        invoker = await self._invoker_of(*location) if location is not None else None
        if invoker is None:
            return False
        document = self._document(subscription, notification)
        event = lambda_event(
            notification,
            subscription.arn,
            document["Signature"],
            document["UnsubscribeURL"],
            document["SigningCertURL"],
        )
        _, account, _ = parse_topic_arn(notification.topic_arn) or ("", "", "")
        payload = json.dumps(event, separators=(",", ":")).encode()
        request_id = await invoker.invoke_event(
            SNS_PRINCIPAL, subscription.endpoint, payload, notification.topic_arn, account
        )
        return request_id is not None

    async def _to_queue(
        self, subscription: Subscription, notification: Notification, queue_arn: str, *, raw: bool
    ) -> bool:
        sender = self._queues()
        if sender is None:
            return False
        _, account, _ = parse_topic_arn(notification.topic_arn) or ("", "", "")
        attributes: Mapping[str, Any] | None = None
        if raw:
            body = message_for(notification, "sqs").encode()
            attributes = notification.attributes
        else:
            body = json.dumps(self._document(subscription, notification), separators=(",", ":")).encode()
        return await sender.send_as_service(
            SNS_PRINCIPAL,
            notification.topic_arn,
            account,
            queue_arn,
            body,
            attributes,
            group_id=notification.group_id,
            deduplication_id=notification.deduplication_id,
        )

    async def _post(self, subscription: Subscription, document: dict[str, Any], kind: str) -> bool:
        body = json.dumps(document, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "text/plain; charset=UTF-8",
            "User-Agent": "Amazon Simple Notification Service Agent",
            "x-amz-sns-message-type": kind,
            "x-amz-sns-message-id": str(document["MessageId"]),
            "x-amz-sns-topic-arn": subscription.topic_arn,
        }
        if kind == "Notification":
            headers["x-amz-sns-subscription-arn"] = subscription.arn
        request = urllib.request.Request(subscription.endpoint, data=body, headers=headers, method="POST")

        def send() -> bool:
            try:
                with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
                    return 200 <= response.status < 300
            except (urllib.error.URLError, OSError, ValueError):
                return False

        return await asyncio.get_running_loop().run_in_executor(self._http, send)
