"""`Content-Encoding: aws-chunked` request bodies (Amazon S3 API Reference, "Signature Calculations
for the Authorization Header: Transferring Payload in Multiple Chunks").

An SDK that streams an upload it cannot hash first frames it in chunks, `<hex size>[;chunk-
signature=<sig>]\\r\\n<bytes>\\r\\n`, ending with a zero-size chunk and optional trailer lines
(`x-amz-checksum-crc32:<base64>`, what boto3 sends with `STREAMING-UNSIGNED-PAYLOAD-TRAILER`).
With `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` each chunk carries a signature chained from the request's
own, checked here as the chunk ends. The decoder yields the payload as it arrives, holding at most
one framing line: the bytes of a chunk are never gathered whole.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from lamina.errors import AwsError

__all__ = ["ChunkSigning", "decode_aws_chunked", "is_aws_chunked"]

_MAX_LINE = 4096
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
# The streaming payload kinds S3 knows; any other STREAMING- value is refused.
STREAMING_KINDS = frozenset({STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER})


def is_aws_chunked(content_sha256: str | None, content_encoding: str | None) -> bool:
    if content_sha256 is not None and content_sha256.startswith("STREAMING-"):
        return True
    return content_encoding is not None and "aws-chunked" in content_encoding.lower()


def _malformed(message: str) -> AwsError:
    return AwsError("IncompleteBody", message, 400)


@dataclass(frozen=True, slots=True)
class ChunkSigning:
    """What each chunk's signature is chained from: the request's signing key, timestamp, scope
    (`date/region/service/aws4_request`) and its own signature (the first chunk's "previous")."""

    key: bytes
    timestamp: str
    scope: str
    seed_signature: str

    def expected(self, previous: str, chunk_sha256: str) -> str:
        text = "\n".join(
            ("AWS4-HMAC-SHA256-PAYLOAD", self.timestamp, self.scope, previous, _EMPTY_SHA256, chunk_sha256)
        )
        return hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()


class _Reader:
    def __init__(self, raw: AsyncIterator[bytes]) -> None:
        self._raw = raw
        self._buffer = b""

    async def _more(self) -> bool:
        try:
            chunk = await anext(self._raw)
        except StopAsyncIteration:
            return False
        self._buffer += chunk
        return True

    async def line(self) -> bytes:
        while True:
            at = self._buffer.find(b"\r\n")
            if at >= 0:
                line, self._buffer = self._buffer[:at], self._buffer[at + 2 :]
                return line
            if len(self._buffer) > _MAX_LINE:
                raise _malformed("An aws-chunked framing line is too long.")
            if not await self._more():
                raise _malformed("The aws-chunked body ended in the middle of a chunk.")

    async def take(self, count: int) -> AsyncIterator[bytes]:
        """Up to `count` bytes, as they come."""
        while count > 0:
            if not self._buffer and not await self._more():
                raise _malformed("The aws-chunked body ended in the middle of a chunk.")
            piece, self._buffer = self._buffer[:count], self._buffer[count:]
            count -= len(piece)
            yield piece


async def decode_aws_chunked(
    raw: AsyncIterator[bytes],
    on_trailer: Callable[[str, str], None],
    signing: ChunkSigning | None = None,
) -> AsyncIterator[bytes]:
    """The payload of an aws-chunked body; each trailer line goes to `on_trailer(name, value)`
    (names lower-cased) once the last chunk is read. Raises IncompleteBody for framing errors and
    SignatureDoesNotMatch for a chunk whose signature is wrong."""
    reader = _Reader(raw)
    previous = signing.seed_signature if signing is not None else ""
    while True:
        header = (await reader.line()).decode("latin-1")
        size_text, _, extension = header.partition(";")
        try:
            size = int(size_text.strip(), 16)
        except ValueError:
            raise _malformed("An aws-chunked chunk size is not hexadecimal.") from None
        digest = hashlib.sha256() if signing is not None else None
        async for piece in reader.take(size):
            if digest is not None:
                digest.update(piece)
            yield piece
        if signing is not None:
            assert digest is not None
            name, _, given = extension.strip().partition("=")
            expected = signing.expected(previous, digest.hexdigest())
            if name != "chunk-signature" or not hmac.compare_digest(expected, given.strip()):
                raise AwsError(
                    "SignatureDoesNotMatch",
                    "The request signature we calculated does not match the signature you provided. "
                    "Check your key and signing method.",
                    403,
                )
            previous = expected
        if size == 0:
            break
        if await reader.line() != b"":
            raise _malformed("An aws-chunked chunk is longer than its size.")
    while True:
        line = await reader.line()
        if not line:
            return
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon:
            raise _malformed("An aws-chunked trailer line has no ':'.")
        on_trailer(name.strip().lower(), value.strip())
