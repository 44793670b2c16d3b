"""Function URLs: their configuration, the HTTP request as a payload format 2.0 event, the function's
result as an HTTP response, and CORS.

Rules from the Lambda developer guide ("Invoking Lambda function URLs", "Cross-origin resource
sharing"): the event follows API Gateway's payload format 2.0 (cookies split out of the headers,
repeated headers and query parameters joined with commas, a binary body base64-encoded); a result
that is an object with `statusCode` is a response (statusCode, headers, cookies as Set-Cookie,
body, isBase64Encoded), any other valid JSON is the body of a 200 application/json response. With
CORS configured, Lambda answers preflight requests itself and sets the Access-Control headers of
every response, whatever the function returned.

Byte for byte as AWS answers (its recorded responses): a string result is the body itself (`"hello"`
gives `hello`), other JSON values are sent compactly (`["hello",3,true]`); a function error or a
result that cannot be sent gives 502 with the body `Internal Server Error`; an unknown url-id gives
403 `{"Message":null}` (AccessDeniedException). The event's rawPath has repeated slashes collapsed,
and hop-by-hop request headers (Connection…) are not passed in.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import string
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

_URL_ID_ALPHABET = string.ascii_lowercase + string.digits
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript", "+json", "+xml")
_FORM = "application/x-www-form-urlencoded"
_CORS_PREFIX = "access-control-"
# How the response is framed is the server's business (RFC 9110 §7.6.1 hop-by-hop headers, and
# Content-Length): a function's own would contradict the body the server actually sends.
_FRAMING_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection", "te", "upgrade"}
)
# What the event's headers leave out: hop-by-hop fields concern one connection, not the request.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
)
_REPEATED_SLASHES = re.compile(r"/{2,}")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 field-name
_LINE_BREAKING = re.compile(r"[\r\n\x00]")
# A result's header fields (cookies included): no more, and no larger, than common clients read
# (Python's http.client stops at 100 fields and at 64 KiB lines): a larger head would fail in the
# caller, as a protocol error, instead of as the 502 that says the function's result was at fault.
MAX_RESULT_HEADERS = 100
MAX_RESULT_HEADER_BYTES = 32 * 1024


def new_url_id() -> str:
    """32 lower-case letters and digits, as AWS's url-ids; unguessable, since an AuthType NONE URL
    is reachable by anyone who knows it."""
    return "".join(secrets.choice(_URL_ID_ALPHABET) for _ in range(32))


def _now_iso() -> str:
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}Z"


@dataclass(frozen=True, slots=True)
class FunctionUrlConfig:
    url_id: str
    function_name: str
    qualifier: str | None  # an alias, or None for the function itself
    auth_type: str  # NONE | AWS_IAM
    cors: dict[str, Any] = field(default_factory=dict)
    invoke_mode: str | None = None  # None: not set (BUFFERED applies), and not shown, as on AWS
    creation_time: str = field(default_factory=_now_iso)
    last_modified_time: str = ""

    def changed(self, **changes: Any) -> FunctionUrlConfig:
        return replace(self, last_modified_time=_now_iso(), **changes)

    def to_api(self, url: str, function_arn: str) -> dict[str, Any]:
        output: dict[str, Any] = {
            "FunctionUrl": url,
            "FunctionArn": function_arn,
            "AuthType": self.auth_type,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified_time or self.creation_time,
        }
        if self.invoke_mode is not None:
            output["InvokeMode"] = self.invoke_mode
        if self.cors:
            output["Cors"] = dict(self.cors)
        return output

    def to_record(self) -> dict[str, Any]:
        return {
            "url_id": self.url_id,
            "function_name": self.function_name,
            "qualifier": self.qualifier,
            "auth_type": self.auth_type,
            "cors": self.cors,
            "invoke_mode": self.invoke_mode,
            "creation_time": self.creation_time,
            "last_modified_time": self.last_modified_time,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> FunctionUrlConfig:
        return cls(**record)


@dataclass(frozen=True, slots=True)
class UrlRequest:
    """One HTTP request to a function URL, as the server received it."""

    method: str
    raw_path: str
    raw_query: str
    headers: dict[str, str]  # lower-case names, repeats joined with ","
    body: bytes
    source_ip: str


@dataclass(frozen=True, slots=True)
class UrlResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _is_text(content_type: str) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return kind == _FORM or any(marker in kind for marker in _TEXT_TYPES)


def _query_parameters(raw_query: str) -> dict[str, str] | None:
    joined: dict[str, list[str]] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        joined.setdefault(key, []).append(value)
    return {key: ",".join(values) for key, values in joined.items()} or None


def request_event(
    request: UrlRequest,
    config: FunctionUrlConfig,
    *,
    domain: str,
    account_id: str,
    request_id: str,
    caller: dict[str, Any] | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The payload format 2.0 event a function URL request becomes. `caller` is the IAM identity
    of a signed request (AWS_IAM URLs), else None."""
    return payload_v2_event(
        request,
        api_id=config.url_id,
        domain=domain,
        account_id=account_id,
        request_id=request_id,
        authorizer={"iam": caller} if caller is not None else None,
        now=now,
    )


