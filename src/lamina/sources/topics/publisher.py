"""Messages other services publish to topics: asynchronous invocation records (a function's
OnSuccess / OnFailure destination, its dead-letter topic), bucket notifications and EventBridge
rule targets.

Each is allowed as on AWS: a function's records go through its execution role, which needs
`sns:Publish` on the topic; a service (`s3.amazonaws.com`, `events.amazonaws.com`) needs the
topic's policy to allow it for its source (aws:SourceArn / aws:SourceAccount). The decision itself
is the caller's `allowed` (IAM lives outside this package), as for `sources/queues/sender.py`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from lamina.domain.topics.records import Topic
from lamina.errors import AwsError
from lamina.sources.topics.service import TopicService

__all__ = ["Allowed", "TopicPublisher"]

_log = logging.getLogger(__name__)
# allowed(principal description, topic, context): whether it may sns:Publish to the topic; the
# principal is ("role", role ARN, session name) or ("service", service name, "").
Allowed = Callable[[tuple[str, str, str], Topic, Mapping[str, str]], bool]


class TopicPublisher:
    def __init__(self, service: TopicService, allowed: Allowed) -> None:
        self._service = service
        self._allowed = allowed

    async def publish_for_function(
        self,
        role: str,
        function: str,
        topic_arn: str,
        body: bytes,
        attributes: Mapping[str, Any] | None = None,
    ) -> bool:
        topic = self._service.topic_if_any(topic_arn)
        if topic is None or not self._allowed(("role", role, function), topic, {}):
            _log.warning(
                "%s may not publish to %s (no such topic, or its role lacks sns:Publish)", function, topic_arn
            )
            return False
        return await self._publish(topic_arn, body, attributes)

    async def may_publish_as_service(
        self, service: str, source_arn: str, source_account: str, topic_arn: str
    ) -> bool:
        topic = self._service.topic_if_any(topic_arn)
        context = {"aws:SourceArn": source_arn, "aws:SourceAccount": source_account}
        return topic is not None and self._allowed(("service", service, ""), topic, context)

    async def publish_as_service(
        self,
        service: str,
        source_arn: str,
        source_account: str,
        topic_arn: str,
        body: bytes,
        subject: str | None = None,
    ) -> bool:
        if not await self.may_publish_as_service(service, source_arn, source_account, topic_arn):
            _log.warning("%s may not publish to %s for %s", service, topic_arn, source_arn)
            return False
        return await self._publish(topic_arn, body, None, subject)

    async def publish_for_alarm(self, topic_arn: str, account: str, subject: str, message: bytes) -> bool:
        """A CloudWatch alarm's notification: alarms publish to their own account's topics, as
        CloudWatch does with the topic's default access policy."""
        topic = self._service.topic_if_any(topic_arn)
        if topic is None or topic.account != account:
            _log.warning("alarm action %s: no such topic in account %s", topic_arn, account)
            return False
        return await self._publish(topic_arn, message, None, subject)

    async def _publish(
        self, topic_arn: str, body: bytes, attributes: Mapping[str, Any] | None, subject: str | None = None
    ) -> bool:
        try:
            await self._service.publish(
                topic_arn, body.decode("utf-8", "replace"), subject=subject, attributes=attributes
            )
        except AwsError as error:
            _log.warning("publishing to %s failed: %s", topic_arn, error.message)
            return False
        return True
