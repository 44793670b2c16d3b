"""Server-side verification of AWS Signature Version 4, in header and presigned-URL form.

We follow "Create a signed AWS API request" (AWS IAM User Guide, SigV4) and, where the spec
leaves room, botocore's signer: boto3 and the AWS CLI are the clients our users run, so a
request botocore signs must verify here byte for byte. Error codes and messages are the ones
AWS JSON services return, so botocore raises the same modelled exceptions as against AWS.

Transport contract for callers: `raw_path` and `query_string` are the request target exactly as
received (percent-encoded, normally pure ASCII; any non-ASCII character is taken as its UTF-8
bytes). Header names are lower-cased; values are as received (latin-1 decoding, as the transport does, is right:
botocore hashes header values as the `str` it sent). Repeated headers must be joined with ",".
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote_to_bytes

from lamina.errors import AwsError
from lamina.protocol.aws_chunked import ChunkSigning

__all__ = [
    "CredentialScope",
    "ExpiredSignature",
    "SigV4Verifier",
    "SignedRequest",
    "read_credential_scope",
]

ALGORITHM = "AWS4-HMAC-SHA256"
# Pure parsing steps are memoised: a client repeats its credential scope, signed-header list, paths and,
# within a second, its timestamp; the signature itself is checked on every request.
_PARSE_CACHE_SIZE = 1024
SCOPE_TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_PAYLOAD_PREFIX = "STREAMING-"
# SigV4 query-string auth (S3 "Authenticating Requests: Using Query Parameters"): a presigned
# URL lives at most seven days.
MAX_PRESIGNED_EXPIRES_SECONDS = 604_800

# Services botocore signs with its S3 signers: the path is signed as sent (not normalised or
# re-encoded) and presigned URLs sign "UNSIGNED-PAYLOAD" instead of the body hash.
_S3_SIGNED_SERVICES = frozenset({"s3"})
_TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_TIMESTAMP_PATTERN = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_SCOPE_DATE_PATTERN = re.compile(r"[0-9]{8}")
# SigV4 "URI-encode": everything but the RFC 3986 unreserved characters.
_UNRESERVED = "-_.~"
# Distinct (secret, date, region, service) tuples are few (one per key per day), so a
# clear-when-full dict stays tiny and needs no lock: each dict operation is atomic.
_SIGNING_KEY_CACHE_LIMIT = 256
# Error messages echo the offending value, as AWS does, but bounded.
_ECHO_LIMIT = 512

_MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
_PRESIGNED_REQUIRED = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-SignedHeaders",
    "X-Amz-Date",
)
_AUTHORIZATION_REQUIRED = ("Credential", "Signature", "SignedHeaders")


class ExpiredSignature(AwsError):
    """A signature outside its time window: a request too far from now (clock skew), or a presigned
    URL past its expiry. AWS words both alike; S3 names them apart (RequestTimeTooSkewed, and
    AccessDenied "Request has expired"), so the error says which."""

    def __init__(self, message: str, *, presigned: bool) -> None:
        super().__init__("InvalidSignatureException", message, 403)
        self.presigned = presigned


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """The parts of an HTTP request that SigV4 covers, as they arrived on the wire."""

    method: str
    raw_path: str
    query_string: str
    headers: Mapping[str, str]
    # None for a body the server streams rather than buffers: the signature is checked, and the
    # declared payload hash is left to whoever reads the body (it may be hashed only as it arrives).
    body: bytes | None


@dataclass(frozen=True, slots=True)
class CredentialScope:
    """Who signed, and for which day, region and service the signature is valid."""

    access_key_id: str
    date: str
    region: str
    service: str


@dataclass(frozen=True, slots=True)
class _Authorization:
    """The signing parameters of one request, from either the header or the query string."""

    scope: CredentialScope
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str
    signed_at: datetime
    presigned: bool
    expires_seconds: int | None


_QueryParameters = list[tuple[bytes, bytes]]


def read_credential_scope(headers: Mapping[str, str], query_string: str) -> CredentialScope | None:
    """Cheap parse of the credential scope from the Authorization header or X-Amz-Credential query param.

    No verification: the gateway uses it to route by service before the service verifies.
    None if absent/unparseable; never raises.
    """
    authorization = headers.get("authorization")
    try:
        if authorization is not None:
            credential = _authorization_fields(authorization)[1].get("Credential")
        else:
            credential = _first_parameter(_parse_query(query_string), "X-Amz-Credential")
        return None if credential is None else _parse_scope(credential)
    except AwsError:
        return None


class SigV4Verifier:
    """Verifies SigV4-signed requests against secrets from `lookup_secret`.

    `verify` does no I/O beyond calling `lookup_secret`, hashes the body once, and is safe to
    call from several threads at once. It checks who signed and that nothing signed changed;
    the caller checks that the returned scope's region and service are the ones it serves.
    """

    def __init__(
        self,
        lookup_secret: Callable[[str], str | None],
        *,
        clock: Callable[[], float] = time.time,
        max_skew_seconds: int = 900,
    ) -> None:
        self._lookup_secret = lookup_secret
        self._clock = clock
        self._max_skew_seconds = max_skew_seconds
        self._signing_keys: dict[tuple[str, str, str, str], bytes] = {}

    def verify(self, request: SignedRequest) -> CredentialScope:
        """Verify header-form or query-string (presigned) SigV4; return the verified scope or raise AwsError.

        Checks run cheapest first: form and timestamps, then the key lookup, then the signature,
        then (only for a genuine signature) the declared body hash.
        """
        parameters = _parse_query(request.query_string)
        authorization = _read_authorization(request.headers, parameters)
        self._check_time(authorization)
        secret = self._lookup_secret(authorization.scope.access_key_id)
        if secret is None:
            raise AwsError(
                "UnrecognizedClientException", "The security token included in the request is invalid.", 403
            )

        declared_payload_hash = request.headers.get("x-amz-content-sha256")
        body_hash: str | None = None
        if declared_payload_hash is not None:
            payload_hash = declared_payload_hash
        elif authorization.presigned and authorization.scope.service in _S3_SIGNED_SERVICES:
            # S3 presigned URLs sign "UNSIGNED-PAYLOAD" (botocore S3SigV4QueryAuth.payload);
            # other services' presigned URLs sign the body hash like header auth does.
            payload_hash = UNSIGNED_PAYLOAD
        else:
            payload_hash = body_hash = hashlib.sha256(request.body or b"").hexdigest()

        canonical_request = "\n".join(
            (
                request.method.upper(),
                _canonical_uri(request.raw_path, authorization.scope.service),
                _canonical_query_string(parameters, drop_signature=authorization.presigned),
                _canonical_headers(request.headers, authorization.signed_headers),
                ";".join(authorization.signed_headers),
                payload_hash,
            )
        )
        scope = authorization.scope
        string_to_sign = "\n".join(
            (
                ALGORITHM,
                authorization.timestamp,
                f"{scope.date}/{scope.region}/{scope.service}/{SCOPE_TERMINATOR}",
                hashlib.sha256(_wire_bytes(canonical_request)).hexdigest(),
            )
        )
        expected = hmac.new(
            self._signing_key(secret, scope), _wire_bytes(string_to_sign), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected.encode("ascii"), _wire_bytes(authorization.signature)):
            raise _signature_mismatch()

        # Checked after the signature, as S3 does: the declared hash is what the client signed,
        # so a mismatch here means the body changed (or was sent wrong), not the signature.
        if request.body is not None and _payload_hash_is_checkable(declared_payload_hash):
            if body_hash is None:
                body_hash = hashlib.sha256(request.body).hexdigest()
            if declared_payload_hash != body_hash:
                raise AwsError(
                    "XAmzContentSHA256Mismatch",
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                    400,
                )
        return scope

    def chunk_signing(self, request: SignedRequest) -> ChunkSigning | None:
        """What an aws-chunked body's chunk signatures chain from, for a request `verify` accepted
        whose payload is STREAMING-AWS4-HMAC-SHA256-PAYLOAD (None for any other)."""
        declared = request.headers.get("x-amz-content-sha256", "")
        if not declared.startswith("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"):
            return None
        authorization = _read_authorization(request.headers, _parse_query(request.query_string))
        secret = self._lookup_secret(authorization.scope.access_key_id)
        if secret is None:
            return None
        scope = authorization.scope
        return ChunkSigning(
            self._signing_key(secret, scope),
            authorization.timestamp,
            f"{scope.date}/{scope.region}/{scope.service}/{SCOPE_TERMINATOR}",
            authorization.signature,
        )

    def _check_time(self, authorization: _Authorization) -> None:
        """Reject stale or future requests the way AWS words it, so clients can spot clock skew."""
        signed_at = authorization.signed_at
        now = datetime.fromtimestamp(self._clock(), UTC)
        skew = timedelta(seconds=self._max_skew_seconds)
        if signed_at > now + skew:
            raise ExpiredSignature(
                f"Signature not yet current: {authorization.timestamp} is still later than "
                f"{_format_timestamp(now + skew)} ({_format_timestamp(now)} + {_describe(skew)})",
                presigned=False,
            )
        window = (
            skew
            if authorization.expires_seconds is None
            else timedelta(seconds=authorization.expires_seconds)
        )
        if signed_at < now - window:
            raise ExpiredSignature(
                f"Signature expired: {authorization.timestamp} is now earlier than "
                f"{_format_timestamp(now - window)} ({_format_timestamp(now)} - {_describe(window)})",
                presigned=authorization.presigned,
            )

    def _signing_key(self, secret: str, scope: CredentialScope) -> bytes:
        """The derived key for one day/region/service; cached because it changes once a day."""
        cache_key = (secret, scope.date, scope.region, scope.service)
        key = self._signing_keys.get(cache_key)
        if key is None:
            key = _wire_bytes("AWS4" + secret)
            for part in (scope.date, scope.region, scope.service, SCOPE_TERMINATOR):
                key = hmac.new(key, _wire_bytes(part), hashlib.sha256).digest()
            if len(self._signing_keys) >= _SIGNING_KEY_CACHE_LIMIT:
                self._signing_keys.clear()
            self._signing_keys[cache_key] = key
        return key


def _read_authorization(headers: Mapping[str, str], parameters: _QueryParameters) -> _Authorization:
    """The signing parameters, preferring the Authorization header over presigned query params."""
    header = headers.get("authorization")
    if header is not None:
        return _read_header_authorization(header, headers)
    names = {name for name, _ in parameters}
    if b"X-Amz-Algorithm" in names or b"X-Amz-Signature" in names:
        return _read_presigned_authorization(parameters)
    raise AwsError("MissingAuthenticationTokenException", "Missing Authentication Token", 403)


def _read_header_authorization(header: str, headers: Mapping[str, str]) -> _Authorization:
    algorithm, fields = _authorization_fields(header)
    echo = f"Authorization={_echo(header)}"
    if algorithm != ALGORITHM:
        raise _incomplete(
            f"Unsupported AWS 'algorithm': '{_echo(algorithm)}'; expected '{ALGORITHM}'. {echo}"
        )
    problems = [
        f"Authorization header requires '{name}' parameter."
        for name in _AUTHORIZATION_REQUIRED
        if not fields.get(name)
    ]
    # "Handling dates in Signature Version 4": X-Amz-Date wins, else the HTTP Date header.
    timestamp = headers.get("x-amz-date")
    if timestamp is None and "date" in headers:
        timestamp = _timestamp_from_http_date(headers["date"])
    if timestamp is None:
        problems.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    if problems or timestamp is None:
        raise _incomplete(" ".join([*problems, echo]))
    return _Authorization(
        signed_at=_parse_timestamp(timestamp),
        scope=_scope_for(fields["Credential"], timestamp),
        signed_headers=_parse_signed_headers(fields["SignedHeaders"]),
        signature=fields["Signature"],
        timestamp=timestamp,
        presigned=False,
        expires_seconds=None,
    )


def _read_presigned_authorization(parameters: _QueryParameters) -> _Authorization:
    values: dict[str, str] = {}
    missing: list[str] = []
    for name in _PRESIGNED_REQUIRED:
        value = _first_parameter(parameters, name)
        if value:
            values[name] = value
        else:
            missing.append(f"AWS query-string parameters must include '{name}'.")
    if missing:
        raise _incomplete(" ".join([*missing, "Re-examine the query-string parameters."]))
    if values["X-Amz-Algorithm"] != ALGORITHM:
        raise _incomplete(
            f"Unsupported AWS 'algorithm': '{_echo(values['X-Amz-Algorithm'])}'; expected '{ALGORITHM}'."
        )
    timestamp = values["X-Amz-Date"]
    return _Authorization(
        signed_at=_parse_timestamp(timestamp),
        scope=_scope_for(values["X-Amz-Credential"], timestamp),
        signed_headers=_parse_signed_headers(values["X-Amz-SignedHeaders"]),
        signature=values["X-Amz-Signature"],
        timestamp=timestamp,
        presigned=True,
        expires_seconds=_parse_expires(_first_parameter(parameters, "X-Amz-Expires")),
    )


def _authorization_fields(header: str) -> tuple[str, dict[str, str]]:
    """Split `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...` without judging it."""
    algorithm, _, rest = header.strip().partition(" ")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, equals, value = part.strip().partition("=")
        if equals:
            fields.setdefault(name, value.strip())
    return algorithm, fields


def _parse_scope(credential: str) -> CredentialScope:
    """Parse `<AccessKeyId>/<YYYYMMDD>/<region>/<service>/aws4_request`."""
    parts = credential.rsplit("/", 4)
    if len(parts) != 5 or not all(parts[:4]):
        raise _incomplete(
            f"Credential should be scoped as '<AccessKeyId>/<YYYYMMDD>/<region>/<service>/{SCOPE_TERMINATOR}', "
            f"not '{_echo(credential)}'."
        )
    access_key_id, date, region, service, terminator = parts
    if terminator != SCOPE_TERMINATOR:
        raise _incomplete(
            f"Credential should be scoped with a valid terminator: '{SCOPE_TERMINATOR}', not '{_echo(terminator)}'."
        )
    if not _SCOPE_DATE_PATTERN.fullmatch(date):
        raise _incomplete(f"Credential should be scoped to a valid date (YYYYMMDD), not '{_echo(date)}'.")
    return CredentialScope(access_key_id=access_key_id, date=date, region=region, service=service)


@functools.lru_cache(maxsize=_PARSE_CACHE_SIZE)
def _scope_for(credential: str, timestamp: str) -> CredentialScope:
    """The scope, after checking that its day is the (well-formed) timestamp's day."""
    scope = _parse_scope(credential)
    if scope.date != timestamp[:8]:
        # "Handling dates in Signature Version 4": rejected even if only seconds apart.
        raise _incomplete(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{scope.date}' != '{timestamp[:8]}', from '{timestamp}'."
        )
    return scope