def payload_v2_event(
    request: UrlRequest,
    *,
    api_id: str,
    domain: str,
    account_id: str,
    request_id: str,
    authorizer: dict[str, Any] | None,
    route_key: str = "$default",
    stage: str = "$default",
    path_parameters: dict[str, str] | None = None,
    stage_variables: dict[str, str] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The payload format 2.0 event (function URLs, and HTTP APIs' Lambda proxy integrations)."""
    moment = now or datetime.now(UTC)
    headers = {
        name: value for name, value in request.headers.items() if name != "cookie" and name not in _HOP_BY_HOP
    }
    path = _REPEATED_SLASHES.sub("/", request.raw_path)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": request.raw_query,
        "headers": headers,
    }
    cookie_header = request.headers.get("cookie")
    if cookie_header:
        event["cookies"] = [
            part.strip() for part in cookie_header.replace(",", ";").split(";") if part.strip()
        ]
    query = _query_parameters(request.raw_query)
    if query is not None:
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": account_id,
        "apiId": api_id,
        "authorizer": authorizer,
        "domainName": domain,
        "domainPrefix": api_id,
        "http": {
            "method": request.method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": request.source_ip,
            "userAgent": request.headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": stage,
        "time": moment.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(moment.timestamp() * 1000),
    }
    if path_parameters:
        event["pathParameters"] = path_parameters
    if stage_variables:
        event["stageVariables"] = stage_variables
    if request.body:
        if _is_text(request.headers.get("content-type", "")):
            try:
                event["body"] = request.body.decode()
                event["isBase64Encoded"] = False
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(request.body).decode()
                event["isBase64Encoded"] = True
        else:
            event["body"] = base64.b64encode(request.body).decode()
            event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    return event


class InvalidResult(ValueError):
    """A function's result that cannot become an HTTP response; the message says why (for the
    function's log: the caller only sees 502 Internal Server Error, as on AWS)."""


def header_value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (str, int, float)):
        text = str(value)
    else:
        raise InvalidResult(f"the value of header {name!r} is not a string or a number")
    if _LINE_BREAKING.search(text):
        raise InvalidResult(f"the value of header {name!r} contains CR, LF or NUL")
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        raise InvalidResult(f"the value of header {name!r} is not ISO-8859-1 text") from None
    return text


def _response_headers(result: dict[str, Any]) -> list[tuple[str, str]]:
    raw = result.get("headers") or {}
    cookies = result.get("cookies") or []
    if not isinstance(raw, dict):
        raise InvalidResult("headers is not an object")
    if not isinstance(cookies, list):
        raise InvalidResult("cookies is not a list")
    headers: list[tuple[str, str]] = []
    for name, value in raw.items():
        if not _TOKEN.fullmatch(name):
            raise InvalidResult(f"{name!r} is not a valid header name")
        lowered = name.lower()
        text = header_value(name, value)
        if lowered not in _FRAMING_HEADERS:
            headers.append((lowered, text))
    headers += [("set-cookie", header_value("Set-Cookie", cookie)) for cookie in cookies]
    if len(headers) > MAX_RESULT_HEADERS:
        raise InvalidResult(f"{len(headers)} header fields are more than {MAX_RESULT_HEADERS}")
    size = sum(len(name) + len(text) for name, text in headers)
    if size > MAX_RESULT_HEADER_BYTES:
        raise InvalidResult(f"the header fields take {size} bytes, more than {MAX_RESULT_HEADER_BYTES}")
    return headers


