"""Layer ARNs, the limits a function's layers obey, and layer records."""

from __future__ import annotations

import pytest

from lamina.domain.code import MAX_UNZIPPED_BYTES, CodeDigest
from lamina.domain.functions import FunctionLayer
from lamina.domain.layers import (
    LayerVersion,
    check_function_layers,
    layer_name,
    layer_permission_statement,
    parse_layer_version_arn,
)
from lamina.errors import AwsError

DIGEST = CodeDigest("ab" * 32, "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=", 100)
ARN = "arn:aws:lambda:us-east-1:000000000000:layer"


def layer(name: str, size: int = 10) -> FunctionLayer:
    return FunctionLayer(f"{ARN}:{name}:1", DIGEST, size)


def test_names_and_arns() -> None:
    assert layer_name("deps") == layer_name(f"{ARN}:deps") == "deps"
    assert parse_layer_version_arn(f"{ARN}:deps:7") == ("us-east-1", "000000000000", "deps", 7)
    for bad in ("deps:7", f"{ARN}:deps", "arn:aws:s3:::x"):
        with pytest.raises(AwsError):
            parse_layer_version_arn(bad)


def test_at_most_five_distinct_layers() -> None:
    check_function_layers([layer(f"l{index}") for index in range(5)], 0)
    with pytest.raises(AwsError, match="more than 5 layers"):
        check_function_layers([layer(f"l{index}") for index in range(6)], 0)
    with pytest.raises(AwsError, match="same layer"):
        check_function_layers([layer("l"), FunctionLayer(f"{ARN}:l:2", DIGEST, 1)], 0)


def test_function_and_layers_unzip_to_at_most_250_mb() -> None:
    half = MAX_UNZIPPED_BYTES // 2
    check_function_layers([layer("a", half)], MAX_UNZIPPED_BYTES - half)
    with pytest.raises(AwsError) as raised:
        check_function_layers([layer("a", half), layer("b", 2)], MAX_UNZIPPED_BYTES - half)
    assert raised.value.message == (
        f"Function code combined with layers exceeds the maximum allowed size of {MAX_UNZIPPED_BYTES} "
        f"bytes. The actual size is {MAX_UNZIPPED_BYTES + 2} bytes."
    )


def test_records_round_trip_and_filters() -> None:
    version = LayerVersion("deps", 3, DIGEST, 1234, "d", ("python3.12",), ("arm64",), "MIT", "2026-11-30")
    assert LayerVersion.from_record(version.to_record()) == version
    assert FunctionLayer.from_record(layer("x").to_record()) == layer("x")
    assert version.matches("python3.12", None) and version.matches(None, "arm64")
    assert not version.matches("python3.11", None) and not version.matches(None, "x86_64")
    item = version.list_item("us-east-1", "000000000000")
    assert (item["LayerVersionArn"], item["Version"], item["LicenseInfo"]) == (f"{ARN}:deps:3", 3, "MIT")


def test_permission_statements() -> None:
    statement = layer_permission_statement(
        {
            "StatementId": "org",
            "Action": "lambda:GetLayerVersion",
            "Principal": "*",
            "OrganizationId": "o-abc1234567",
        },
        f"{ARN}:deps:1",
    )
    assert statement["Principal"] == "*"
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-abc1234567"}}
