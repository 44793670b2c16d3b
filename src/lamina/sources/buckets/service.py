"""The embedded S3's operations on its stores: buckets, objects, multipart uploads, listings,
notification configurations, policies and tags.

Called by the S3 API edge (`api/services/s3/`) with decoded arguments, and usable as well by
anything else in Lamina that keeps objects (deployments from a bucket, the console). Object bytes
stream through (`digests.py` checks them on the way); nothing holds an object whole.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from lamina.domain.buckets import errors
from lamina.domain.buckets.events import ObjectEvent, new_sequencer
from lamina.domain.buckets.listing import after_common_prefix, common_prefix_of
from lamina.domain.buckets.names import check_bucket_name, check_key
from lamina.domain.buckets.notifications import DESTINATIONS, normalise
from lamina.domain.buckets.reads import ByteRange
from lamina.domain.buckets.records import (
    BucketRecord,
    ObjectRecord,
    PartRecord,
    Segment,
    UploadRecord,
    multipart_etag,
    quoted_etag,
)
from lamina.errors import AwsError
from lamina.sources.buckets.digests import BodyChecks, DigestingBody
from lamina.store.bucket_ports import BucketStore, ObjectDataStore, StoredData

_log = logging.getLogger(__name__)

MAX_OBJECT_BYTES = 5 * 1024**4  # 5 TiB, from parts
MAX_PUT_BYTES = 5 * 1024**3  # one PutObject or part: 5 GiB
MIN_PART_BYTES = 5 * 1024**2  # every part but the last
MAX_PART_NUMBER = 10_000
MAX_DELETE_KEYS = 1000
LEGACY_REGION = "us-east-1"


class ObjectEvents(Protocol):
    async def notify(self, bucket: BucketRecord, event: ObjectEvent, trace_header: str | None) -> None: ...
    async def refusal(self, bucket: BucketRecord, kind: str, arn: str) -> str | None:
        """Why S3 could not deliver to a destination (`kind`: a key of DESTINATIONS), as S3's
        ArgumentValue says it; None when it can."""
        ...

    async def configured(self, bucket: BucketRecord) -> None:
        """A configuration was stored: S3 sends queues and topics a test event."""
        ...


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made a request, as S3 events and ownership record it."""

    account_id: str
    principal_id: str
    source_ip: str = ""
    request_id: str = ""
    host_id: str = ""
    trace_header: str | None = None  # X-Amzn-Trace-Id: continues a function's chain (recursion)


@dataclass(frozen=True, slots=True)
class ObjectAttributes:
    """What an upload sets besides its bytes."""

    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ListingPage:
    contents: list[ObjectRecord]
    common_prefixes: list[str]
    truncated: bool
    last: str | None  # the last key or common prefix listed: where the next page starts