def read_result(payload: bytes) -> UrlResponse:
    """The HTTP response a function's result becomes; raises InvalidResult for one that cannot
    be sent (as API Gateway's payload format 2.0 rules and HTTP's grammar decide)."""
    try:
        result = json.loads(payload) if payload else None
    except (ValueError, UnicodeDecodeError):
        raise InvalidResult("the result is not JSON") from None
    if not isinstance(result, dict) or "statusCode" not in result:
        if isinstance(result, str):
            data = result.encode()
        else:
            data = json.dumps(result, separators=(",", ":"), ensure_ascii=False).encode()
        return UrlResponse(200, [("content-type", "application/json")], data)
    status = result["statusCode"]
    numeric_text = isinstance(status, str) and status.isascii() and status.isdigit()
    if numeric_text or (isinstance(status, float) and status.is_integer()):
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise InvalidResult(f"statusCode {status!r} is not an HTTP status (100-599)")
    if status < 200:  # 1xx are interim responses: a client would wait on for the final one
        raise InvalidResult(f"statusCode {status} is informational, not a final response")
    headers = _response_headers(result)
    body = result.get("body")
    if body is None:
        data = b""
    elif isinstance(body, str):
        try:
            # Strictly, but for line breaks (MIME-style output): a lenient decoder would drop what
            # is not base64 and send what is left.
            encoded = result.get("isBase64Encoded")
            data = base64.b64decode("".join(body.split()), validate=True) if encoded else body.encode()
        except (binascii.Error, UnicodeEncodeError):
            raise InvalidResult("the body is not valid base64 or text") from None
    else:
        data = json.dumps(body).encode()
    if not any(name == "content-type" for name, _ in headers) and data:
        headers.append(("content-type", "application/json"))
    return UrlResponse(status, headers, data)


def map_result(payload: bytes) -> UrlResponse:
    """The HTTP response a function's result becomes: 502 for one that cannot be sent."""
    try:
        return read_result(payload)
    except InvalidResult:
        return failed_response()


def error_response(status: int, message: str) -> UrlResponse:
    return UrlResponse(
        status, [("content-type", "application/json")], json.dumps({"Message": message}).encode()
    )


def failed_response() -> UrlResponse:
    """A function error, or a result that cannot be sent: AWS's body is the bare phrase."""
    return UrlResponse(502, [("content-type", "application/json")], b"Internal Server Error")


def unknown_url_response() -> UrlResponse:
    """A url-id no function has: AWS answers as it would a URL the caller may not invoke."""
    return UrlResponse(
        403,
        [("content-type", "application/json"), ("x-amzn-ErrorType", "AccessDeniedException")],
        b'{"Message":null}',
    )


def _origin_allowed(cors: dict[str, Any], origin: str | None) -> str | None:
    """The Access-Control-Allow-Origin value for `origin`, or None when it is not allowed."""
    origins = cors.get("AllowOrigins") or []
    if "*" in origins:
        return "*" if not cors.get("AllowCredentials") else origin
    return origin if origin is not None and origin in origins else None


def is_preflight(request: UrlRequest) -> bool:
    return (
        request.method == "OPTIONS"
        and "origin" in request.headers
        and "access-control-request-method" in request.headers
    )


def preflight_response(cors: dict[str, Any], request: UrlRequest, status: int = 200) -> UrlResponse:
    """Lambda's own answer to a CORS preflight request (HTTP APIs answer it 204)."""
    headers: list[tuple[str, str]] = []
    allowed = _origin_allowed(cors, request.headers.get("origin"))
    if allowed is not None:
        headers.append(("access-control-allow-origin", allowed))
        if cors.get("AllowMethods"):
            headers.append(("access-control-allow-methods", ",".join(cors["AllowMethods"])))
        if cors.get("AllowHeaders"):
            headers.append(("access-control-allow-headers", ",".join(cors["AllowHeaders"])))
        if cors.get("AllowCredentials"):
            headers.append(("access-control-allow-credentials", "true"))
        if cors.get("MaxAge") is not None:
            headers.append(("access-control-max-age", str(cors["MaxAge"])))
    return UrlResponse(status, headers, b"")


def with_cors(response: UrlResponse, cors: dict[str, Any], origin: str | None) -> UrlResponse:
    """The function's response with the configured Access-Control headers in place of its own."""
    if not cors:
        return response
    headers = [(name, value) for name, value in response.headers if not name.lower().startswith(_CORS_PREFIX)]
    allowed = _origin_allowed(cors, origin)
    if allowed is not None:
        headers.append(("access-control-allow-origin", allowed))
        if cors.get("ExposeHeaders"):
            headers.append(("access-control-expose-headers", ",".join(cors["ExposeHeaders"])))
        if cors.get("AllowCredentials"):
            headers.append(("access-control-allow-credentials", "true"))
    return UrlResponse(response.status, headers, response.body)
