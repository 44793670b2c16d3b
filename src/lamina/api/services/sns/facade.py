"""The SNS API's door: the query protocol from botocore's `sns` model, each operation authorised
as `sns:<Operation>` on the topic it is about: the caller's policies and the topic's `Policy`
attribute (AuthorizationError, as SNS answers)."""

from __future__ import annotations

from lamina.api.context import RequestContext
from lamina.api.services.service import ServiceFacade, snake_case
from lamina.api.services.sns.operations import SnsOperations
from lamina.domain.iam.denials import access_denied
from lamina.domain.iam.evaluation import Decision
from lamina.domain.topics.records import parse_topic_arn
from lamina.identity.authorizer import Authorizer
from lamina.protocol.model import create_protocol, load_service_model
from lamina.sources.topics.service import TopicService

__all__ = ["OPERATIONS", "build_sns_facade"]

OPERATIONS = (
    "CreateTopic",
    "DeleteTopic",
    "ListTopics",
    "GetTopicAttributes",
    "SetTopicAttributes",
    "Subscribe",
    "ConfirmSubscription",
    "Unsubscribe",
    "ListSubscriptions",
    "ListSubscriptionsByTopic",
    "GetSubscriptionAttributes",
    "SetSubscriptionAttributes",
    "Publish",
    "PublishBatch",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
)


def build_sns_facade(service: TopicService, authorizer: Authorizer) -> ServiceFacade:
    def authorize(action: str, resource: str, context: RequestContext) -> None:
        parsed = parse_topic_arn(resource)
        owner = parsed[1] if parsed is not None else context.principal.account
        decision = authorizer.decide(
            context.principal,
            action,
            resource,
            owner,
            service.policy(resource),
            {"aws:SourceIp": context.source_ip},
        )
        if decision is not Decision.ALLOW:
            raise access_denied("AuthorizationError", context.principal, action, resource, owner, decision)

    operations = SnsOperations(service, authorize)
    table = {name: getattr(operations, snake_case(name)) for name in OPERATIONS}
    return ServiceFacade(create_protocol(load_service_model("sns")), table)
