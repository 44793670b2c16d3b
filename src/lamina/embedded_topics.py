"""Composition of the embedded SNS (part of the composition root, kept apart from `server.py`):
the topic service over the resource store, the deliveries with their signing key, the unsigned
links and the API facade."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lamina.api.services.service import ServiceFacade
from lamina.api.services.sns.facade import build_sns_facade
from lamina.api.sns_links import SnsLinks
from lamina.clock import Clock
from lamina.config import Settings
from lamina.domain.iam.evaluation import Decision
from lamina.domain.iam.principals import service_principal
from lamina.domain.topics.records import Topic
from lamina.identity.authorizer import Authorizer
from lamina.identity.sts import StsService
from lamina.sources.queues.sender import QueueSender
from lamina.sources.topics.delivery import SubscriptionDelivery
from lamina.sources.topics.publisher import TopicPublisher
from lamina.sources.topics.service import TopicService
from lamina.sources.topics.signing import MessageSigner
from lamina.store.resource_ports import ResourceStore
from lamina.triggers.service_invoker import InvokerOf

__all__ = ["EmbeddedTopics", "build_topics"]


@dataclass(frozen=True, slots=True)
class EmbeddedTopics:
    service: TopicService
    delivery: SubscriptionDelivery
    signer: MessageSigner
    facade: ServiceFacade
    links: SnsLinks
    publisher: TopicPublisher  # for functions' destinations, buckets and rules

    async def open(self) -> None:
        """After the resource store is open (the EventBridge composition opens it)."""
        self.signer.open()
        await self.service.load()

    async def start(self) -> None:
        """After the functions can be invoked: deliveries a stopped server left are taken up."""
        await self.delivery.resume(self.service.subscription_if_any)

    async def close(self) -> None:
        await self.delivery.close()


def build_topics(
    settings: Settings,
    store: ResourceStore,
    authorizer: Authorizer,
    sts: StsService,
    clock: Clock,
    invoker_of: InvokerOf,
    queues: Callable[[], QueueSender | None],
) -> EmbeddedTopics:
    signer = MessageSigner(settings.data_dir)
    delivery = SubscriptionDelivery(
        invoker_of, queues, signer, lambda: settings.endpoint_url, clock.now, store
    )
    service = TopicService(store, clock, delivery)

    def may_publish(who: tuple[str, str, str], topic: Topic, context: Mapping[str, str]) -> bool:
        kind, name, session = who
        principal = sts.role_session_principal(name, session) if kind == "role" else service_principal(name)
        if principal is None:
            return False
        decision = authorizer.decide(
            principal, "sns:Publish", topic.arn, topic.account, service.policy(topic.arn), context
        )
        return decision is Decision.ALLOW

    return EmbeddedTopics(
        service,
        delivery,
        signer,
        build_sns_facade(service, authorizer),
        SnsLinks(service, signer),
        TopicPublisher(service, may_publish),
    )
