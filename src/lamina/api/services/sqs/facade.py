"""The SQS API's door: the json protocol (current SDKs, `X-Amz-Target: AmazonSQS.<Operation>`) and
the query protocol (older SDKs, form posts to the queue URL) on one endpoint, each request
authorised with IAM: the caller's policies and the queue's `Policy` attribute, `sqs:` actions
(a batch is authorised as its single form) on the queue's ARN."""

from __future__ import annotations

from collections.abc import Mapping

from lamina.api.context import RequestContext
from lamina.api.services.protocol_switch import ProtocolSwitch
from lamina.api.services.service import ServiceFacade, snake_case
from lamina.api.services.sqs.operations import SqsOperations
from lamina.domain.iam.conditions import ContextValue
from lamina.domain.iam.denials import access_denied
from lamina.domain.iam.evaluation import Decision
from lamina.domain.iam.policy import Policy, resource_policy_of
from lamina.domain.iam.principals import Principal
from lamina.domain.queues.attributes import queue_arn
from lamina.domain.queues.records import QueueKey, QueueRecord
from lamina.identity.authorizer import Authorizer
from lamina.protocol.json_rpc import JsonRpcProtocol
from lamina.protocol.model import load_service_model
from lamina.protocol.query import QueryProtocol
from lamina.sources.queues.service import QueueService

OPERATIONS = (
    "CreateQueue",
    "GetQueueUrl",
    "ListQueues",
    "DeleteQueue",
    "GetQueueAttributes",
    "SetQueueAttributes",
    "PurgeQueue",
    "TagQueue",
    "UntagQueue",
    "ListQueueTags",
    "ListDeadLetterSourceQueues",
    "SendMessage",
    "SendMessageBatch",
    "ReceiveMessage",
    "DeleteMessage",
    "DeleteMessageBatch",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
)
_ACTIONS = {
    "SendMessageBatch": "sqs:SendMessage",
    "DeleteMessageBatch": "sqs:DeleteMessage",
    "ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}


class SqsAuthorization:
    def __init__(self, authorizer: Authorizer) -> None:
        self._authorizer = authorizer

    def _policy(self, queue: QueueRecord | None) -> Policy | None:
        return resource_policy_of(queue.attributes.get("Policy") if queue is not None else None)

    def allows(
        self, principal: Principal, action: str, queue: QueueRecord, context: Mapping[str, ContextValue]
    ) -> bool:
        """Whether `principal` may do `action` on `queue` (its policy consulted): for services and
        functions' roles sending to queues (`sources/queues/sender.py`)."""
        resource = queue_arn(queue.region, queue.account_id, queue.name)
        decision = self._authorizer.decide(
            principal, action, resource, queue.account_id, self._policy(queue), context
        )
        return decision is Decision.ALLOW

    def check(
        self, operation: str, context: RequestContext, key: QueueKey, queue: QueueRecord | None
    ) -> None:
        account, region, name = key
        action = _ACTIONS.get(operation, f"sqs:{operation}")
        resource = queue_arn(region, account, name)
        decision = self._authorizer.decide(
            context.principal,
            action,
            resource,
            account,
            self._policy(queue),
            {"aws:SourceIp": context.source_ip},
        )
        if decision is not Decision.ALLOW:
            raise access_denied("AccessDenied", context.principal, action, resource, account, decision)


def build_sqs_service(service: QueueService, authorization: SqsAuthorization) -> ProtocolSwitch:
    model = load_service_model("sqs")
    operations = SqsOperations(service, authorization.check)
    table = {name: getattr(operations, snake_case(name)) for name in OPERATIONS}
    # Attribute names are checked by the service, with SQS's InvalidAttributeName.
    unchecked = {"QueueAttributeName": (), "MessageSystemAttributeName": ()}
    json_protocol = JsonRpcProtocol(
        model, validation_error_code="InvalidParameterValue", enum_overrides=unchecked
    )
    json_facade = ServiceFacade(json_protocol, table)
    query_facade = ServiceFacade(QueryProtocol(model, unchecked), table)
    return ProtocolSwitch(query_facade, json_facade)
