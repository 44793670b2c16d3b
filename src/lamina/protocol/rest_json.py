"""The rest-json wire protocol (AWS Lambda 2015-03-31, API Gateway, EFS, ...) from a botocore model.

Requests are routed by each operation's `http.method` + `http.requestUri` template, then
decoded member by member according to where the model puts it (`location`: uri,
querystring, header, headers; the `payload` member; otherwise the JSON body). Responses
and errors are encoded the way botocore's `RestJSONParser` reads them, so boto3 and the
aws CLI see exactly what AWS would send.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from botocore.model import OperationModel, ServiceModel

from lamina.errors import AwsError
from lamina.protocol import event_stream
from lamina.protocol.event_encoding import encode_events
from lamina.protocol.http import HttpRequest, HttpResponse
from lamina.protocol.json_values import (
    dump_json,
    from_json,
    load_json,
    member_path,
    raw_bytes,
    serialization_error,
    to_header,
    to_json,
)
from lamina.protocol.rest_bindings import Member, Plan, decode_bindings, encode_headers, plan_for
from lamina.protocol.validation import validate

__all__ = ["RestJsonProtocol"]

_JSON_CONTENT_TYPE = "application/json"
_MATCH_CACHE_SIZE = 4096  # distinct (method, path, query) requests remembered by match()
_BLOB_CONTENT_TYPE = "application/octet-stream"
# Statuses that must not carry a body (RFC 9110 §15.3.5, §15.4.5).
_BODYLESS_STATUSES = frozenset({204, 304})
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
        self._input_plans: dict[str, Plan] = {}
        self._output_plans: dict[str, Plan] = {}

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
            plan = self._input_plans[operation.name] = plan_for(operation.input_shape, lower_headers=True)
        if plan.shape is None:
            return {}
        try:
            params = self._decode(plan, labels, request)
        except RecursionError:  # only reachable through recursive shapes
            raise serialization_error("Request body is nested too deeply") from None
        validate(plan.shape, params, self._enum_overrides)
        return params

    def _decode(self, plan: Plan, labels: dict[str, str], request: HttpRequest) -> dict[str, Any]:
        params = decode_bindings(plan, labels, request)
        if plan.payload is not None:
            self._parse_payload(plan.payload, request.body, params, required=plan.payload_required)
        elif plan.body:
            document = load_json(request.body)
            for member in plan.body:
                value = document.get(member.wire_name)
                if value is not None:
                    params[member.name] = from_json(member.shape, value, member_path(member.name))
        return params

    @staticmethod
    def _parse_payload(member: Member, body: bytes, params: dict[str, Any], *, required: bool) -> None:
        if not body:
            return
        type_name = member.shape.type_name
        if type_name == "blob":
            params[member.name] = body
        elif type_name == "string":
            try:
                params[member.name] = body.decode("utf-8")
            except UnicodeDecodeError:
                raise serialization_error("Request body is not valid UTF-8") from None
        else:
            value = from_json(member.shape, load_json(body), member_path(member.name))
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
            plan = self._output_plans[operation.name] = plan_for(operation.output_shape, lower_headers=False)
        response_headers = encode_headers(plan, output)
        body = b""
        content_type: str | None = None
        if status is None and plan.status is not None and output.get(plan.status.name) is not None:
            status = int(output[plan.status.name])
        stream = None
        if plan.payload is not None:
            value = output.get(plan.payload.name)
            if plan.payload.shape.serialization.get("eventstream"):
                if value is not None:  # an async iterator of (event type, members): sent as it comes
                    stream = encode_events(plan.payload.shape, value)
                    content_type = event_stream.CONTENT_TYPE
            elif plan.payload.shape.type_name in ("blob", "string"):
                if value is not None:
                    body, content_type = raw_bytes(value), _BLOB_CONTENT_TYPE
            elif value is not None:
                body, content_type = dump_json(to_json(plan.payload.shape, value)), _JSON_CONTENT_TYPE
        elif plan.shape is not None:
            document = {}
            for member in plan.body:
                value = output.get(member.name)
                if value is not None:
                    document[member.wire_name] = to_json(member.shape, value)
            body, content_type = dump_json(document), _JSON_CONTENT_TYPE
        if status is None:
            status = int(operation.http.get("responseCode", 200))
        response = _response(status, content_type, body, response_headers, request_id, headers or [])
        if stream is not None:
            response = HttpResponse(response.status, response.headers, b"", stream)
        return response

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
                        response_headers.append((wire_name, to_header(member_shape, value)))
                    elif location is None:
                        document[wire_name] = to_json(member_shape, value)
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
