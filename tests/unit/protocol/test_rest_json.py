"""RestJsonProtocol against the real Lambda model, with boto3 as the oracle.

Requests: boto3 builds them, a `before-send` hook captures them (nothing touches the
network), and `match` + `parse` must give back the params boto3 was called with.
Responses: our `HttpResponse` is handed to boto3 as the wire response, and boto3 must
parse it back into the dict we serialized.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import io
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import botocore
import botocore.config
import botocore.exceptions
import pytest
from botocore import xform_name
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.model import Shape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lamina.errors import AwsError, too_many_requests
from lamina.protocol import create_protocol, load_service_model
from lamina.protocol.http import HttpRequest, HttpResponse
from lamina.protocol.rest_json import RestJsonProtocol

MODEL = load_service_model("lambda")
PROTOCOL = RestJsonProtocol(MODEL)
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:my-function"


class _RawBody(io.BytesIO):
    """What botocore expects as `AWSResponse.raw`: readable and streamable."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


class Wire:
    """A boto3 Lambda client whose HTTP exchange is captured and faked in memory."""

    def __init__(self) -> None:
        session = boto3.session.Session(
            aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="us-east-1"
        )
        config = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"})
        self.client = session.client("lambda", endpoint_url="http://localhost:1", config=config)
        self.client.meta.events.register("before-send.lambda", self._send)
        self.sent: AWSPreparedRequest | None = None
        self.reply = HttpResponse(200, [], b"{}")

    def _send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        self.sent = request
        return AWSResponse(
            request.url, self.reply.status, dict(self.reply.headers), _RawBody(self.reply.body)
        )

    def request(self, operation_name: str, params: dict[str, Any]) -> HttpRequest:
        """Have boto3 build the request for `operation_name` and return it as we'd receive it."""
        getattr(self.client, xform_name(operation_name))(**params)
        assert self.sent is not None
        sent, self.sent = self.sent, None
        url = urlsplit(sent.url)
        headers = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in sent.headers.items()}
        body = sent.body or b""
        if isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, bytes):
            body = body.read()
        query = parse_qsl(url.query, keep_blank_values=True)
        return HttpRequest(sent.method, url.path, query, headers, body)

    def respond(self, operation_name: str, response: HttpResponse, params: dict[str, Any]) -> dict[str, Any]:
        """Have boto3 parse `response` as the answer to `operation_name`."""
        self.reply = response
        parsed = getattr(self.client, xform_name(operation_name))(**params)
        parsed.pop("ResponseMetadata")
        return dict(parsed)


@pytest.fixture(scope="module")
def wire() -> Wire:
    return Wire()


def roundtrip(wire: Wire, operation_name: str, params: dict[str, Any]) -> dict[str, Any]:
    request = wire.request(operation_name, params)
    matched = PROTOCOL.match(request.method, request.raw_path, request.query)
    assert matched is not None, f"{operation_name}: {request.method} {request.raw_path} not routed"
    operation, labels = matched
    assert operation.name == operation_name
    return PROTOCOL.parse(operation, labels, request)


# --------------------------------------------------------------------------- requests


def test_create_function_round_trips(wire: Wire) -> None:
    params = {
        "FunctionName": "my-function",
        "Runtime": "python3.12",
        "Role": "arn:aws:iam::123456789012:role/lambda-role",
        "Handler": "app.handler",
        "Code": {"ZipFile": b"PK\x03\x04\x00\xff binary zip"},
        "Environment": {"Variables": {"STAGE": "prod", "EMPTY": ""}},
        "Tags": {"team": "core", "cost-centre": "42"},
        "MemorySize": 256,
        "Timeout": 30,
        "Publish": True,
        "Architectures": ["arm64"],
        "Layers": ["arn:aws:lambda:us-east-1:123456789012:layer:deps:3"],
        "TracingConfig": {"Mode": "Active"},
        "EphemeralStorage": {"Size": 1024},
    }
    assert roundtrip(wire, "CreateFunction", params) == params


def test_invoke_round_trips_raw_payload_and_headers(wire: Wire) -> None:
    client_context = base64.b64encode(json.dumps({"custom": {"a": 1}}).encode()).decode()
    params = {
        "FunctionName": "my-function",
        "InvocationType": "RequestResponse",
        "LogType": "Tail",
        "ClientContext": client_context,
        "Qualifier": "prod",
        "Payload": b'{"not": "decoded"}\xff\x00',
    }
    assert roundtrip(wire, "Invoke", params) == params


def test_invoke_without_payload_has_no_payload_member(wire: Wire) -> None:
    assert roundtrip(wire, "Invoke", {"FunctionName": "f", "InvocationType": "Event"}) == {
        "FunctionName": "f",
        "InvocationType": "Event",
    }


