"""Composition of the embedded SQS and of event source mappings (part of the composition root,
kept apart from `server.py`): the queue service and its sender, and each account-region's
mappings with their pollers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lamina.api.services.protocol_switch import ProtocolSwitch
from lamina.api.services.sqs.facade import SqsAuthorization, build_sqs_service
from lamina.domain.iam.evaluation import Decision
from lamina.domain.iam.principals import service_principal
from lamina.domain.ids import new_request_id
from lamina.domain.lifecycle import check_invocable
from lamina.domain.queues.attributes import DEFAULTS, parse_queue_arn
from lamina.domain.queues.records import QueueRecord
from lamina.domain.recursion import is_recursive_loop, trace_for_invocation
from lamina.errors import AwsError
from lamina.execution.invocation import InvocationInput, InvocationService
from lamina.functions.event_source_mappings import EventSourceMappingService, QueueFacts
from lamina.functions.manager import FunctionManager
from lamina.identity.authorizer import Authorizer
from lamina.identity.sts import StsService
from lamina.sources.queues.consumer import QueueConsumer
from lamina.sources.queues.embedded import EmbeddedQueues
from lamina.sources.queues.sender import QueueSender
from lamina.sources.queues.service import QueueService
from lamina.store.ports import MetadataStore
from lamina.store_choice import StoreChoice
from lamina.triggers.queue_pollers import BatchOutcome, QueuePollers

__all__ = ["EmbeddedSqs", "MappingsOfAccount", "build_mappings", "build_sqs"]

# The session name a mapping's execution role is checked under (its reads of the queue).
_MAPPING_SESSION = "event-source-mapping"


@dataclass(frozen=True, slots=True)
class EmbeddedSqs:
    queues: EmbeddedQueues
    facade: ProtocolSwitch
    sender: QueueSender


def build_sqs(stores: StoreChoice, authorizer: Authorizer, sts: StsService) -> EmbeddedSqs:
    queues = EmbeddedQueues(stores.queues())
    authorization = SqsAuthorization(authorizer)

    def may_send(who: tuple[str, str, str], queue: QueueRecord, context: Mapping[str, str]) -> bool:
        kind, name, session = who
        principal = sts.role_session_principal(name, session) if kind == "role" else service_principal(name)
        return principal is not None and authorization.allows(principal, "sqs:SendMessage", queue, context)

    return EmbeddedSqs(
        queues, build_sqs_service(queues.service, authorization), QueueSender(queues.service, may_send)
    )


@dataclass(frozen=True, slots=True)
class MappingsOfAccount:
    service: EventSourceMappingService
    pollers: QueuePollers


def build_mappings(
    manager: FunctionManager,
    metadata: MetadataStore,
    invocations: InvocationService,
    authorizer: Authorizer,
    sts: StsService,
    queue_service: Callable[[], QueueService | None],
    recursive_loop: Callable[[str], str],
) -> MappingsOfAccount:
    """`recursive_loop(function name)`: its RecursiveLoop setting (Terminate stops loops)."""
    placement = manager.placement

    async def queue_facts(arn: str) -> QueueFacts | None:
        service, parsed = queue_service(), parse_queue_arn(arn)
        if service is None or parsed is None:
            return None
        region, account, name = parsed
        queue = await service.find_queue((account, region, name))
        if queue is None:
            return None
        return QueueFacts(queue.fifo, int({**DEFAULTS, **queue.attributes}["VisibilityTimeout"]))

    def role_may(role: str, action: str, arn: str) -> bool:
        principal = sts.role_session_principal(role, _MAPPING_SESSION)
        parsed = parse_queue_arn(arn)
        owner = parsed[1] if parsed is not None else placement.account_id
        return principal is not None and authorizer.decide(principal, action, arn, owner) is Decision.ALLOW

    async def invoke(function: str, payload: bytes, trace_header: str | None) -> BatchOutcome:
        name, _, qualifier = function.partition(":")
        trace_id, depth = trace_for_invocation(trace_header)
        if is_recursive_loop(depth, recursive_loop(name)):
            return BatchOutcome(False, recursive=True)
        try:
            config = manager.get(name, qualifier or None, route=True)
            check_invocable(config)
            result = await invocations.invoke(
                InvocationInput(config, placement.arn(name, qualifier or None), payload, trace_id=trace_id),
                new_request_id(),
            )
        except AwsError as error:
            return BatchOutcome(False, throttled=error.code == "TooManyRequestsException")
        return BatchOutcome(result.function_error is None, payload=result.payload)

    def consumer() -> QueueConsumer | None:
        service = queue_service()
        return QueueConsumer(service) if service is not None else None

    service = EventSourceMappingService(manager, metadata, queue_facts, role_may)
    pollers = QueuePollers(consumer, invoke)
    service.on_change(pollers.apply)
    return MappingsOfAccount(service, pollers)