@functools.lru_cache(maxsize=_PARSE_CACHE_SIZE)
def _parse_signed_headers(value: str) -> tuple[str, ...]:
    names = tuple(sorted({name.strip().lower() for name in value.split(";")} - {""}))
    if "host" not in names and ":authority" not in names:
        raise _incomplete("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    return names


def _parse_expires(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isascii() or not value.isdigit():
        raise _incomplete(f"X-Amz-Expires should be a number of seconds, not '{_echo(value)}'.")
    # Compare digits before int(): a 5,000-digit value would make int() raise.
    significant = value.lstrip("0") or "0"
    if (
        len(significant) > len(str(MAX_PRESIGNED_EXPIRES_SECONDS))
        or int(significant) > MAX_PRESIGNED_EXPIRES_SECONDS
    ):
        raise _incomplete(
            f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGNED_EXPIRES_SECONDS}."
        )
    return int(significant)


@functools.lru_cache(maxsize=_PARSE_CACHE_SIZE)
def _parse_timestamp(timestamp: str) -> datetime:
    if _TIMESTAMP_PATTERN.fullmatch(timestamp):
        # Sliced by hand: strptime costs ~25 µs, a third of a whole verification.
        try:
            return datetime(
                int(timestamp[0:4]),
                int(timestamp[4:6]),
                int(timestamp[6:8]),
                int(timestamp[9:11]),
                int(timestamp[11:13]),
                int(timestamp[13:15]),
                tzinfo=UTC,
            )
        except ValueError:
            pass
    raise _incomplete(
        f"Date must be in ISO-8601 'basic format'. Got '{_echo(timestamp)}'. See http://en.wikipedia.org/wiki/ISO_8601"
    )


def _timestamp_from_http_date(value: str) -> str:
    """The SigV4 timestamp an RFC 7231 `Date` header stands for (botocore signs with the same instant)."""
    try:
        parsed = parsedate_to_datetime(value)
        # RFC 5322 "-0000" (what botocore's formatdate emits) parses as naive: it means UTC.
        instant = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        return _format_timestamp(instant)
    except (TypeError, ValueError, IndexError, OverflowError):
        # Unparseable: hand back the raw value so the timestamp check reports it.
        return value


def _parse_query(query_string: str) -> _QueryParameters:
    """Decoded (name, value) pairs in wire order. `+` means space, as AWS services read it."""
    parameters: _QueryParameters = []
    for pair in _wire_bytes(query_string).split(b"&"):
        if not pair:
            continue
        name, _, value = pair.partition(b"=")
        parameters.append(
            (unquote_to_bytes(name.replace(b"+", b" ")), unquote_to_bytes(value.replace(b"+", b" ")))
        )
    return parameters


def _first_parameter(parameters: _QueryParameters, name: str) -> str | None:
    wanted = name.encode("ascii")
    for parameter_name, value in parameters:
        if parameter_name == wanted:
            return value.decode("utf-8", "surrogateescape")
    return None


@functools.lru_cache(maxsize=_PARSE_CACHE_SIZE)
def _canonical_uri(raw_path: str, service: str) -> str:
    """The path as botocore signs it.

    S3 signs the path exactly as sent (botocore S3SigV4Auth._normalize_url_path). Every other
    service signs the *already percent-encoded* path after removing dot segments and empty
    segments and percent-encoding it a second time with only "/" and "~" kept — so "%3A" on
    the wire is "%253A" in the canonical request (botocore SigV4Auth._normalize_url_path).
    """
    if service in _S3_SIGNED_SERVICES:
        return raw_path
    return quote(_wire_bytes(_remove_dot_segments(raw_path)), safe="/~")


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4 dot-segment removal that also drops empty segments ("//")."""
    if not path:
        return "/"
    segments: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    leading = "/" if path.startswith("/") else ""
    trailing = "/" if path.endswith("/") and segments else ""
    return leading + "/".join(segments) + trailing


def _canonical_query_string(parameters: _QueryParameters, *, drop_signature: bool) -> str:
    """Parameters URI-encoded, sorted by encoded name then value; presigned URLs omit the signature."""
    encoded = sorted(
        (quote(name, safe=_UNRESERVED), quote(value, safe=_UNRESERVED))
        for name, value in parameters
        if not (drop_signature and name == b"X-Amz-Signature")
    )
    return "&".join(f"{name}={value}" for name, value in encoded)


def _canonical_headers(headers: Mapping[str, str], names: tuple[str, ...]) -> str:
    """`name:value` lines; values trimmed with whitespace runs collapsed, as botocore does (str.split)."""
    lines = []
    for name in names:
        value = headers.get(name)
        if value is None:
            # A signed header that did not arrive cannot match what the client signed.
            raise _signature_mismatch()
        lines.append(f"{name}:{' '.join(value.split())}\n")
    return "".join(lines)


def _payload_hash_is_checkable(declared: str | None) -> bool:
    return (
        declared is not None
        and declared != UNSIGNED_PAYLOAD
        and not declared.startswith(STREAMING_PAYLOAD_PREFIX)
    )


def _wire_bytes(text: str) -> bytes:
    """UTF-8, round-tripping bytes a caller smuggled in as surrogates, never raising."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _format_timestamp(instant: datetime) -> str:
    return instant.strftime(_TIMESTAMP_FORMAT)


def _describe(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    return f"{seconds // 60} min." if seconds % 60 == 0 else f"{seconds} sec."


def _echo(value: str) -> str:
    return value if len(value) <= _ECHO_LIMIT else value[:_ECHO_LIMIT] + "..."


def _incomplete(message: str) -> AwsError:
    return AwsError("IncompleteSignatureException", message, 400)


def _signature_mismatch() -> AwsError:
    return AwsError("InvalidSignatureException", _MISMATCH_MESSAGE, 403)
