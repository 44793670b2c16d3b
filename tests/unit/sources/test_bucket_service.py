"""BucketService on the real SQLite bucket store and object files: streamed uploads checked as S3
checks them, ranges across a multipart object's segments, listings, multipart completion rules,
freeing bytes no record names any more, and which operations send events."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lamina.domain.buckets.events import ObjectEvent
from lamina.domain.buckets.reads import ByteRange, parse_range
from lamina.domain.buckets.records import BucketRecord, ObjectRecord
from lamina.errors import AwsError
from lamina.sources.buckets.digests import BodyChecks
from lamina.sources.buckets.service import MIN_PART_BYTES, BucketService, Caller, ObjectAttributes, drain
from lamina.store.objects.filesystem import FilesystemObjectData
from lamina.store.sqlite.buckets import SqliteBucketStore

ACCOUNT = "111111111111"
BUCKET = "photos"
CALLER = Caller(ACCOUNT, "AWS:CALLER", "203.0.113.7", "REQ", "HOST", trace_header="Root=1-abc-def")
NOW = 1_700_000_000.0
FUNCTION = "arn:aws:lambda:us-east-1:111111111111:function:f"
MIB = 1024 * 1024


@dataclass
class RecordingEvents:
    """The service's `events` port: records what it is told to send; every destination is accepted."""

    sent: list[tuple[str, ObjectEvent, str | None]] = field(default_factory=list)

    async def notify(self, bucket: BucketRecord, event: ObjectEvent, trace_header: str | None) -> None:
        self.sent.append((bucket.name, event, trace_header))

    async def refusal(self, bucket: BucketRecord, kind: str, arn: str) -> str | None:
        return None

    async def configured(self, bucket: BucketRecord) -> None:
        return None

    @property
    def names(self) -> list[str]:
        return [event.event_name for _, event, _ in self.sent]


@dataclass
class World:
    service: BucketService
    data: FilesystemObjectData
    events: RecordingEvents
    root: Path

    async def data_ids(self) -> set[str]:
        return await self.data.data_ids()

    def temporary_files(self) -> list[Path]:
        return list((self.root / "tmp").iterdir())

    async def put(
        self, key: str, content: bytes, *, length: int | None = None, content_md5: str | None = None
    ) -> ObjectRecord:
        checks = BodyChecks(length=length, content_md5=content_md5)
        return await self.service.put_object(BUCKET, key, _body(content), checks, ObjectAttributes(), CALLER)

    async def read(self, key: str, byte_range: ByteRange | None = None) -> bytes:
        record = await self.service.object(BUCKET, key)
        return await drain(self.service.read(record, byte_range))


def _run(tmp_path: Path, body: Callable[[World], Awaitable[None]]) -> None:
    async def main() -> None:
        store = SqliteBucketStore(tmp_path / "buckets.db")
        data = FilesystemObjectData(tmp_path / "objects")
        await store.open()
        await data.open()
        events = RecordingEvents()
        service = BucketService(store, data, events, clock=lambda: NOW)
        try:
            await service.create_bucket(BUCKET, ACCOUNT, "us-east-1")
            await body(World(service, data, events, tmp_path / "objects"))
        finally:
            await data.close()
            await store.close()

    asyncio.run(main())


async def _body(content: bytes, chunk: int = 65_536) -> AsyncIterator[bytes]:
    for offset in range(0, len(content), chunk):
        yield content[offset : offset + chunk]


def _md5_base64(content: bytes) -> str:
    return base64.b64encode(hashlib.md5(content).digest()).decode()


