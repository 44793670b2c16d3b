"""The rest-json wire protocol (AWS Lambda 2015-03-31, API Gateway, EFS, ...) from a botocore model.

Requests are routed by each operation's `http.method` + `http.requestUri` template, then
decoded member by member according to where the model puts it (`location`: uri,
querystring, header, headers; the `payload` member; otherwise the JSON body). Responses
and errors are encoded the way botocore's `RestJSONParser` reads them, so boto3 and the
aws CLI see exactly what AWS would send.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import email.utils
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from botocore.model import OperationModel, ServiceModel, Shape

from lamina.errors import AwsError
from lamina.protocol.http import HttpRequest, HttpResponse
from lamina.protocol.validation import validate

__all__ = ["RestJsonProtocol"]

_JSON_CONTENT_TYPE = "application/json"
_MATCH_CACHE_SIZE = 4096  # distinct (method, path, query) requests remembered by match()
_BLOB_CONTENT_TYPE = "application/octet-stream"
# Statuses that must not carry a body (RFC 9110 §15.3.5, §15.4.5).
_BODYLESS_STATUSES = frozenset({204, 304})
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
_NUMBER_TEXT = re.compile(r"[+-]?[0-9]+(\.[0-9]*)?")
_INT_RANGES = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_LABEL = re.compile(r"\{([^}]+)\}")


# --------------------------------------------------------------------------- routing


@dataclass(frozen=True, slots=True)
class _Route:
    operation: OperationModel
    # One entry per path segment: literal text, or None where a whole-segment label sits.
    segments: tuple[str | None, ...]
    labels: tuple[str, ...]
    # Literal query parts of the requestUri ("?versions", "?List=ALL"); None = any value.
    query: tuple[tuple[str, str | None], ...]
    # Only for templates with greedy ({Key+}) or partial-segment labels.
    pattern: re.Pattern[str] | None = None
    # Pattern routes are tried in this order: fewer greedy labels, more literal text first.
    rank: tuple[int, int, int] = (0, 0, 0)

    def query_matches(self, query: Iterable[tuple[str, str]]) -> bool:
        if not self.query:
            return True
        present = dict(query)
        return all(key in present and (value is None or present[key] == value) for key, value in self.query)


def _compile_route(operation: OperationModel) -> _Route:
    template = operation.http.get("requestUri", "/")
    path, _, query_text = template.partition("?")
    query: list[tuple[str, str | None]] = []
    for part in filter(None, query_text.split("&")):
        key, equals, value = part.partition("=")
        query.append((key, value if equals else None))
    pieces = path[1:].split("/") if path.startswith("/") else path.split("/")
    simple = all(_LABEL.search(piece) is None or _LABEL.fullmatch(piece) for piece in pieces)
    if simple and "+}" not in path:
        labels = tuple(piece[1:-1] for piece in pieces if piece.startswith("{"))
        segments = tuple(None if piece.startswith("{") else piece for piece in pieces)
        return _Route(operation, segments, labels, tuple(query))
    # Greedy labels span "/" and partial labels share a segment with literal text: a
    # regex over the whole raw path handles both.
    regex, labels_list, last = [], [], 0
    for found in _LABEL.finditer(path):
        regex.append(re.escape(path[last : found.start()]))
        name = found.group(1)
        greedy = name.endswith("+")
        labels_list.append(name.rstrip("+"))
        regex.append(f"(?P<g{len(labels_list)}>{'.+' if greedy else '[^/]+'})")
        last = found.end()
    regex.append(re.escape(path[last:]))
    rank = (path.count("+}"), -len(_LABEL.sub("", path)), -len(query))
    return _Route(operation, (), tuple(labels_list), tuple(query), re.compile("".join(regex)), rank)


def _route_order(route: _Route) -> tuple[tuple[bool, ...], int]:
    # Literal segments beat labels (position by position), then routes that demand more
    # literal query parts are tried first.
    return tuple(segment is None for segment in route.segments), -len(route.query)


# --------------------------------------------------------------------------- operation plans


@dataclass(frozen=True, slots=True)
class _Member:
    name: str
    wire_name: str  # locationName, or the member name; header names lower-cased on input
    shape: Shape


@dataclass(frozen=True, slots=True)
class _Plan:
    """Where every member of one operation's input or output shape travels."""

    shape: Shape | None
    uri: tuple[_Member, ...] = ()
    query: tuple[_Member, ...] = ()
    query_map: _Member | None = None
    header: tuple[_Member, ...] = ()
    header_maps: tuple[_Member, ...] = ()
    status: _Member | None = None
    payload: _Member | None = None
    payload_required: bool = False
    body: tuple[_Member, ...] = ()


