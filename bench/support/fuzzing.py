"""Fuzz cases for every operation of the AWS APIs Lamina serves, built from botocore's models.

A case is one raw HTTP/1.1 request: random but valid-looking parameters serialised by botocore's
own serializer for the operation's wire protocol, then optionally broken (a member missing, a
wrong type, a megabyte string, an enum value that does not exist, malformed JSON, invalid UTF-8,
a wrong content type or target) and signed, unsigned or badly signed. Breakage that botocore's
serializer would refuse (wrong types on the wire, malformed bodies) is edited into the serialised
request, and the request is signed afterwards, so that a valid signature carries the broken
content past authentication to the parser.

The server must answer all of it with a response below 500: any 5xx is a bug.
"""

from __future__ import annotations

import copy
import datetime
import json
import random
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import botocore.serialize
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, prepare_request_dict
from botocore.credentials import Credentials
from botocore.model import OperationModel, ServiceModel, Shape, StructureShape

from bench.support.shapes import ValueGenerator

HUGE_STRING_CHARACTERS = 1_000_000
# Strings that travel in the URI or a header: a megabyte there is refused by any HTTP server
# before it reaches the API; this still overflows every limit the model declares.
HUGE_LOCATED_STRING_CHARACTERS = 100_000
UNSUPPORTED_MARKER = b"Lamina does not implement"

CONTENT_VARIANTS: dict[str, int] = {  # name -> weight among the random picks
    "valid": 4,
    "missing_required": 2,
    "wrong_type": 3,
    "huge_string": 1,
    "bad_enum": 2,
    "bad_json": 3,
    "bad_encoding": 2,
    "wrong_content_type": 2,
    "extreme_value": 3,
}
AUTH_VARIANTS: dict[str, int] = {
    "signed": 12,
    "unsigned": 1,
    "bad_signature": 1,
    "unknown_key": 1,
    "malformed_authorization": 1,
    "stale_date": 1,
}
# Values of the right type at the edges: NUL, a lone surrogate (valid JSON, not encodable as UTF-8),
# path tricks, integers beyond 64 bits, dates at the ends of the calendar, very long lists.
_EXTREME_STRINGS = (
    "\x00",
    "\ud800",
    "a\r\nb",
    "../../etc/passwd",
    "%s%n%x",
    "\U0001f642" * 40,
    " ",
    "*",
    "$LATEST:1",
)
_EXTREME_INTEGERS = (2**63, -(2**63) - 1, 10**30, -1, 0, 2**31)
_EXTREME_TIMESTAMPS = (
    datetime.datetime(1, 1, 1, tzinfo=datetime.UTC),
    datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC),
    datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC),
)
_LONG_LIST = 5000
_WRONG_VALUES: tuple[Any, ...] = (123, -1, 2**70, 1.5, "text", "", True, None, [1, "a"], {"a": 1}, [])


@dataclass(frozen=True, slots=True)
class Target:
    """One service model spoken in one wire protocol (CloudWatch is served in two)."""

    model: str  # botocore's model name
    protocol: str
    signing_name: str

    @property
    def label(self) -> str:
        return f"{self.model}/{self.protocol}"


TARGETS = (
    Target("lambda", "rest-json", "lambda"),
    Target("logs", "json", "logs"),
    Target("iam", "query", "iam"),
    Target("sts", "query", "sts"),
    Target("cloudwatch", "query", "monitoring"),
    Target("cloudwatch", "json", "monitoring"),
    Target("sqs", "json", "sqs"),
    Target("events", "json", "events"),
    Target("scheduler", "rest-json", "scheduler"),
    Target("sns", "query", "sns"),
    Target("ses", "query", "ses"),
    Target("apigateway", "rest-json", "apigateway"),
    Target("apigatewayv2", "rest-json", "apigateway"),
    Target("cloudformation", "query", "cloudformation"),
    Target("cloudcontrol", "json", "cloudcontrolapi"),
)


@dataclass(frozen=True, slots=True)
class Case:
    target: Target
    operation: str
    variant: str
    auth: str
    request: bytes  # the whole HTTP/1.1 request, as sent

    def describe(self) -> dict[str, str]:
        head, _, body = self.request.partition(b"\r\n\r\n")
        return {
            "service": self.target.label,
            "operation": self.operation,
            "variant": self.variant,
            "auth": self.auth,
            "request_head": head.decode("latin-1")[:1500],
            "request_body": body[:1000].decode("utf-8", "replace"),
            "request_body_bytes": str(len(body)),
        }


