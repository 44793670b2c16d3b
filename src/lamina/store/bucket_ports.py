"""The ports of the embedded S3: bucket and object records (`BucketStore`) and object bytes
(`ObjectDataStore`). Adapters: SQLite and files in the data directory, PostgreSQL for several
servers; `tests/contract/test_bucket_stores.py` holds both to these contracts.

Bytes are written before the record that names them, and freed after the record that named them
is gone: a crash between the two leaves unreferenced bytes (collected at the next start), never a
record without its bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Protocol

from lamina.domain.buckets.records import BucketRecord, ObjectRecord, PartRecord, UploadRecord

__all__ = ["BucketStore", "FinishedUpload", "ObjectDataStore", "StoredData"]


@dataclass(frozen=True, slots=True)
class StoredData:
    data_id: str
    size: int


@dataclass(frozen=True, slots=True)
class FinishedUpload:
    """What an ended upload leaves to free: its parts (the caller frees those the new object does
    not use) and the object it replaced."""

    parts: list[PartRecord]
    replaced: ObjectRecord | None


class ObjectDataStore(Protocol):
    """Object bytes, written and read as streams (an object may be gigabytes: never whole in
    memory). Data is immutable once written; ids are never reused."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...

    async def write(self, chunks: AsyncIterator[bytes]) -> StoredData:
        """Store everything `chunks` yields under a new id, durable when this returns. If `chunks`
        raises, nothing stays stored and the error propagates."""
        ...

    def read(self, data_id: str, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """The bytes [start, start + length) of a stored run, in chunks. Raises KeyError (when
        iterated) for an id that is not stored. A read begun before `delete` still completes."""
        ...

    async def delete(self, data_ids: Iterable[str]) -> None:
        """Free runs; ids not stored are ignored (idempotent)."""
        ...

    async def data_ids(self) -> set[str]:
        """Every stored id (for collecting what no record names after a crash)."""
        ...


class BucketStore(Protocol):
    """Buckets, objects, multipart uploads and parts. Safe to call concurrently; writes are
    durable when the awaited call returns. Keys sort as S3 sorts them: by their UTF-8 bytes."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...

    # buckets
    async def create_bucket(self, bucket: BucketRecord) -> bool:
        """Insert a bucket; False (nothing changed) when one of that name exists."""
        ...

    async def get_bucket(self, name: str) -> BucketRecord | None: ...
    async def list_buckets(self) -> list[BucketRecord]:
        """Every bucket of every account, by name."""
        ...

    async def update_bucket(self, bucket: BucketRecord) -> bool:
        """Replace a bucket's settings (notification, policy, tags); False when it is gone."""
        ...

    async def delete_bucket(self, name: str) -> bool:
        """Delete an empty bucket (no objects, no uploads); False when it is not there or not
        empty, and then nothing changed."""
        ...

    async def is_empty(self, name: str) -> bool: ...

    # objects
    async def put_object(self, record: ObjectRecord) -> ObjectRecord | None:
        """Store an object, replacing one of the same key; returns the replaced one (whose
        segments the caller frees). Raises KeyError when the bucket is gone."""
        ...

    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None: ...
    async def delete_object(self, bucket: str, key: str) -> ObjectRecord | None:
        """Remove an object; returns it (the caller frees its segments), None when absent."""
        ...

    async def list_objects(self, bucket: str, prefix: str, after: str, limit: int) -> list[ObjectRecord]:
        """Up to `limit` objects whose keys start with `prefix` and sort after `after`, in order."""
        ...

    # multipart uploads
    async def create_upload(self, upload: UploadRecord) -> None:
        """Raises KeyError when the bucket is gone."""
        ...

    async def get_upload(self, upload_id: str) -> UploadRecord | None: ...
    async def list_uploads(self, bucket: str) -> list[UploadRecord]:
        """A bucket's uploads in progress, by key then initiation."""
        ...

    async def put_part(self, part: PartRecord) -> PartRecord | None:
        """Store a part, replacing one of the same number; returns the replaced one. Raises
        KeyError when the upload is gone (completed or aborted meanwhile)."""
        ...

    async def list_parts(self, upload_id: str) -> list[PartRecord]:
        """An upload's parts by number."""
        ...

    async def finish_upload(self, upload_id: str, record: ObjectRecord | None) -> FinishedUpload | None:
        """End an upload in one step: complete it (store `record`, replacing an object of its
        key) or abort it (`record` None). None when the upload was not there (nothing changed)."""
        ...