def test_list_functions_query_params(wire: Wire) -> None:
    params = {"Marker": "next page/+=", "MaxItems": 10, "FunctionVersion": "ALL", "MasterRegion": "ALL"}
    assert roundtrip(wire, "ListFunctions", params) == params


def test_get_function_with_arn_labels_are_decoded(wire: Wire) -> None:
    request = wire.request("GetFunction", {"FunctionName": f"{FUNCTION_ARN}:prod"})
    assert "%3A" in request.raw_path
    matched = PROTOCOL.match(request.method, request.raw_path, request.query)
    assert matched is not None
    assert matched[1] == {"FunctionName": f"{FUNCTION_ARN}:prod"}
    assert PROTOCOL.parse(matched[0], matched[1], request) == {"FunctionName": f"{FUNCTION_ARN}:prod"}


@pytest.mark.parametrize(
    ("operation_name", "params"),
    [
        (
            "UpdateFunctionConfiguration",
            {
                "FunctionName": "my-function",
                "MemorySize": 512,
                "Timeout": 900,
                "Description": "ünïcode ✓",
                "Environment": {"Variables": {}},
                "VpcConfig": {"SubnetIds": ["subnet-1"], "SecurityGroupIds": ["sg-1"]},
                "DeadLetterConfig": {"TargetArn": "arn:aws:sqs:us-east-1:123456789012:dlq"},
                "RevisionId": "r1",
            },
        ),
        ("DeleteFunction", {"FunctionName": "my-function", "Qualifier": "3"}),
        ("GetPolicy", {"FunctionName": FUNCTION_ARN, "Qualifier": "$LATEST"}),
        ("ListVersionsByFunction", {"FunctionName": "my-function", "Marker": "m", "MaxItems": 50}),
        (
            "PublishLayerVersion",
            {
                "LayerName": "deps",
                "Description": "layer",
                "Content": {"ZipFile": b"PK zipped"},
                "CompatibleRuntimes": ["python3.11", "python3.12"],
                "CompatibleArchitectures": ["x86_64"],
                "LicenseInfo": "MIT",
            },
        ),
        (
            "CreateFunctionUrlConfig",
            {
                "FunctionName": "my-function",
                "Qualifier": "live",
                "AuthType": "NONE",
                "Cors": {"AllowOrigins": ["*"], "AllowMethods": ["GET", "POST"], "MaxAge": 60},
                "InvokeMode": "BUFFERED",
            },
        ),
        ("GetFunctionUrlConfig", {"FunctionName": "my-function"}),
        ("UpdateFunctionUrlConfig", {"FunctionName": "my-function", "AuthType": "AWS_IAM"}),
        ("DeleteFunctionUrlConfig", {"FunctionName": "my-function", "Qualifier": "live"}),
        ("ListFunctionUrlConfigs", {"FunctionName": "my-function", "MaxItems": 5}),
        ("UntagResource", {"Resource": FUNCTION_ARN, "TagKeys": ["a", "b c", "d,e"]}),
        ("TagResource", {"Resource": FUNCTION_ARN, "Tags": {"k": "v"}}),
        ("ListProvisionedConcurrencyConfigs", {"FunctionName": "my-function"}),
        ("GetProvisionedConcurrencyConfig", {"FunctionName": "my-function", "Qualifier": "1"}),
        ("ListLayers", {"CompatibleRuntime": "python3.12"}),
        ("GetLayerVersionByArn", {"Arn": "arn:aws:lambda:us-east-1:123456789012:layer:deps:3"}),
        ("RemovePermission", {"FunctionName": "f", "StatementId": "sid-1", "RevisionId": "r"}),
        ("PutFunctionConcurrency", {"FunctionName": "f", "ReservedConcurrentExecutions": 0}),
    ],
)
def test_operations_round_trip(wire: Wire, operation_name: str, params: dict[str, Any]) -> None:
    assert roundtrip(wire, operation_name, params) == params


