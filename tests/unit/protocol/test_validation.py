"""Model-driven validation: constraints from the real Lambda model, AWS's message format."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.model import Shape, ShapeResolver

from lamina.errors import AwsError
from lamina.protocol import load_service_model
from lamina.protocol.validation import validate

MODEL = load_service_model("lambda")
CREATE = MODEL.operation_model("CreateFunction").input_shape
INVOKE = MODEL.operation_model("Invoke").input_shape
VALID: dict[str, Any] = {
    "FunctionName": "my-function",
    "Role": "arn:aws:iam::123456789012:role/lambda-role",
    "Code": {"ZipFile": b"PK"},
}


def message(shape: Shape, params: dict[str, Any]) -> str:
    with pytest.raises(AwsError) as caught:
        validate(shape, params)
    assert (caught.value.code, caught.value.status) == ("ValidationException", 400)
    return caught.value.message


def test_valid_params_pass() -> None:
    validate(CREATE, {**VALID, "MemorySize": 128, "Runtime": "python3.12", "Architectures": ["arm64"]})
    validate(None, {"anything": 1})


def test_numeric_bounds() -> None:
    maximum = MODEL.shape_for("MemorySize").metadata["max"]
    assert message(CREATE, {**VALID, "MemorySize": 40000}) == (
        "1 validation error detected: Value '40000' at 'memorySize' failed to satisfy constraint: "
        f"Member must have value less than or equal to {maximum}"
    )
    assert message(CREATE, {**VALID, "Timeout": 0}) == (
        "1 validation error detected: Value '0' at 'timeout' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    )


def test_missing_required_members_are_aggregated() -> None:
    assert message(CREATE, {"Code": {}}) == (
        "2 validation errors detected: "
        "Value null at 'functionName' failed to satisfy constraint: Member must not be null; "
        "Value null at 'role' failed to satisfy constraint: Member must not be null"
    )


@pytest.mark.parametrize(
    "name",
    [
        "my-function",
        "my_function:PROD",
        "my-function:$LATEST",
        "123456789012:function:my-function",
        "function:my-function",
        "arn:aws:lambda:us-east-1:123456789012:function:my-function",
        "arn:aws:lambda:us-east-1:123456789012:function:my-function:7",
        "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f",
    ],
)
def test_function_name_pattern_accepts_names_and_arns(name: str) -> None:
    validate(INVOKE, {"FunctionName": name})


def test_pattern_and_length_failures_are_separate_errors() -> None:
    pattern = MODEL.shape_for("NamespacedFunctionName").metadata["pattern"]
    assert message(INVOKE, {"FunctionName": "bad name!"}) == (
        "1 validation error detected: Value 'bad name!' at 'functionName' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {pattern}"
    )
    text = message(INVOKE, {"FunctionName": "x" * 300 + "!"})
    assert text.startswith("2 validation errors detected: ")
    assert "Member must have length less than or equal to 256" in text


def test_enum_membership() -> None:
    text = message(CREATE, {**VALID, "Runtime": "cobol"})
    values = MODEL.shape_for("Runtime").metadata["enum"]
    assert text == (
        "1 validation error detected: Value 'cobol' at 'runtime' failed to satisfy constraint: "
        f"Member must satisfy enum value set: [{', '.join(values)}]"
    )


def test_list_length_and_list_members() -> None:
    assert message(CREATE, {**VALID, "Architectures": ["x86_64", "arm64"]}) == (
        "1 validation error detected: Value '[x86_64, arm64]' at 'architectures' failed to satisfy "
        "constraint: Member must have length less than or equal to 1"
    )
    text = message(CREATE, {**VALID, "Layers": ["arn:aws:lambda:us-east-1:123456789012:layer:ok:1", "nope"]})
    assert text.startswith("1 validation error detected: Value 'nope' at 'layers.2.member' failed")


def test_nested_paths_are_lower_camel_case() -> None:
    subnets = [f"subnet-{i}" for i in range(17)]
    text = message(CREATE, {**VALID, "VpcConfig": {"SubnetIds": subnets}})
    assert "at 'vpcConfig.subnetIds' failed to satisfy constraint: Member must have length less than" in text
    text = message(CREATE, {**VALID, "DeadLetterConfig": {"TargetArn": "not-an-arn"}})
    assert "Value 'not-an-arn' at 'deadLetterConfig.targetArn' failed" in text


def test_sensitive_values_are_not_echoed() -> None:
    assert message(CREATE, {**VALID, "Environment": {"Variables": {"1BAD": "secret"}}}) == (
        "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: "
        "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: "
        "[a-zA-Z]([a-zA-Z0-9_])+]"
    )


def _shape(members: dict[str, Any], required: list[str] | None = None, **shapes: Any) -> Shape:
    """A structure shape named "Input" with inline member definitions (plus named `shapes`)."""
    definitions = dict(shapes)
    refs = {}
    for name, definition in members.items():
        definitions[f"Input{name}"] = definition
        refs[name] = {"shape": f"Input{name}"}
    definitions["Input"] = {"type": "structure", "members": refs, "required": required or []}
    return ShapeResolver(definitions).get_shape_by_name("Input")


def test_blob_and_map_lengths_and_float_bounds() -> None:
    shape = _shape(
        {
            "Data": {"type": "blob", "min": 2, "max": 4},
            "Labels": {"type": "map", "key": {"shape": "Str"}, "value": {"shape": "Short"}, "max": 1},
            "Ratio": {"type": "double", "min": 0.5},
            "Count": {"type": "long", "max": 10},
        },
        Str={"type": "string"},
        Short={"type": "string", "max": 2},
    )
    validate(shape, {"Data": b"ab", "Labels": {"k": "vv"}, "Ratio": 0.5, "Count": 10})
    assert message(shape, {"Data": b"a"}) == (
        "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=1 cap=1]' at 'data' "
        "failed to satisfy constraint: Member must have length greater than or equal to 2"
    )
    text = message(shape, {"Labels": {"a": "long", "b": "x"}, "Ratio": 0.25, "Count": 11})
    assert text.startswith("4 validation errors detected: ")
    assert (
        "Value '{a=long, b=x}' at 'labels' failed to satisfy constraint: Member must have length less" in text
    )
    assert "Map value must satisfy constraint: [Member must have length less than or equal to 2]" in text
    assert (
        "Value '0.25' at 'ratio' failed to satisfy constraint: Member must have value greater than or equal to 0.5"
        in text
    )
    assert "Value '11' at 'count' failed" in text


def test_unsupported_java_patterns_are_skipped() -> None:
    shape = _shape({"Name": {"type": "string", "pattern": r"\p{Alpha}+"}})
    validate(shape, {"Name": "anything at all 123"})


def test_string_length_counts_utf16_code_units() -> None:
    shape = _shape({"Name": {"type": "string", "max": 2}})
    validate(shape, {"Name": "éé"})
    assert "Member must have length less than or equal to 2" in message(shape, {"Name": "😀"[0] * 2})


def test_a_lone_surrogate_counts_as_one_code_unit_instead_of_failing() -> None:
    shape = _shape({"Name": {"type": "string", "max": 2}})
    validate(shape, {"Name": "é\ud800"})
    assert "Member must have length less than or equal to 2" in message(shape, {"Name": "é\ud800\ud800"})


def test_a_null_in_a_list_is_a_null_member() -> None:
    shape = _shape({"Names": {"type": "list", "member": {"shape": "Name"}}}, Name={"type": "string"})
    validate(shape, {"Names": ["a", "b"]})
    assert message(shape, {"Names": ["a", None]}) == (
        "1 validation error detected: "
        "Value null at 'names.2.member' failed to satisfy constraint: Member must not be null"
    )


def test_nested_required_members_and_structures_in_lists() -> None:
    shape = _shape(
        {"Items": {"type": "list", "member": {"shape": "Item"}}},
        Item={"type": "structure", "required": ["Id"], "members": {"Id": {"shape": "Id"}}},
        Id={"type": "string", "min": 1},
    )
    assert message(shape, {"Items": [{"Id": "ok"}, {}, {"Id": ""}]}) == (
        "2 validation errors detected: "
        "Value null at 'items.2.member.id' failed to satisfy constraint: Member must not be null; "
        "Value '' at 'items.3.member.id' failed to satisfy constraint: Member must have length greater than or equal to 1"
    )


def test_values_of_unexpected_types_are_left_to_the_decoder() -> None:
    validate(CREATE, {**VALID, "MemorySize": "huge", "Layers": "not a list", "Tags": ["x"]})