def _content(size: int, seed: int) -> bytes:
    unit = hashlib.sha256(str(seed).encode()).digest() + bytes([seed % 256]) * 7
    return (unit * (size // len(unit) + 1))[:size]


async def _error(awaitable: Awaitable[object]) -> AwsError:
    with pytest.raises(AwsError) as caught:
        await awaitable
    return caught.value


# --------------------------------------------------------------------------- objects


def test_put_then_get_and_read_whole_and_ranges(tmp_path: Path) -> None:
    content = _content(300_000, 1)

    async def body(world: World) -> None:
        put = await world.put("a/b.txt", content, length=len(content), content_md5=_md5_base64(content))
        assert put.etag == f'"{hashlib.md5(content).hexdigest()}"'
        assert put.size == len(content) and put.last_modified == NOW
        assert await world.service.object(BUCKET, "a/b.txt") == put
        assert [segment.data_id for segment in put.segments] == list(await world.data_ids())
        assert await world.read("a/b.txt") == content
        for header, expected in [
            ("bytes=0-9", content[:10]),
            ("bytes=65530-65545", content[65530:65546]),
            ("bytes=299990-", content[299990:]),
            ("bytes=-3", content[-3:]),
        ]:
            assert await world.read("a/b.txt", parse_range(header, put.size)) == expected
        error = await _error(world.service.object(BUCKET, "missing"))
        assert (error.code, error.status) == ("NoSuchKey", 404)

    _run(tmp_path, body)


def test_an_empty_object_keeps_no_data_file(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        record = await world.put("empty", b"", length=0)
        assert record.size == 0 and record.segments == ()
        assert record.etag == f'"{hashlib.md5(b"").hexdigest()}"'
        assert await world.read("empty") == b""
        assert await world.data_ids() == set()

    _run(tmp_path, body)


def test_a_content_md5_mismatch_is_bad_digest_and_stores_nothing(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        error = await _error(world.put("k", b"hello world", content_md5=_md5_base64(b"something else")))
        assert (error.code, error.status) == ("BadDigest", 400)
        assert await world.data_ids() == set()
        assert world.temporary_files() == []
        assert (await _error(world.service.object(BUCKET, "k"))).code == "NoSuchKey"
        # An existing object survives a failed overwrite.
        kept = await world.put("k", b"original")
        await _error(world.put("k", b"replacement", content_md5=_md5_base64(b"nope")))
        assert await world.read("k") == b"original"
        assert await world.data_ids() == {kept.segments[0].data_id}

    _run(tmp_path, body)


@pytest.mark.parametrize("declared", [5, 20], ids=["shorter-than-the-body", "longer-than-the-body"])
def test_a_declared_length_that_differs_from_the_body_is_incomplete_body(
    tmp_path: Path, declared: int
) -> None:
    async def body(world: World) -> None:
        content = _content(10, 2)
        error = await _error(world.put("k", content, length=declared))
        assert (error.code, error.status) == ("IncompleteBody", 400)
        assert await world.data_ids() == set()
        assert world.temporary_files() == []
        assert (await _error(world.service.object(BUCKET, "k"))).code == "NoSuchKey"

    _run(tmp_path, body)


@pytest.mark.parametrize(
    ("content_md5", "code"),
    [("not base64!", "InvalidDigest"), (base64.b64encode(b"short").decode(), "InvalidDigest")],
)
def test_a_malformed_content_md5_is_invalid_digest(tmp_path: Path, content_md5: str, code: str) -> None:
    async def body(world: World) -> None:
        error = await _error(world.put("k", b"body", content_md5=content_md5))
        assert (error.code, error.status) == (code, 400)
        assert await world.data_ids() == set()

    _run(tmp_path, body)


def test_a_body_cut_off_by_the_client_is_incomplete_body_and_stores_nothing(tmp_path: Path) -> None:
    async def cut_off() -> AsyncIterator[bytes]:
        yield _content(2 * MIB, 4)
        raise ConnectionResetError

    async def body(world: World) -> None:
        error = await _error(
            world.service.put_object(BUCKET, "k", cut_off(), BodyChecks(), ObjectAttributes(), CALLER)
        )
        assert (error.code, error.status) == ("IncompleteBody", 400)
        assert await world.data_ids() == set()
        assert world.temporary_files() == []

    _run(tmp_path, body)


def test_overwriting_and_deleting_free_the_old_data_file(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        first = await world.put("k", b"first")
        second = await world.put("k", b"second version")
        assert await world.data_ids() == {second.segments[0].data_id}
        assert first.segments[0].data_id != second.segments[0].data_id
        assert await world.read("k") == b"second version"
        await world.service.delete_object(BUCKET, "k", CALLER)
        assert await world.data_ids() == set()
        await world.service.delete_object(BUCKET, "k", CALLER)  # absent: still fine, as on S3

    _run(tmp_path, body)


def test_copy_makes_its_own_data_file(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        source = await world.put("src", b"copied bytes")
        copy = await world.service.copy_object(source, BUCKET, "dst", None, CALLER)
        assert copy.etag == source.etag and copy.segments[0].data_id != source.segments[0].data_id
        await world.service.delete_object(BUCKET, "src", CALLER)
        assert await world.read("dst") == b"copied bytes"
        assert await world.data_ids() == {copy.segments[0].data_id}

    _run(tmp_path, body)


# --------------------------------------------------------------------------- listings

KEYS = ["a.txt", "dir/1", "dir/2", "dir/sub/3", "e", "photos/2024/x", "photos/2025/y", "photos/top", "z", "é"]


async def _put_keys(world: World) -> None:
    for key in KEYS:
        await world.put(key, key.encode())


def test_list_objects_rolls_keys_up_at_the_delimiter(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        await _put_keys(world)
        page = await world.service.list_objects(BUCKET, "", "/", "", 1000)
        assert [record.key for record in page.contents] == ["a.txt", "e", "z", "é"]
        assert page.common_prefixes == ["dir/", "photos/"]
        assert not page.truncated
        page = await world.service.list_objects(BUCKET, "photos/", "/", "", 1000)
        assert [record.key for record in page.contents] == ["photos/top"]
        assert page.common_prefixes == ["photos/2024/", "photos/2025/"]
        page = await world.service.list_objects(BUCKET, "dir/", None, "", 1000)
        assert [record.key for record in page.contents] == ["dir/1", "dir/2", "dir/sub/3"]
        assert page.common_prefixes == []
        page = await world.service.list_objects(BUCKET, "", "/", "e", 1000)  # StartAfter
        assert [record.key for record in page.contents] == ["z", "é"]
        assert page.common_prefixes == ["photos/"]
        page = await world.service.list_objects(BUCKET, "", "/", "dir/", 1000)  # after a common prefix
        assert [record.key for record in page.contents] == ["e", "z", "é"]
        assert page.common_prefixes == ["photos/"]
        empty = await world.service.list_objects(BUCKET, "", "/", "", 0)
        assert (empty.contents, empty.common_prefixes, empty.truncated) == ([], [], False)
        error = await _error(world.service.list_objects("missing", "", None, "", 10))
        assert error.code == "NoSuchBucket"

    _run(tmp_path, body)


@pytest.mark.parametrize("delimiter", [None, "/"])
@pytest.mark.parametrize("max_keys", [1, 2, 3])
def test_pages_resumed_from_last_list_everything_once(
    tmp_path: Path, delimiter: str | None, max_keys: int
) -> None:
    async def body(world: World) -> None:
        await _put_keys(world)
        whole = await world.service.list_objects(BUCKET, "", delimiter, "", 1000)
        expected = sorted([record.key for record in whole.contents] + whole.common_prefixes)
        listed: list[str] = []
        after = ""
        for _ in range(len(KEYS) + 2):
            page = await world.service.list_objects(BUCKET, "", delimiter, after, max_keys)
            entries = [record.key for record in page.contents] + page.common_prefixes
            assert 0 < len(entries) <= max_keys
            listed += entries
            if not page.truncated:
                break
            assert page.last is not None
            after = page.last
        assert sorted(listed) == expected
        assert len(listed) == len(set(listed))

    _run(tmp_path, body)


def test_a_page_is_truncated_only_when_more_follows(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        await _put_keys(world)
        page = await world.service.list_objects(BUCKET, "", None, "", len(KEYS))
        assert not page.truncated and len(page.contents) == len(KEYS)
        page = await world.service.list_objects(BUCKET, "", None, "", len(KEYS) - 1)
        assert page.truncated and page.last == KEYS[-2]

    _run(tmp_path, body)


# --------------------------------------------------------------------------- multipart


async def _upload_parts(world: World, key: str, contents: list[bytes]) -> tuple[str, list[tuple[int, str]]]:
    upload = await world.service.create_upload(
        BUCKET, key, ObjectAttributes("text/csv", {"m": "1"}), "arn:me"
    )
    chosen = []
    for number, content in enumerate(contents, start=1):
        part, _ = await world.service.upload_part(
            BUCKET, key, upload.upload_id, number, _body(content, 256 * 1024), BodyChecks(length=len(content))
        )
        assert part.etag == f'"{hashlib.md5(content).hexdigest()}"'
        chosen.append((number, part.etag))
    return upload.upload_id, chosen


def test_a_multipart_object_reads_across_its_segments(tmp_path: Path) -> None:
    parts = [_content(MIN_PART_BYTES + 3, 1), _content(MIN_PART_BYTES, 2), _content(1000, 3)]
    whole = b"".join(parts)

    async def body(world: World) -> None:
        upload_id, chosen = await _upload_parts(world, "big.csv", parts)
        record = await world.service.complete_upload(BUCKET, "big.csv", upload_id, chosen, CALLER)
        binary = b"".join(hashlib.md5(part).digest() for part in parts)
        assert record.etag == f'"{hashlib.md5(binary).hexdigest()}-3"'
        assert record.size == len(whole) and record.parts_count == 3 and record.content_type == "text/csv"
        assert [segment.size for segment in record.segments] == [len(part) for part in parts]
        assert await world.data_ids() == {segment.data_id for segment in record.segments}
        assert await world.read("big.csv") == whole
        first_end = len(parts[0])
        second_end = first_end + len(parts[1])
        for start, end in [
            (0, 9),
            (first_end - 5, first_end + 4),  # across the first boundary
            (first_end, first_end),  # the second segment's first byte
            (first_end - 1, second_end + 10),  # all of the middle segment and a byte each side
            (second_end, len(whole) - 1),  # exactly the last segment
            (len(whole) - 3, len(whole) - 1),
            (MIB - 1, 3 * MIB),
        ]:
            got = await world.read("big.csv", ByteRange(start, end))
            assert got == whole[start : end + 1], (start, end)
        assert await world.read("big.csv", parse_range("bytes=-1500", len(whole))) == whole[-1500:]
        assert (await _error(world.service.list_parts(BUCKET, "big.csv", upload_id))).code == "NoSuchUpload"

    _run(tmp_path, body)


def test_completing_with_a_subset_of_parts_frees_the_rest(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        upload_id, chosen = await _upload_parts(world, "k", [b"one", b"two", b"three"])
        _, uploaded = await world.service.list_parts(BUCKET, "k", upload_id)
        record = await world.service.complete_upload(BUCKET, "k", upload_id, chosen[2:], CALLER)
        assert await world.read("k") == b"three"
        assert await world.data_ids() == {uploaded[2].data_id} == {record.segments[0].data_id}

    _run(tmp_path, body)


def test_reuploading_a_part_frees_the_replaced_one(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        upload_id, _ = await _upload_parts(world, "k", [b"first try"])
        part, _ = await world.service.upload_part(BUCKET, "k", upload_id, 1, _body(b"second"), BodyChecks())
        assert await world.data_ids() == {part.data_id}

    _run(tmp_path, body)


@pytest.mark.parametrize(
    ("choose", "code"),
    [
        (lambda chosen: [chosen[1], chosen[0]], "InvalidPartOrder"),
        (lambda chosen: [chosen[0], chosen[0]], "InvalidPartOrder"),
        (lambda chosen: [(1, '"' + "0" * 32 + '"'), chosen[1]], "InvalidPart"),
        (lambda chosen: [chosen[0], (3, chosen[1][1])], "InvalidPart"),
        (lambda chosen: [chosen[1], (3, chosen[0][1])], "InvalidPart"),
        (lambda chosen: chosen, "EntityTooSmall"),  # the first part is under 5 MiB
        (lambda chosen: [], "MalformedXML"),
    ],
    ids=[
        "descending",
        "repeated",
        "wrong-etag",
        "missing-number",
        "etag-of-another-part",
        "too-small",
        "none",
    ],
)
def test_complete_upload_refuses_as_s3_does_and_changes_nothing(
    tmp_path: Path, choose: Callable[[list[tuple[int, str]]], list[tuple[int, str]]], code: str
) -> None:
    async def body(world: World) -> None:
        upload_id, chosen = await _upload_parts(world, "k", [b"small first part", b"last"])
        error = await _error(world.service.complete_upload(BUCKET, "k", upload_id, choose(chosen), CALLER))
        assert (error.code, error.status) == (code, 400)
        assert (await _error(world.service.object(BUCKET, "k"))).code == "NoSuchKey"
        _, parts = await world.service.list_parts(BUCKET, "k", upload_id)
        assert len(parts) == 2 and len(await world.data_ids()) == 2
        # Only the last part may be small: the last one alone completes.
        record = await world.service.complete_upload(BUCKET, "k", upload_id, chosen[1:], CALLER)
        assert await world.read("k") == b"last" and record.parts_count == 1

    _run(tmp_path, body)


def test_abort_frees_the_parts_data_files(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        kept = await world.put("other", b"unrelated")
        upload_id, _ = await _upload_parts(world, "k", [b"one", b"two"])
        assert len(await world.data_ids()) == 3
        await world.service.abort_upload(BUCKET, "k", upload_id)
        assert await world.data_ids() == {kept.segments[0].data_id}
        assert await world.service.list_uploads(BUCKET) == []
        error = await _error(world.service.abort_upload(BUCKET, "k", upload_id))
        assert (error.code, error.status) == ("NoSuchUpload", 404)

    _run(tmp_path, body)


def test_completing_over_an_object_frees_the_replaced_object(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        await world.put("k", b"old")
        upload_id, chosen = await _upload_parts(world, "k", [b"new"])
        record = await world.service.complete_upload(BUCKET, "k", upload_id, chosen, CALLER)
        assert await world.data_ids() == {record.segments[0].data_id}
        assert await world.read("k") == b"new"

    _run(tmp_path, body)


# --------------------------------------------------------------------------- upkeep


def test_collect_unreferenced_frees_orphan_data_files_only(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        objects = [await world.put(f"k{index}", f"object {index}".encode()) for index in range(3)]
        upload_id, _ = await _upload_parts(world, "pending", [b"a part in progress"])
        _, parts = await world.service.list_parts(BUCKET, "pending", upload_id)
        await world.service.create_bucket("second-bucket", ACCOUNT, "us-east-1")
        elsewhere = await world.service.put_object(
            "second-bucket", "x", _body(b"x"), BodyChecks(), ObjectAttributes(), CALLER
        )
        orphans = {(await world.data.write(_body(f"orphan {index}".encode()))).data_id for index in range(2)}
        referenced = {record.segments[0].data_id for record in [*objects, elsewhere]} | {parts[0].data_id}
        assert await world.data_ids() == referenced | orphans

        assert await world.service.collect_unreferenced() == 2
        assert await world.data_ids() == referenced
        assert await world.service.collect_unreferenced() == 0
        assert await world.read("k2") == b"object 2"

    _run(tmp_path, body)


# --------------------------------------------------------------------------- events

CONFIGURATION = {
    "LambdaFunctionConfigurations": [{"LambdaFunctionArn": FUNCTION, "Events": ["s3:ObjectCreated:*"]}]
}


async def _every_kind_of_change(world: World) -> None:
    await world.put("put", b"put body")
    source = await world.service.object(BUCKET, "put")
    await world.service.copy_object(source, BUCKET, "copy", None, CALLER)
    upload_id, chosen = await _upload_parts(world, "multi", [b"part"])
    await world.service.complete_upload(BUCKET, "multi", upload_id, chosen, CALLER)
    await world.service.delete_object(BUCKET, "put", CALLER)
    await world.service.delete_object(BUCKET, "never-there", CALLER)


def test_without_a_notification_configuration_nothing_is_sent(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        await _every_kind_of_change(world)
        assert world.events.sent == []

    _run(tmp_path, body)


def test_with_a_notification_configuration_each_change_is_sent(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        await world.service.put_notification(BUCKET, CONFIGURATION)
        await _every_kind_of_change(world)
        assert world.events.names == [
            "ObjectCreated:Put",
            "ObjectCreated:Copy",
            "ObjectCreated:CompleteMultipartUpload",
            "ObjectRemoved:Delete",
        ]
        assert {bucket for bucket, _, _ in world.events.sent} == {BUCKET}
        assert {trace for _, _, trace in world.events.sent} == {CALLER.trace_header}
        put, copy, multi, removed = (event for _, event, _ in world.events.sent)
        assert (put.key, put.size, put.etag) == ("put", 8, hashlib.md5(b"put body").hexdigest())
        assert (copy.key, copy.etag) == ("copy", put.etag)
        assert multi.key == "multi" and multi.etag is not None and multi.etag.endswith("-1")
        assert (removed.key, removed.size, removed.etag) == ("put", None, None)
        assert (put.bucket, put.bucket_owner, put.region, put.time) == (BUCKET, ACCOUNT, "us-east-1", NOW)
        assert (put.principal_id, put.source_ip, put.request_id, put.host_id) == (
            "AWS:CALLER",
            "203.0.113.7",
            "REQ",
            "HOST",
        )
        sequencers = [event.sequencer for _, event, _ in world.events.sent]
        assert sequencers == sorted(sequencers) and len(set(sequencers)) == 4

    _run(tmp_path, body)
