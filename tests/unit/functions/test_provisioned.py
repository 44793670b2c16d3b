"""ProvisionedConcurrency over a real SQLite store and registry, with a fake pool that records calls."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from lamina.domain.code import CodeDigest
from lamina.domain.functions import FunctionConfig
from lamina.errors import AwsError
from lamina.execution.concurrency import ConcurrencyLimiter
from lamina.execution.pool import ProvisionedState
from lamina.functions.aliases import AliasService
from lamina.functions.concurrency import FunctionConcurrency
from lamina.functions.manager import FunctionManager, Placement
from lamina.functions.provisioned import ProvisionedConcurrency
from lamina.functions.registry import FunctionRegistry
from lamina.store.ports import ProvisionedConcurrencyConfig
from lamina.store.sqlite import SqliteMetadataStore

T = TypeVar("T")
ARN = "arn:aws:lambda:us-east-1:000000000000:function"
CODE = CodeDigest("ab" * 32, "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=", 10)
LAST_MODIFIED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")


@dataclass
class FakePool:
    """The pool's provisioning interface: records calls; `states` is what it reports."""

    provisioned: list[tuple[str, str, int]] = field(default_factory=list)
    unprovisioned: list[tuple[str, str | None]] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    states: dict[tuple[str, str], ProvisionedState] = field(default_factory=dict)

    def provision(self, config: FunctionConfig, count: int) -> None:
        self.provisioned.append((config.name, config.version, count))
        self.states[(config.name, config.version)] = ProvisionedState(count, 0, "IN_PROGRESS", None)

    def unprovision(self, name: str, version: str | None = None) -> None:
        self.unprovisioned.append((name, version))
        for key in [key for key in self.states if key[0] == name and version in (None, key[1])]:
            del self.states[key]

    def provisioned_state(self, name: str, version: str) -> ProvisionedState | None:
        return self.states.get((name, version))

    def retire(self, name: str, keep: FunctionConfig | None = None) -> None:
        self.retired.append(name)


@dataclass
class World:
    store: SqliteMetadataStore
    registry: FunctionRegistry
    manager: FunctionManager
    pool: FakePool
    aliases: AliasService
    service: ProvisionedConcurrency

    async def function(self, name: str, versions: int = 1) -> None:
        latest = FunctionConfig(name, "python3.12", "app.handler", "role", CODE)
        await self.registry.create(latest)
        for number in range(1, versions + 1):
            await self.registry.add_version(latest.with_changes(version=str(number)))


def run(tmp_path: Path, scenario: Callable[[World], Awaitable[T]], pool: FakePool | None = None) -> T:
    """Run `scenario` against a world whose store lives in `tmp_path` (shared by later runs)."""

    async def main() -> T:
        store = SqliteMetadataStore(tmp_path / "metadata.db")
        await store.open()
        registry = FunctionRegistry(store)
        await registry.load()
        fake = pool or FakePool()
        placement = Placement("us-east-1", "000000000000")
        manager = FunctionManager(registry, None, None, fake, {}, placement)  # type: ignore[arg-type]
        aliases = AliasService(manager, registry)
        try:
            return await scenario(
                World(
                    store,
                    registry,
                    manager,
                    fake,
                    aliases,
                    ProvisionedConcurrency(
                        manager,
                        aliases,
                        store,
                        fake,
                        FunctionConcurrency(manager, store, ConcurrencyLimiter(1000)),
                    ),
                )
            )
        finally:
            await store.close()

    return asyncio.run(main())


async def failure(call: Awaitable[Any]) -> tuple[str, str, int]:
    with pytest.raises(AwsError) as raised:
        await call
    return raised.value.code, raised.value.message, raised.value.status


