"""The code collector over a real blob store and code cache on disk: what nothing uses goes, and
the races (a package being stored, an environment starting or still running) keep what they need."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from lamina.errors import AwsError
from lamina.execution.code_cache import CodeCache, layers_folder
from lamina.functions.code_collector import CodeCollector, CodeUse
from lamina.store.blobs import FilesystemBlobStore
from lamina.store.code_files import remove_tree


def package(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.py", f"VALUE = {text!r}\n" * 20)
    return buffer.getvalue()


class Setup:
    def __init__(self, root: Path) -> None:
        self.blobs = FilesystemBlobStore(root / "blobs", bytes(32))
        self.code = CodeCache(root / "code", self.blobs)
        self.stored: list[CodeUse] = []
        self.running: list[CodeUse] = []

        async def stored() -> list[CodeUse]:
            return list(self.stored)

        self.collector = CodeCollector(
            self.blobs, self.code, stored, lambda: list(self.running), retry_seconds=0.05
        )

    async def store(self, data: bytes) -> str:
        """Stored and referenced, as CreateFunction does, then unpacked, as its background half
        (functions/settling.py) does."""
        async with self.collector.store_package(data) as summary:
            self.stored.append((summary.digest.sha256_hex, ()))
        await self.code.ensure(summary.digest.sha256_hex)
        return summary.digest.sha256_hex

    def on_disk(self) -> tuple[set[str], set[str]]:
        return self.blobs.digests(), self.code.folders()


def run(test: Callable[[Setup], Awaitable[None]], root: Path) -> None:
    setup = Setup(root)

    async def main() -> None:
        try:
            await test(setup)
        finally:
            await setup.collector.close()

    asyncio.run(main())
    remove_tree(root / "code")


def test_unreferenced_code_goes_and_referenced_code_stays(tmp_path: Path) -> None:
    async def test(setup: Setup) -> None:
        kept = await setup.store(package("kept"))
        dropped = await setup.store(package("dropped"))
        assert setup.on_disk() == ({kept, dropped}, {kept, dropped})
        setup.stored.remove((dropped, ()))
        await setup.collector.collect()
        assert setup.on_disk() == ({kept}, {kept})

    run(test, tmp_path)


def test_layers_and_their_merged_folder_stay_while_used(tmp_path: Path) -> None:
    async def test(setup: Setup) -> None:
        code, first, second = [await setup.store(package(text)) for text in ("code", "one", "two")]
        setup.stored = [(code, (first, second))]
        await setup.code.layers([first, second])
        await setup.collector.collect()
        assert setup.on_disk() == (
            {code, first, second},
            {code, first, second, layers_folder([first, second])},
        )
        setup.stored = []
        await setup.collector.collect()
        assert setup.on_disk() == (set(), set())

    run(test, tmp_path)


def test_a_package_being_stored_is_not_collected(tmp_path: Path) -> None:
    async def test(setup: Setup) -> None:
        async with setup.collector.store_package(package("in flight")) as summary:
            await setup.collector.collect()  # another request's delete, before our metadata is written
            digest = summary.digest.sha256_hex
            assert setup.on_disk() == ({digest}, set())  # unpacked later, by the background half
        # Written by nothing: the next collection removes it.
        await setup.collector.collect()
        assert setup.on_disk() == (set(), set())

    run(test, tmp_path)


def test_a_failed_request_leaves_nothing(tmp_path: Path) -> None:
    async def test(setup: Setup) -> None:
        with pytest.raises(AwsError):
            async with setup.collector.store_package(package("rejected")):
                raise AwsError("ResourceConflictException", "Function already exist", 409)
        assert setup.on_disk() == (set(), set())
        corrupt = bytearray(package("corrupt"))
        corrupt[40] ^= 0xFF
        with pytest.raises(AwsError):
            async with setup.collector.store_package(bytes(corrupt)):
                pass
        assert setup.on_disk() == (set(), set())

    run(test, tmp_path)


def test_folders_of_an_environment_starting_or_running_are_kept_then_collected(tmp_path: Path) -> None:
    async def test(setup: Setup) -> None:
        digest = await setup.store(package("running"))
        setup.stored = []
        with setup.code.holding(digest, ()):  # an environment of the deleted version is starting
            await setup.collector.collect()
            assert setup.code.folders() == {digest}
        setup.running = [(digest, ())]  # started: the pool lists it
        await setup.collector.collect()
        assert setup.on_disk() == (set(), {digest})  # the blob is not needed by a running environment
        setup.running = []  # it stopped: the retry collects its folder
        for _ in range(100):
            if not setup.code.folders():
                break
            await asyncio.sleep(0.02)
        assert setup.on_disk() == (set(), set())

    run(test, tmp_path)


def test_code_unpacked_again_after_collection_comes_from_a_new_upload(tmp_path: Path) -> None:
    async def test(setup: Setup) -> None:
        data = package("again")
        digest = await setup.store(data)
        setup.stored = []
        await setup.collector.collect()
        assert setup.on_disk() == (set(), set())
        assert await setup.store(data) == digest
        assert setup.on_disk() == ({digest}, {digest})
        assert (await setup.code.ensure(digest) / "app.py").is_file()

    run(test, tmp_path)


def test_the_cache_keeps_no_state_for_code_it_has_unpacked(tmp_path: Path) -> None:
    """A long-running server unpacks code for every function it ever ran: nothing per package may
    stay in memory but the set of ready folders, which collection empties."""

    async def test(setup: Setup) -> None:
        digests = [await setup.store(package(f"v{index}")) for index in range(5)]
        await asyncio.gather(*(setup.code.ensure(digest) for digest in digests for _ in range(3)))
        assert setup.code._locks == {}
        setup.stored.clear()
        await setup.collector.collect()
        assert setup.on_disk() == (set(), set())
        assert setup.code._ready == set()

    run(test, tmp_path)


def test_a_package_referenced_while_a_sweep_reads_the_metadata_stays(tmp_path: Path) -> None:
    """The metadata is read with awaits (layer versions come from the database): a request that
    writes its reference and lets go of its package meanwhile must not lose it to that sweep."""

    async def test(setup: Setup) -> None:
        await setup.store(package("old code"))  # what the function ran before
        reading = asyncio.Event()
        finish_reading = asyncio.Event()

        async def stored_with_a_slow_read() -> list[CodeUse]:
            looked = list(setup.stored)  # the functions, in memory: looked at first
            reading.set()
            await finish_reading.wait()  # the database's part
            return looked

        async def stored_with_a_quick_read() -> list[CodeUse]:
            return list(setup.stored)

        setup.collector._stored = stored_with_a_slow_read

        held = asyncio.Event()

        async def update_code() -> str:
            async with setup.collector.store_package(package("new code")) as summary:
                held.set()
                await reading.wait()  # a sweep has looked at the functions already
                setup.stored = [(summary.digest.sha256_hex, ())]  # the function now runs it
            finish_reading.set()  # the package is let go of; the sweep reads on
            return summary.digest.sha256_hex

        updating = asyncio.create_task(update_code())
        await held.wait()
        sweep = asyncio.create_task(setup.collector.collect())
        new = await asyncio.wait_for(updating, 30)
        await asyncio.wait_for(sweep, 30)
        assert new in setup.blobs.digests()
        setup.collector._stored = stored_with_a_quick_read
        await setup.collector.collect()  # the code it replaced still goes, folder and all
        assert setup.on_disk() == ({new}, set())

    run(test, tmp_path)
