"""Transport-neutral HTTP records and the contract every wire protocol implements.

The HTTP server (the lean transport, a test harness) converts its own request
object into an `HttpRequest`, asks a `WireProtocol` to route, decode and encode, and
writes the returned `HttpResponse` back. Nothing here knows about sockets or frameworks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from botocore.model import OperationModel

    from lamina.errors import AwsError

__all__ = ["BodyReader", "HttpRequest", "HttpResponse", "WireProtocol"]


class BodyReader(Protocol):
    """A request body as it arrives: `read` returns the next bytes, b"" once the body has ended,
    and raises ConnectionError when the client went away (or sent less than it announced)."""

    @property
    def declared_length(self) -> int | None:
        """The Content-Length the client announced (None when it sent chunked)."""
        ...

    async def read(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One HTTP request as it came off the wire.

    `raw_path` is still percent-encoded (SigV4 signs it that way, and label values may
    contain an encoded "/"); `query` is decoded and keeps order and repeats; header names
    are lower-cased.
    """

    method: str
    raw_path: str
    query: list[tuple[str, str]]
    headers: Mapping[str, str]
    body: bytes
    # A body the transport streams rather than buffers (object uploads): read it from here, and
    # `body` is empty. Only requests the edge chose to stream have one.
    stream: BodyReader | None = None


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """One HTTP response to write back.

    Headers may repeat. `Content-Length` is not included: the transport sets it (or
    chunks) from `body`.
    """

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    # A body sent as it is produced (event streams), chunk by chunk; `body` is then empty.
    stream: AsyncIterator[bytes] | None = None
    # The body's length when known although it is not in `body`: a stream of known size goes out
    # with this Content-Length instead of chunked, and a HEAD answer announces it.
    length: int | None = None


class WireProtocol(Protocol):
    """What the server needs from an AWS wire protocol (rest-json and query today; json and
    rest-xml later).

    All methods are pure CPU work on in-memory data: they never block on I/O and are safe
    to call concurrently from one event loop.
    """

    def match(
        self, method: str, raw_path: str, query: list[tuple[str, str]] | None = None
    ) -> tuple[OperationModel, dict[str, str]] | None:
        """Find the operation a request targets and its decoded URI labels; None if none."""
        ...

    def match_request(self, request: HttpRequest) -> tuple[OperationModel, dict[str, str]] | None:
        """`match` for a whole request (the query protocol names its operation in the body)."""
        ...

    def parse(
        self, operation: OperationModel, labels: dict[str, str], request: HttpRequest
    ) -> dict[str, Any]:
        """Decode and validate the request into the operation's input params.

        Raises `AwsError` (SerializationException / ValidationException) and nothing else.
        """
        ...

    def serialize(
        self,
        operation: OperationModel,
        output: Mapping[str, Any],
        *,
        status: int | None = None,
        request_id: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> HttpResponse:
        """Encode an operation's output (keyed by output-shape member names)."""
        ...

    def serialize_error(self, error: AwsError, request_id: str) -> HttpResponse:
        """Encode an error so SDKs raise the modelled exception class for `error.code`."""
        ...
