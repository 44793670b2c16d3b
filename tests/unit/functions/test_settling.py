"""The background half of a create or an update: Active (Successful) when the package unpacks,
Failed with AWS's reason codes when it does not, Pending versions settled with $LATEST and before
it, nothing written for a function deleted meanwhile, and unsettled work resumed."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from lamina.domain import lifecycle
from lamina.domain.code import CodeDigest
from lamina.domain.functions import FunctionConfig
from lamina.errors import invalid_parameter
from lamina.functions.registry import FunctionRegistry
from lamina.functions.settling import Settler
from lamina.store.sqlite import SqliteMetadataStore

T = TypeVar("T")
CODE = CodeDigest("ab" * 32, "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=", 10)


class Code:
    """The code cache: unpacking succeeds, or fails as `failure` says."""

    def __init__(self, failure: BaseException | None = None) -> None:
        self.failure = failure
        self.unpacked: list[str] = []

    async def ensure(self, sha256_hex: str) -> Path:
        await asyncio.sleep(0)
        if self.failure is not None:
            raise self.failure
        self.unpacked.append(sha256_hex)
        return Path("/nonexistent")

    async def layers(self, sha256_hexes: list[str]) -> None:
        return None


def run(tmp_path: Path, code: Code, scenario: Callable[[FunctionRegistry, Settler], Awaitable[T]]) -> T:
    async def main() -> T:
        store = SqliteMetadataStore(tmp_path / "metadata.db")
        await store.open()
        registry = FunctionRegistry(store)
        await registry.load()
        locks: dict[str, asyncio.Lock] = {}
        settler = Settler(registry, code, lambda name: locks.setdefault(name, asyncio.Lock()))  # type: ignore[arg-type]
        try:
            return await scenario(registry, settler)
        finally:
            settler.close()
            await store.close()

    return asyncio.run(main())


def pending_function() -> FunctionConfig:
    return lifecycle.pending(FunctionConfig("f", "python3.12", "app.handler", "role", CODE))


def test_a_created_function_becomes_active_with_a_new_revision(tmp_path: Path) -> None:
    code = Code()

    async def scenario(registry: FunctionRegistry, settler: Settler) -> None:
        created = pending_function()
        await registry.create(created)
        settler.start(created)
        await settler.wait()
        active = registry.latest("f")
        assert active is not None
        assert (active.state, active.last_update_status, active.state_reason) == (
            "Active",
            "Successful",
            None,
        )
        assert active.revision_id != created.revision_id
        assert active.runs_revision == created.runs_revision  # environments keep running
        assert code.unpacked == [CODE.sha256_hex]

    run(tmp_path, code, scenario)


def test_a_failure_to_unpack_leaves_the_function_failed_with_awss_reason_codes(tmp_path: Path) -> None:
    for failure, reason_code in (
        (OSError(errno.ENOSPC, "No space left on device"), "InternalError"),
        (invalid_parameter("Unzipped size must be smaller than 262144000 bytes"), "InvalidZipFileException"),
    ):

        async def scenario(
            registry: FunctionRegistry, settler: Settler, reason_code: str = reason_code
        ) -> None:
            created = pending_function()
            await registry.create(created)
            settler.start(created)
            await settler.wait()
            failed = registry.latest("f")
            assert failed is not None
            assert (failed.state, failed.state_reason_code, failed.last_update_status) == (
                "Failed",
                reason_code,
                "Failed",
            )
            assert failed.state_reason
            await registry.delete("f")

        run(tmp_path, Code(failure), scenario)


def test_a_failed_update_leaves_the_function_active_with_the_update_failed(tmp_path: Path) -> None:
    async def scenario(registry: FunctionRegistry, settler: Settler) -> None:
        updating = lifecycle.updating(FunctionConfig("f", "python3.12", "app.handler", "role", CODE))
        await registry.create(updating)
        settler.start(updating)
        await settler.wait()
        settled = registry.latest("f")
        assert settled is not None
        assert (settled.state, settled.last_update_status, settled.last_update_status_reason_code) == (
            "Active",
            "Failed",
            "InternalError",
        )

    run(tmp_path, Code(OSError(errno.EIO, "I/O error")), scenario)


def test_pending_versions_settle_with_latest_and_work_is_resumed(tmp_path: Path) -> None:
    async def scenario(registry: FunctionRegistry, settler: Settler) -> None:
        created = pending_function()
        await registry.create(created)
        await registry.add_version(lifecycle.pending(created.with_changes(version="1")))
        # As a restarted server finds them: nothing started yet.
        assert settler.resume() == 2
        await settler.wait()
        version = registry.version("f", "1")
        latest = registry.latest("f")
        assert version is not None and latest is not None
        assert (version.state, latest.state) == ("Active", "Active")

    run(tmp_path, Code(), scenario)


def test_a_function_deleted_meanwhile_is_left_alone(tmp_path: Path) -> None:
    async def scenario(registry: FunctionRegistry, settler: Settler) -> None:
        created = pending_function()
        await registry.create(created)
        settler.start(created)
        async with settler._lock("f"):  # as DeleteFunction holds the function's lock
            await registry.delete("f")
        await settler.wait()
        assert registry.latest("f") is None

    run(tmp_path, Code(), scenario)
