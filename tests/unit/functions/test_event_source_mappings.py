"""EventSourceMappingService: Create/Update/Delete/List checked as Lambda checks them, the states a
mapping goes through, the pollers told of each change, and mappings restored from the store."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest

from lamina.domain.code import CodeDigest
from lamina.domain.event_sources import EventSourceMapping
from lamina.domain.functions import FunctionConfig
from lamina.errors import AwsError
from lamina.functions.event_source_mappings import EventSourceMappingService, QueueFacts
from lamina.functions.manager import FunctionManager, Placement
from lamina.functions.registry import FunctionRegistry
from lamina.store.sqlite import SqliteMetadataStore
from lamina.triggers.queue_pollers import BatchOutcome, PolledMessage, QueuePollers

T = TypeVar("T")
CODE = CodeDigest("ab" * 32, "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=", 10)
ROLE = "arn:aws:iam::000000000000:role/worker"
QUEUE = "arn:aws:sqs:us-east-1:000000000000:jobs"
OTHER_QUEUE = "arn:aws:sqs:us-east-1:000000000000:other"
FIFO_QUEUE = "arn:aws:sqs:us-east-1:000000000000:jobs.fifo"
SHORT_QUEUE = "arn:aws:sqs:us-east-1:000000000000:short"
MISSING_QUEUE = "arn:aws:sqs:us-east-1:000000000000:missing"
F_ARN = "arn:aws:lambda:us-east-1:000000000000:function:f"
G_ARN = "arn:aws:lambda:us-east-1:000000000000:function:g"


class Pool:
    def retire(self, name: str, keep: FunctionConfig | None = None) -> None:
        pass

    def unprovision(self, name: str, version: str | None = None) -> None:
        pass


class Code:
    async def ensure(self, sha256_hex: str) -> Path:
        return Path("/nonexistent")

    async def layers(self, sha256_hexes: list[str]) -> None:
        return None


@dataclass
class World:
    """The service with its fakes: queues by ARN, the actions the role is denied, and what the
    listeners (the pollers) were told; `gate`, when given, holds each transition (not a deletion)
    until set."""

    service: EventSourceMappingService
    manager: FunctionManager
    store: SqliteMetadataStore
    queues: dict[str, QueueFacts]
    denied: set[str] = field(default_factory=set)
    told: list[tuple[str | None, str]] = field(default_factory=list)
    gate: asyncio.Event | None = None

    async def listener(self, mapping: EventSourceMapping | None, mapping_uuid: str) -> None:
        self.told.append((None if mapping is None else mapping.state, mapping_uuid))
        if self.gate is not None and mapping is not None:
            await asyncio.wait_for(self.gate.wait(), 5)

    async def settled(self, mapping_uuid: str) -> EventSourceMapping:
        for _ in range(200):
            mapping = self.service.get(mapping_uuid)
            if mapping.state in ("Enabled", "Disabled"):
                return mapping
            await asyncio.sleep(0.001)
        raise AssertionError(f"{mapping_uuid} never settled")


def run(tmp_path: Path, scenario: Callable[[World], Awaitable[T]]) -> T:
    """`scenario` gets a service whose functions "f" and "g" exist (timeout 3 s, role ROLE)."""

    async def main() -> T:
        store = SqliteMetadataStore(tmp_path / "metadata.db")
        await store.open()
        registry = FunctionRegistry(store)
        await registry.create(FunctionConfig("f", "python3.12", "app.handler", ROLE, CODE))
        await registry.create(FunctionConfig("g", "python3.12", "app.handler", ROLE, CODE, timeout=60))
        placement = Placement("us-east-1", "000000000000")
        manager = FunctionManager(registry, None, Code(), Pool(), {}, placement)  # type: ignore[arg-type]
        queues = {
            QUEUE: QueueFacts(fifo=False, visibility_timeout=120),
            OTHER_QUEUE: QueueFacts(fifo=False, visibility_timeout=120),
            FIFO_QUEUE: QueueFacts(fifo=True, visibility_timeout=120),
            SHORT_QUEUE: QueueFacts(fifo=False, visibility_timeout=2),
        }
        clock = itertools.count(1_700_000_000)

        async def queue_facts(arn: str) -> QueueFacts | None:
            return queues.get(arn)

        world: World

        def role_may(role: str, action: str, arn: str) -> bool:
            assert role == ROLE
            return action not in world.denied

        service = EventSourceMappingService(
            manager, store, queue_facts, role_may, clock=lambda: float(next(clock))
        )
        world = World(service, manager, store, queues)
        service.on_change(world.listener)
        try:
            return await scenario(world)
        finally:
            if world.gate is not None:
                world.gate.set()
            await asyncio.sleep(0.01)
            manager.settler.close()
            await store.close()

    return asyncio.run(main())


async def failure(call: Awaitable[object]) -> tuple[str, str, int]:
    with pytest.raises(AwsError) as raised:
        await call
    return raised.value.code, raised.value.message, raised.value.status


def invalid(message: str) -> tuple[str, str, int]:
    return ("InvalidParameterValueException", message, 400)


# --------------------------------------------------------------------------- create


def test_create_starts_creating_and_settles_enabled(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        created = await world.service.create(
            {
                "FunctionName": "f",
                "EventSourceArn": QUEUE,
                "BatchSize": 5,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "ScalingConfig": {"MaximumConcurrency": 4},
                "FilterCriteria": {"Filters": [{"Pattern": '{"body": {"a": ["x"]}}'}]},
                "Tags": {"team": "blue"},
            }
        )
        assert created.state == "Creating"
        assert (created.function_name, created.function_arn, created.event_source_arn) == ("f", F_ARN, QUEUE)
        assert (created.batch_size, created.batching_window, created.maximum_concurrency) == (5, 0, 4)
        assert created.response_types == ("ReportBatchItemFailures",)
        assert created.filters == ('{"body": {"a": ["x"]}}',)
        assert created.tags == {"team": "blue"}
        assert created.mapping_arn == (
            f"arn:aws:lambda:us-east-1:000000000000:event-source-mapping:{created.uuid}"
        )
        settled = await world.settled(created.uuid)
        assert settled.state == "Enabled"
        assert world.told == [("Creating", created.uuid)]
        assert await world.store.list_event_source_mappings() == [settled]

    run(tmp_path, scenario)


def test_create_with_defaults_and_disabled(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        created = await world.service.create(
            {"FunctionName": F_ARN, "EventSourceArn": QUEUE, "Enabled": False}
        )
        assert (created.batch_size, created.batching_window, created.enabled) == (10, 0, False)
        assert created.state == "Creating"
        assert (await world.settled(created.uuid)).state == "Disabled"

    run(tmp_path, scenario)


def test_create_for_a_version(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        await world.manager.publish_version("f")
        created = await world.service.create({"FunctionName": "f:1", "EventSourceArn": QUEUE})
        assert (created.function_name, created.function_arn) == ("f:1", F_ARN + ":1")
        # Another qualifier of the same function is another mapping.
        await world.service.create({"FunctionName": "f", "EventSourceArn": QUEUE})

    run(tmp_path, scenario)


def test_a_second_mapping_of_the_same_queue_and_function_conflicts(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        first = await world.service.create({"FunctionName": "f", "EventSourceArn": QUEUE})
        code, message, status = await failure(
            world.service.create({"FunctionName": F_ARN, "EventSourceArn": QUEUE, "BatchSize": 3})
        )
        assert (code, status) == ("ResourceConflictException", 409)
        assert first.uuid in message and QUEUE in message
        # The same queue for another function, or another queue for the same function, is fine.
        await world.service.create({"FunctionName": "g", "EventSourceArn": QUEUE})
        await world.service.create({"FunctionName": "f", "EventSourceArn": OTHER_QUEUE})
        assert len(world.service.mappings) == 3

    run(tmp_path, scenario)


def test_create_for_an_unknown_function(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        assert await failure(world.service.create({"FunctionName": "nope", "EventSourceArn": QUEUE})) == (
            "ResourceNotFoundException",
            "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope",
            404,
        )
        code, _, _ = await failure(world.service.create({"FunctionName": "f:9", "EventSourceArn": QUEUE}))
        assert code == "ResourceNotFoundException"
        assert world.service.mappings == []

    run(tmp_path, scenario)


def test_create_for_a_missing_queue(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        assert await failure(
            world.service.create({"FunctionName": "f", "EventSourceArn": MISSING_QUEUE})
        ) == invalid(
            "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. "
            "SQS Error Message: The specified queue does not exist for this wsdl version."
        )
        code, message, _ = await failure(
            world.service.create(
                {"FunctionName": "f", "EventSourceArn": "arn:aws:kinesis:us-east-1:000000000000:stream/s"}
            )
        )
        assert code == "InvalidParameterValueException" and message.startswith("Unrecognized event source")
        assert world.service.mappings == []

    run(tmp_path, scenario)


def test_create_needs_each_queue_permission_on_the_role(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
            world.denied = {action}
            assert await failure(
                world.service.create({"FunctionName": "f", "EventSourceArn": QUEUE})
            ) == invalid(
                f"The provided execution role does not have permissions to call {action.split(':')[1]} on SQS"
            )
        assert world.service.mappings == []

    run(tmp_path, scenario)


def test_the_queues_visibility_timeout_must_cover_the_function_timeout(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        assert await failure(
            world.service.create({"FunctionName": "f", "EventSourceArn": SHORT_QUEUE})
        ) == invalid("Queue visibility timeout: 2 seconds is less than Function timeout: 3 seconds")
        world.queues[SHORT_QUEUE] = QueueFacts(fifo=False, visibility_timeout=3)
        await world.service.create({"FunctionName": "f", "EventSourceArn": SHORT_QUEUE})

    run(tmp_path, scenario)


def test_fifo_queues_take_no_batching_window_and_at_most_10_messages(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        window = {"FunctionName": "f", "EventSourceArn": FIFO_QUEUE, "MaximumBatchingWindowInSeconds": 1}
        assert await failure(world.service.create(window)) == invalid(
            "Batching window is not supported for FIFO queues"
        )
        big = {"FunctionName": "f", "EventSourceArn": FIFO_QUEUE, "BatchSize": 11}
        code, _, _ = await failure(world.service.create(big))
        assert code == "InvalidParameterValueException"
        big_with_window = {**big, "MaximumBatchingWindowInSeconds": 1}
        code, _, _ = await failure(world.service.create(big_with_window))
        assert code == "InvalidParameterValueException"
        assert world.service.mappings == []
        created = await world.service.create(
            {"FunctionName": "f", "EventSourceArn": FIFO_QUEUE, "BatchSize": 10}
        )
        assert created.batch_size == 10

    run(tmp_path, scenario)


def test_create_checks_the_settings_and_filters(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        base = {"FunctionName": "f", "EventSourceArn": QUEUE}
        for extra in (
            {"BatchSize": 10_001, "MaximumBatchingWindowInSeconds": 1},
            {"BatchSize": 11},
            {"MaximumBatchingWindowInSeconds": 301},
            {"FunctionResponseTypes": ["Other"]},
            {"ScalingConfig": {"MaximumConcurrency": 1}},
            {"FilterCriteria": {"Filters": [{"Pattern": "not json"}]}},
            {"FilterCriteria": {"Filters": [{"Pattern": '{"a": []}'}]}},
        ):
            code, _, status = await failure(world.service.create({**base, **extra}))
            assert (code, status) == ("InvalidParameterValueException", 400), extra
        assert world.service.mappings == []
        created = await world.service.create({**base, "BatchSize": 100, "MaximumBatchingWindowInSeconds": 1})
        assert (created.batch_size, created.batching_window) == (100, 1)

    run(tmp_path, scenario)


# --------------------------------------------------------------------------- update


def test_updates_pass_through_their_transitional_states(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        created = await world.service.create({"FunctionName": "f", "EventSourceArn": QUEUE})
        await world.settled(created.uuid)

        disabling = await world.service.update(created.uuid, {"Enabled": False})
        assert (disabling.state, disabling.enabled) == ("Disabling", False)
        assert (await world.settled(created.uuid)).state == "Disabled"

        updating = await world.service.update(created.uuid, {"BatchSize": 3})
        assert (updating.state, updating.batch_size) == ("Updating", 3)
        assert (await world.settled(created.uuid)).state == "Disabled"

        enabling = await world.service.update(created.uuid, {"Enabled": True})
        assert enabling.state == "Enabling"
        assert (await world.settled(created.uuid)).state == "Enabled"

        updating = await world.service.update(created.uuid, {"Enabled": True, "BatchSize": 4})
        assert updating.state == "Updating"
        settled = await world.settled(created.uuid)
        assert (settled.state, settled.batch_size) == ("Enabled", 4)
        assert [state for state, _ in world.told] == [
            "Creating",
            "Disabling",
            "Updating",
            "Enabling",
            "Updating",
        ]
        assert await world.store.list_event_source_mappings() == [settled]

    run(tmp_path, scenario)


def test_update_changes_only_what_it_names(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        created = await world.service.create(
            {
                "FunctionName": "f",
                "EventSourceArn": QUEUE,
                "BatchSize": 20,
                "MaximumBatchingWindowInSeconds": 2,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "ScalingConfig": {"MaximumConcurrency": 5},
                "FilterCriteria": {"Filters": [{"Pattern": '{"body": {"a": ["x"]}}'}]},
            }
        )
        await world.settled(created.uuid)
        updated = await world.service.update(created.uuid, {"FunctionName": "g"})
        assert (updated.function_name, updated.function_arn) == ("g", G_ARN)
        assert (updated.batch_size, updated.batching_window, updated.maximum_concurrency) == (20, 2, 5)
        assert updated.response_types == ("ReportBatchItemFailures",)
        assert updated.filters == created.filters
        await world.settled(created.uuid)
        cleared = await world.service.update(
            created.uuid,
            {"FunctionResponseTypes": [], "FilterCriteria": {"Filters": []}, "ScalingConfig": {}},
        )
        assert (cleared.response_types, cleared.filters, cleared.maximum_concurrency) == ((), (), None)
        assert cleared.last_modified > updated.last_modified > created.last_modified

    run(tmp_path, scenario)


def test_update_checks_settings_and_the_new_function(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        world.queues[SHORT_QUEUE] = QueueFacts(fifo=False, visibility_timeout=10)
        created = await world.service.create({"FunctionName": "f", "EventSourceArn": SHORT_QUEUE})
        await world.settled(created.uuid)
        code, _, _ = await failure(world.service.update(created.uuid, {"BatchSize": 0}))
        assert code == "InvalidParameterValueException"
        assert await failure(world.service.update(created.uuid, {"FunctionName": "g"})) == invalid(
            "Queue visibility timeout: 10 seconds is less than Function timeout: 60 seconds"
        )
        code, _, _ = await failure(world.service.update(created.uuid, {"FunctionName": "nope"}))
        assert code == "ResourceNotFoundException"
        assert world.service.get(created.uuid).function_name == "f"
        code, _, _ = await failure(world.service.update("no-such-uuid", {"BatchSize": 1}))
        assert code == "ResourceNotFoundException"

    run(tmp_path, scenario)


def test_an_update_during_a_transition_is_refused(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        world.gate = asyncio.Event()
        created = await world.service.create({"FunctionName": "f", "EventSourceArn": QUEUE})
        await asyncio.sleep(0.01)
        assert world.service.get(created.uuid).state == "Creating"
        assert await failure(world.service.update(created.uuid, {"BatchSize": 2})) == (
            "ResourceInUseException",
            "Cannot update the event source mapping because it is in use. (Current state: Creating)",
            400,
        )
        world.gate.set()
        await world.settled(created.uuid)
        world.gate.clear()
        await world.service.update(created.uuid, {"Enabled": False})
        code, message, _ = await failure(world.service.update(created.uuid, {"Enabled": True}))
        assert code == "ResourceInUseException" and message.endswith("(Current state: Disabling)")
        world.gate.set()
        assert (await world.settled(created.uuid)).state == "Disabled"

    run(tmp_path, scenario)


# --------------------------------------------------------------------------- delete, list, restore


def test_delete_answers_deleting_and_the_mapping_is_gone(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        created = await world.service.create({"FunctionName": "f", "EventSourceArn": QUEUE})
        await world.settled(created.uuid)
        deleted = await world.service.delete(created.uuid)
        assert (deleted.state, deleted.uuid) == ("Deleting", created.uuid)
        assert world.told[-1] == (None, created.uuid)
        with pytest.raises(AwsError) as raised:
            world.service.get(created.uuid)
        assert (raised.value.code, raised.value.status) == ("ResourceNotFoundException", 404)
        assert world.service.mappings == []
        assert await world.store.list_event_source_mappings() == []
        code, _, _ = await failure(world.service.delete(created.uuid))
        assert code == "ResourceNotFoundException"
        # The pair is free again.
        await world.service.create({"FunctionName": "f", "EventSourceArn": QUEUE})

    run(tmp_path, scenario)


def test_delete_while_creating_leaves_nothing_behind(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        world.gate = asyncio.Event()
        created = await world.service.create({"FunctionName": "f", "EventSourceArn": QUEUE})
        await asyncio.sleep(0.01)
        await world.service.delete(created.uuid)
        world.gate.set()
        await asyncio.sleep(0.02)
        assert world.service.mappings == []
        assert await world.store.list_event_source_mappings() == []

    run(tmp_path, scenario)


def test_list_filters_by_queue_and_function(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        fq = await world.service.create({"FunctionName": "f", "EventSourceArn": QUEUE})
        gq = await world.service.create({"FunctionName": "g", "EventSourceArn": QUEUE})
        fo = await world.service.create({"FunctionName": "f", "EventSourceArn": OTHER_QUEUE})

        def uuids(found: list[EventSourceMapping]) -> list[str]:
            return [mapping.uuid for mapping in found]

        assert uuids(world.service.list(None, None)) == [fq.uuid, gq.uuid, fo.uuid]
        assert uuids(world.service.list(QUEUE, None)) == [fq.uuid, gq.uuid]
        assert uuids(world.service.list(None, "f")) == [fq.uuid, fo.uuid]
        assert uuids(world.service.list(None, G_ARN)) == [gq.uuid]
        assert uuids(world.service.list(OTHER_QUEUE, "f")) == [fo.uuid]
        assert uuids(world.service.list(OTHER_QUEUE, "g")) == []
        assert uuids(world.service.list("arn:aws:sqs:us-east-1:000000000000:none", None)) == []
        with pytest.raises(AwsError) as raised:
            world.service.list(None, "nope")
        assert raised.value.code == "ResourceNotFoundException"

    run(tmp_path, scenario)


def test_restore_reloads_the_mappings_from_the_store(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        first = await world.service.create({"FunctionName": "f", "EventSourceArn": QUEUE, "BatchSize": 7})
        second = await world.service.create({"FunctionName": "g", "EventSourceArn": QUEUE, "Enabled": False})
        settled = {first.uuid: await world.settled(first.uuid), second.uuid: await world.settled(second.uuid)}

        async def queue_facts(arn: str) -> QueueFacts | None:
            return world.queues.get(arn)

        fresh = EventSourceMappingService(world.manager, world.store, queue_facts, lambda *args: True)
        assert fresh.mappings == []
        await fresh.restore()
        assert {mapping.uuid: mapping for mapping in fresh.mappings} == settled
        assert fresh.get(first.uuid).batch_size == 7
        assert fresh.get(second.uuid).state == "Disabled"

    run(tmp_path, scenario)


def test_a_mapping_deleted_right_after_an_update_is_no_longer_polled(tmp_path: Path) -> None:
    """The service and the real pollers together: the deletion's notice may overtake the update's,
    and the pollers must end up stopped."""

    class Queues:
        def __init__(self) -> None:
            self.receives = 0

        async def receive(self, queue_arn: str, limit: int, wait_seconds: int) -> list[PolledMessage]:
            self.receives += 1
            try:
                await asyncio.sleep(0.001)
            except asyncio.CancelledError:
                # A long poll being abandoned takes a moment (a real client closes its request).
                await asyncio.sleep(0.05)
                raise
            return []

        async def delete(self, queue_arn: str, handles: Sequence[str]) -> None: ...

        async def release(self, queue_arn: str, handles: Sequence[str]) -> None: ...

        async def dead_letter(self, queue_arn: str, messages: Sequence[PolledMessage]) -> None: ...

    async def invoke(function: str, payload: bytes, trace: str | None = None) -> BatchOutcome:
        return BatchOutcome(succeeded=True)

    async def scenario(world: World) -> None:
        queues = Queues()
        pollers = QueuePollers(lambda: queues, invoke)
        world.service.on_change(pollers.apply)
        try:
            created = await world.service.create({"FunctionName": "f", "EventSourceArn": QUEUE})
            await world.settled(created.uuid)
            await asyncio.sleep(0.01)
            assert pollers.figures()[created.uuid]["pollers"] == 1
            await world.service.update(created.uuid, {"BatchSize": 5})
            await world.service.delete(created.uuid)
            await asyncio.sleep(0.2)  # every notice handled
            assert pollers.figures() == {}
            seen = queues.receives
            await asyncio.sleep(0.05)
            assert queues.receives == seen
        finally:
            await pollers.close()

    run(tmp_path, scenario)
