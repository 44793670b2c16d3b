"""AWS's `json` protocol (CloudWatch Logs, CloudWatch metrics for newer SDKs): every call is a POST
to `/` naming its operation in `X-Amz-Target: <targetPrefix>.<Operation>`, with the input members as
one JSON object and the output the same way.

Errors are `{"__type": "<code>", "message": "…"}` with a 4xx/5xx status; botocore's JSONParser
takes the code from `__type` (after any `#`), so boto3 raises the modelled exception class.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape

from lamina.errors import AwsError
from lamina.protocol import event_stream
from lamina.protocol.event_encoding import encode_events
from lamina.protocol.http import HttpRequest, HttpResponse
from lamina.protocol.json_values import dump_json, from_json, load_json, serialization_error, to_json
from lamina.protocol.validation import validate


class JsonRpcProtocol:
    def __init__(
        self,
        service_model: ServiceModel,
        *,
        validation_error_code: str = "ValidationException",
        enum_overrides: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """`validation_error_code`: the code model-constraint failures are reported with (CloudWatch
        Logs answers them as InvalidParameterException); `enum_overrides`: shapes whose allowed
        values the service checks itself (an empty sequence), with its own error."""
        self._validation_error_code = validation_error_code
        self._enum_overrides = dict(enum_overrides or {})
        metadata = service_model.metadata
        # Services that moved from the query protocol (CloudWatch) keep their query error codes:
        # botocore reads them from x-amzn-query-error.
        self._query_compatible = "awsQueryCompatible" in metadata
        self._content_type = f"application/x-amz-json-{metadata.get('jsonVersion', '1.0')}"
        prefix = metadata["targetPrefix"]
        self._operations = {
            f"{prefix}.{name}": service_model.operation_model(name) for name in service_model.operation_names
        }

    # routing -------------------------------------------------------------------------------
    def match(
        self, method: str, raw_path: str, query: list[tuple[str, str]] | None = None
    ) -> tuple[OperationModel, dict[str, str]] | None:
        return None  # the operation is named in a header, not in the method and path

    def match_request(self, request: HttpRequest) -> tuple[OperationModel, dict[str, str]] | None:
        if request.method != "POST":
            return None
        operation = self._operations.get(request.headers.get("x-amz-target", ""))
        return (operation, {}) if operation is not None else None

    # decoding ------------------------------------------------------------------------------
    def parse(
        self, operation: OperationModel, labels: dict[str, str], request: HttpRequest
    ) -> dict[str, Any]:
        shape = operation.input_shape
        if shape is None:
            return {}
        try:
            params = from_json(shape, load_json(request.body), "")
        except RecursionError:
            raise serialization_error("Request body is nested too deeply") from None
        try:
            validate(shape, params, self._enum_overrides)
        except AwsError as error:
            if self._validation_error_code == error.code:
                raise
            raise AwsError(self._validation_error_code, error.message, error.status) from None
        return dict(params)

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
        stream_member = _event_stream_member(shape)
        if shape is not None and stream_member is not None:
            return self._stream_response(shape, stream_member, output, request_id, headers or [])
        document = to_json(shape, output) if shape is not None else {}
        return self._response(status or 200, dump_json(document), request_id, headers or [])

    def _stream_response(
        self,
        shape: Shape,
        member: str,
        output: Mapping[str, Any],
        request_id: str | None,
        headers: list[tuple[str, str]],
    ) -> HttpResponse:
        """An event-stream output: `output[member]` yields (event type, event members); the other
        members go in the initial-response event botocore reads first."""
        events: AsyncIterator[tuple[str, Mapping[str, Any]]] = output[member]
        union = shape.members[member]
        initial = {name: value for name, value in output.items() if name != member}
        initial_document = to_json(shape, initial)

        body = encode_events(
            union, events, event_stream.event("initial-response", dump_json(initial_document))
        )
        response_headers = [("Content-Type", event_stream.CONTENT_TYPE)]
        if request_id is not None:
            response_headers.append(("x-amzn-RequestId", request_id))
        response_headers.extend(headers)
        return HttpResponse(200, response_headers, b"", body)

    def serialize_error(self, error: AwsError, request_id: str) -> HttpResponse:
        document: dict[str, Any] = {"__type": error.code, "message": error.message, **error.extra}
        headers = list(error.headers.items())
        if self._query_compatible and not any(name.lower() == "x-amzn-query-error" for name, _ in headers):
            headers.append(
                ("x-amzn-query-error", f"{error.code};{'Sender' if error.status < 500 else 'Receiver'}")
            )
        return self._response(error.status, dump_json(document), request_id, headers)

    def _response(
        self, status: int, body: bytes, request_id: str | None, extra: list[tuple[str, str]]
    ) -> HttpResponse:
        headers = [("Content-Type", self._content_type)]
        if request_id is not None:
            headers.append(("x-amzn-RequestId", request_id))
        headers.extend(extra)
        return HttpResponse(status, headers, body)


def _event_stream_member(shape: Shape | None) -> str | None:
    if shape is None:
        return None
    for name, member in shape.members.items():
        if member.serialization.get("eventstream"):
            return name
    return None
