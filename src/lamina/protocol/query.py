"""AWS's `query` protocol (IAM, STS): form-encoded requests, XML responses.

Requests carry `Action` and `Version` and the input members flattened into form fields, as botocore's
QuerySerializer writes them: `Member.Sub` for structures, `Member.member.N` for lists (`Member.N`
when flattened), `Member.entry.N.key` / `.value` for maps. Responses are
`<ActionResponse><ActionResult>…</ActionResult><ResponseMetadata>…</ResponseMetadata></ActionResponse>`
in the service's XML namespace; errors are `<ErrorResponse><Error><Type/><Code/><Message/></Error>…`.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

from botocore.model import OperationModel, ServiceModel, Shape

from lamina.errors import AwsError
from lamina.protocol.http import HttpRequest, HttpResponse
from lamina.protocol.validation import validate
from lamina.protocol.xml_values import encode_members, escape

__all__ = ["QueryProtocol", "escape"]

_XML_CONTENT_TYPE = "text/xml"


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidInput", message, 400)


# Services whose answers write timestamps with milliseconds (CloudFormation's events: tools such as
# `sam deploy` tell new events from old by them); IAM and STS write whole seconds.
_MILLISECOND_SERVICES = frozenset({"cloudformation"})


class QueryProtocol:
    def __init__(
        self, service_model: ServiceModel, enum_overrides: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        """`enum_overrides`: shapes whose allowed values the service checks itself (empty)."""
        self._enum_overrides = dict(enum_overrides or {})
        self._service_model = service_model
        self._namespace = service_model.metadata.get("xmlNamespace", "")
        self._whole_seconds = service_model.endpoint_prefix not in _MILLISECOND_SERVICES
        self._operations = {
            name: service_model.operation_model(name) for name in service_model.operation_names
        }

    # routing -------------------------------------------------------------------------------
    def match(
        self, method: str, raw_path: str, query: list[tuple[str, str]] | None = None
    ) -> tuple[OperationModel, dict[str, str]] | None:
        """Query requests name their operation in `Action`: in the query string here, in the
        form body through `match_request`."""
        action = dict(query or []).get("Action")
        operation = self._operations.get(action or "")
        return (operation, {}) if operation is not None else None

    def match_request(self, request: HttpRequest) -> tuple[OperationModel, dict[str, str]] | None:
        return self.match(request.method, request.raw_path, _fields(request))

    # decoding ------------------------------------------------------------------------------
    def parse(
        self, operation: OperationModel, labels: dict[str, str], request: HttpRequest
    ) -> dict[str, Any]:
        fields = dict(_fields(request))
        shape = operation.input_shape
        params = _decode_structure(shape, fields, "") if shape is not None else {}
        try:
            validate(shape, params, self._enum_overrides)
        except AwsError as error:  # query services (IAM, STS, CloudWatch) call it ValidationError
            raise AwsError("ValidationError", error.message, error.status) from None
        return params

    # encoding ------------------------------------------------------------------------------
    def serialize(
        self,
        operation: OperationModel,
        output: Mapping[str, Any],
        *,
        status: int | None = None,
        request_id: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> HttpResponse:
        shape = operation.output_shape
        result = ""
        if shape is not None:
            wrapper = shape.serialization.get("resultWrapper", f"{operation.name}Result")
            result = (
                f"<{wrapper}>{encode_members(shape, output, whole_seconds=self._whole_seconds)}</{wrapper}>"
            )
        body = (
            f'<{operation.name}Response xmlns="{self._namespace}">{result}'
            f"<ResponseMetadata><RequestId>{escape(request_id or '')}</RequestId></ResponseMetadata>"
            f"</{operation.name}Response>"
        ).encode()
        response_headers = [("Content-Type", _XML_CONTENT_TYPE)]
        if request_id is not None:
            response_headers.append(("x-amzn-RequestId", request_id))
        response_headers.extend(headers or [])
        return HttpResponse(status or 200, response_headers, body)

    def serialize_error(self, error: AwsError, request_id: str) -> HttpResponse:
        """botocore's QueryParser reads Error/Code and Error/Message; the modelled error's code
        (e.g. NoSuchEntity) makes boto3 raise its class."""
        kind = "Sender" if error.error_type == "User" else "Receiver"
        code = error.code
        query_error = {name.lower(): value for name, value in error.headers.items()}.pop(
            "x-amzn-query-error", None
        )
        if (
            query_error is not None
        ):  # a json-era service's error: its query code is the one this protocol sends
            code, _, kind = query_error.partition(";")
        body = (
            f'<ErrorResponse xmlns="{self._namespace}"><Error><Type>{kind}</Type>'
            f"<Code>{escape(code)}</Code><Message>{escape(error.message)}</Message></Error>"
            f"<RequestId>{escape(request_id)}</RequestId></ErrorResponse>"
        ).encode()
        headers = [
            ("Content-Type", _XML_CONTENT_TYPE),
            ("x-amzn-RequestId", request_id),
            *((name, value) for name, value in error.headers.items() if name.lower() != "x-amzn-query-error"),
        ]
        return HttpResponse(error.status, headers, body)


def _fields(request: HttpRequest) -> list[tuple[str, str]]:
    """The form fields of a query request: its query string, then its form-encoded body."""
    fields = list(request.query)
    if request.body:
        try:
            text = request.body.decode()
        except UnicodeDecodeError:
            raise _invalid("The request body is not form-encoded text.") from None
        fields.extend(parse_qsl(text, keep_blank_values=True))
    return fields


def _decode_structure(shape: Shape, fields: Mapping[str, str], prefix: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, member in shape.members.items():
        key = prefix + member.serialization.get("name", name)
        value = _decode(member, fields, key)
        if value is not None:
            params[name] = value
    return params


def _decode(shape: Shape, fields: Mapping[str, str], key: str) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if not any(name.startswith(key + ".") for name in fields):
            return None
        return _decode_structure(shape, fields, key + ".")
    if kind == "list":
        member_key = key if shape.serialization.get("flattened") else f"{key}.member"
        items = []
        index = 1
        while True:
            item = _decode(shape.member, fields, f"{member_key}.{index}")
            if item is None:
                break
            items.append(item)
            index += 1
        if not items and key in fields and fields[key] == "":
            return []  # an explicitly empty list
        return items or None
    if kind == "map":
        entry_key = key if shape.serialization.get("flattened") else f"{key}.entry"
        # The entries' member names are the model's (SNS's MessageAttributes: Name, Value).
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        result = {}
        index = 1
        while f"{entry_key}.{index}.{key_name}" in fields:
            result[fields[f"{entry_key}.{index}.{key_name}"]] = _decode(
                shape.value, fields, f"{entry_key}.{index}.{value_name}"
            )
            index += 1
        return result or None
    if key not in fields:
        return None
    return _scalar(shape, fields[key], key)


def _scalar(shape: Shape, text: str, key: str) -> Any:
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("float", "double"):
            return float(text)
        if kind == "boolean":
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return text.lower() == "true"
        if kind == "timestamp":
            return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if kind == "blob":
            return base64.b64decode(text, validate=True)
    except ValueError:
        raise _invalid(f"Invalid value for parameter {key}: {text!r}") from None
    return text
