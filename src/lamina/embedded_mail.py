"""Composition of inbound mail (part of the composition root, kept apart from `server.py`): the
receipt rules over the resource store, what their actions reach (functions, buckets, topics, as
`ses.amazonaws.com`), the SES API facade and, with `--smtp-port`, the SMTP port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from lamina.api.services.s3.authorization import object_arn
from lamina.api.services.service import ServiceFacade
from lamina.api.services.ses.facade import build_ses_facade
from lamina.api.smtp_server import SmtpServer
from lamina.clock import Clock
from lamina.config import Settings
from lamina.domain.iam.evaluation import Decision
from lamina.domain.iam.policy import resource_policy_of
from lamina.domain.iam.principals import service_principal
from lamina.identity.authorizer import Authorizer
from lamina.sources.buckets.digests import BodyChecks
from lamina.sources.buckets.service import BucketService, Caller, ObjectAttributes
from lamina.sources.mail.receiving import MailReceiver
from lamina.sources.mail.service import ReceiptRules
from lamina.sources.mail.targets import SES_PRINCIPAL
from lamina.sources.topics.publisher import TopicPublisher
from lamina.store.resource_ports import ResourceStore
from lamina.triggers.service_invoker import InvokerOf, ServiceInvoker, function_location

__all__ = ["EmbeddedMail", "build_mail"]

_SUBJECT = "Amazon SES Email Receipt Notification"


class _Targets:
    """MailTargets over this server's functions, buckets and topics."""

    def __init__(
        self,
        invoker_of: InvokerOf,
        buckets: Callable[[], BucketService | None],
        topics: Callable[[], TopicPublisher | None],
        authorizer: Authorizer,
    ) -> None:
        self._invoker_of = invoker_of
        self._buckets = buckets
        self._topics = topics
        self._authorizer = authorizer

    async def _invoker(self, function_arn: str) -> ServiceInvoker | None:
        location = function_location(function_arn)
        return await self._invoker_of(*location) if location is not None else None

    async def may_invoke(self, function_arn: str, source_arn: str, account: str) -> bool:
        invoker = await self._invoker(function_arn)
        return invoker is not None and await invoker.allowed(SES_PRINCIPAL, function_arn, source_arn, account)

    async def invoke_event(self, function_arn: str, payload: bytes, source_arn: str, account: str) -> bool:
        invoker = await self._invoker(function_arn)
        return (
            invoker is not None
            and await invoker.invoke_event(SES_PRINCIPAL, function_arn, payload, source_arn, account)
            is not None
        )

    async def invoke_sync(
        self, function_arn: str, payload: bytes, source_arn: str, account: str
    ) -> bytes | None:
        invoker = await self._invoker(function_arn)
        result = (
            await invoker.invoke_sync(SES_PRINCIPAL, function_arn, payload, source_arn, account)
            if invoker
            else None
        )
        return result.payload if result is not None and result.function_error is None else None

    async def may_store(self, bucket: str, key: str, source_arn: str, account: str) -> bool:
        service = self._buckets()
        record = await service.find_bucket(bucket) if service is not None else None
        if record is None:
            return False
        decision = self._authorizer.decide(
            service_principal(SES_PRINCIPAL),
            "s3:PutObject",
            object_arn(bucket, key),
            record.account_id,
            resource_policy_of(record.policy),
            {"aws:SourceArn": source_arn, "aws:SourceAccount": account},
        )
        return decision is Decision.ALLOW

    async def store(self, bucket: str, key: str, body: bytes, source_arn: str, account: str) -> bool:
        service = self._buckets()
        if service is None or not await self.may_store(bucket, key, source_arn, account):
            return False

        async def chunks() -> AsyncIterator[bytes]:
            yield body

        await service.put_object(
            bucket,
            key,
            chunks(),
            BodyChecks(length=len(body)),
            ObjectAttributes(),
            Caller(account, "AmazonSES"),
        )
        return True

    async def may_publish(self, topic_arn: str, source_arn: str, account: str) -> bool:
        topics = self._topics()
        return topics is not None and await topics.may_publish_as_service(
            SES_PRINCIPAL, source_arn, account, topic_arn
        )

    async def publish(self, topic_arn: str, body: bytes, source_arn: str, account: str) -> bool:
        topics = self._topics()
        return topics is not None and await topics.publish_as_service(
            SES_PRINCIPAL, source_arn, account, topic_arn, body, _SUBJECT
        )


@dataclass(frozen=True, slots=True)
class EmbeddedMail:
    rules: ReceiptRules
    receiver: MailReceiver
    facade: ServiceFacade
    smtp: SmtpServer | None

    async def start(self) -> None:
        if self.smtp is not None:
            await self.smtp.start()

    async def close(self) -> None:
        if self.smtp is not None:
            await self.smtp.close()


def build_mail(
    settings: Settings,
    store: ResourceStore,
    authorizer: Authorizer,
    clock: Clock,
    invoker_of: InvokerOf,
    buckets: Callable[[], BucketService | None],
    topics: Callable[[], TopicPublisher | None],
) -> EmbeddedMail:
    targets = _Targets(invoker_of, buckets, topics, authorizer)
    rules = ReceiptRules(store, clock, targets)
    receiver = MailReceiver(rules, targets, settings.account_id, settings.home_region, clock.now)
    smtp = SmtpServer(receiver, settings.host, settings.smtp_port) if settings.smtp_port is not None else None
    return EmbeddedMail(rules, receiver, build_ses_facade(rules, authorizer), smtp)
