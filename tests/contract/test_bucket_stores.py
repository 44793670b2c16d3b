"""The embedded S3's ports: BucketStore (SQLite, PostgreSQL) and ObjectDataStore (files in the data
directory, PostgreSQL), each adapter held to the contracts `store/bucket_ports.py` states."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from lamina.domain.buckets.records import BucketRecord, ObjectRecord, PartRecord, Segment, UploadRecord
from lamina.store.bucket_ports import BucketStore, ObjectDataStore
from lamina.store.objects.filesystem import FilesystemObjectData
from lamina.store.postgres.buckets import PostgresBucketStore
from lamina.store.postgres.object_data import PostgresObjectData
from lamina.store.sqlite.buckets import SqliteBucketStore
from tests.support.postgres import PostgresServer

MIB = 1024 * 1024
ACCOUNT = "111111111111"
# Keys whose UTF-8 byte order differs from naive expectations: "ä" (C3 A4) < "é" (C3 A9) < "😀"
# (F0 ...) and "\U0010ffff" (F4 ...) sort after every ASCII key, "/" (2F) before letters.
KEYS = [
    "a",
    "a/b",
    "a/b/c",
    "a/c",
    "a-",
    "ab",
    "z",
    "Z",
    "é",
    "éa",
    "ä",
    "\U0001f600",
    "\U0001f600/x",
    "\ue000",
    "\ud7ff",
    "\U0010ffff",
    "\U0010ffffa",
    "photos/2024/a.jpg",
    "photos/2024/b.jpg",
    "photos/2025/a.jpg",
    "photos0",
]


def _bytes_order(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda key: key.encode("utf-8"))


def _bucket(name: str = "alpha", **changes: object) -> BucketRecord:
    values: dict[str, object] = {"name": name, "account_id": ACCOUNT, "region": "us-east-1", "created": 1.5}
    values.update(changes)
    return BucketRecord(**values)  # type: ignore[arg-type]


def _object(key: str, bucket: str = "alpha", data_id: str = "d" * 32, size: int = 3) -> ObjectRecord:
    return ObjectRecord(
        bucket,
        key,
        size,
        f'"{hashlib.md5(key.encode()).hexdigest()}"',
        1_700_000_000.25,
        (Segment(data_id, size),) if size else (),
        "text/plain",
        {"color": "blue"},
        {"CacheControl": "no-cache"},
        None,
        {"ChecksumCRC32": "AAAAAA=="},
        {"k": "v"},
    )


def _upload(upload_id: str, key: str = "big", bucket: str = "alpha", initiated: float = 10.0) -> UploadRecord:
    return UploadRecord(
        upload_id,
        bucket,
        key,
        initiated,
        "image/png",
        {"m": "1"},
        {"ContentLanguage": "en"},
        "arn:x",
        {"t": "2"},
    )


def _part(upload_id: str, number: int, data_id: str, size: int = 5 * MIB) -> PartRecord:
    return PartRecord(upload_id, number, size, f'"{data_id[:32]}"', 20.0 + number, data_id)


# --------------------------------------------------------------------------- adapters


@asynccontextmanager
async def _bucket_store(
    adapter: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[BucketStore]:
    store: BucketStore
    if adapter == "sqlite":
        store = SqliteBucketStore(tmp_path / "buckets.db")
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        store = PostgresBucketStore(server.new_database())
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def _object_data(
    adapter: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[ObjectDataStore]:
    data: ObjectDataStore
    if adapter == "filesystem":
        data = FilesystemObjectData(tmp_path / "objects")
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        data = PostgresObjectData(server.new_database())
    await data.open()
    try:
        yield data
    finally:
        await data.close()


@pytest.fixture(params=["sqlite", "postgres"])
def with_buckets(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[[Callable[[BucketStore], Awaitable[None]]], None]:
    """Run a test body against an open BucketStore of the adapter under test."""

    def run(body: Callable[[BucketStore], Awaitable[None]]) -> None:
        async def main() -> None:
            async with _bucket_store(request.param, tmp_path, request) as store:
                await body(store)

        asyncio.run(main())

    return run


@pytest.fixture(params=["filesystem", "postgres"])
def with_data(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[[Callable[[ObjectDataStore], Awaitable[None]]], None]:
    """Run a test body against an open ObjectDataStore of the adapter under test."""

    def run(body: Callable[[ObjectDataStore], Awaitable[None]]) -> None:
        async def main() -> None:
            async with _object_data(request.param, tmp_path, request) as data:
                await body(data)

        asyncio.run(main())

    return run


BucketsRunner = Callable[[Callable[[BucketStore], Awaitable[None]]], None]
DataRunner = Callable[[Callable[[ObjectDataStore], Awaitable[None]]], None]


# --------------------------------------------------------------------------- BucketStore: buckets


def test_buckets_are_created_once_read_listed_by_name_and_updated(with_buckets: BucketsRunner) -> None:
    async def body(store: BucketStore) -> None:
        assert await store.get_bucket("alpha") is None
        assert await store.list_buckets() == []
        assert await store.create_bucket(_bucket("beta", account_id="222222222222"))
        assert await store.create_bucket(_bucket("alpha"))
        # A second bucket of the same name changes nothing, whoever asks.
        assert not await store.create_bucket(_bucket("alpha", account_id="333333333333", region="eu-west-1"))
        alpha = await store.get_bucket("alpha")
        assert alpha == _bucket("alpha")
        assert [bucket.name for bucket in await store.list_buckets()] == ["alpha", "beta"]

        configured = _bucket(
            "alpha",
            notification={"LambdaFunctionConfigurations": [{"Id": "x", "Events": ["s3:ObjectCreated:*"]}]},
            policy='{"Version":"2012-10-17"}',
            tags={"team": "storage"},
        )
        assert await store.update_bucket(configured)
        assert await store.get_bucket("alpha") == configured
        assert not await store.update_bucket(_bucket("gone"))
        assert await store.get_bucket("gone") is None

    with_buckets(body)


def test_delete_bucket_refuses_a_bucket_with_objects_or_uploads_and_changes_nothing(
    with_buckets: BucketsRunner,
) -> None:
    async def body(store: BucketStore) -> None:
        assert not await store.delete_bucket("missing")
        await store.create_bucket(_bucket("alpha"))
        assert await store.is_empty("alpha")

        await store.put_object(_object("k"))
        assert not await store.is_empty("alpha")
        assert not await store.delete_bucket("alpha")
        assert await store.get_bucket("alpha") == _bucket("alpha")
        assert await store.get_object("alpha", "k") == _object("k")

        await store.delete_object("alpha", "k")
        await store.create_upload(_upload("u1"))
        assert not await store.is_empty("alpha")
        assert not await store.delete_bucket("alpha")
        assert await store.get_bucket("alpha") is not None
        assert await store.get_upload("u1") == _upload("u1")

        assert await store.finish_upload("u1", None) is not None
        assert await store.is_empty("alpha")
        assert await store.delete_bucket("alpha")
        assert await store.get_bucket("alpha") is None
        assert not await store.delete_bucket("alpha")
        assert await store.create_bucket(_bucket("alpha"))  # the name is free again

    with_buckets(body)


# --------------------------------------------------------------------------- BucketStore: objects


def test_put_object_returns_what_it_replaced_and_delete_returns_the_object(
    with_buckets: BucketsRunner,
) -> None:
    async def body(store: BucketStore) -> None:
        await store.create_bucket(_bucket("alpha"))
        await store.create_bucket(_bucket("beta"))
        first = _object("k", data_id="1" * 32)
        second = _object("k", data_id="2" * 32, size=7)
        assert await store.put_object(first) is None
        assert await store.get_object("alpha", "k") == first
        assert await store.put_object(second) == first
        assert await store.get_object("alpha", "k") == second
        assert await store.get_object("beta", "k") is None  # buckets keep their keys apart
        assert await store.put_object(_object("k", bucket="beta")) is None

        assert await store.delete_object("alpha", "k") == second
        assert await store.delete_object("alpha", "k") is None
        assert await store.get_object("alpha", "k") is None
        assert await store.get_object("beta", "k") is not None

        empty = _object("empty", size=0)  # an empty object has no segments
        await store.put_object(empty)
        assert await store.get_object("alpha", "empty") == empty

    with_buckets(body)


def test_put_object_into_a_missing_bucket_is_a_key_error(with_buckets: BucketsRunner) -> None:
    async def body(store: BucketStore) -> None:
        with pytest.raises(KeyError):
            await store.put_object(_object("k", bucket="missing"))
        await store.create_bucket(_bucket("alpha"))
        await store.delete_bucket("alpha")
        with pytest.raises(KeyError):
            await store.put_object(_object("k"))
        assert await store.get_object("alpha", "k") is None

    with_buckets(body)


def test_list_objects_orders_keys_by_their_utf8_bytes(with_buckets: BucketsRunner) -> None:
    async def body(store: BucketStore) -> None:
        await store.create_bucket(_bucket("alpha"))
        await store.create_bucket(_bucket("beta"))
        for key in reversed(KEYS):
            await store.put_object(_object(key))
        await store.put_object(_object("a0", bucket="beta"))
        listed = await store.list_objects("alpha", "", "", 1000)
        assert [record.key for record in listed] == _bytes_order(KEYS)
        assert listed[0] == _object(listed[0].key)  # whole records come back
        # The byte order, spelt out for the keys that a locale-aware collation would reorder.
        keys = [record.key for record in listed]
        assert keys.index("Z") < keys.index("a") < keys.index("a-") < keys.index("a/b") < keys.index("ab")
        assert keys.index("z") < keys.index("ä") < keys.index("é") < keys.index("\ud7ff")
        assert (
            keys.index("\ud7ff") < keys.index("\ue000") < keys.index("\U0001f600") < keys.index("\U0010ffff")
        )

    with_buckets(body)


@pytest.mark.parametrize(
    ("prefix", "after", "limit"),
    [
        ("", "", 5),
        ("a", "", 1000),
        ("a/", "", 1000),
        ("a/", "a/b", 1000),  # after is exclusive
        ("a/", "a/b/c", 1),
        ("a/", "0", 1000),  # after below the prefix
        ("a/", "b", 1000),  # after above the prefix: nothing
        ("photos/", "photos/2024/b.jpg", 1000),
        ("photos", "", 1000),
        ("é", "", 1000),
        ("\U0001f600", "", 1000),
        ("\U0010ffff", "", 1000),  # no string is above every key with this prefix
        ("\U0010ffff", "\U0010ffff", 1000),
        ("", "z", 3),
        ("", "\U0010ffffa", 1000),
        ("missing", "", 1000),
    ],
)
def test_list_objects_honours_prefix_after_and_limit(
    with_buckets: BucketsRunner, prefix: str, after: str, limit: int
) -> None:
    async def body(store: BucketStore) -> None:
        await store.create_bucket(_bucket("alpha"))
        for key in KEYS:
            await store.put_object(_object(key))
        expected = [
            key for key in _bytes_order(KEYS) if key.startswith(prefix) and key.encode() > after.encode()
        ][:limit]
        listed = await store.list_objects("alpha", prefix, after, limit)
        assert [record.key for record in listed] == expected

    with_buckets(body)


def test_list_objects_pages_through_every_key_once(with_buckets: BucketsRunner) -> None:
    async def body(store: BucketStore) -> None:
        await store.create_bucket(_bucket("alpha"))
        for key in KEYS:
            await store.put_object(_object(key))
        seen: list[str] = []
        after = ""
        while batch := await store.list_objects("alpha", "", after, 2):
            assert len(batch) <= 2
            seen += [record.key for record in batch]
            after = batch[-1].key
        assert seen == _bytes_order(KEYS)
        assert await store.list_objects("missing", "", "", 10) == []

    with_buckets(body)


def test_concurrent_puts_of_one_key_each_replace_a_different_record(with_buckets: BucketsRunner) -> None:
    """Every record written is either the one left or returned as replaced exactly once: each
    writer frees exactly what it replaced, nothing twice, nothing never."""

    async def body(store: BucketStore) -> None:
        await store.create_bucket(_bucket("alpha"))
        records = [_object("k", data_id=f"{index:032x}") for index in range(24)]
        replaced = await asyncio.gather(*(store.put_object(record) for record in records))
        left = await store.get_object("alpha", "k")
        assert left is not None
        ids = [record.segments[0].data_id for record in replaced if record is not None]
        assert replaced.count(None) == 1
        assert sorted([*ids, left.segments[0].data_id]) == sorted(r.segments[0].data_id for r in records)

    with_buckets(body)


# --------------------------------------------------------------------------- BucketStore: uploads


def test_uploads_are_listed_by_key_then_initiation(with_buckets: BucketsRunner) -> None:
    async def body(store: BucketStore) -> None:
        await store.create_bucket(_bucket("alpha"))
        await store.create_bucket(_bucket("beta"))
        with pytest.raises(KeyError):
            await store.create_upload(_upload("u0", bucket="missing"))
        assert await store.get_upload("u0") is None
        for upload_id, key in (("u3", "b"), ("u1", "b"), ("u2", "a"), ("u9", "é"), ("u4", "z")):
            await store.create_upload(_upload(upload_id, key=key))
        await store.create_upload(_upload("u5", bucket="beta"))
        assert [upload.upload_id for upload in await store.list_uploads("alpha")] == [
            "u2",
            "u3",
            "u1",
            "u4",
            "u9",
        ]
        assert await store.list_uploads("beta") == [_upload("u5", bucket="beta")]
        assert await store.get_upload("u3") == _upload("u3", key="b")
        assert await store.list_uploads("missing") == []

    with_buckets(body)


def test_parts_are_stored_replaced_and_listed_by_number(with_buckets: BucketsRunner) -> None:
    async def body(store: BucketStore) -> None:
        await store.create_bucket(_bucket("alpha"))
        await store.create_upload(_upload("u1"))
        await store.create_upload(_upload("u2"))
        assert await store.list_parts("u1") == []
        for number in (10, 2, 1):
            assert await store.put_part(_part("u1", number, f"{number:032x}")) is None
        first_two = _part("u1", 2, f"{2:032x}")
        second_two = _part("u1", 2, "f" * 32, size=7)
        assert await store.put_part(second_two) == first_two
        assert await store.put_part(_part("u2", 2, "e" * 32)) is None  # another upload's part 2
        assert await store.list_parts("u1") == [
            _part("u1", 1, f"{1:032x}"),
            second_two,
            _part("u1", 10, f"{10:032x}"),
        ]
        assert [part.data_id for part in await store.list_parts("u2")] == ["e" * 32]
        assert await store.list_parts("missing") == []

    with_buckets(body)


def test_put_part_to_a_missing_upload_is_a_key_error(with_buckets: BucketsRunner) -> None:
    async def body(store: BucketStore) -> None:
        await store.create_bucket(_bucket("alpha"))
        with pytest.raises(KeyError):
            await store.put_part(_part("never", 1, "a" * 32))
        await store.create_upload(_upload("u1"))
        await store.finish_upload("u1", None)
        with pytest.raises(KeyError):  # ended meanwhile
            await store.put_part(_part("u1", 1, "a" * 32))
        assert await store.list_parts("u1") == []

    with_buckets(body)


def test_finish_upload_completing_stores_the_object_and_returns_parts_and_the_replaced(
    with_buckets: BucketsRunner,
) -> None:
    async def body(store: BucketStore) -> None:
        await store.create_bucket(_bucket("alpha"))
        old = _object("big", data_id="0" * 32)
        await store.put_object(old)
        await store.create_upload(_upload("u1"))
        await store.create_upload(_upload("u2"))
        parts = [_part("u1", number, f"{number:032x}") for number in (3, 1, 2)]
        for part in parts:
            await store.put_part(part)
        await store.put_part(_part("u2", 1, "e" * 32))
        made = ObjectRecord(
            "alpha",
            "big",
            10 * MIB,
            '"abc-2"',
            99.0,
            (Segment(f"{1:032x}", 5 * MIB), Segment(f"{2:032x}", 5 * MIB)),
            parts_count=2,
        )
        finished = await store.finish_upload("u1", made)
        assert finished is not None
        assert finished.parts == sorted(parts, key=lambda part: part.number)  # all of them, by number
        assert finished.replaced == old
        assert await store.get_object("alpha", "big") == made
        assert await store.get_upload("u1") is None
        assert await store.list_parts("u1") == []
        assert [upload.upload_id for upload in await store.list_uploads("alpha")] == ["u2"]
        assert len(await store.list_parts("u2")) == 1  # another upload of the key is untouched
        # A second finish, either way, finds nothing and changes nothing.
        assert await store.finish_upload("u1", _object("big", data_id="9" * 32)) is None
        assert await store.finish_upload("u1", None) is None
        assert await store.get_object("alpha", "big") == made

        # Completing onto a key with no object replaces nothing.
        await store.create_upload(_upload("u3", key="fresh"))
        finished = await store.finish_upload("u3", _object("fresh", data_id="7" * 32))
        assert finished is not None and finished.parts == [] and finished.replaced is None

    with_buckets(body)


def test_finish_upload_aborting_returns_the_parts_and_stores_nothing(with_buckets: BucketsRunner) -> None:
    async def body(store: BucketStore) -> None:
        await store.create_bucket(_bucket("alpha"))
        old = _object("big")
        await store.put_object(old)
        await store.create_upload(_upload("u1"))
        parts = [_part("u1", number, f"{number:032x}") for number in (1, 2)]
        for part in parts:
            await store.put_part(part)
        finished = await store.finish_upload("u1", None)
        assert finished is not None
        assert finished.parts == parts
        assert finished.replaced is None
        assert await store.get_object("alpha", "big") == old
        assert await store.get_upload("u1") is None
        assert await store.list_parts("u1") == []
        assert await store.finish_upload("u1", None) is None
        assert await store.finish_upload("never", None) is None
        assert await store.delete_object("alpha", "big") == old
        assert await store.delete_bucket("alpha")  # nothing of the upload is left behind

    with_buckets(body)


# --------------------------------------------------------------------------- ObjectDataStore


def _pattern(size: int, seed: int = 0) -> bytes:
    """Bytes where every offset is distinguishable (a misplaced range shows)."""
    block = hashlib.sha256(str(seed).encode()).digest()
    counter = bytes(range(256)) * 4
    out = bytearray()
    index = 0
    while len(out) < size:
        out += hashlib.sha256(block + index.to_bytes(8, "big")).digest() + counter[index % 7 :][:33]
        index += 1
    return bytes(out[:size])


async def _chunks(data: bytes, sizes: list[int]) -> AsyncIterator[bytes]:
    """`data` cut into chunks of the given sizes (cycled), with a pause between some."""
    offset = 0
    index = 0
    while offset < len(data):
        size = sizes[index % len(sizes)]
        yield data[offset : offset + size]
        offset += size
        index += 1
        if index % 5 == 0:
            await asyncio.sleep(0)


async def _read(data: ObjectDataStore, data_id: str, start: int = 0, length: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in data.read(data_id, start, length)])


SIZE = 3 * MIB + 12_345  # crosses three block boundaries
BODY = _pattern(SIZE)


@pytest.mark.parametrize(
    "sizes",
    [[1], [7, 65_536, 1], [MIB - 1, 2], [MIB], [MIB + 1], [3 * MIB, 5]],
    ids=["tiny", "mixed", "just-under-a-block", "a-block", "just-over-a-block", "one-large"],
)
def test_write_from_many_chunks_reads_back_whole(with_data: DataRunner, sizes: list[int]) -> None:
    body_bytes = BODY if sizes != [1] else BODY[:70_000]  # a byte at a time: kept short

    async def body(data: ObjectDataStore) -> None:
        stored = await data.write(_chunks(body_bytes, sizes))
        assert stored.size == len(body_bytes)
        assert await data.data_ids() == {stored.data_id}
        assert await _read(data, stored.data_id) == body_bytes

    with_data(body)


@pytest.mark.parametrize(
    ("start", "length"),
    [
        (0, 1),
        (0, MIB),
        (1, MIB),
        (MIB - 1, 2),  # the last byte of one block and the first of the next
        (MIB, MIB),  # exactly the second block
        (MIB, None),
        (MIB + 1, 2 * MIB),
        (2 * MIB - 3, MIB + 6),
        (0, SIZE),
        (0, SIZE + 100),  # past the end: what there is
        (SIZE - 1, None),
        (SIZE - 1, 1),
        (5, 0),
        (3 * MIB, None),
        (3 * MIB - 1, 12_346),
    ],
)
def test_ranges_read_exactly_their_bytes(with_data: DataRunner, start: int, length: int | None) -> None:
    async def body(data: ObjectDataStore) -> None:
        stored = await data.write(_chunks(BODY, [100_003]))
        expected = BODY[start:] if length is None else BODY[start : start + length]
        assert await _read(data, stored.data_id, start, length) == expected

    with_data(body)


def test_reading_from_the_end_of_a_whole_number_of_blocks_gives_nothing(with_data: DataRunner) -> None:
    """[size, size) is an empty range, also when size falls on a block boundary."""

    async def body(data: ObjectDataStore) -> None:
        stored = await data.write(_chunks(BODY[: 2 * MIB], [MIB]))
        assert await _read(data, stored.data_id, 2 * MIB) == b""
        assert await _read(data, stored.data_id, 2 * MIB, 10) == b""

    with_data(body)


def test_an_empty_body_round_trips(with_data: DataRunner) -> None:
    async def body(data: ObjectDataStore) -> None:
        async def nothing() -> AsyncIterator[bytes]:
            return
            yield b""

        stored = await data.write(nothing())
        assert stored.size == 0
        assert await data.data_ids() == {stored.data_id}
        assert await _read(data, stored.data_id) == b""
        empty_chunks = await data.write(_chunks(b"", [1]))
        assert empty_chunks.size == 0 and empty_chunks.data_id != stored.data_id
        assert await _read(data, empty_chunks.data_id) == b""

    with_data(body)


def test_a_body_that_fails_midway_stores_nothing_and_the_error_propagates(with_data: DataRunner) -> None:
    class Broken(Exception):
        pass

    async def failing() -> AsyncIterator[bytes]:
        yield BODY[:MIB]
        yield BODY[MIB : 2 * MIB + 5]  # a whole block or more already handed over
        raise Broken

    async def body(data: ObjectDataStore) -> None:
        kept = await data.write(_chunks(b"kept", [2]))
        with pytest.raises(Broken):
            await data.write(failing())
        assert await data.data_ids() == {kept.data_id}
        assert await _read(data, kept.data_id) == b"kept"
        later = await data.write(_chunks(b"after", [5]))  # the store still works
        assert await data.data_ids() == {kept.data_id, later.data_id}

    with_data(body)


def test_ids_are_new_for_every_write(with_data: DataRunner) -> None:
    async def body(data: ObjectDataStore) -> None:
        first = await data.write(_chunks(b"same", [4]))
        second = await data.write(_chunks(b"same", [4]))
        assert first.data_id != second.data_id
        assert await data.data_ids() == {first.data_id, second.data_id}

    with_data(body)


def test_delete_is_idempotent_and_frees_only_what_it_names(with_data: DataRunner) -> None:
    async def body(data: ObjectDataStore) -> None:
        first = await data.write(_chunks(BODY, [MIB]))
        second = await data.write(_chunks(b"second", [3]))
        await data.delete([first.data_id, "0" * 32, "not-an-id"])
        await data.delete([first.data_id])
        await data.delete([])
        assert await data.data_ids() == {second.data_id}
        with pytest.raises(KeyError):
            await _read(data, first.data_id)
        assert await _read(data, second.data_id) == b"second"

    with_data(body)


@pytest.mark.parametrize("data_id", ["0" * 32, "f" * 32, "nope", "../etc/passwd", ""])
def test_reading_an_unknown_id_is_a_key_error(with_data: DataRunner, data_id: str) -> None:
    async def body(data: ObjectDataStore) -> None:
        await data.write(_chunks(b"something", [4]))
        with pytest.raises(KeyError):
            await _read(data, data_id)
        with pytest.raises(KeyError):
            await _read(data, data_id, 2, 3)

    with_data(body)


def test_a_read_begun_before_delete_still_completes(with_data: DataRunner) -> None:
    async def body(data: ObjectDataStore) -> None:
        stored = await data.write(_chunks(BODY, [MIB]))
        reader = data.read(stored.data_id)
        first = await anext(reader)
        await data.delete([stored.data_id])
        rest = b"".join([chunk async for chunk in reader])
        assert first + rest == BODY

    with_data(body)


def test_files_survive_reopening_and_a_crashed_write_is_cleared(tmp_path: Path) -> None:
    """Durable when write returns: another store on the same place reads it (files: the next
    start, which also clears what an interrupted write left in tmp/)."""

    async def main() -> None:
        root = tmp_path / "objects"
        first = FilesystemObjectData(root)
        await first.open()
        stored = await first.write(_chunks(BODY, [MIB]))
        (root / "tmp" / ("a" * 32)).write_bytes(b"left by a crash")
        await first.close()
        second = FilesystemObjectData(root)
        await second.open()
        assert await second.data_ids() == {stored.data_id}
        assert await _read(second, stored.data_id) == BODY
        assert list((root / "tmp").iterdir()) == []
        await second.close()

    asyncio.run(main())