@dataclass
class _Wire:
    """A serialised request while it is being broken: path with query, headers, body."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _member_paths(
    shape: Shape, value: Any, path: tuple[Any, ...] = ()
) -> Iterator[tuple[tuple[Any, ...], Shape]]:
    """(path, shape) for every value present in `value` (params of `shape`), outermost first."""
    if path:
        yield path, shape
    if shape.type_name == "structure" and isinstance(value, dict):
        assert isinstance(shape, StructureShape)
        for name, member in shape.members.items():
            if name in value:
                yield from _member_paths(member, value[name], (*path, name))
    elif shape.type_name == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            yield from _member_paths(shape.member, item, (*path, index))  # type: ignore[attr-defined]


def _set(params: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    container: Any = params
    for key in path[:-1]:
        container = container[key]
    container[path[-1]] = value


def _location(input_shape: StructureShape, path: tuple[Any, ...]) -> str | None:
    member = input_shape.members.get(path[0]) if path else None
    return member.serialization.get("location") if member is not None and len(path) == 1 else None


class CaseBuilder:
    """Builds fuzz cases for one server; all randomness comes from `rng`, so a seed replays a run."""

    def __init__(
        self,
        rng: random.Random,
        port: int,
        credentials: tuple[str, str],
        region: str,
        known: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """`known`: member name -> names of resources that exist on the server (see ValueGenerator)."""
        self._rng = rng
        self._values = ValueGenerator(rng, known)
        self._authority = f"127.0.0.1:{port}"
        self._credentials = credentials
        self._region = region
        self._serializers = {
            protocol: botocore.serialize.create_serializer(protocol, include_validation=False)
            for protocol in {target.protocol for target in TARGETS}
        }

    def build(self, target: Target, model: ServiceModel, operation: str, variant: str, auth: str) -> Case:
        operation_model = model.operation_model(operation)
        params = self._params(operation_model)
        wire = None
        if variant in ("missing_required", "wrong_type", "huge_string", "bad_enum", "extreme_value"):
            wire = self._broken_params(target, operation_model, copy.deepcopy(params), variant)
        if wire is None:
            variant = variant if variant not in ("missing_required", "huge_string", "bad_enum") else "valid"
            wire = self._serialize(target, operation_model, params)
            if variant == "wrong_type":
                self._wrong_type_on_wire(target, wire)
            elif variant == "bad_json":
                self._bad_body(target, wire)
            elif variant == "bad_encoding":
                self._bad_encoding(target, wire)
            elif variant == "wrong_content_type":
                self._wrong_content_type(target, wire)
            elif variant == "extreme_value":
                self._extreme_on_wire(wire)
        return Case(target, operation, variant, auth, self._finish(target, wire, auth))

    def _params(self, operation_model: OperationModel) -> dict[str, Any]:
        shape = operation_model.input_shape
        return self._values.structure(shape) if shape is not None else {}

    def _serialize(self, target: Target, operation_model: OperationModel, params: dict[str, Any]) -> _Wire:
        request = self._serializers[target.protocol].serialize_to_request(params, operation_model)
        prepare_request_dict(request, f"http://{self._authority}")
        parts = urllib.parse.urlsplit(request["url"])
        body = request["body"]
        if isinstance(body, dict):
            body = urllib.parse.urlencode(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, bytes | bytearray):  # a wrong type put in a payload member
            body = str(body).encode()
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return _Wire(request["method"], path, dict(request["headers"]), body or b"")

    def _broken_params(
        self, target: Target, operation_model: OperationModel, params: dict[str, Any], variant: str
    ) -> _Wire | None:
        """Break one member before serialization; None when the operation has no member to break
        this way (or botocore cannot serialise the breakage), and the caller sends a valid case."""
        shape = operation_model.input_shape
        if shape is None:
            return None
        paths = list(_member_paths(shape, params))
        if variant == "missing_required":
            if not shape.required_members:
                return None
            params.pop(self._rng.choice(shape.required_members), None)
        elif variant == "bad_enum":
            enums = [path for path, member in paths if getattr(member, "enum", None)]
            if not enums:
                return None
            _set(params, self._rng.choice(enums), self._rng.choice(["NotAValue", "", "python0.1", "ÿÿÿ"]))
        elif variant == "huge_string":
            strings = [path for path, member in paths if member.type_name == "string"]
            if not strings:
                return None
            path = self._rng.choice(strings)
            located = _location(shape, path) is not None
            _set(params, path, "x" * (HUGE_LOCATED_STRING_CHARACTERS if located else HUGE_STRING_CHARACTERS))
        elif variant == "extreme_value":
            if not paths or not self._extreme(params, self._rng.choice(paths)):
                return None
        else:  # wrong_type: any member, any other type; botocore writes most of them as given
            if not paths:
                return None
            _set(params, self._rng.choice(paths)[0], self._rng.choice(_WRONG_VALUES))
        try:
            return self._serialize(target, operation_model, params)
        except Exception:  # botocore cannot write this breakage (e.g. a list in a URI label)
            return None

    def _extreme(self, params: dict[str, Any], chosen: tuple[tuple[Any, ...], Shape]) -> bool:
        """Put an extreme value of the member's own type at `chosen`; False for other types."""
        path, shape = chosen
        kind = shape.type_name
        if kind == "string" and not getattr(shape, "enum", None):
            _set(params, path, self._rng.choice(_EXTREME_STRINGS))
        elif kind in ("integer", "long"):
            _set(params, path, self._rng.choice(_EXTREME_INTEGERS))
        elif kind == "timestamp":
            _set(params, path, self._rng.choice(_EXTREME_TIMESTAMPS))
        elif kind == "list":
            container: Any = params
            for key in path:
                container = container[key]
            if not container:
                return False
            _set(params, path, [container[0]] * _LONG_LIST)
        else:
            return False
        return True

    def _extreme_on_wire(self, wire: _Wire) -> None:
        """An extreme value for a random leaf of a JSON body (when botocore could not write one)."""
        document = self._json_body(wire)
        if not isinstance(document, dict) or not document:
            return
        key = self._rng.choice(sorted(document))
        document[key] = self._rng.choice([*_EXTREME_INTEGERS, *_EXTREME_STRINGS, 1e308, -0.0])
        wire.body = json.dumps(document).encode()

    def _json_body(self, wire: _Wire) -> Any:
        try:
            return json.loads(wire.body) if wire.body else None
        except ValueError:
            return None

    def _wrong_type_on_wire(self, target: Target, wire: _Wire) -> None:
        if target.protocol == "query" or (target.protocol == "rest-json" and not wire.body):
            if target.protocol == "query":
                fields = urllib.parse.parse_qsl(wire.body.decode(), keep_blank_values=True)
                editable = [
                    index for index, (name, _) in enumerate(fields) if name not in ("Action", "Version")
                ]
                if editable:
                    index = self._rng.choice(editable)
                    fields[index] = (fields[index][0], self._rng.choice(["abc", "-1", "1e400", "true", ""]))
                fields.append((self._rng.choice(["Unknown.member.1", "Tags.member.x.Key", "Foo"]), "1"))
                wire.body = urllib.parse.urlencode(fields).encode()
            else:
                separator = "&" if "?" in wire.path else "?"
                wire.path += separator + self._rng.choice(["MaxItems=abc", "Marker=%00", "Qualifier=", "x=1"])
            return
        document = self._json_body(wire)
        if isinstance(document, dict) and document:
            key = self._rng.choice(sorted(document))
            document[key] = self._rng.choice(_WRONG_VALUES)
        else:
            document = self._rng.choice([[], "text", 5, None, {"Unknown": {"Deep": [1, 2]}}])
        wire.body = json.dumps(document).encode()

    def _bad_body(self, target: Target, wire: _Wire) -> None:
        if target.protocol == "query":
            choices = [
                b"Action=&Version=",
                b"a=%ZZ&&==&",
                b"Action=" + b"A" * 70_000,
                wire.body + b"&Action=Other",
            ]
            choices.append(b"&".join(b"p%d=1" % index for index in range(20_000)))
            wire.body = self._rng.choice(choices)
            return
        choices = [
            wire.body[: len(wire.body) // 2],
            b"{",
            b"[]",
            b"null",
            b'"text"',
            b'{"a":}',
            b'{"a": NaN, "b": Infinity}',
            b'{"a": 1e99999}',
            b'{"a": 1, "a": {"b": 2}}',
            b"[" * 100_000 + b"]" * 100_000,
            b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
            b"\x00\x01\x02",
            b"{}" * 3,
        ]
        wire.body = self._rng.choice(choices)
        if target.protocol == "rest-json" and "Content-Type" not in wire.headers:
            wire.headers["Content-Type"] = "application/json"

    def _bad_encoding(self, target: Target, wire: _Wire) -> None:
        invalid = self._rng.choice([b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"])
        if target.protocol == "query":
            wire.body += b"&" + self._rng.choice([b"UserName=", b"RoleName=", b"Namespace="]) + invalid
            if self._rng.random() < 0.5:
                wire.body += b"&Marker=%FF%FE"
            return
        if target.protocol == "rest-json" and (not wire.body or self._rng.random() < 0.4):
            segments = wire.path.split("?", 1)
            segments[0] += self._rng.choice(["%FF", "%C3%28", "%00", "%2F..%2F"])
            wire.path = "?".join(segments)
            return
        if wire.body.startswith(b"{") and len(wire.body) > 2:
            wire.body = wire.body[:-1] + b', "x": "' + invalid + b'"}'
        else:
            wire.body = b'{"a": "' + invalid + b'"}'

    def _wrong_content_type(self, target: Target, wire: _Wire) -> None:
        choice = self._rng.random()
        if target.protocol == "json" and choice < 0.5:
            target_header = wire.headers.get("X-Amz-Target", "")
            wire.headers["X-Amz-Target"] = self._rng.choice(
                ["", "Nothing", target_header + "X", target_header.split(".")[0] + ".", "." + target_header]
            )
            return
        content_type = self._rng.choice(
            [
                None,
                "text/plain",
                "application/xml",
                "application/json",
                "application/x-amz-json-1.1",
                "multipart/form-data; boundary=x",
                "application/x-www-form-urlencoded; charset=latin-1",
            ]
        )
        wire.headers.pop("Content-Type", None)
        if content_type is not None:
            wire.headers["Content-Type"] = content_type

    def _finish(self, target: Target, wire: _Wire, auth: str) -> bytes:
        """Sign (or not, or badly) and serialise to HTTP/1.1 bytes."""
        # Header values go out as the UTF-8 bytes of the text (lone surrogates too), spelled as
        # latin-1 characters: botocore's signer cannot take a value with a surrogate in it.
        headers = {
            name: value.encode("utf-8", "surrogatepass").decode("latin-1") if not value.isascii() else value
            for name, value in ((name, str(value)) for name, value in wire.headers.items())
        }
        if auth != "unsigned":
            access_key, secret_key = self._credentials
            if auth == "unknown_key":
                access_key = "LKIAUNKNOWNKEY000000"
            elif auth == "bad_signature":
                secret_key += "x"
            request = AWSRequest(
                method=wire.method,
                url=f"http://{self._authority}{wire.path}",
                data=wire.body,
                headers=headers,
            )
            SigV4Auth(Credentials(access_key, secret_key), target.signing_name, self._region).add_auth(
                request
            )
            headers = {name: str(value) for name, value in request.headers.items()}
            if auth == "malformed_authorization":
                headers["Authorization"] = self._rng.choice(
                    ["AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256 Credential=", "Bearer x", "AWS4-HMAC-SHA256 ,,,=="]
                )
            elif auth == "stale_date":
                headers["X-Amz-Date"] = self._rng.choice(["20000101T000000Z", "not-a-date", ""])
        lines = [f"{wire.method} {wire.path} HTTP/1.1", f"Host: {self._authority}"]
        lines.extend(
            f"{name}: {value}"
            for name, value in headers.items()
            if name.lower() not in ("host", "content-length")
        )
        lines.append(f"Content-Length: {len(wire.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + wire.body


def pick_variants(rng: random.Random) -> tuple[str, str]:
    return _weighted(rng, CONTENT_VARIANTS), _weighted(rng, AUTH_VARIANTS)
