"""Intrinsic and condition functions, a table of cases with CloudFormation's documented results."""

from __future__ import annotations

from typing import Any

import pytest

from lamina.deploy.intrinsics import NO_VALUE, Evaluator, Unresolved, references
from lamina.errors import AwsError

RESOURCES = frozenset({"Bucket", "Queue"})


def evaluator(**conditions: Any) -> Evaluator:
    def physical_id(logical: str) -> Any:
        if logical == "Queue":
            raise Unresolved(logical)
        return "my-bucket"

    def attribute(logical: str, name: str) -> Any:
        return f"arn:aws:s3:::my-bucket/{name}"

    return Evaluator(
        parameters={"Env": "prod", "Names": ["a", "b"], "Count": "3"},
        pseudo={
            "AWS::Region": "eu-west-1",
            "AWS::AccountId": "111122223333",
            "AWS::StackName": "s",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        },
        mappings={"Regions": {"eu-west-1": {"Ami": "ami-1"}}},
        conditions={
            "IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
            "IsDev": {"Fn::Not": [{"Condition": "IsProd"}]},
            **conditions,
        },
        physical_id=physical_id,
        attribute=attribute,
        import_value=lambda name: f"imported-{name}",
        resource_names=RESOURCES,
    )


CASES = [
    ({"Ref": "Env"}, "prod"),
    ({"Ref": "AWS::Region"}, "eu-west-1"),
    ({"Ref": "Bucket"}, "my-bucket"),
    ({"Fn::GetAtt": ["Bucket", "Arn"]}, "arn:aws:s3:::my-bucket/Arn"),
    ({"Fn::GetAtt": "Bucket.DomainName"}, "arn:aws:s3:::my-bucket/DomainName"),
    ({"Fn::Sub": "${Env}-${AWS::Region}-${Bucket}"}, "prod-eu-west-1-my-bucket"),
    ({"Fn::Sub": "${Bucket.Arn}"}, "arn:aws:s3:::my-bucket/Arn"),
    ({"Fn::Sub": ["${A}-${Env}", {"A": {"Ref": "AWS::AccountId"}}]}, "111122223333-prod"),
    ({"Fn::Sub": "${!Literal}"}, "${Literal}"),
    ({"Fn::Join": ["-", ["a", {"Ref": "Env"}, 3]]}, "a-prod-3"),
    ({"Fn::Join": [",", {"Ref": "Names"}]}, "a,b"),
    ({"Fn::Select": ["1", ["x", "y", "z"]]}, "y"),
    ({"Fn::Select": [0, {"Fn::Split": ["|", "a|b"]}]}, "a"),
    ({"Fn::FindInMap": ["Regions", {"Ref": "AWS::Region"}, "Ami"]}, "ami-1"),
    ({"Fn::FindInMap": ["Regions", "nowhere", "Ami", {"DefaultValue": "none"}]}, "none"),
    ({"Fn::GetAZs": ""}, ["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
    ({"Fn::Base64": "hello"}, "aGVsbG8="),
    ({"Fn::ImportValue": "shared-vpc"}, "imported-shared-vpc"),
    ({"Fn::If": ["IsProd", "big", "small"]}, "big"),
    ({"Fn::If": ["IsDev", "big", "small"]}, "small"),
    ({"Fn::Equals": ["3", 3]}, True),
    ({"Fn::And": [{"Condition": "IsProd"}, {"Fn::Equals": ["a", "a"]}]}, True),
    ({"Fn::Or": [{"Condition": "IsDev"}, {"Fn::Equals": ["a", "b"]}]}, False),
    ({"Fn::Not": [{"Condition": "IsDev"}]}, True),
    ({"Ref": "AWS::NoValue"}, NO_VALUE),
]


@pytest.mark.parametrize(("value", "expected"), CASES)
def test_functions(value: Any, expected: Any) -> None:
    assert evaluator().resolve(value) == expected


def test_no_value_removes_properties_and_list_items() -> None:
    value = {
        "A": {"Fn::If": ["IsDev", "x", {"Ref": "AWS::NoValue"}]},
        "B": ["1", {"Ref": "AWS::NoValue"}],
        "C": "kept",
    }
    assert evaluator().resolve(value) == {"B": ["1"], "C": "kept"}


def test_a_resource_without_a_value_yet_is_unresolved() -> None:
    with pytest.raises(Unresolved):
        evaluator().resolve({"Ref": "Queue"})


@pytest.mark.parametrize(
    "value",
    [
        {"Ref": "Missing"},
        {"Fn::GetAtt": ["Missing", "Arn"]},
        {"Fn::Select": [5, ["a"]]},
        {"Fn::FindInMap": ["Nope", "a", "b"]},
        {"Fn::If": ["Unknown", "a", "b"]},
        {"Fn::Join": "not a list"},
        {"Fn::And": [True]},
        {"Fn::Select": [-1, ["a", "b"]]},
        {"Fn::Select": [[0], ["a"]]},
        {"Fn::Sub": "abc ${ def"},
        {"Fn::GetAtt": [["Bucket"], "Arn"]},
        {"Fn::GetAZs": {"a": 1}},
    ],
)
def test_template_errors(value: Any) -> None:
    with pytest.raises(AwsError) as raised:
        evaluator().resolve(value)
    assert raised.value.message.startswith("Template format error")


def test_conditions_that_refer_to_each_other_in_a_circle_are_errors() -> None:
    circular = evaluator(A={"Condition": "B"}, B={"Condition": "A"})
    with pytest.raises(AwsError):
        circular.condition("A")


def test_references_find_resources_named_by_ref_getatt_and_sub() -> None:
    resources = {"Bucket": {}, "Queue": {}, "Other": {}}
    value = {
        "a": {"Ref": "Bucket"},
        "b": {"Fn::Sub": "${Queue.Arn} ${Env} ${X}"},
        "c": {"Fn::Sub": ["${X}", {"X": {"Fn::GetAtt": "Other.Arn"}}]},
    }
    assert references(value, resources) == {"Bucket", "Queue", "Other"}