def _sample_string(shape: Shape) -> str:
    enum = shape.metadata.get("enum")
    if enum:
        return str(enum[0])
    minimum = shape.metadata.get("min", 1)
    maximum = shape.metadata.get("max", 10_000)
    pattern = shape.metadata.get("pattern")
    candidates = [
        "my-function",
        "1",
        "123456789012",
        FUNCTION_ARN,
        "arn:aws:lambda:us-east-1:123456789012:layer:deps",
        "arn:aws:lambda:us-east-1:123456789012:layer:deps:3",
        "arn:aws:lambda:us-east-1:123456789012:code-signing-config:csc-0123456789abcdef0",
        "arn:aws:lambda:us-east-1:123456789012:capacity-provider:cp",
        f"{FUNCTION_ARN}:$LATEST/durable-execution/run/abc",
        "arn:aws:iam::123456789012:role/r",
        "lambda:InvokeFunction",
        "lambda:GetLayerVersion",
        "Statement1",
        "subnet-0123abcd",
        "sg-0123abcd",
        "01234567-89ab-cdef-0123-456789abcdef",
        "x" * max(minimum, 1),
    ]
    try:
        compiled = re.compile(pattern) if pattern is not None else None
    except re.error:
        compiled = None  # a Java-only pattern (e.g. \p{...}); the product skips it too
    for candidate in candidates:
        if minimum <= len(candidate) <= maximum and (compiled is None or compiled.fullmatch(candidate)):
            return candidate
    # botocore ships new operations with new patterns; those this sampler can't satisfy are skipped
    # rather than failing the suite on a newer botocore.
    pytest.skip(f"no sample value for {shape.name} ({pattern!r}) in botocore {botocore.__version__}")


def _sample(shape: Shape) -> Any:
    """The smallest valid value for `shape`: required members only, satisfying constraints."""
    metadata = shape.metadata
    match shape.type_name:
        case "structure":
            if metadata.get("document"):
                return {"doc": 1}
            members = shape.members
            required = shape.required_members or ([next(iter(members))] if metadata.get("union") else [])
            return {name: _sample(members[name]) for name in required}
        case "list":
            # At least one element: boto3 sends nothing at all for an empty querystring list.
            return [_sample(shape.member) for _ in range(max(metadata.get("min", 1), 1))]
        case "map":
            return {}
        case "string":
            return _sample_string(shape)
        case "integer" | "long":
            return int(metadata.get("min", 1))
        case "float" | "double":
            return float(metadata.get("min", 1))
        case "boolean":
            return True
        case "blob":
            return b"blob"
        case "timestamp":
            return datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    raise AssertionError(shape.type_name)


@pytest.mark.parametrize("operation_name", MODEL.operation_names)
def test_every_operation_routes_and_round_trips(wire: Wire, operation_name: str) -> None:
    input_shape = MODEL.operation_model(operation_name).input_shape
    params = _sample(input_shape) if input_shape is not None else {}
    parsed = roundtrip(wire, operation_name, params)
    for name, member in input_shape.members.items() if input_shape is not None else ():
        if member.metadata.get("idempotencyToken") and name not in params:
            assert isinstance(parsed.pop(name), str)  # boto3 fills these in itself
    assert parsed == params


# --------------------------------------------------------------------------- routing


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", ""),
        ("GET", "/2015-03-31"),
        ("GET", "/2015-03-31/functions/f/unknown"),
        ("GET", "/2015-03-31/functions//configuration"),
        ("PATCH", "/2015-03-31/functions/f"),
        ("POST", "/2015-03-31/functions/f/invocations/extra"),
        ("GET", "/2016-01-01/functions"),
    ],
)
def test_unknown_requests_do_not_match(method: str, path: str) -> None:
    assert PROTOCOL.match(method, path) is None


def test_literal_query_parts_select_the_operation() -> None:
    path = "/2019-09-30/functions/f/provisioned-concurrency"
    listed = PROTOCOL.match("GET", path, [("List", "ALL")])
    single = PROTOCOL.match("GET", path, [("Qualifier", "1")])
    assert listed is not None and listed[0].name == "ListProvisionedConcurrencyConfigs"
    assert single is not None and single[0].name == "GetProvisionedConcurrencyConfig"
    # A query string left on the path is understood too.
    inline = PROTOCOL.match("GET", "/2018-10-31/layers?find=LayerVersion&Arn=x")
    assert inline is not None and inline[0].name == "GetLayerVersionByArn"
    plain = PROTOCOL.match("GET", "/2018-10-31/layers")
    assert plain is not None and plain[0].name == "ListLayers"


def test_method_is_case_insensitive() -> None:
    matched = PROTOCOL.match("get", "/2015-03-31/functions/f")
    assert matched is not None and matched[0].name == "GetFunction"


