"""FunctionManager's versions: PublishVersion's rules and ListVersionsByFunction's order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from lamina.domain.code import CodeDigest
from lamina.domain.functions import FunctionConfig
from lamina.errors import AwsError
from lamina.functions.manager import FunctionManager, Placement
from lamina.functions.registry import FunctionRegistry
from lamina.store.sqlite import SqliteMetadataStore

T = TypeVar("T")
CODE = CodeDigest("ab" * 32, "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=", 10)


class Pool:
    """What the manager calls on the pool when configurations change."""

    def retire(self, name: str, keep: FunctionConfig | None = None) -> None:
        pass

    def unprovision(self, name: str, version: str | None = None) -> None:
        pass


class Code:
    """The code cache an update's background half unpacks into: nothing to unpack here."""

    async def ensure(self, sha256_hex: str) -> Path:
        return Path("/nonexistent")

    async def layers(self, sha256_hexes: list[str]) -> None:
        return None


def run(tmp_path: Path, scenario: Callable[[FunctionManager], Awaitable[T]]) -> T:
    """`scenario` gets a manager whose function "f" exists ($LATEST only)."""

    async def main() -> T:
        store = SqliteMetadataStore(tmp_path / "metadata.db")
        await store.open()
        registry = FunctionRegistry(store)
        await registry.create(FunctionConfig("f", "python3.12", "app.handler", "role", CODE))
        placement = Placement("us-east-1", "000000000000")
        manager = FunctionManager(registry, None, Code(), Pool(), {}, placement)  # type: ignore[arg-type]
        try:
            return await scenario(manager)
        finally:
            manager.settler.close()
            await store.close()

    return asyncio.run(main())


async def failure(call: Awaitable[object]) -> tuple[str, str, int]:
    with pytest.raises(AwsError) as raised:
        await call
    return raised.value.code, raised.value.message, raised.value.status


def test_publish_numbers_versions_and_skips_unchanged_snapshots(tmp_path: Path) -> None:
    async def scenario(manager: FunctionManager) -> None:
        first = await manager.publish_version("f", description="first")
        assert (first.version, first.description) == ("1", "first")
        assert first.code == CODE and first.revision_id != manager.get("f").revision_id
        # Nothing changed in $LATEST: the newest version comes back, whatever the description.
        again = await manager.publish_version("f", description="other")
        assert again == first
        await manager.update_configuration({"FunctionName": "f", "MemorySize": 256})
        await manager.settler.wait()  # the update's InProgress until then: PublishVersion would get a 409
        second = await manager.publish_version("f")
        assert (second.version, second.memory_size, second.description) == ("2", 256, "")
        assert [config.version for config in manager.list_versions("f")] == ["$LATEST", "1", "2"]

    run(tmp_path, scenario)


def test_publish_checks_revision_id_and_code_sha256(tmp_path: Path) -> None:
    async def scenario(manager: FunctionManager) -> None:
        latest = manager.get("f")
        assert await failure(manager.publish_version("f", revision_id="stale")) == (
            "PreconditionFailedException",
            "The Revision Id provided does not match the latest Revision Id. "
            "Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
            412,
        )
        assert await failure(manager.publish_version("f", code_sha256="bm9wZQ==")) == (
            "InvalidParameterValueException",
            f"CodeSHA256 (bm9wZQ==) is different from current CodeSHA256 in $LATEST ({CODE.sha256_base64}). "
            "Please try again with the CodeSHA256 in $LATEST.",
            400,
        )
        assert manager.list_versions("f") == [latest]
        published = await manager.publish_version(
            "f", code_sha256=CODE.sha256_base64, revision_id=latest.revision_id
        )
        assert published.version == "1"

    run(tmp_path, scenario)


def test_publish_and_list_versions_of_a_missing_function(tmp_path: Path) -> None:
    async def scenario(manager: FunctionManager) -> None:
        missing = (
            "ResourceNotFoundException",
            "Function not found: arn:aws:lambda:us-east-1:000000000000:function:g",
            404,
        )
        assert await failure(manager.publish_version("g")) == missing
        with pytest.raises(AwsError) as raised:
            manager.list_versions("g")
        assert raised.value.message == missing[1]

    run(tmp_path, scenario)
