"""Create/Get/Update/Delete/ListEventSourceMappings for SQS queues: checked as Lambda checks them,
kept in the metadata store, and passed to the pollers (`triggers/queue_pollers.py`) as they change.

A mapping goes through Lambda's states: Creating, Enabling or Updating (then Enabled), Disabling
(then Disabled), Deleting (then gone); the transitional state is what the call answers, the
settled one follows as soon as the pollers have applied it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from lamina.domain.arns import parse_function_ref
from lamina.domain.event_patterns import InvalidPattern, as_aws_error, parse_pattern
from lamina.domain.event_sources import (
    CREATING,
    DELETING,
    DISABLED,
    DISABLING,
    ENABLED,
    ENABLING,
    UPDATING,
    EventSourceMapping,
    check_settings,
)
from lamina.errors import AwsError, conflict, invalid_parameter, not_found
from lamina.functions.manager import FunctionManager
from lamina.store.ports import MetadataStore

_QUEUE_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")


@dataclass(frozen=True, slots=True)
class QueueFacts:
    """What a mapping needs to know of its queue."""

    fifo: bool
    visibility_timeout: int


# queue_facts(arn): the queue's facts, None when it does not exist; role_may(role, action, arn).
QueueFactsOf = Callable[[str], Awaitable[QueueFacts | None]]
RoleMay = Callable[[str, str, str], bool]
Listener = Callable[[EventSourceMapping | None, str], Awaitable[None]]


class EventSourceMappingService:
    def __init__(
        self,
        manager: FunctionManager,
        store: MetadataStore,
        queue_facts: QueueFactsOf,
        role_may: RoleMay,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._manager = manager
        self._store = store
        self._queue_facts = queue_facts
        self._role_may = role_may
        self._clock = clock
        self._mappings: dict[str, EventSourceMapping] = {}
        self._listeners: list[Listener] = []
        self._settling: set[asyncio.Task[None]] = set()

    def on_change(self, listener: Listener) -> None:
        """`listener(mapping, uuid)` after each change (mapping None: deleted)."""
        self._listeners.append(listener)

    async def restore(self) -> None:
        self._mappings = {mapping.uuid: mapping for mapping in await self._store.list_event_source_mappings()}

    @property
    def mappings(self) -> list[EventSourceMapping]:
        return list(self._mappings.values())

    def _arn(self, mapping_uuid: str) -> str:
        placement = self._manager.placement
        return f"arn:aws:lambda:{placement.region}:{placement.account_id}:event-source-mapping:{mapping_uuid}"

    def _function(self, name: str) -> tuple[str, str]:
        """(stored function name with qualifier, its ARN) for FunctionName; the function must exist."""
        placement = self._manager.placement
        ref = parse_function_ref(name, region=placement.region, account_id=placement.account_id)
        try:
            self._manager.get(ref.name, ref.qualifier)
        except AwsError:
            raise not_found(f"Function not found: {placement.arn(ref.name, ref.qualifier)}") from None
        stored = ref.name if ref.qualifier is None else f"{ref.name}:{ref.qualifier}"
        return stored, placement.arn(ref.name, ref.qualifier)

    async def _check_queue(self, source_arn: str, function: str, batching_window: int) -> QueueFacts:
        if not source_arn.startswith("arn:aws:sqs:"):
            raise invalid_parameter(
                "Unrecognized event source, must be kinesis, dynamodb stream, sqs, msk or documentdb "
                "(Lamina serves sqs)"
            )
        facts = await self._queue_facts(source_arn)
        if facts is None:
            raise invalid_parameter(
                "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. "
                "SQS Error Message: The specified queue does not exist for this wsdl version."
            )
        config = self._manager.get(*_split(function))
        for action in _QUEUE_ACTIONS:
            if not self._role_may(config.role, action, source_arn):
                raise invalid_parameter(
                    f"The provided execution role does not have permissions to call {action.split(':')[1]} on SQS"
                )
        if facts.visibility_timeout < config.timeout:
            raise invalid_parameter(
                f"Queue visibility timeout: {facts.visibility_timeout} seconds is less than Function timeout: "
                f"{config.timeout} seconds"
            )
        if facts.fifo and batching_window:
            raise invalid_parameter("Batching window is not supported for FIFO queues")
        return facts

    async def create(self, params: Mapping[str, Any]) -> EventSourceMapping:
        source = str(params.get("EventSourceArn") or "")
        function, function_arn = self._function(str(params["FunctionName"]))
        batch_size = int(params.get("BatchSize") or 10)
        window = int(params.get("MaximumBatchingWindowInSeconds") or 0)
        response_types = tuple(params.get("FunctionResponseTypes") or ())
        concurrency = (params.get("ScalingConfig") or {}).get("MaximumConcurrency")
        check_settings(batch_size, window, response_types, concurrency)
        facts = await self._check_queue(source, function, window)
        if facts.fifo and batch_size > 10:
            raise invalid_parameter("Batch size for FIFO queues must be between 1 and 10")
        for existing in self._mappings.values():
            if existing.event_source_arn == source and existing.function_arn == function_arn:
                raise conflict(
                    f'An event source mapping with SQS arn (" {source} ") and function (" {function} ") '
                    f"already exists. Please update or delete the existing mapping with UUID {existing.uuid}"
                )
        mapping_uuid = str(uuid.uuid4())
        mapping = EventSourceMapping(
            mapping_uuid,
            function,
            function_arn,
            source,
            batch_size,
            window,
            params.get("Enabled", True) is not False,
            CREATING,
            self._clock(),
            _filters(params.get("FilterCriteria")),
            response_types,
            concurrency,
            self._arn(mapping_uuid),
            dict(params.get("Tags") or {}),
        )
        await self._save(mapping)
        return mapping

    def get(self, mapping_uuid: str) -> EventSourceMapping:
        mapping = self._mappings.get(mapping_uuid)
        if mapping is None:
            raise not_found(
                f"The resource you requested does not exist. (Service: Lambda, Status Code: 404, Request ID: {mapping_uuid})"
            )
        return mapping

    def list(self, source_arn: str | None, function_name: str | None) -> list[EventSourceMapping]:
        found = sorted(self._mappings.values(), key=lambda mapping: mapping.last_modified)
        if source_arn:
            found = [mapping for mapping in found if mapping.event_source_arn == source_arn]
        if function_name:
            _, function_arn = self._function(function_name)
            found = [mapping for mapping in found if mapping.function_arn == function_arn]
        return found

    async def update(self, mapping_uuid: str, params: Mapping[str, Any]) -> EventSourceMapping:
        current = self.get(mapping_uuid)
        if current.state not in (ENABLED, DISABLED):
            raise AwsError(
                "ResourceInUseException",
                f"Cannot update the event source mapping because it is in use. (Current state: {current.state})",
                400,
            )
        function, function_arn = (
            self._function(str(params["FunctionName"]))
            if params.get("FunctionName")
            else (current.function_name, current.function_arn)
        )
        batch_size = int(params["BatchSize"]) if params.get("BatchSize") is not None else current.batch_size
        window = (
            int(params["MaximumBatchingWindowInSeconds"])
            if params.get("MaximumBatchingWindowInSeconds") is not None
            else current.batching_window
        )
        response_types = (
            tuple(params["FunctionResponseTypes"])
            if params.get("FunctionResponseTypes") is not None
            else current.response_types
        )
        concurrency = (
            (params["ScalingConfig"] or {}).get("MaximumConcurrency")
            if params.get("ScalingConfig") is not None
            else current.maximum_concurrency
        )
        check_settings(batch_size, window, response_types, concurrency)
        if function != current.function_name or window != current.batching_window:
            await self._check_queue(current.event_source_arn, function, window)
        enabled = current.enabled if params.get("Enabled") is None else bool(params["Enabled"])
        state = UPDATING if enabled == current.enabled else (ENABLING if enabled else DISABLING)
        updated = replace(
            current,
            function_name=function,
            function_arn=function_arn,
            batch_size=batch_size,
            batching_window=window,
            enabled=enabled,
            state=state,
            last_modified=self._clock(),
            filters=_filters(params["FilterCriteria"])
            if params.get("FilterCriteria") is not None
            else current.filters,
            response_types=response_types,
            maximum_concurrency=concurrency,
        )
        await self._save(updated)
        return updated

    async def delete(self, mapping_uuid: str) -> EventSourceMapping:
        current = self.get(mapping_uuid)
        await self._store.delete_event_source_mapping(mapping_uuid)
        self._mappings.pop(mapping_uuid, None)
        for listener in self._listeners:
            await listener(None, mapping_uuid)
        return replace(current, state=DELETING)

    async def _save(self, mapping: EventSourceMapping) -> None:
        await self._store.put_event_source_mapping(mapping)
        self._mappings[mapping.uuid] = mapping
        task = asyncio.get_running_loop().create_task(self._settle(mapping))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _settle(self, mapping: EventSourceMapping) -> None:
        """Tell the pollers, then move the mapping to its settled state (unless it changed or went
        meanwhile: the later change is told instead)."""
        if self._mappings.get(mapping.uuid) is not mapping:
            return
        for listener in self._listeners:
            await listener(mapping, mapping.uuid)
        current = self._mappings.get(mapping.uuid)
        if current is None:
            for listener in self._listeners:  # deleted while the pollers were told: stop again
                await listener(None, mapping.uuid)
            return
        if current is None or current.last_modified != mapping.last_modified:
            return  # changed or deleted meanwhile
        settled = current.settled()
        await self._store.put_event_source_mapping(settled)
        self._mappings[mapping.uuid] = settled


def _split(function: str) -> tuple[str, str | None]:
    name, _, qualifier = function.partition(":")
    return name, qualifier or None


def _filters(criteria: Mapping[str, Any] | None) -> tuple[str, ...]:
    patterns = tuple(str(item.get("Pattern", "")) for item in (criteria or {}).get("Filters") or [])
    for pattern in patterns:
        try:
            parse_pattern(pattern)
        except InvalidPattern as error:
            raise as_aws_error(error) from None
    return patterns