def test_greedy_and_partial_labels() -> None:
    data = {
        "metadata": {"protocol": "rest-json", "apiVersion": "2006-03-01", "endpointPrefix": "s"},
        "operations": {
            "GetObject": {
                "name": "GetObject",
                "http": {"method": "GET", "requestUri": "/{Bucket}/{Key+}"},
                "input": {"shape": "ObjectInput"},
            },
            "GetThing": {
                "name": "GetThing",
                "http": {"method": "GET", "requestUri": "/things/{Id}.json?format"},
                "input": {"shape": "ThingInput"},
            },
        },
        "shapes": {
            "ObjectInput": {
                "type": "structure",
                "required": ["Bucket", "Key"],
                "members": {
                    "Bucket": {"shape": "S", "location": "uri", "locationName": "Bucket"},
                    "Key": {"shape": "S", "location": "uri", "locationName": "Key"},
                },
            },
            "ThingInput": {
                "type": "structure",
                "members": {"Id": {"shape": "S", "location": "uri", "locationName": "Id"}},
            },
            "S": {"type": "string"},
        },
    }
    from botocore.model import ServiceModel

    protocol = RestJsonProtocol(ServiceModel(data, "s"))
    matched = protocol.match("GET", "/bucket/a/b%20c/d.txt")
    assert matched is not None
    assert (matched[0].name, matched[1]) == ("GetObject", {"Bucket": "bucket", "Key": "a/b c/d.txt"})
    thing = protocol.match("GET", "/things/a%2Fb.json", [("format", "")])
    assert thing is not None and thing[1] == {"Id": "a/b"}
    # Without the literal query part the path is just another object key.
    fallback = protocol.match("GET", "/things/a.json")
    assert fallback is not None and fallback[0].name == "GetObject"
    assert protocol.match("GET", "/bucket") is None
    assert protocol.match("PUT", "/bucket/key") is None


# --------------------------------------------------------------------------- parse errors


def _request(body: bytes, method: str = "POST", path: str = "/2015-03-31/functions") -> HttpRequest:
    return HttpRequest(method, path, [], {"content-type": "application/json"}, body)


def _parse(request: HttpRequest) -> dict[str, Any]:
    matched = PROTOCOL.match(request.method, request.raw_path, request.query)
    assert matched is not None
    return PROTOCOL.parse(matched[0], matched[1], request)


def test_invalid_json_is_a_serialization_exception() -> None:
    with pytest.raises(AwsError) as caught:
        _parse(_request(b"{not json"))
    assert (caught.value.code, caught.value.status) == ("SerializationException", 400)
    with pytest.raises(AwsError, match="expected a JSON object") as caught:
        _parse(_request(b"[1, 2]"))
    assert caught.value.code == "SerializationException"


@pytest.mark.parametrize(
    "document",
    [
        {"FunctionName": "f", "Role": "r", "Code": {}, "MemorySize": "128"},
        {"FunctionName": 12, "Role": "r", "Code": {}},
        {"FunctionName": "f", "Role": "r", "Code": []},
        {"FunctionName": "f", "Role": "r", "Code": {"ZipFile": "not base64!"}},
        {"FunctionName": "f", "Role": "r", "Code": {}, "Publish": "true"},
        {"FunctionName": "f", "Role": "r", "Code": {}, "MemorySize": 2**40},
        {"FunctionName": "f", "Role": "r", "Code": {}, "Environment": {"Variables": {"A": 1}}},
    ],
)
def test_wrong_json_types_are_serialization_exceptions(document: dict[str, Any]) -> None:
    with pytest.raises(AwsError) as caught:
        _parse(_request(json.dumps(document).encode()))
    assert caught.value.code == "SerializationException"
    assert "Cannot deserialize" in caught.value.message


def test_bad_query_and_header_values_are_serialization_exceptions() -> None:
    request = HttpRequest("GET", "/2015-03-31/functions", [("MaxItems", "ten")], {}, b"")
    with pytest.raises(AwsError, match="not an integer") as caught:
        _parse(request)
    assert caught.value.code == "SerializationException"


def test_validation_runs_after_decoding() -> None:
    body = json.dumps({"FunctionName": "bad name", "Role": "r", "Code": {}, "MemorySize": 1}).encode()
    with pytest.raises(AwsError) as caught:
        _parse(_request(body))
    assert caught.value.code == "ValidationException"
    assert caught.value.message.startswith("3 validation errors detected: ")
    assert "Value '1' at 'memorySize' failed to satisfy constraint" in caught.value.message


def test_unknown_body_keys_and_nulls_are_ignored_and_empty_body_is_empty_object() -> None:
    body = json.dumps({"FunctionName": None, "Extra": {"deep": [1]}, "MemorySize": 128.0}).encode()
    path = "/2015-03-31/functions/f/configuration"
    assert _parse(_request(body, "PUT", path)) == {"FunctionName": "f", "MemorySize": 128}
    assert _parse(_request(b"", "PUT", path)) == {"FunctionName": "f"}


def test_timestamps_in_query_accept_iso_and_epoch() -> None:
    path = "/2025-12-01/functions/f/durable-executions"
    iso = _parse(HttpRequest("GET", path, [("StartedAfter", "2024-01-02T03:04:05Z")], {}, b""))
    epoch = _parse(HttpRequest("GET", path, [("StartedAfter", "1704164645")], {}, b""))
    expected = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    assert iso["StartedAfter"] == expected == epoch["StartedAfter"]


# --------------------------------------------------------------------------- responses


