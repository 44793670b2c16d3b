"""The query protocol against botocore itself: its serializer writes the requests we parse, its
parser reads the responses and errors we write."""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from botocore import parsers, serialize

from lamina.errors import AwsError
from lamina.protocol.http import HttpRequest, HttpResponse
from lamina.protocol.model import create_protocol, load_service_model

IAM = load_service_model("iam")
PROTOCOL = create_protocol(IAM)


def wire_request(operation: str, params: dict[str, Any]) -> HttpRequest:
    serialized = serialize.create_serializer("query").serialize_to_request(
        params, IAM.operation_model(operation)
    )
    body = serialized["body"]
    encoded = (
        urlencode(body).encode()
        if isinstance(body, dict)
        else body.encode()
        if isinstance(body, str)
        else body
    )
    return HttpRequest("POST", "/", [], {"content-type": "application/x-www-form-urlencoded"}, encoded)


def parsed(response: HttpResponse, operation: str) -> dict[str, Any]:
    parser = parsers.create_parser("query")
    shape = IAM.operation_model(operation).output_shape
    return parser.parse(  # type: ignore[no-any-return]
        {"body": response.body, "headers": dict(response.headers), "status_code": response.status}, shape
    )


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        (
            "CreateUser",
            {
                "UserName": "alice",
                "Path": "/team/",
                "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}],
            },
        ),
        (
            "PutRolePolicy",
            {"RoleName": "r", "PolicyName": "p", "PolicyDocument": '{"Version": "2012-10-17"}'},
        ),
        ("ListUsers", {"MaxItems": 5, "Marker": "m"}),
        ("UpdateAccessKey", {"AccessKeyId": "AKIAEXAMPLEKEY123", "Status": "Inactive"}),
        ("DeleteUser", {"UserName": "x"}),
    ],
)
def test_requests_botocore_writes_parse_back_to_the_same_params(
    operation: str, params: dict[str, Any]
) -> None:
    request = wire_request(operation, params)
    matched = PROTOCOL.match_request(request)
    assert matched is not None and matched[0].name == operation
    assert PROTOCOL.parse(matched[0], matched[1], request) == params


def test_responses_read_back_with_botocores_parser() -> None:
    created = datetime.datetime(2026, 11, 30, 1, 2, 3, tzinfo=datetime.UTC)
    output = {
        "Users": [
            {
                "Path": "/",
                "UserName": "alice",
                "UserId": "AIDA1",
                "Arn": "arn:aws:iam::1:user/alice",
                "CreateDate": created,
            },
            {
                "Path": "/",
                "UserName": "bob",
                "UserId": "AIDA2",
                "Arn": "arn:aws:iam::1:user/bob",
                "CreateDate": created,
            },
        ],
        "IsTruncated": True,
        "Marker": "next",
    }
    response = PROTOCOL.serialize(IAM.operation_model("ListUsers"), output, request_id="rid-1")
    assert response.status == 200
    result = parsed(response, "ListUsers")
    assert result["Users"] == output["Users"] and result["IsTruncated"] is True and result["Marker"] == "next"
    assert result["ResponseMetadata"]["RequestId"] == "rid-1"


def test_errors_read_back_with_their_code() -> None:
    response = PROTOCOL.serialize_error(
        AwsError("NoSuchEntity", "The user with name x cannot be found.", 404), "rid"
    )
    parser = parsers.create_parser("query")
    result = parser.parse(
        {"body": response.body, "headers": dict(response.headers), "status_code": 404}, None
    )
    assert result["Error"]["Code"] == "NoSuchEntity"
    assert result["Error"]["Message"] == "The user with name x cannot be found."


def test_unknown_actions_and_bad_values() -> None:
    unknown = HttpRequest("POST", "/", [], {}, b"Action=Nope&Version=2010-05-08")
    assert PROTOCOL.match_request(unknown) is None
    bad = HttpRequest("POST", "/", [], {}, b"Action=ListUsers&Version=2010-05-08&MaxItems=lots")
    matched = PROTOCOL.match_request(bad)
    assert matched is not None
    with pytest.raises(AwsError) as raised:
        PROTOCOL.parse(matched[0], matched[1], bad)
    assert raised.value.code == "InvalidInput"
    missing = HttpRequest("POST", "/", [], {}, b"Action=CreateUser&Version=2010-05-08")
    matched = PROTOCOL.match_request(missing)
    assert matched is not None
    with pytest.raises(AwsError) as validation:
        PROTOCOL.parse(matched[0], matched[1], missing)
    assert validation.value.code == "ValidationError"


def test_maps_whose_entries_have_their_own_member_names_parse() -> None:
    """SNS's MessageAttributes entries are `Name` and `Value`, not `key` and `value`; Attributes
    keep the defaults."""
    sns = load_service_model("sns")
    params = {
        "TopicArn": "arn:aws:sns:us-east-1:111111111111:t",
        "Message": "m",
        "MessageAttributes": {
            "kind": {"DataType": "String", "StringValue": "big"},
            "size": {"DataType": "Number", "StringValue": "3"},
        },
    }
    serialized = serialize.create_serializer("query").serialize_to_request(
        params, sns.operation_model("Publish")
    )
    request = HttpRequest(
        "POST",
        "/",
        [],
        {"content-type": "application/x-www-form-urlencoded"},
        urlencode(serialized["body"]).encode(),
    )
    protocol = create_protocol(sns)
    operation, labels = protocol.match_request(request)  # type: ignore[misc]
    assert protocol.parse(operation, labels, request)["MessageAttributes"] == params["MessageAttributes"]
    attributes = {"TopicArn": "arn:aws:sns:us-east-1:111111111111:t", "Attributes": {"DisplayName": "d"}}
    serialized = serialize.create_serializer("query").serialize_to_request(
        {"Name": "t", "Attributes": {"DisplayName": "d"}}, sns.operation_model("CreateTopic")
    )
    request = HttpRequest(
        "POST",
        "/",
        [],
        {"content-type": "application/x-www-form-urlencoded"},
        urlencode(serialized["body"]).encode(),
    )
    operation, labels = protocol.match_request(request)  # type: ignore[misc]
    assert protocol.parse(operation, labels, request)["Attributes"] == attributes["Attributes"]
