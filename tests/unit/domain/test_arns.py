"""FunctionName parsing and ARN building (Lambda API reference, FunctionName)."""

from __future__ import annotations

import pytest

from lamina.domain.arns import FunctionRef, function_arn, parse_function_ref, resolve_qualifier
from lamina.errors import AwsError

REGION = "us-east-1"
ACCOUNT = "123456789012"
ARN_PREFIX = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"


def parse(value: str) -> FunctionRef:
    return parse_function_ref(value, region=REGION, account_id=ACCOUNT)


def rejection(value: str) -> AwsError:
    with pytest.raises(AwsError) as caught:
        parse(value)
    assert (caught.value.code, caught.value.status) == ("InvalidParameterValueException", 400)
    return caught.value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("my-function", FunctionRef("my-function", None)),
        ("my_function", FunctionRef("my_function", None)),
        ("f" * 64, FunctionRef("f" * 64, None)),
        # Longer names and dots: lookups find nothing by them (a 404), as on AWS.
        ("f" * 65, FunctionRef("f" * 65, None)),
        ("my.function", FunctionRef("my.function", None)),
        # AWS's grammar makes every part before the name optional: these name functions called
        # "function" and "layer", which are then not found.
        (f"arn:aws:lambda:{REGION}:{ACCOUNT}:function", FunctionRef("function", None)),
        (f"{ACCOUNT}:layer:my-function", FunctionRef("layer", "my-function")),
        ("my-function:PROD", FunctionRef("my-function", "PROD")),
        ("my-function:7", FunctionRef("my-function", "7")),
        ("my-function:$LATEST", FunctionRef("my-function", "$LATEST")),
        (f"{ACCOUNT}:function:my-function", FunctionRef("my-function", None)),
        (f"{ACCOUNT}:function:my-function:live", FunctionRef("my-function", "live")),
        (f"{ARN_PREFIX}my-function", FunctionRef("my-function", None)),
        (f"{ARN_PREFIX}my-function:3", FunctionRef("my-function", "3")),
        (f"{ARN_PREFIX}my-function:$LATEST", FunctionRef("my-function", "$LATEST")),
    ],
)
def test_every_accepted_form_parses(value: str, expected: FunctionRef) -> None:
    assert parse(value) == expected


def test_arn_for_another_account_is_rejected() -> None:
    value = f"arn:aws:lambda:{REGION}:999999999999:function:my-function"
    assert rejection(value).message == (
        f"The account ID in the function ARN does not match the caller: {value}"
    )


def test_partial_arn_for_another_account_is_rejected() -> None:
    value = "999999999999:function:my-function"
    assert rejection(value).message == (
        f"The account ID in the function ARN does not match the caller: {value}"
    )


def test_arn_for_another_region_is_not_found_as_aws_answers() -> None:
    value = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:my-function:1"
    with pytest.raises(AwsError) as caught:
        parse(value)
    error = caught.value
    assert (error.code, error.status) == ("ResourceNotFoundException", 404)
    assert error.message == f"Functions from 'eu-west-1' are not reachable in this region ('{REGION}')"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "f" * 171,
        "my function",
        "my-function:",
        "my-function:a:b",
        "my-function:$latest",
        "fn@home",
        "../etc/passwd",
        f"arn:aws:s3:{REGION}:{ACCOUNT}:function:my-function",
        "12345:function:my-function",
    ],
)
def test_garbage_is_rejected(value: str) -> None:
    assert rejection(value).message == f"Invalid function name or ARN: {value}"


def test_trailing_newline_is_rejected() -> None:
    assert rejection("my-function\n").message == "Invalid function name or ARN: my-function\n"


@pytest.mark.parametrize(
    ("ref_qualifier", "parameter", "expected"),
    [
        (None, None, None),
        ("PROD", None, "PROD"),
        (None, "PROD", "PROD"),
        ("PROD", "PROD", "PROD"),
        ("$LATEST", "$LATEST", "$LATEST"),
    ],
)
def test_resolve_qualifier_merges_agreeing_sources(
    ref_qualifier: str | None, parameter: str | None, expected: str | None
) -> None:
    assert resolve_qualifier(FunctionRef("f", ref_qualifier), parameter) == expected


def test_resolve_qualifier_rejects_a_conflict() -> None:
    with pytest.raises(AwsError) as caught:
        resolve_qualifier(FunctionRef("f", "1"), "2")
    assert (caught.value.code, caught.value.status) == ("InvalidParameterValueException", 400)
    assert caught.value.message == (
        "The derived qualifier from the function name does not match the specified qualifier."
    )


def test_function_arn_without_and_with_qualifier() -> None:
    assert function_arn(REGION, ACCOUNT, "f") == "arn:aws:lambda:us-east-1:123456789012:function:f"
    assert function_arn(REGION, ACCOUNT, "f", "5") == "arn:aws:lambda:us-east-1:123456789012:function:f:5"
    assert function_arn(REGION, ACCOUNT, "f", None) == function_arn(REGION, ACCOUNT, "f")


def test_function_arn_round_trips_through_the_parser() -> None:
    assert parse(function_arn(REGION, ACCOUNT, "round-trip", "$LATEST")) == FunctionRef(
        "round-trip", "$LATEST"
    )