def test_get_function_output_round_trips(wire: Wire) -> None:
    output = {
        "Configuration": {
            "FunctionName": "my-function",
            "FunctionArn": FUNCTION_ARN,
            "Runtime": "python3.12",
            "MemorySize": 128,
            "Timeout": 3,
            "LastModified": "2024-01-02T03:04:05.000+0000",
            "Environment": {"Variables": {"A": "1"}},
            "Architectures": ["x86_64"],
            "State": "Active",
        },
        "Code": {"RepositoryType": "S3", "Location": "http://localhost/code.zip"},
        "Tags": {"team": "core"},
    }
    response = PROTOCOL.serialize(MODEL.operation_model("GetFunction"), output, request_id="req-1")
    assert response.status == 200
    assert ("Content-Type", "application/json") in response.headers
    assert ("x-amzn-RequestId", "req-1") in response.headers
    assert wire.respond("GetFunction", response, {"FunctionName": "my-function"}) == output


def test_internal_fields_and_nones_are_dropped() -> None:
    output = {"FunctionName": "f", "Secret": "internal", "Description": None, "Runtime": "python3.12"}
    response = PROTOCOL.serialize(MODEL.operation_model("GetFunctionConfiguration"), output)
    assert json.loads(response.body) == {"FunctionName": "f", "Runtime": "python3.12"}


def test_invoke_output_status_headers_and_raw_payload(wire: Wire) -> None:
    output = {
        "StatusCode": 200,
        "FunctionError": "Unhandled",
        "LogResult": base64.b64encode(b"START RequestId: x\n").decode(),
        "ExecutedVersion": "$LATEST",
        "Payload": b'{"errorMessage": "boom"}',
    }
    response = PROTOCOL.serialize(MODEL.operation_model("Invoke"), output)
    assert response.body == output["Payload"]
    assert ("X-Amz-Function-Error", "Unhandled") in response.headers
    parsed = wire.respond("Invoke", response, {"FunctionName": "f"})
    assert parsed.pop("Payload").read() == output["Payload"]
    assert parsed == {k: v for k, v in output.items() if k != "Payload"}


def test_invoke_event_answers_202_and_status_override() -> None:
    operation = MODEL.operation_model("Invoke")
    assert PROTOCOL.serialize(operation, {"StatusCode": 202}).status == 202
    dry_run = PROTOCOL.serialize(operation, {"StatusCode": 204, "Payload": b"x"})
    assert (dry_run.status, dry_run.body) == (204, b"")
    response = PROTOCOL.serialize(
        operation, {"Payload": b"{}"}, status=200, headers=[("content-type", "application/json")]
    )
    assert response.status == 200
    assert [value for name, value in response.headers if name.lower() == "content-type"] == [
        "application/json"
    ]


def test_default_status_is_the_modelled_response_code() -> None:
    created = PROTOCOL.serialize(MODEL.operation_model("CreateFunction"), {"FunctionName": "f"})
    assert created.status == 201
    deleted = PROTOCOL.serialize(MODEL.operation_model("DeleteAlias"), {})
    assert (deleted.status, deleted.body, deleted.headers) == (204, b"", [])


def test_list_functions_output_round_trips(wire: Wire) -> None:
    output = {
        "NextMarker": "page-2",
        "Functions": [
            {"FunctionName": "a", "MemorySize": 128, "Layers": [{"Arn": "arn:l:1", "CodeSize": 10}]},
            {"FunctionName": "b", "Timeout": 60, "TracingConfig": {"Mode": "PassThrough"}},
        ],
    }
    response = PROTOCOL.serialize(MODEL.operation_model("ListFunctions"), output)
    assert wire.respond("ListFunctions", response, {}) == output


def test_timestamps_are_encoded_for_boto3(wire: Wire) -> None:
    moment = datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.UTC)
    uuid = "01234567-89ab-cdef-0123-456789abcdef"  # newer models require a 36-character UUID
    output = {"UUID": uuid, "LastModified": moment, "BatchSize": 10}
    response = PROTOCOL.serialize(MODEL.operation_model("GetEventSourceMapping"), output)
    assert json.loads(response.body)["LastModified"] == pytest.approx(moment.timestamp())
    assert wire.respond("GetEventSourceMapping", response, {"UUID": uuid}) == output


# --------------------------------------------------------------------------- errors