def _plan_for(shape: Shape | None, *, lower_headers: bool) -> _Plan:
    if shape is None:
        return _Plan(None)
    groups: dict[str, list[_Member]] = {"uri": [], "querystring": [], "header": [], "headers": [], "body": []}
    query_map = status = payload = None
    payload_name = shape.serialization.get("payload")
    for name, member_shape in shape.members.items():
        location = member_shape.serialization.get("location")
        wire_name = member_shape.serialization.get("name", name)
        if location in ("header", "headers") and lower_headers:
            wire_name = wire_name.lower()
        member = _Member(name, wire_name, member_shape)
        if name == payload_name:
            payload = member
        elif location == "statusCode":
            status = member
        elif location == "querystring" and member_shape.type_name == "map":
            query_map = member
        else:
            groups[location if location in groups else "body"].append(member)
    return _Plan(
        shape,
        uri=tuple(groups["uri"]),
        query=tuple(groups["querystring"]),
        query_map=query_map,
        header=tuple(groups["header"]),
        header_maps=tuple(groups["headers"]),
        status=status,
        payload=payload,
        payload_required=payload_name in shape.required_members,
        body=tuple(groups["body"]),
    )


class RestJsonProtocol:
    """Routes, decodes and encodes rest-json requests for one service model.

    Build once at start-up (it indexes every operation's URI template) and share; all
    methods are synchronous, CPU-only and safe to call concurrently.
    """

    def __init__(
        self, service_model: ServiceModel, enum_overrides: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        # enum_overrides: shape name -> allowed values where this server differs from AWS's list
        # (e.g. Lambda's Runtime: the runtimes this host actually offers).
        self._enum_overrides = dict(enum_overrides or {})
        self._service_model = service_model
        self._routes: dict[tuple[str, int, str | None], list[_Route]] = {}
        self._pattern_routes: dict[str, list[_Route]] = {}
        self._matches: dict[
            tuple[str, str, tuple[tuple[str, str], ...]], tuple[OperationModel, dict[str, str]]
        ] = {}
        for name in service_model.operation_names:
            route = _compile_route(service_model.operation_model(name))
            method = route.operation.http.get("method", "POST").upper()
            if route.pattern is not None:
                self._pattern_routes.setdefault(method, []).append(route)
                continue
            key = (method, len(route.segments), route.segments[0])
            self._routes.setdefault(key, []).append(route)
        for bucket in self._routes.values():
            bucket.sort(key=_route_order)
        for bucket in self._pattern_routes.values():
            bucket.sort(key=lambda route: route.rank)
        self._input_plans: dict[str, _Plan] = {}
        self._output_plans: dict[str, _Plan] = {}

    # ----------------------------------------------------------------------- routing

    def match(
        self, method: str, raw_path: str, query: list[tuple[str, str]] | None = None
    ) -> tuple[OperationModel, dict[str, str]] | None:
        """Find the operation for a request; labels come back percent-decoded.

        `query` (decoded pairs, as in `HttpRequest.query`) is needed to tell apart
        operations that differ only by a literal query part of their requestUri, e.g.
        Lambda's ListProvisionedConcurrencyConfigs (`?List=ALL`) and
        GetProvisionedConcurrencyConfig. Returns None when nothing matches.
        """
        if "?" in raw_path:
            raw_path, _, query_text = raw_path.partition("?")
            if query is None:
                query = parse_qsl(query_text, keep_blank_values=True)
        pairs = query or []
        method = method.upper()
        # Callers repeat the same requests (one function invoked again and again): remember matches.
        key = (method, raw_path, tuple(pairs))
        cached = self._matches.get(key)
        if cached is not None:
            return cached[0], dict(cached[1])
        found = self._match(method, raw_path, pairs)
        if found is not None:
            if len(self._matches) >= _MATCH_CACHE_SIZE:
                self._matches.clear()
            self._matches[key] = (found[0], dict(found[1]))
        return found

    def _match(
        self, method: str, raw_path: str, pairs: list[tuple[str, str]]
    ) -> tuple[OperationModel, dict[str, str]] | None:
        parts = raw_path[1:].split("/") if raw_path.startswith("/") else raw_path.split("/")
        # Routes whose first segment is literal are indexed by it; those starting with a
        # label (S3-style "/{Bucket}") sit under None.
        for first in (parts[0], None):
            for route in self._routes.get((method, len(parts), first), ()):
                labels = self._match_segments(route, parts)
                if labels is not None and route.query_matches(pairs):
                    return route.operation, labels
        for route in self._pattern_routes.get(method, ()):
            assert route.pattern is not None
            found = route.pattern.fullmatch(raw_path)
            if found is not None and route.query_matches(pairs):
                values = found.groups()
                return route.operation, {
                    name: unquote(value) for name, value in zip(route.labels, values, strict=True)
                }
        if len(raw_path) > 1 and raw_path.endswith("/"):
            # Templates such as "/2015-03-31/functions/" are sent without the slash by the SDKs;
            # AWS accepts both spellings.
            return self._match(method, raw_path.rstrip("/"), pairs)
        return None

    @staticmethod
    def _match_segments(route: _Route, parts: list[str]) -> dict[str, str] | None:
        labels: dict[str, str] = {}
        names = iter(route.labels)
        for literal, part in zip(route.segments, parts, strict=True):
            if literal is None:
                if not part:
                    return None
                labels[next(names)] = unquote(part)
            elif literal != part:
                return None
        return labels

    # ----------------------------------------------------------------------- requests

    def match_request(self, request: HttpRequest) -> tuple[OperationModel, dict[str, str]] | None:
        return self.match(request.method, request.raw_path, request.query)

    def parse(
        self, operation: OperationModel, labels: dict[str, str], request: HttpRequest
    ) -> dict[str, Any]:
        """Decode a request into input params keyed by member name, then validate them.

        A blob payload (Lambda Invoke's `Payload`) comes back as the raw body bytes and is
        omitted when the body is empty. Raises `AwsError`: SerializationException for
        undecodable input, ValidationException for model constraint violations.
        """
        plan = self._input_plans.get(operation.name)
        if plan is None:
            plan = self._input_plans[operation.name] = _plan_for(operation.input_shape, lower_headers=True)
        if plan.shape is None:
            return {}
        try:
            params = self._decode(plan, labels, request)
        except RecursionError:  # only reachable through recursive shapes
            raise _serialization_error("Request body is nested too deeply") from None
        validate(plan.shape, params, self._enum_overrides)
        return params

    def _decode(self, plan: _Plan, labels: dict[str, str], request: HttpRequest) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for member in plan.uri:
            if member.wire_name in labels:
                params[member.name] = _from_text(member.shape, labels[member.wire_name], member.wire_name)
        if plan.query or plan.query_map:
            self._parse_query(plan, request.query, params)
        headers = request.headers
        for member in plan.header:
            text = headers.get(member.wire_name)
            if text is not None:
                params[member.name] = _from_header(member.shape, text, member.wire_name)
        for member in plan.header_maps:
            prefix = member.wire_name
            found = {k[len(prefix) :]: v for k, v in headers.items() if k.startswith(prefix)}
            if found:
                value_shape = member.shape.value
                params[member.name] = {k: _from_header(value_shape, v, prefix + k) for k, v in found.items()}
        if plan.payload is not None:
            self._parse_payload(plan.payload, request.body, params, required=plan.payload_required)
        elif plan.body:
            document = _load_json(request.body)
            for member in plan.body:
                value = document.get(member.wire_name)
                if value is not None:
                    params[member.name] = _from_json(member.shape, value, _path(member.name))
        return params

    @staticmethod
    def _parse_query(plan: _Plan, query: list[tuple[str, str]], params: dict[str, Any]) -> None:
        bound = set()
        for member in plan.query:
            bound.add(member.wire_name)
            values = [value for key, value in query if key == member.wire_name]
            if not values:
                continue
            if member.shape.type_name == "list":
                element = member.shape.member
                params[member.name] = [_from_text(element, value, member.wire_name) for value in values]
            else:
                params[member.name] = _from_text(member.shape, values[0], member.wire_name)
        if plan.query_map is not None:
            # A map-typed querystring member collects every parameter no other member
            # claims (AWS rest-json: "query params" map).
            map_shape = plan.query_map.shape
            multi = map_shape.value.type_name == "list"
            collected: dict[str, Any] = {}
            for key, value in query:
                if key in bound:
                    continue
                if multi:
                    collected.setdefault(key, []).append(_from_text(map_shape.value.member, value, key))
                elif key not in collected:
                    collected[key] = _from_text(map_shape.value, value, key)
            if collected:
                params[plan.query_map.name] = collected

    @staticmethod
    def _parse_payload(member: _Member, body: bytes, params: dict[str, Any], *, required: bool) -> None:
        if not body:
            return
        type_name = member.shape.type_name
        if type_name == "blob":
            params[member.name] = body
        elif type_name == "string":
            try:
                params[member.name] = body.decode("utf-8")
            except UnicodeDecodeError:
                raise _serialization_error("Request body is not valid UTF-8") from None
        else:
            value = _from_json(member.shape, _load_json(body), _path(member.name))
            # botocore sends "{}" for an omitted structure payload, so an empty object
            # only counts as a value where the model requires one.
            if value or required:
                params[member.name] = value

    # ----------------------------------------------------------------------- responses

    def serialize(
        self,
        operation: OperationModel,
        output: Mapping[str, Any],
        *,
        status: int | None = None,
        request_id: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> HttpResponse:
        """Encode `output` (keyed by output-shape member names) as the HTTP response.

        Status: `status` if given, else the `statusCode` member (Lambda Invoke's
        StatusCode), else the operation's modelled responseCode. Members outside the
        output shape and None values are dropped. A blob payload member is sent as the raw
        body (`application/octet-stream` unless `headers` sets Content-Type). `headers` are
        appended last and replace same-named defaults; `request_id` becomes
        `x-amzn-RequestId`. Event-stream payloads are not encoded here.
        """
        plan = self._output_plans.get(operation.name)
        if plan is None:
            plan = self._output_plans[operation.name] = _plan_for(operation.output_shape, lower_headers=False)
        response_headers: list[tuple[str, str]] = []
        body = b""
        content_type: str | None = None
        if status is None and plan.status is not None and output.get(plan.status.name) is not None:
            status = int(output[plan.status.name])
        for member in plan.header:
            value = output.get(member.name)
            if value is not None:
                response_headers.append((member.wire_name, _to_header(member.shape, value)))
        for member in plan.header_maps:
            for key, value in (output.get(member.name) or {}).items():
                if value is not None:
                    response_headers.append((member.wire_name + key, _to_header(member.shape.value, value)))
        if plan.payload is not None:
            value = output.get(plan.payload.name)
            if plan.payload.shape.type_name in ("blob", "string"):
                if value is not None:
                    body, content_type = _raw_bytes(value), _BLOB_CONTENT_TYPE
            elif value is not None and not plan.payload.shape.serialization.get("eventstream"):
                body, content_type = _dump_json(_to_json(plan.payload.shape, value)), _JSON_CONTENT_TYPE
        elif plan.shape is not None:
            document = {}
            for member in plan.body:
                value = output.get(member.name)
                if value is not None:
                    document[member.wire_name] = _to_json(member.shape, value)
            body, content_type = _dump_json(document), _JSON_CONTENT_TYPE
        if status is None:
            status = int(operation.http.get("responseCode", 200))
        return _response(status, content_type, body, response_headers, request_id, headers or [])

    def serialize_error(self, error: AwsError, request_id: str) -> HttpResponse:
        """Encode `error` so botocore raises the modelled exception class.

        botocore's RestJSONParser takes the code from `X-Amzn-ErrorType` and the message
        from the body's `message` or `Message`; a second pass parses the body with the
        error's modelled shape, which is how fields such as TooManyRequestsException's
        `Reason` (from `error.extra`) and `Type` (from `error.error_type`) reach
        `e.response`. Unmodelled codes are sent as `{"message": ...}` plus `extra`.
        """
        shape = self._service_model.shape_for_error_code(error.code)
        response_headers: list[tuple[str, str]] = [("X-Amzn-ErrorType", error.code)]
        if shape is None:
            document: dict[str, Any] = {"message": error.message, **error.extra}
            body = json.dumps(document, separators=(",", ":"), ensure_ascii=False, default=str).encode()
        else:
            members = shape.members
            message_key = "Message" if "Message" in members and "message" not in members else "message"
            fields: dict[str, Any] = {"Type": error.error_type, message_key: error.message, **error.extra}
            document = {message_key: error.message}
            for name, member_shape in members.items():
                value = fields.get(name)
                if value is None:
                    continue
                location = member_shape.serialization.get("location")
                wire_name = member_shape.serialization.get("name", name)
                try:
                    if location == "header":
                        response_headers.append((wire_name, _to_header(member_shape, value)))
                    elif location is None:
                        document[wire_name] = _to_json(member_shape, value)
                except (AwsError, TypeError, ValueError, OverflowError):
                    continue  # a malformed extra must not turn an error response into a crash
            body = json.dumps(document, separators=(",", ":"), ensure_ascii=False, default=str).encode()
        response_headers.extend(error.headers.items())
        return _response(error.status, _JSON_CONTENT_TYPE, body, response_headers, request_id, [])


def _response(
    status: int,
    content_type: str | None,
    body: bytes,
    headers: list[tuple[str, str]],
    request_id: str | None,
    overrides: list[tuple[str, str]],
) -> HttpResponse:
    result: list[tuple[str, str]] = []
    if status in _BODYLESS_STATUSES:
        body = b""
    elif content_type is not None:
        result.append(("Content-Type", content_type))
    if request_id is not None:
        result.append(("x-amzn-RequestId", request_id))
    result.extend(headers)
    if overrides:
        replaced = {name.lower() for name, _ in overrides}
        result = [(name, value) for name, value in result if name.lower() not in replaced]
        result.extend(overrides)
    return HttpResponse(status, result, body)


# --------------------------------------------------------------------------- decoding


def _serialization_error(message: str) -> AwsError:
    return AwsError("SerializationException", message, 400)


def _path(member_name: str, parent: str = "") -> str:
    name = member_name[:1].lower() + member_name[1:]
    return f"{parent}.{name}" if parent else name


def _load_json(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise _serialization_error("Could not parse request body into json: malformed JSON") from None
    if not isinstance(document, dict):
        raise _serialization_error("Could not parse request body into json: expected a JSON object")
    return document


_JSON_KINDS = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
}


def _mismatch(path: str, expected: str, value: Any) -> AwsError:
    found = _JSON_KINDS.get(type(value), type(value).__name__)
    return _serialization_error(f"Cannot deserialize '{path}': expected {expected}, found {found}")


def _from_json(shape: Shape, value: Any, path: str) -> Any:
    """Convert a decoded JSON value to the Python value for `shape` (bytes, datetime, ...)."""
    type_name = shape.type_name
    if type_name == "structure":
        if shape.metadata.get("document"):
            return value
        if not isinstance(value, dict):
            raise _mismatch(path, "an object", value)
        result = {}
        for name, member_shape in shape.members.items():
            item = value.get(member_shape.serialization.get("name", name))
            if item is not None:
                result[name] = _from_json(member_shape, item, _path(name, path))
        return result
    if type_name == "list":
        if not isinstance(value, list):
            raise _mismatch(path, "an array", value)
        element = shape.member
        return [None if item is None else _from_json(element, item, f"{path}.member") for item in value]
    if type_name == "map":
        if not isinstance(value, dict):
            raise _mismatch(path, "an object", value)
        value_shape = shape.value
        return {k: _from_json(value_shape, v, f"{path}.{k}") for k, v in value.items() if v is not None}
    if type_name == "string":
        if not isinstance(value, str):
            raise _mismatch(path, "a string", value)
        return value
    if type_name == "boolean":
        if not isinstance(value, bool):
            raise _mismatch(path, "a boolean", value)
        return value
    if type_name in _INT_RANGES:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise _mismatch(path, "an integer", value)
        return _in_range(type_name, value, path)
    if type_name in ("float", "double"):
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _mismatch(path, "a number", value)
        return float(value)
    if type_name == "blob":
        if not isinstance(value, str):
            raise _mismatch(path, "a base64-encoded string", value)
        return _b64decode(value, path)
    if type_name == "timestamp":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise _mismatch(path, "a timestamp", value)
        return _parse_timestamp(value, path)
    return value


def _from_text(shape: Shape, text: str, where: str) -> Any:
    """Convert a URI label, query parameter or header value to the Python value for `shape`."""
    type_name = shape.type_name
    if type_name == "string":
        return text
    if type_name in _INT_RANGES:
        if _INTEGER_TEXT.fullmatch(text) is None:
            raise _serialization_error(f"Cannot deserialize '{where}': {text!r} is not an integer")
        return _in_range(type_name, int(text), where)
    if type_name == "boolean":
        lowered = text.lower()
        if lowered not in ("true", "false"):
            raise _serialization_error(f"Cannot deserialize '{where}': {text!r} is not a boolean")
        return lowered == "true"
    if type_name in ("float", "double"):
        try:
            return float(text)
        except ValueError:
            raise _serialization_error(f"Cannot deserialize '{where}': {text!r} is not a number") from None
    if type_name == "timestamp":
        return _parse_timestamp(text, where)
    if type_name == "blob":
        return _b64decode(text, where)
    return text


def _from_header(shape: Shape, text: str, name: str) -> Any:
    if shape.serialization.get("jsonvalue"):
        # jsonvalue headers carry base64-encoded JSON (botocore: is_json_value_header).
        try:
            return json.loads(base64.b64decode(text, validate=True))
        except (ValueError, RecursionError):
            raise _serialization_error(f"Header '{name}' is not base64-encoded JSON") from None
    if shape.type_name == "list":
        return [_from_text(shape.member, item, name) for item in _split_header_list(text)]
    return _from_text(shape, text.strip(), name)


def _split_header_list(text: str) -> list[str]:
    # RFC 9110 §5.6.1 lists; botocore quotes items containing '"' or ','.
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    items.append("".join(current).strip())
    return [item for item in items if item]


def _in_range(type_name: str, value: int, where: str) -> int:
    low, high = _INT_RANGES[type_name]
    if not low <= value <= high:
        raise _serialization_error(f"Cannot deserialize '{where}': {value} is out of range for {type_name}")
    return value


def _b64decode(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _serialization_error(f"Cannot deserialize '{where}': not valid base64") from None


def _parse_timestamp(value: float | str, where: str) -> datetime.datetime:
    """Accept epoch seconds, ISO 8601 or RFC 822 (the three formats AWS models use)."""
    try:
        if isinstance(value, str):
            text = value.strip()
            if _NUMBER_TEXT.fullmatch(text):
                return datetime.datetime.fromtimestamp(float(text), datetime.UTC)
            try:
                return _as_utc(datetime.datetime.fromisoformat(text))
            except ValueError:
                return _as_utc(email.utils.parsedate_to_datetime(text))
        return datetime.datetime.fromtimestamp(value, datetime.UTC)
    except (ValueError, TypeError, OverflowError, OSError):
        raise _serialization_error(f"Cannot deserialize '{where}': {value!r} is not a timestamp") from None


def _as_utc(moment: datetime.datetime) -> datetime.datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC)


# --------------------------------------------------------------------------- encoding


def _dump_json(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _raw_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)


def _to_json(shape: Shape, value: Any) -> Any:
    """Convert a Python value for `shape` to its JSON form (blobs base64, timestamps epoch)."""
    type_name = shape.type_name
    if type_name == "structure":
        if shape.metadata.get("document") or not isinstance(value, Mapping):
            return value
        result = {}
        for name, member_shape in shape.members.items():
            item = value.get(name)
            if item is not None:
                result[member_shape.serialization.get("name", name)] = _to_json(member_shape, item)
        return result
    if type_name == "list":
        element = shape.member
        return [None if item is None else _to_json(element, item) for item in value]
    if type_name == "map":
        value_shape = shape.value
        return {str(k): _to_json(value_shape, v) for k, v in value.items() if v is not None}
    if type_name == "blob":
        return base64.b64encode(_raw_bytes(value)).decode("ascii")
    if type_name == "timestamp":
        return _format_timestamp(value, shape.serialization.get("timestampFormat", "unixTimestamp"))
    return value


def _to_header(shape: Shape, value: Any) -> str:
    if shape.serialization.get("jsonvalue"):
        text = base64.b64encode(_dump_json(value)).decode("ascii")
    elif shape.type_name == "timestamp":
        text = str(_format_timestamp(value, shape.serialization.get("timestampFormat", "rfc822")))
    elif shape.type_name == "boolean":
        text = "true" if value else "false"
    elif shape.type_name == "blob":
        text = base64.b64encode(_raw_bytes(value)).decode("ascii")
    elif shape.type_name == "list":
        text = ",".join(
            _quote_header_item(_to_header(shape.member, item)) for item in value if item is not None
        )
    else:
        text = str(value)
    # Never let a value split the header block.
    return text.replace("\r", " ").replace("\n", " ")


def _quote_header_item(text: str) -> str:
    if '"' in text or "," in text:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def _format_timestamp(value: Any, timestamp_format: str) -> float | str:
    if isinstance(value, datetime.datetime):
        moment = _as_utc(value)
    elif isinstance(value, int | float | str) and not isinstance(value, bool):
        moment = _parse_timestamp(value, "timestamp")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as a timestamp")
    if timestamp_format == "iso8601":
        text = moment.strftime("%Y-%m-%dT%H:%M:%S")
        if moment.microsecond:
            text += f".{moment.microsecond // 1000:03d}"
        return text + "Z"
    if timestamp_format == "rfc822":
        return email.utils.format_datetime(moment, usegmt=True)
    return round(moment.timestamp(), 3)
