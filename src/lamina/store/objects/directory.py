"""A bucket whose objects are the files of a host directory (`lamina server --bucket NAME=PATH`).

The directory is the truth: any program may create, change or remove files there, and S3 sees
them at once (object keys are the paths below the directory, with `/`). What S3 writes goes there
as ordinary files, written to a hidden folder and renamed into place. Files carry no S3 metadata:
an object's Content-Type comes from its extension, its ETag is the MD5 of its bytes (computed when
first asked and remembered while the file's size and modification time stay the same), and user
metadata is not kept.

The bucket's own record (notification configuration, policy, tags) and its multipart uploads live
in the regular stores, like any bucket's; `CompositeBucketStore` and `CompositeObjectData` send each
call to the directory or to the regular stores.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import mimetypes
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import BinaryIO

from lamina.domain.buckets.listing import prefix_end
from lamina.domain.buckets.records import BucketRecord, ObjectRecord, PartRecord, Segment, UploadRecord
from lamina.errors import AwsError
from lamina.store.bucket_ports import BucketStore, FinishedUpload, ObjectDataStore, StoredData

__all__ = ["DIRECTORY_DATA", "CompositeBucketStore", "CompositeObjectData", "DirectoryObjects"]

DIRECTORY_DATA = "dir:"  # data ids of files: "dir:<bucket>/<key>"
HIDDEN = ".lamina-uploads"  # where writes land before their rename; never an object
BLOCK = 1024 * 1024
# What the watcher should not report as an outside change: our own writes, this long.
OWN_WRITE_SECONDS = 5.0


def _refused(key: str) -> AwsError:
    return AwsError(
        "InvalidArgument",
        f"The key {key!r} cannot name a file in this bucket's directory (an empty, '.' or '..' segment, "
        "a NUL, or a path through a link leading out of the directory).",
        400,
    )


def _conflict(key: str, error: OSError) -> AwsError:
    """What the file system refused, as S3-shaped client errors (never a 500)."""
    if error.errno == errno.ENAMETOOLONG:
        return AwsError("KeyTooLongError", "Your key is too long", 400)
    return AwsError(
        "InvalidArgument",
        f"The key {key!r} conflicts with a folder or file in the bucket's directory ({error.strerror}).",
        400,
    )


class DirectoryObjects:
    """The objects of one directory-backed bucket."""

    def __init__(self, bucket: str, root: Path, regular: ObjectDataStore) -> None:
        self.bucket = bucket
        self.root = root
        self._regular = regular
        self._etags: dict[str, tuple[int, int, str]] = {}  # key → (size, mtime_ns, etag)
        self._own: dict[str, float] = {}  # key → when we last wrote or removed it

    def open(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._real_root = os.path.realpath(self.root)
        hidden = self.root / HIDDEN
        with contextlib.suppress(FileNotFoundError):
            for leftover in hidden.iterdir():
                leftover.unlink(missing_ok=True)

    def path_of(self, key: str) -> Path:
        """The file a key names; refused when it would not stay inside the directory, whatever
        links the directory holds (resolved now: a link changed between this check and the open
        that follows is a race a program with write access to the directory could win)."""
        parts = key.split("/")
        if not key or "\0" in key or any(part in ("", ".", "..") for part in parts) or parts[0] == HIDDEN:
            raise _refused(key)
        path = self.root.joinpath(*parts)
        real_root = getattr(self, "_real_root", None) or os.path.realpath(self.root)
        resolved = os.path.realpath(path)
        if resolved != real_root and not resolved.startswith(real_root + os.sep):
            raise _refused(key)
        return path

    def key_of(self, path: Path) -> str | None:
        """The object key of a file below the directory; None for what is not an object."""
        try:
            relative = path.relative_to(self.root)
        except ValueError:
            return None
        parts = relative.parts
        if not parts or parts[0] == HIDDEN:
            return None
        return "/".join(parts)

    def wrote_recently(self, key: str) -> bool:
        when = self._own.get(key)
        return when is not None and time.monotonic() - when < OWN_WRITE_SECONDS

    def _mark(self, key: str) -> None:
        now = time.monotonic()
        self._own[key] = now
        if len(self._own) > 10_000:
            self._own = {k: t for k, t in self._own.items() if now - t < OWN_WRITE_SECONDS}

    # records ---------------------------------------------------------------------------------
    async def record(self, key: str) -> ObjectRecord | None:
        try:
            path = self.path_of(key)
        except AwsError:
            return None
        return await asyncio.to_thread(self._record, key, path)

    def _record(self, key: str, path: Path) -> ObjectRecord | None:
        try:
            stat = path.stat()
        except (OSError, ValueError):
            return None  # absent, a name the file system cannot hold: no such object
        if not path.is_file():
            return None
        cached = self._etags.get(key)
        if cached is not None and cached[:2] == (stat.st_size, stat.st_mtime_ns):
            etag = cached[2]
        else:
            digest = hashlib.md5()
            with path.open("rb") as handle:
                while block := handle.read(BLOCK):
                    digest.update(block)
            etag = f'"{digest.hexdigest()}"'
            self._etags[key] = (stat.st_size, stat.st_mtime_ns, etag)
        content_type = mimetypes.guess_type(key)[0] or "binary/octet-stream"
        segments = (Segment(f"{DIRECTORY_DATA}{self.bucket}/{key}", stat.st_size),) if stat.st_size else ()
        return ObjectRecord(self.bucket, key, stat.st_size, etag, stat.st_mtime, segments, content_type)

    async def put(self, record: ObjectRecord) -> ObjectRecord | None:
        """Write `record`'s bytes (runs of the regular store, which this consumes) as the file."""
        path = self.path_of(record.key)
        replaced = await self.record(record.key)
        hidden = self.root / HIDDEN
        await asyncio.to_thread(hidden.mkdir, exist_ok=True)
        temporary = hidden / uuid.uuid4().hex
        handle: BinaryIO = await asyncio.to_thread(open, temporary, "wb")
        try:
            for segment in record.segments:
                async for chunk in self._source(segment):
                    await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(handle.close)
            self._mark(record.key)
            await asyncio.to_thread(_into_place, temporary, path)
        except OSError as error:
            handle.close()
            temporary.unlink(missing_ok=True)
            raise _conflict(record.key, error) from None
        except BaseException:
            handle.close()
            temporary.unlink(missing_ok=True)
            raise
        await self._regular.delete(
            s.data_id for s in record.segments if not s.data_id.startswith(DIRECTORY_DATA)
        )
        self._etags[record.key] = (*_stat(path), record.etag)
        return replaced

    def _source(self, segment: Segment) -> AsyncIterator[bytes]:
        if segment.data_id.startswith(DIRECTORY_DATA):
            return self.read(segment.data_id[len(DIRECTORY_DATA) + len(self.bucket) + 1 :], 0, segment.size)
        return self._regular.read(segment.data_id, 0, segment.size)

    async def delete(self, key: str) -> ObjectRecord | None:
        removed = await self.record(key)
        if removed is None:
            return None
        self._mark(key)
        try:
            await asyncio.to_thread(self.path_of(key).unlink)
        except FileNotFoundError:
            pass
        except OSError as error:
            raise _conflict(key, error) from None
        await asyncio.to_thread(_prune_empty_folders, self.path_of(key).parent, self.root)
        return removed

    async def listing(self, prefix: str, after: str, limit: int) -> list[ObjectRecord]:
        keys = await asyncio.to_thread(self._keys)
        end = prefix_end(prefix)
        chosen = [
            key for key in keys if key.startswith(prefix) and key > after and (end is None or key < end)
        ][:limit]
        found = [await self.record(key) for key in chosen]
        return [record for record in found if record is not None]

    def _keys(self) -> list[str]:
        keys: list[str] = []
        for folder, names, files in os.walk(self.root):
            if Path(folder) == self.root and HIDDEN in names:
                names.remove(HIDDEN)
            for name in files:
                key = self.key_of(Path(folder) / name)
                if key is not None:
                    keys.append(key)
        return sorted(keys, key=lambda key: key.encode("utf-8", "surrogateescape"))

    async def is_empty(self) -> bool:
        return not await asyncio.to_thread(self._keys)

    async def read(self, key: str, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        try:
            handle: BinaryIO = await asyncio.to_thread(open, self.path_of(key), "rb")
        except (OSError, ValueError, AwsError):
            raise KeyError(key) from None
        try:
            if start:
                await asyncio.to_thread(handle.seek, start)
            remaining = length
            while remaining is None or remaining > 0:
                chunk = await asyncio.to_thread(
                    handle.read, BLOCK if remaining is None else min(BLOCK, remaining)
                )
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            handle.close()


def _stat(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _into_place(temporary: Path, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(temporary, path)


def _prune_empty_folders(folder: Path, root: Path) -> None:
    """S3 has no folders: one left empty by a delete goes too (up to the directory itself)."""
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


class CompositeBucketStore:
    """The regular bucket store, with the objects of directory-backed buckets in their directories."""

    def __init__(self, regular: BucketStore, directories: Mapping[str, DirectoryObjects]) -> None:
        self._regular = regular
        self._directories = dict(directories)

    async def open(self) -> None:
        await self._regular.open()
        for directory in self._directories.values():
            await asyncio.to_thread(directory.open)

    async def close(self) -> None:
        await self._regular.close()

    async def create_bucket(self, bucket: BucketRecord) -> bool:
        return await self._regular.create_bucket(bucket)

    async def get_bucket(self, name: str) -> BucketRecord | None:
        return await self._regular.get_bucket(name)

    async def list_buckets(self) -> list[BucketRecord]:
        return await self._regular.list_buckets()

    async def update_bucket(self, bucket: BucketRecord) -> bool:
        return await self._regular.update_bucket(bucket)

    async def delete_bucket(self, name: str) -> bool:
        if name in self._directories:
            return False  # a directory-backed bucket lives as long as the server is told of it
        return await self._regular.delete_bucket(name)

    async def is_empty(self, name: str) -> bool:
        directory = self._directories.get(name)
        if directory is not None:
            return await directory.is_empty() and await self._regular.is_empty(name)
        return await self._regular.is_empty(name)

    async def put_object(self, record: ObjectRecord) -> ObjectRecord | None:
        directory = self._directories.get(record.bucket)
        if directory is None:
            return await self._regular.put_object(record)
        return await directory.put(record)

    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        directory = self._directories.get(bucket)
        return await (
            directory.record(key) if directory is not None else self._regular.get_object(bucket, key)
        )

    async def delete_object(self, bucket: str, key: str) -> ObjectRecord | None:
        directory = self._directories.get(bucket)
        return await (
            directory.delete(key) if directory is not None else self._regular.delete_object(bucket, key)
        )

    async def list_objects(self, bucket: str, prefix: str, after: str, limit: int) -> list[ObjectRecord]:
        directory = self._directories.get(bucket)
        if directory is not None:
            return await directory.listing(prefix, after, limit)
        return await self._regular.list_objects(bucket, prefix, after, limit)

    async def create_upload(self, upload: UploadRecord) -> None:
        await self._regular.create_upload(upload)

    async def get_upload(self, upload_id: str) -> UploadRecord | None:
        return await self._regular.get_upload(upload_id)

    async def list_uploads(self, bucket: str) -> list[UploadRecord]:
        return await self._regular.list_uploads(bucket)

    async def put_part(self, part: PartRecord) -> PartRecord | None:
        return await self._regular.put_part(part)

    async def list_parts(self, upload_id: str) -> list[PartRecord]:
        return await self._regular.list_parts(upload_id)

    async def finish_upload(self, upload_id: str, record: ObjectRecord | None) -> FinishedUpload | None:
        directory = self._directories.get(record.bucket) if record is not None else None
        if directory is None or record is None:
            return await self._regular.finish_upload(upload_id, record)
        finished = await self._regular.finish_upload(upload_id, None)
        if finished is None:
            return None
        replaced = await directory.put(record)  # consumes the parts the object is made of
        return FinishedUpload(finished.parts, replaced)


class CompositeObjectData:
    """The regular object data store; runs that are directory files (`dir:` ids) read from there,
    and are never freed here (the file is the object: the bucket store removes it)."""

    def __init__(self, regular: ObjectDataStore, directories: Mapping[str, DirectoryObjects]) -> None:
        self._regular = regular
        self._directories = dict(directories)

    async def open(self) -> None:
        await self._regular.open()

    async def close(self) -> None:
        await self._regular.close()

    async def write(self, chunks: AsyncIterator[bytes]) -> StoredData:
        return await self._regular.write(chunks)

    def read(self, data_id: str, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        if data_id.startswith(DIRECTORY_DATA):
            bucket, _, key = data_id[len(DIRECTORY_DATA) :].partition("/")
            directory = self._directories.get(bucket)
            if directory is None:
                raise KeyError(data_id)
            return directory.read(key, start, length)
        return self._regular.read(data_id, start, length)

    async def delete(self, data_ids: Iterable[str]) -> None:
        await self._regular.delete(data_id for data_id in data_ids if not data_id.startswith(DIRECTORY_DATA))

    async def data_ids(self) -> set[str]:
        return await self._regular.data_ids()