def test_modelled_error_raises_the_modelled_exception(wire: Wire) -> None:
    error = AwsError("ResourceNotFoundException", "Function not found: arn:...:f", 404)
    wire.reply = PROTOCOL.serialize_error(error, "req-404")
    with pytest.raises(wire.client.exceptions.ResourceNotFoundException) as caught:
        wire.client.get_function(FunctionName="f")
    response = caught.value.response
    assert response["Error"] == {
        "Code": "ResourceNotFoundException",
        "Message": "Function not found: arn:...:f",
    }
    assert response["Type"] == "User"
    assert response["Message"] == "Function not found: arn:...:f"
    assert response["ResponseMetadata"]["RequestId"] == "req-404"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_lower_case_message_member_and_extra_headers(wire: Wire) -> None:
    error = AwsError("InvalidParameterValueException", "bad", 400, headers={"X-Custom": "1"})
    response = PROTOCOL.serialize_error(error, "req")
    assert json.loads(response.body) == {"message": "bad", "Type": "User"}
    assert ("X-Custom", "1") in response.headers
    wire.reply = response
    with pytest.raises(wire.client.exceptions.InvalidParameterValueException) as caught:
        wire.client.get_function(FunctionName="f")
    assert caught.value.response["Error"]["Message"] == "bad"
    assert caught.value.response["message"] == "bad"


def test_throttling_carries_reason_and_retry_after(wire: Wire) -> None:
    error = too_many_requests("Rate exceeded", "ReservedFunctionConcurrentInvocationLimitExceeded")
    error.extra["retryAfterSeconds"] = "2"
    wire.reply = PROTOCOL.serialize_error(error, "req-429")
    assert ("Retry-After", "2") in wire.reply.headers
    with pytest.raises(wire.client.exceptions.TooManyRequestsException) as caught:
        wire.client.invoke(FunctionName="f")
    response = caught.value.response
    assert response["Error"]["Code"] == "TooManyRequestsException"
    assert response["Error"]["Message"] == "Rate exceeded"
    assert response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert response["retryAfterSeconds"] == "2"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 429


@pytest.mark.parametrize(
    ("code", "status"), [("ValidationException", 400), ("UnrecognizedClientException", 403)]
)
def test_unmodelled_error_is_a_client_error_with_the_code(wire: Wire, code: str, status: int) -> None:
    wire.reply = PROTOCOL.serialize_error(AwsError(code, "1 validation error detected: x", status), "r")
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        wire.client.list_functions()
    assert caught.value.response["Error"] == {"Code": code, "Message": "1 validation error detected: x"}
    assert json.loads(wire.reply.body) == {"message": "1 validation error detected: x"}


def test_service_error_round_trips(wire: Wire) -> None:
    wire.reply = PROTOCOL.serialize_error(
        AwsError("ServiceException", "boom", 500, error_type="Service"), "r"
    )
    with pytest.raises(wire.client.exceptions.ServiceException) as caught:
        wire.client.list_functions()
    assert caught.value.response["Error"] == {"Code": "ServiceException", "Message": "boom"}
    assert caught.value.response["Type"] == "Service"


def test_create_protocol_builds_rest_json() -> None:
    assert isinstance(create_protocol(MODEL), RestJsonProtocol)


# --------------------------------------------------------------------------- robustness

_BODY_OPERATIONS = [
    "CreateFunction",
    "Invoke",
    "UpdateFunctionConfiguration",
    "PublishLayerVersion",
    "TagResource",
]
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
_member_names = st.sampled_from(
    [
        "FunctionName",
        "Role",
        "Code",
        "MemorySize",
        "Environment",
        "Tags",
        "Layers",
        "Content",
        "Publish",
        "ZipFile",
    ]
)


def _parse_any(operation_name: str, request: HttpRequest) -> None:
    # Anything but an AwsError escaping here fails the test.
    with contextlib.suppress(AwsError):
        PROTOCOL.parse(
            MODEL.operation_model(operation_name), {"FunctionName": "f", "LayerName": "l"}, request
        )


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    operation_name=st.sampled_from(_BODY_OPERATIONS),
    body=st.binary(max_size=200)
    | st.dictionaries(_member_names, _json_values, max_size=6).map(lambda d: json.dumps(d).encode()),
    query=st.lists(
        st.tuples(st.sampled_from(["Qualifier", "MaxItems", "x"]), st.text(max_size=8)), max_size=4
    ),
    headers=st.dictionaries(
        st.sampled_from(["x-amz-invocation-type", "x-amz-log-type", "x-amz-client-context"]),
        st.text(max_size=8),
    ),
)
def test_garbage_requests_only_raise_aws_errors(
    operation_name: str, body: bytes, query: list[tuple[str, str]], headers: dict[str, str]
) -> None:
    _parse_any(operation_name, HttpRequest("POST", "/", query, headers, body))