def test_put_stores_the_config_and_hands_the_version_to_the_pool(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        await world.function("f", versions=2)
        status = await world.service.put("f", "2", 3)
        assert status.to_api() == {
            "RequestedProvisionedConcurrentExecutions": 3,
            "AvailableProvisionedConcurrentExecutions": 0,
            "AllocatedProvisionedConcurrentExecutions": 0,
            "Status": "IN_PROGRESS",
            "LastModified": status.config.last_modified,
        }
        assert LAST_MODIFIED.match(status.config.last_modified)
        assert world.pool.provisioned == [("f", "2", 3)]
        assert await world.store.list_provisioned_concurrency() == [status.config]

    run(tmp_path, scenario)


def test_put_again_replaces_the_count(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        await world.function("f")
        await world.service.put("f", "1", 3)
        await world.service.put("f", "1", 1)
        assert world.pool.provisioned == [("f", "1", 3), ("f", "1", 1)]
        assert [config.requested for config in await world.store.list_provisioned_concurrency()] == [1]

    run(tmp_path, scenario)


@pytest.mark.parametrize(
    ("qualifier", "expected"),
    [
        (
            "$LATEST",
            (
                "InvalidParameterValueException",
                "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
                400,
            ),
        ),
        ("7", ("ResourceNotFoundException", f"Function not found: {ARN}:f:7", 404)),
        ("live", ("ResourceNotFoundException", f"Cannot find alias arn: {ARN}:f:live", 404)),
        ("a$b", ("ResourceNotFoundException", f"Function not found: {ARN}:f:a$b", 404)),
    ],
)
def test_put_rejects_what_is_not_a_published_version(
    tmp_path: Path, qualifier: str, expected: tuple[str, str, int]
) -> None:
    async def scenario(world: World) -> None:
        await world.function("f")
        assert await failure(world.service.put("f", qualifier, 1)) == expected
        assert world.pool.provisioned == []
        assert await world.store.list_provisioned_concurrency() == []

    run(tmp_path, scenario)


def test_put_on_a_missing_function(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        assert await failure(world.service.put("nope", "1", 1)) == (
            "ResourceNotFoundException",
            f"Function not found: {ARN}:nope:1",
            404,
        )

    run(tmp_path, scenario)


def test_get_reports_the_pools_progress(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        await world.function("f")
        stored = (await world.service.put("f", "1", 2)).config
        world.pool.states[("f", "1")] = ProvisionedState(2, 2, "READY", None)
        assert (await world.service.get("f", "1")).to_api() == {
            "RequestedProvisionedConcurrentExecutions": 2,
            "AvailableProvisionedConcurrentExecutions": 2,
            "AllocatedProvisionedConcurrentExecutions": 2,
            "Status": "READY",
            "LastModified": stored.last_modified,
        }
        world.pool.states[("f", "1")] = ProvisionedState(2, 1, "FAILED", "The memory budget cannot hold 2")
        failed = (await world.service.get("f", "1")).to_api()
        assert (
            failed["Status"],
            failed["StatusReason"],
            failed["AllocatedProvisionedConcurrentExecutions"],
        ) == (
            "FAILED",
            "The memory budget cannot hold 2",
            1,
        )

    run(tmp_path, scenario)


def test_get_without_a_config_and_on_latest(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        await world.function("f")
        assert await failure(world.service.get("f", "1")) == (
            "ProvisionedConcurrencyConfigNotFoundException",
            "No Provisioned Concurrency Config found for this function",
            404,
        )
        assert await failure(world.service.get("f", "$LATEST")) == (
            "InvalidParameterValueException",
            "The function resource provided must be an alias or a published version.",
            400,
        )
        assert (await failure(world.service.get("f", "2")))[1] == f"Function not found: {ARN}:f:2"

    run(tmp_path, scenario)


def test_delete_removes_the_config_and_is_idempotent(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        await world.function("f", versions=2)
        await world.service.put("f", "1", 1)
        await world.service.put("f", "2", 1)
        await world.service.delete("f", "1")
        await world.service.delete("f", "1")
        assert world.pool.unprovisioned == [("f", "1")]  # the second delete finds nothing to drop
        assert [config.qualifier for config in await world.store.list_provisioned_concurrency("f")] == ["2"]
        assert (await failure(world.service.get("f", "1")))[
            0
        ] == "ProvisionedConcurrencyConfigNotFoundException"
        assert (await failure(world.service.delete("f", "3")))[0] == "ResourceNotFoundException"
        assert (await failure(world.service.delete("f", "$LATEST")))[0] == "InvalidParameterValueException"

    run(tmp_path, scenario)


def test_list_returns_every_config_of_the_function_in_version_order(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        await world.function("f", versions=10)
        await world.function("other")
        for version in ["10", "2", "9"]:
            await world.service.put("f", version, int(version))
        await world.service.put("other", "1", 1)
        listed = await world.service.list("f")
        assert [(item.config.qualifier, item.config.requested) for item in listed] == [
            ("2", 2),
            ("9", 9),
            ("10", 10),
        ]
        assert await world.service.list("other") != []
        assert await failure(world.service.list("nope")) == (
            "ResourceNotFoundException",
            f"Function not found: {ARN}:nope",
            404,
        )

    run(tmp_path, scenario)


def test_deleting_the_function_drops_its_configs(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        await world.function("f", versions=2)
        await world.function("kept")
        await world.service.put("f", "1", 1)
        await world.service.put("f", "2", 1)
        await world.service.put("kept", "1", 1)
        await world.manager.delete("f", None)
        assert world.pool.unprovisioned == [("f", None)]
        stored = await world.store.list_provisioned_concurrency()
        assert [(config.function_name, config.qualifier) for config in stored] == [("kept", "1")]

    run(tmp_path, scenario)


def test_a_put_queued_behind_delete_function_finds_no_function(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        await world.function("f")
        deleted, put = await asyncio.gather(
            world.manager.delete("f", None), world.service.put("f", "1", 1), return_exceptions=True
        )
        assert deleted is None
        assert isinstance(put, AwsError) and put.code == "ResourceNotFoundException"
        assert world.pool.provisioned == []
        assert await world.store.list_provisioned_concurrency() == []

    run(tmp_path, scenario)


def test_restore_provisions_stored_configs_again_and_drops_orphans(tmp_path: Path) -> None:
    async def before_restart(world: World) -> None:
        await world.function("f", versions=2)
        await world.service.put("f", "1", 2)
        await world.service.put("f", "2", 1)
        # A config whose version is gone (the store has no such function).
        await world.store.put_provisioned_concurrency(
            ProvisionedConcurrencyConfig("ghost", "1", 1, "2024-01-01T00:00:00.000+0000")
        )

    async def after_restart(world: World) -> tuple[int, list[str]]:
        restored = await world.service.restore()
        return restored, [config.function_name for config in await world.store.list_provisioned_concurrency()]

    run(tmp_path, before_restart)
    pool = FakePool()
    assert run(tmp_path, after_restart, pool) == (2, ["f", "f"])
    assert pool.provisioned == [("f", "1", 2), ("f", "2", 1)]


# aliases -------------------------------------------------------------------------------------


def test_a_config_on_an_alias_keeps_environments_of_the_version_it_points_to(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        await world.function("f", versions=2)
        service = world.service
        alias_service = world.aliases
        await alias_service.create("f", {"Name": "live", "FunctionVersion": "1"})
        status = await service.put("f", "live", 4)
        assert status.config.qualifier == "live"
        assert world.pool.provisioned[-1] == ("f", "1", 4)
        # The alias moves: its environments move with it.
        await alias_service.update("f", "live", {"FunctionVersion": "2"})
        assert world.pool.unprovisioned[-1] == ("f", "1")
        assert world.pool.provisioned[-1] == ("f", "2", 4)
        # A weighted alias divides them by weight.
        await alias_service.update("f", "live", {"RoutingConfig": {"AdditionalVersionWeights": {"1": 0.25}}})
        assert set(world.pool.provisioned[-2:]) == {("f", "2", 3), ("f", "1", 1)}
        world.pool.states[("f", "1")] = ProvisionedState(1, 1, "READY", None)
        world.pool.states[("f", "2")] = ProvisionedState(3, 3, "READY", None)
        got = (await service.get("f", "live")).to_api()
        assert (got["AllocatedProvisionedConcurrentExecutions"], got["Status"]) == (4, "READY")
        # Deleting the alias deletes its configuration and releases the environments.
        await alias_service.delete("f", "live")
        assert {("f", "1"), ("f", "2")} <= set(world.pool.unprovisioned[-2:])
        assert await world.store.list_provisioned_concurrency("f") == []

    run(tmp_path, scenario)


def test_a_version_is_provisioned_by_itself_or_through_an_alias_not_both(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        await world.function("f", versions=1)
        await world.aliases.create("f", {"Name": "live", "FunctionVersion": "1"})
        await world.service.put("f", "1", 2)
        assert await failure(world.service.put("f", "live", 3)) == (
            "ResourceConflictException",
            "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version",
            409,
        )
        await world.service.delete("f", "1")
        await world.service.put("f", "live", 3)
        assert world.pool.provisioned[-1] == ("f", "1", 3)
        assert await failure(world.service.put("f", "1", 2)) == (
            "ResourceConflictException",
            "Version is pointed by a Provisioned Concurrency alias",
            409,
        )

    run(tmp_path, scenario)


def test_provisioned_concurrency_comes_out_of_the_reservation_or_the_unreserved_pool(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        await world.function("f", versions=2)
        limits = world.service._concurrency
        assert await failure(world.service.put("f", "1", 1001)) == (
            "InvalidParameterValueException",
            "Specified ConcurrentExecutions for function is greater than account's unreserved concurrency [1000].",
            400,
        )
        assert await failure(world.service.put("f", "1", 901)) == (
            "InvalidParameterValueException",
            "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
            "below its minimum value of [100].",
            400,
        )
        await world.service.put("f", "1", 900)
        await world.service.delete("f", "1")
        await limits.put("f", 5)
        await world.service.put("f", "1", 3)
        assert (await failure(world.service.put("f", "2", 3)))[0::2] == (
            "InvalidParameterValueException",
            400,
        )
        await world.service.put("f", "2", 2)  # 3 + 2: the whole reservation
        # Nor may the reservation go below what is provisioned.
        assert (await failure(limits.put("f", 4)))[0::2] == ("InvalidParameterValueException", 400)
        await limits.put("f", 6)

    run(tmp_path, scenario)


def test_configs_on_aliases_of_latest_or_missing_aliases_are_refused(tmp_path: Path) -> None:
    async def scenario(world: World) -> None:
        await world.function("f", versions=1)
        await world.aliases.create("f", {"Name": "edge", "FunctionVersion": "$LATEST"})
        assert await failure(world.service.put("f", "edge", 1)) == (
            "InvalidParameterValueException",
            "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
            400,
        )
        assert await failure(world.service.put("f", "nope", 1)) == (
            "ResourceNotFoundException",
            f"Cannot find alias arn: {ARN}:f:nope",
            404,
        )

    run(tmp_path, scenario)


def test_restore_applies_alias_configs_to_their_versions(tmp_path: Path) -> None:
    async def setup(world: World) -> None:
        await world.function("f", versions=2)
        await world.aliases.create("f", {"Name": "live", "FunctionVersion": "2"})
        await world.service.put("f", "live", 2)

    run(tmp_path, setup)
    pool = FakePool()

    async def restart(world: World) -> None:
        assert await world.service.restore() == 1
        assert pool.provisioned == [("f", "2", 2)]

    run(tmp_path, restart, pool)