class BucketService:
    def __init__(
        self,
        store: BucketStore,
        data: ObjectDataStore,
        events: ObjectEvents,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._data = data
        self._events = events
        self._clock = clock

    # ----------------------------------------------------------------------- buckets

    async def create_bucket(self, name: str, account_id: str, region: str) -> BucketRecord:
        check_bucket_name(name)
        record = BucketRecord(name, account_id, region, self._clock())
        if await self._store.create_bucket(record):
            return record
        existing = await self._store.get_bucket(name)
        if existing is not None and existing.account_id == account_id:
            # S3 in us-east-1 answers 200 to re-creating a bucket you own there (a legacy rule).
            if region == LEGACY_REGION and existing.region == LEGACY_REGION:
                return existing
            raise errors.bucket_already_owned(name)
        raise errors.bucket_already_exists(name)

    async def bucket(self, name: str) -> BucketRecord:
        found = await self._store.get_bucket(name)
        if found is None:
            raise errors.no_such_bucket(name)
        return found

    async def find_bucket(self, name: str) -> BucketRecord | None:
        return await self._store.get_bucket(name)

    async def list_buckets(self, account_id: str) -> list[BucketRecord]:
        return [bucket for bucket in await self._store.list_buckets() if bucket.account_id == account_id]

    async def delete_bucket(self, name: str) -> None:
        await self.bucket(name)
        if not await self._store.delete_bucket(name):
            if await self._store.get_bucket(name) is None:
                raise errors.no_such_bucket(name)
            raise errors.bucket_not_empty(name)

    async def _update(self, bucket: BucketRecord) -> None:
        if not await self._store.update_bucket(bucket):
            raise errors.no_such_bucket(bucket.name)

    async def put_notification(
        self, name: str, configuration: Mapping[str, object], *, check_destinations: bool = True
    ) -> None:
        bucket = await self.bucket(name)
        normalised = normalise(configuration)
        if check_destinations:
            for member, arn_member in DESTINATIONS.items():
                for entry in normalised.get(member, []):
                    refusal = await self._events.refusal(bucket, member, entry[arn_member])
                    if refusal is not None:
                        raise errors.invalid_argument(
                            "Unable to validate the following destination configurations",
                            entry[arn_member],
                            refusal,
                        )
        await self._update(replace(bucket, notification=normalised))
        await self._events.configured(replace(bucket, notification=normalised))

    async def put_policy(self, name: str, policy: str | None) -> None:
        bucket = await self.bucket(name)
        await self._update(replace(bucket, policy=policy))

    async def put_bucket_tags(self, name: str, tags: Mapping[str, str]) -> None:
        bucket = await self.bucket(name)
        await self._update(replace(bucket, tags=dict(tags)))

    # ----------------------------------------------------------------------- objects

    async def put_object(
        self,
        bucket_name: str,
        key: str,
        body: AsyncIterator[bytes],
        checks: BodyChecks,
        attributes: ObjectAttributes,
        caller: Caller,
        *,
        event_name: str = "ObjectCreated:Put",
        trailing: Mapping[str, str] | None = None,
    ) -> ObjectRecord:
        """Store an object from a streamed body. `trailing`: checksums a trailer declares, filled
        in while `body` is read (aws-chunked)."""
        bucket = await self.bucket(bucket_name)
        check_key(key)
        if checks.length is not None and checks.length > MAX_PUT_BYTES:
            raise errors.entity_too_large(checks.length, MAX_PUT_BYTES)
        stored, digesting, checksums = await self._write_checked(body, checks, trailing)
        record = ObjectRecord(
            bucket.name,
            key,
            stored.size,
            quoted_etag(digesting.md5_hex),
            self._clock(),
            (Segment(stored.data_id, stored.size),) if stored.size else (),
            attributes.content_type or "binary/octet-stream",
            dict(attributes.metadata),
            dict(attributes.headers),
            checksums=checksums,
            tags=dict(attributes.tags),
        )
        if not stored.size:
            await self._data.delete([stored.data_id])
        await self._store_object(record)
        await self._notify(bucket, record, event_name, caller)
        return record

    async def _write_checked(
        self, body: AsyncIterator[bytes], checks: BodyChecks, trailing: Mapping[str, str] | None
    ) -> tuple[StoredData, DigestingBody, dict[str, str]]:
        digesting = DigestingBody(body, checks)
        if trailing is not None:
            for name in ("ChecksumCRC32", "ChecksumSHA1", "ChecksumSHA256"):
                digesting.want_checksum(name)
        try:
            stored = await self._data.write(digesting.__aiter__())
        except ConnectionError:
            digesting.cancel()
            raise errors.incomplete_body() from None
        except BaseException:
            digesting.cancel()
            raise
        try:
            await digesting.finished()
            if trailing:
                digesting.trailing.update(trailing)
            checksums = digesting.verify()
        except AwsError:
            await self._data.delete([stored.data_id])
            raise
        return stored, digesting, checksums

    async def _store_object(self, record: ObjectRecord) -> None:
        try:
            replaced = await self._store.put_object(record)
        except KeyError:
            await self._free(record.segments)
            raise errors.no_such_bucket(record.bucket) from None
        if replaced is not None:
            await self._free(replaced.segments)

    async def _free(self, segments: Sequence[Segment]) -> None:
        if segments:
            await self._data.delete([segment.data_id for segment in segments])

    async def object(self, bucket_name: str, key: str) -> ObjectRecord:
        await self.bucket(bucket_name)
        found = await self._store.get_object(bucket_name, key)
        if found is None:
            raise errors.no_such_key(key)
        return found

    async def read(self, record: ObjectRecord, byte_range: ByteRange | None = None) -> AsyncIterator[bytes]:
        """The object's bytes (or a range of them), streamed from its segments."""
        start = 0 if byte_range is None else byte_range.start
        remaining = record.size - start if byte_range is None else byte_range.length
        offset = 0
        for segment in record.segments:
            if remaining <= 0:
                break
            if start >= offset + segment.size:
                offset += segment.size
                continue
            within = max(0, start - offset)
            count = min(segment.size - within, remaining)
            async for chunk in self._data.read(segment.data_id, within, count):
                yield chunk
            remaining -= count
            offset += segment.size

    async def delete_object(self, bucket_name: str, key: str, caller: Caller) -> None:
        bucket = await self.bucket(bucket_name)
        removed = await self._store.delete_object(bucket_name, key)
        if removed is None:
            return  # S3 answers 204 for a key that is not there
        await self._free(removed.segments)
        await self._notify(bucket, removed, "ObjectRemoved:Delete", caller)

    async def delete_objects(
        self, bucket_name: str, keys: Sequence[str], caller: Caller
    ) -> list[tuple[str, AwsError | None]]:
        await self.bucket(bucket_name)
        if len(keys) > MAX_DELETE_KEYS:
            raise errors.malformed_xml()
        results: list[tuple[str, AwsError | None]] = []
        for key in keys:
            try:
                await self.delete_object(bucket_name, key, caller)
                results.append((key, None))
            except AwsError as error:
                results.append((key, error))
        return results

    async def copy_object(
        self,
        source: ObjectRecord,
        bucket_name: str,
        key: str,
        attributes: ObjectAttributes | None,
        caller: Caller,
    ) -> ObjectRecord:
        """Copy `source`'s bytes to a new object; `attributes` None keeps the source's (the COPY
        metadata directive), else replaces them (REPLACE)."""
        bucket = await self.bucket(bucket_name)
        check_key(key)
        if attributes is None and source.bucket == bucket_name and source.key == key:
            raise AwsError(
                "InvalidRequest",
                "This copy request is illegal because it is trying to copy an object to itself without "
                "changing the object's metadata, storage class, website redirect location or encryption "
                "attributes.",
                400,
            )
        digesting = DigestingBody(self.read(source), BodyChecks())
        stored = await self._data.write(digesting.__aiter__())
        await digesting.finished()
        segments = (Segment(stored.data_id, stored.size),) if stored.size else ()
        if not stored.size:
            await self._data.delete([stored.data_id])
        given = attributes or ObjectAttributes(
            source.content_type, source.metadata, source.headers, source.tags
        )
        record = ObjectRecord(
            bucket.name,
            key,
            stored.size,
            quoted_etag(digesting.md5_hex),
            self._clock(),
            segments,
            given.content_type or "binary/octet-stream",
            dict(given.metadata),
            dict(given.headers),
            None,
            dict(source.checksums) if source.parts_count is None else {},
            dict(source.tags),
        )
        await self._store_object(record)
        await self._notify(bucket, record, "ObjectCreated:Copy", caller)
        return record

    def _event(
        self, bucket: BucketRecord, record: ObjectRecord | None, name: str, caller: Caller, key: str = ""
    ) -> ObjectEvent:
        created = name.startswith("ObjectCreated")
        return ObjectEvent(
            name,
            bucket.name,
            bucket.account_id,
            bucket.region,
            record.key if record is not None else key,
            record.size if created and record is not None else None,
            record.etag.strip('"') if created and record is not None else None,
            new_sequencer(),
            self._clock(),
            caller.principal_id,
            caller.source_ip,
            caller.request_id,
            caller.host_id,
        )

    async def _notify(self, bucket: BucketRecord, record: ObjectRecord, name: str, caller: Caller) -> None:
        if bucket.notification:
            await self._events.notify(bucket, self._event(bucket, record, name, caller), caller.trace_header)

    async def notifies(self, bucket_name: str) -> bool:
        """Whether changes to the bucket have destinations now (a notification configuration)."""
        bucket = await self._store.get_bucket(bucket_name)
        return bucket is not None and bool(bucket.notification)

    async def notify_outside_change(self, bucket_name: str, key: str, *, removed: bool) -> None:
        """A file of a directory-backed bucket that another program created, changed or removed:
        the event its destinations get, as for the same change through S3."""
        bucket = await self._store.get_bucket(bucket_name)
        if bucket is None or not bucket.notification:
            return
        caller = Caller(bucket.account_id, "Lamina:directory", "127.0.0.1")
        if removed:
            event = self._event(bucket, None, "ObjectRemoved:Delete", caller, key)
        else:
            record = await self._store.get_object(bucket_name, key)
            if record is None:
                return  # gone again already
            event = self._event(bucket, record, "ObjectCreated:Put", caller)
        await self._events.notify(bucket, event, None)

    # ----------------------------------------------------------------------- listings

    async def list_objects(
        self, bucket_name: str, prefix: str, delimiter: str | None, after: str, max_keys: int
    ) -> ListingPage:
        await self.bucket(bucket_name)
        contents: list[ObjectRecord] = []
        prefixes: list[str] = []
        marker = after
        if delimiter and after and common_prefix_of(after, prefix, delimiter) == after:
            # Resuming after a common prefix (a v1 NextMarker, a continuation token): every key
            # under it was rolled up into it already.
            marker = after_common_prefix(after)
        last: str | None = None
        if max_keys <= 0:
            return ListingPage([], [], False, None)
        while True:
            batch = await self._store.list_objects(bucket_name, prefix, marker, max(max_keys + 1, 100))
            if not batch:
                return ListingPage(contents, prefixes, False, last)
            for record in batch:
                if record.key <= marker:
                    continue
                rolled = common_prefix_of(record.key, prefix, delimiter)
                if len(contents) + len(prefixes) == max_keys:
                    return ListingPage(contents, prefixes, True, last)
                if rolled is not None:
                    prefixes.append(rolled)
                    last = rolled
                    marker = after_common_prefix(rolled)
                    break  # resume past every key under this prefix
                contents.append(record)
                last = marker = record.key
            else:
                continue

    # ----------------------------------------------------------------------- multipart

    async def create_upload(
        self, bucket_name: str, key: str, attributes: ObjectAttributes, caller_arn: str
    ) -> UploadRecord:
        await self.bucket(bucket_name)
        check_key(key)
        upload = UploadRecord(
            uuid.uuid4().hex + uuid.uuid4().hex,
            bucket_name,
            key,
            self._clock(),
            attributes.content_type or "binary/octet-stream",
            dict(attributes.metadata),
            dict(attributes.headers),
            caller_arn,
            dict(attributes.tags),
        )
        try:
            await self._store.create_upload(upload)
        except KeyError:
            raise errors.no_such_bucket(bucket_name) from None
        return upload

    async def upload(self, bucket_name: str, key: str, upload_id: str) -> UploadRecord:
        await self.bucket(bucket_name)
        found = await self._store.get_upload(upload_id)
        if found is None or found.bucket != bucket_name or found.key != key:
            raise errors.no_such_upload(upload_id)
        return found

    async def upload_part(
        self,
        bucket_name: str,
        key: str,
        upload_id: str,
        number: int,
        body: AsyncIterator[bytes],
        checks: BodyChecks,
        *,
        trailing: Mapping[str, str] | None = None,
    ) -> tuple[PartRecord, dict[str, str]]:
        await self.upload(bucket_name, key, upload_id)
        if not 1 <= number <= MAX_PART_NUMBER:
            raise errors.invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive", "partNumber", str(number)
            )
        if checks.length is not None and checks.length > MAX_PUT_BYTES:
            raise errors.entity_too_large(checks.length, MAX_PUT_BYTES)
        stored, digesting, checksums = await self._write_checked(body, checks, trailing)
        part = PartRecord(
            upload_id, number, stored.size, quoted_etag(digesting.md5_hex), self._clock(), stored.data_id
        )
        try:
            replaced = await self._store.put_part(part)
        except KeyError:
            await self._data.delete([stored.data_id])
            raise errors.no_such_upload(upload_id) from None
        if replaced is not None:
            await self._data.delete([replaced.data_id])
        return part, checksums

    async def copy_part(
        self,
        bucket_name: str,
        key: str,
        upload_id: str,
        number: int,
        source: ObjectRecord,
        byte_range: ByteRange | None,
    ) -> PartRecord:
        chunks = self.read(source, byte_range)
        part, _ = await self.upload_part(bucket_name, key, upload_id, number, chunks, BodyChecks())
        return part

    async def list_parts(
        self, bucket_name: str, key: str, upload_id: str
    ) -> tuple[UploadRecord, list[PartRecord]]:
        upload = await self.upload(bucket_name, key, upload_id)
        return upload, await self._store.list_parts(upload_id)

    async def list_uploads(self, bucket_name: str) -> list[UploadRecord]:
        await self.bucket(bucket_name)
        return await self._store.list_uploads(bucket_name)

    async def abort_upload(self, bucket_name: str, key: str, upload_id: str) -> None:
        await self.upload(bucket_name, key, upload_id)
        finished = await self._store.finish_upload(upload_id, None)
        if finished is None:
            raise errors.no_such_upload(upload_id)
        await self._data.delete([part.data_id for part in finished.parts])

    async def complete_upload(
        self,
        bucket_name: str,
        key: str,
        upload_id: str,
        chosen: Sequence[tuple[int, str]],
        caller: Caller,
    ) -> ObjectRecord:
        """Make the object from the parts `chosen` ((number, ETag), ascending), as S3 checks them."""
        bucket = await self.bucket(bucket_name)
        upload = await self.upload(bucket_name, key, upload_id)
        if not chosen:
            raise errors.malformed_xml()
        parts = {part.number: part for part in await self._store.list_parts(upload_id)}
        used: list[PartRecord] = []
        previous = 0
        for number, etag in chosen:
            if number <= previous:
                raise errors.invalid_part_order()
            previous = number
            part = parts.get(number)
            if part is None or part.etag.strip('"') != etag.strip('"'):
                raise errors.invalid_part(number, etag)
            used.append(part)
        for part in used[:-1]:
            if part.size < MIN_PART_BYTES:
                raise errors.entity_too_small()
        record = ObjectRecord(
            bucket.name,
            key,
            sum(part.size for part in used),
            multipart_etag(part.etag for part in used),
            self._clock(),
            tuple(Segment(part.data_id, part.size) for part in used if part.size),
            upload.content_type,
            dict(upload.metadata),
            dict(upload.headers),
            len(used),
            tags=dict(upload.tags),
        )
        finished = await self._store.finish_upload(upload_id, record)
        if finished is None:
            raise errors.no_such_upload(upload_id)
        kept = {part.data_id for part in used}
        await self._data.delete([part.data_id for part in finished.parts if part.data_id not in kept])
        if finished.replaced is not None:
            await self._free(finished.replaced.segments)
        await self._notify(bucket, record, "ObjectCreated:CompleteMultipartUpload", caller)
        return record

    # ----------------------------------------------------------------------- upkeep

    async def collect_unreferenced(self) -> int:
        """Free object bytes no record names (a crash between writing bytes and their record, or
        between removing a record and freeing its bytes); returns how many runs were freed. Run
        at start, before any upload: bytes being written now would look unreferenced."""
        stored = await self._data.data_ids()
        if not stored:
            return 0
        referenced: set[str] = set()
        for bucket in await self._store.list_buckets():
            after = ""
            while True:
                batch = await self._store.list_objects(bucket.name, "", after, 1000)
                if not batch:
                    break
                for record in batch:
                    referenced.update(segment.data_id for segment in record.segments)
                after = batch[-1].key
            for upload in await self._store.list_uploads(bucket.name):
                referenced.update(part.data_id for part in await self._store.list_parts(upload.upload_id))
        orphans = stored - referenced
        await self._data.delete(orphans)
        return len(orphans)


async def drain(chunks: AsyncIterator[bytes]) -> bytes:
    """All of a (small) stream: request documents, never objects."""
    return b"".join([chunk async for chunk in chunks])