@settings(max_examples=300, deadline=None, database=None)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD"]),
    path=st.lists(
        st.sampled_from(["", "2015-03-31", "functions", "f", "%3A", "%ZZ", "%FF", "invocations", "url", "?"])
        | st.text(max_size=6),
        max_size=6,
    ).map(lambda parts: "/" + "/".join(parts)),
    query=st.lists(st.tuples(st.text(max_size=5), st.text(max_size=5)), max_size=3),
)
def test_garbage_paths_never_raise(method: str, path: str, query: list[tuple[str, str]]) -> None:
    matched = PROTOCOL.match(method, path, query)
    if matched is not None:
        operation, labels = matched
        _parse_any(operation.name, HttpRequest(method, path, query, {}, b""))
        assert all(isinstance(value, str) for value in labels.values())


# --------------------------------------------------------------------------- other rest-json traits
# Lambda's model uses few of the rest-json traits; a small synthetic service covers the
# rest, with botocore's own serializer and parser as the oracle.

_WIDGETS = {
    "metadata": {"protocol": "rest-json", "apiVersion": "2020-01-01", "endpointPrefix": "widgets"},
    "operations": {
        "PutWidget": {
            "name": "PutWidget",
            "http": {"method": "PUT", "requestUri": "/widgets/{Id}/{Version}", "responseCode": 200},
            "input": {"shape": "PutWidgetInput"},
            "output": {"shape": "PutWidgetOutput"},
        }
    },
    "shapes": {
        "PutWidgetInput": {
            "type": "structure",
            "required": ["Id", "Version"],
            "members": {
                "Id": {"shape": "Str", "location": "uri", "locationName": "Id"},
                "Version": {"shape": "Int", "location": "uri", "locationName": "Version"},
                "Flag": {"shape": "Bool", "location": "querystring", "locationName": "flag"},
                "Since": {"shape": "Time", "location": "querystring", "locationName": "since"},
                "Kinds": {"shape": "StrList", "location": "querystring", "locationName": "kind"},
                "Extra": {"shape": "StrMap", "location": "querystring"},
                "Meta": {"shape": "JsonStr", "location": "header", "locationName": "X-Meta"},
                "When": {"shape": "Time", "location": "header", "locationName": "X-When"},
                "Names": {"shape": "StrList", "location": "header", "locationName": "X-Names"},
                "Enabled": {"shape": "Bool", "location": "header", "locationName": "X-Enabled"},
                "Ratio": {"shape": "Double", "location": "header", "locationName": "X-Ratio"},
                "Labels": {"shape": "StrMap", "location": "headers", "locationName": "x-label-"},
                "Data": {"shape": "Blob"},
                "Number": {"shape": "Long"},
                "Nested": {"shape": "Nested"},
                "Items": {"shape": "NestedList"},
                "Wire": {"shape": "Str", "locationName": "wireName"},
            },
        },
        "PutWidgetOutput": {
            "type": "structure",
            "members": {
                "Status": {"shape": "Int", "location": "statusCode"},
                "Meta": {"shape": "JsonStr", "location": "header", "locationName": "X-Meta"},
                "When": {"shape": "Time", "location": "header", "locationName": "X-When"},
                "Names": {"shape": "StrList", "location": "header", "locationName": "X-Names"},
                "Enabled": {"shape": "Bool", "location": "header", "locationName": "X-Enabled"},
                "Count": {"shape": "Int", "location": "header", "locationName": "X-Count"},
                "Labels": {"shape": "StrMap", "location": "headers", "locationName": "x-label-"},
                "Data": {"shape": "Blob"},
                "Created": {"shape": "Time"},
                "IsoCreated": {"shape": "Time", "timestampFormat": "iso8601"},
                "Nested": {"shape": "Nested"},
                "Wire": {"shape": "Str", "locationName": "wireName"},
            },
        },
        "Nested": {
            "type": "structure",
            "members": {"At": {"shape": "Time"}, "Map": {"shape": "StrMap"}, "Raw": {"shape": "Blob"}},
        },
        "NestedList": {"type": "list", "member": {"shape": "Nested"}},
        "Str": {"type": "string"},
        "JsonStr": {"type": "string", "jsonvalue": True},
        "Int": {"type": "integer"},
        "Long": {"type": "long"},
        "Double": {"type": "double"},
        "Bool": {"type": "boolean"},
        "Blob": {"type": "blob"},
        "Time": {"type": "timestamp"},
        "StrList": {"type": "list", "member": {"shape": "Str"}},
        "StrMap": {"type": "map", "key": {"shape": "Str"}, "value": {"shape": "Str"}},
    },
}


