"""What an upload's body must hash to, checked as it streams by.

S3 checks each upload against what the client declared: Content-MD5, the SigV4 payload hash
(`x-amz-content-sha256`) and the flexible checksums (`x-amz-checksum-*`, Amazon S3 User Guide,
"Checking object integrity"), and always computes the MD5 that becomes the ETag. The bytes go to
the data store as they arrive; the digests are compared at the end, and a mismatch discards what
was written.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import zlib
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lamina.domain.buckets.errors import bad_digest, incomplete_body, invalid_digest
from lamina.errors import AwsError

# Checksum algorithms Lamina computes (CRC32C and CRC64NVME need a native library: a declared
# value of theirs is stored unchecked), by the output member that carries each.
_CHECKSUMS: dict[str, Callable[[], Any]] = {
    "ChecksumCRC32": lambda: _Crc32(),
    "ChecksumSHA1": hashlib.sha1,
    "ChecksumSHA256": hashlib.sha256,
}
CHECKSUM_HEADERS = {
    "ChecksumCRC32": "x-amz-checksum-crc32",
    "ChecksumCRC32C": "x-amz-checksum-crc32c",
    "ChecksumSHA1": "x-amz-checksum-sha1",
    "ChecksumSHA256": "x-amz-checksum-sha256",
    "ChecksumCRC64NVME": "x-amz-checksum-crc64nvme",
}


# Bytes hashed (and handed on) at once, and how many blocks may wait for their hashing.
BLOCK = 1024 * 1024
HASH_AHEAD = 4


class _Crc32:
    def __init__(self) -> None:
        self._value = 0

    def update(self, data: bytes) -> None:
        self._value = zlib.crc32(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(4, "big")


@dataclass(frozen=True, slots=True)
class BodyChecks:
    """What the client declared about a body."""

    length: int | None = None  # the payload's length (after any aws-chunked framing)
    content_md5: str | None = None  # base64, as sent
    payload_sha256: str | None = None  # hex, when the signature covers the payload
    checksums: Mapping[str, str] = field(default_factory=dict)  # ChecksumCRC32 → base64


@dataclass(slots=True)
class DigestingBody:
    """Wraps a body: counts and hashes what passes through. `verify()` after the last byte."""

    chunks: AsyncIterator[bytes]
    checks: BodyChecks
    size: int = 0
    _md5: Any = field(default_factory=hashlib.md5)
    _sha256: Any = None
    _checksums: dict[str, Any] = field(default_factory=dict)
    # Checksums that arrive after the body (an aws-chunked trailer): set before verify().
    trailing: dict[str, str] = field(default_factory=dict)
    _hashing: deque[asyncio.Future[None]] = field(default_factory=deque)

    def __post_init__(self) -> None:
        if self.checks.payload_sha256 is not None:
            self._sha256 = hashlib.sha256()
        for name in self.checks.checksums:
            if name in _CHECKSUMS:
                self._checksums[name] = _CHECKSUMS[name]()

    def want_checksum(self, name: str) -> None:
        """Compute `name` too (a trailer will declare it)."""
        if name in _CHECKSUMS and name not in self._checksums:
            self._checksums[name] = _CHECKSUMS[name]()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """The body's chunks, handed on as they come and hashed a block (BLOCK bytes) at a time on
        worker threads (hashlib lets go of the GIL for large buffers): hashing one block, writing
        another and receiving the next overlap, and hashing stays in order because each block's
        hashing waits for the previous one's. At most HASH_AHEAD blocks wait to be hashed (memory
        stays bounded when hashing is the slowest step). `finished()` waits for the last."""
        limit = self.checks.length
        pending: list[bytes] = []
        pending_size = 0
        async for chunk in self.chunks:
            self.size += len(chunk)
            if limit is not None and self.size > limit:
                raise AwsError(
                    "IncompleteBody", "The request body is longer than its declared Content-Length.", 400
                )
            pending.append(chunk)
            pending_size += len(chunk)
            yield chunk
            if pending_size >= BLOCK:
                await self._hash_later(pending)
                pending, pending_size = [], 0
        if pending:
            await self._hash_later(pending)

    async def _hash_later(self, block: list[bytes]) -> None:
        previous = self._hashing[-1] if self._hashing else None
        self._hashing.append(asyncio.ensure_future(self._hash_after(previous, block)))
        while len(self._hashing) > HASH_AHEAD:
            await self._hashing.popleft()

    async def _hash_after(self, previous: asyncio.Future[None] | None, block: list[bytes]) -> None:
        if previous is not None:
            await asyncio.shield(previous)
        # MD5 alone costs more than the rest together: it runs beside them.
        await asyncio.gather(
            asyncio.to_thread(_update_all, self._md5, block), asyncio.to_thread(self._update_others, block)
        )

    async def finished(self) -> None:
        """Wait until every block handed on has been hashed (before `verify`)."""
        while self._hashing:
            await self._hashing.popleft()

    def cancel(self) -> None:
        """Stop hashing (the upload failed)."""
        for task in self._hashing:
            task.cancel()
        self._hashing.clear()

    def _update_others(self, block: list[bytes]) -> None:
        if self._sha256 is not None:
            _update_all(self._sha256, block)
        for digest in self._checksums.values():
            _update_all(digest, block)

    @property
    def md5_hex(self) -> str:
        return str(self._md5.hexdigest())

    def verify(self) -> dict[str, str]:
        """Raise as S3 does when the body is short or a declared digest differs; return the
        checksums to store (member → base64)."""
        checks = self.checks
        if checks.length is not None and self.size != checks.length:
            raise incomplete_body()
        if checks.content_md5 is not None:
            try:
                declared = base64.b64decode(checks.content_md5, validate=True)
            except (binascii.Error, ValueError):
                raise invalid_digest() from None
            if len(declared) != 16:
                raise invalid_digest()
            if declared != self._md5.digest():
                raise bad_digest("Content-MD5")
        if self._sha256 is not None and self._sha256.hexdigest() != checks.payload_sha256:
            raise AwsError(
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                400,
            )
        stored: dict[str, str] = {}
        for name, expected in {**checks.checksums, **self.trailing}.items():
            digest = self._checksums.get(name)
            if digest is None:
                stored[name] = expected  # an algorithm not computed here: kept as declared
                continue
            actual = base64.b64encode(digest.digest()).decode("ascii")
            if actual != expected:
                raise bad_digest(f"{CHECKSUM_HEADERS.get(name, name)}")
            stored[name] = actual
        return stored


# Each checksum's length in bytes: a declared value must be base64 of exactly that many.
_CHECKSUM_BYTES = {
    "ChecksumCRC32": 4,
    "ChecksumCRC32C": 4,
    "ChecksumSHA1": 20,
    "ChecksumSHA256": 32,
    "ChecksumCRC64NVME": 8,
}


def _update_all(digest: Any, chunks: list[bytes]) -> None:
    for chunk in chunks:
        digest.update(chunk)


def checksums_of(values: Mapping[str, Any]) -> dict[str, str]:
    """The declared checksums among decoded request params (member name → base64 value); raises
    InvalidRequest, as S3 does, for a value that cannot be one."""
    declared = {name: str(values[name]) for name in CHECKSUM_HEADERS if values.get(name)}
    for name, value in declared.items():
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != _CHECKSUM_BYTES[name]:
            raise AwsError("InvalidRequest", f"Value for {CHECKSUM_HEADERS[name]} header is invalid.", 400)
    return declared