def test_every_location_and_type_round_trips_through_botocore() -> None:
    from botocore.model import ServiceModel
    from botocore.serialize import create_serializer

    model = ServiceModel(_WIDGETS, "widgets")
    operation = model.operation_model("PutWidget")
    protocol = RestJsonProtocol(model)
    moment = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.UTC)
    params = {
        "Id": "a/b c",
        "Version": 7,
        "Flag": False,
        "Since": moment,
        "Kinds": ["x", "y"],
        "Extra": {"free": "form", "other": "1"},
        "Meta": {"nested": [1, "two"]},
        "When": moment,
        "Names": ["plain", "with,comma", 'with"quote'],
        "Enabled": True,
        "Ratio": 0.5,
        "Labels": {"colour": "red"},
        "Data": b"\x00\xffbytes",
        "Number": 2**40,
        "Nested": {"At": moment, "Map": {"k": "v"}, "Raw": b"raw"},
        "Items": [{"At": moment}, {"Map": {}}],
        "Wire": "renamed",
    }
    sent = create_serializer("rest-json").serialize_to_request(params, operation)
    query = [
        (key, item)
        for key, value in sent["query_string"].items()
        for item in (value if isinstance(value, list) else [value])
    ]
    headers = {key.lower(): value for key, value in sent["headers"].items()}
    assert json.loads(sent["body"])["wireName"] == "renamed"
    matched = protocol.match(sent["method"], sent["url_path"], query)
    assert matched is not None and matched[1] == {"Id": "a/b c", "Version": "7"}
    assert (
        protocol.parse(
            operation, matched[1], HttpRequest("PUT", sent["url_path"], query, headers, sent["body"])
        )
        == params
    )

    output = {
        "Status": 202,
        "Meta": {"a": [True, None]},
        "When": moment,
        "Names": ["one", "two"],  # botocore's parser splits on every comma, quoted or not
        "Enabled": False,
        "Count": 3,
        "Labels": {"size": "xl"},
        "Data": b"\x01\x02",
        "Created": moment,
        "IsoCreated": moment,
        "Nested": {"At": moment, "Map": {"k": "v"}, "Raw": b"raw"},
        "Wire": "renamed",
    }
    response = protocol.serialize(operation, output)
    assert response.status == 202
    body = json.loads(response.body)
    assert body["IsoCreated"] == "2024-05-06T07:08:09Z"
    assert body["Created"] == moment.timestamp()
    assert ("X-When", "Mon, 06 May 2024 07:08:09 GMT") in response.headers
    from botocore.awsrequest import HeadersDict
    from botocore.parsers import create_parser

    parsed = create_parser("rest-json").parse(
        {"status_code": response.status, "headers": HeadersDict(response.headers), "body": response.body},
        operation.output_shape,
    )
    parsed.pop("ResponseMetadata")
    assert parsed == output


def test_header_lists_and_malformed_jsonvalue_headers() -> None:
    from botocore.model import ServiceModel

    model = ServiceModel(_WIDGETS, "widgets")
    operation = model.operation_model("PutWidget")
    protocol = RestJsonProtocol(model)
    labels = {"Id": "w", "Version": "1"}
    request = HttpRequest("PUT", "/widgets/w/1", [], {"x-names": ' a , "b,c", "d\\"e",, '}, b"")
    assert protocol.parse(operation, labels, request)["Names"] == ["a", "b,c", 'd"e']
    for headers in ({"x-meta": "not base64!"}, {"x-meta": base64.b64encode(b"{bad").decode()}):
        with pytest.raises(AwsError) as caught:
            protocol.parse(operation, labels, HttpRequest("PUT", "/widgets/w/1", [], headers, b""))
        assert caught.value.code == "SerializationException"
    with pytest.raises(AwsError, match="not an integer"):
        protocol.parse(operation, {"Id": "w", "Version": "1.5"}, HttpRequest("PUT", "/", [], {}, b""))
    with pytest.raises(AwsError, match="not a boolean"):
        protocol.parse(operation, labels, HttpRequest("PUT", "/", [], {"x-enabled": "yes"}, b""))
    with pytest.raises(AwsError, match="not a timestamp"):
        protocol.parse(operation, labels, HttpRequest("PUT", "/", [("since", "soon")], {}, b""))


def test_repeated_requests_match_the_same_way_and_labels_are_the_callers_own() -> None:
    protocol = RestJsonProtocol(MODEL)
    first = protocol.match("POST", "/2015-03-31/functions/my%3Afn/invocations", [("Qualifier", "1")])
    assert first is not None
    first[1]["FunctionName"] = "changed by the caller"
    again = protocol.match("POST", "/2015-03-31/functions/my%3Afn/invocations", [("Qualifier", "1")])
    assert again is not None
    assert (again[0].name, again[1]) == ("Invoke", {"FunctionName": "my:fn"})
    listed = protocol.match("GET", "/2019-09-30/functions/f/provisioned-concurrency", [("List", "ALL")])
    single = protocol.match("GET", "/2019-09-30/functions/f/provisioned-concurrency", [("Qualifier", "1")])
    assert listed is not None and single is not None
    assert (listed[0].name, single[0].name) == (
        "ListProvisionedConcurrencyConfigs",
        "GetProvisionedConcurrencyConfig",
    )
