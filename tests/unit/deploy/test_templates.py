"""Templates read as CloudFormation reads them: JSON, YAML with short-form tags, and the format
errors it answers with."""

from __future__ import annotations

import pytest

from lamina.deploy.graph import dependencies
from lamina.deploy.parameters import displayed_parameters, resolve_parameters
from lamina.deploy.templates import parse_template
from lamina.errors import AwsError

YAML = """
Parameters:
  Name: {Type: String, Default: app}
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${Name}-queue"
      Tags:
        - {Key: arn, Value: !GetAtt Topic.TopicArn}
  Topic:
    Type: AWS::SNS::Topic
Outputs:
  Url: {Value: !Ref Queue}
"""


def test_yaml_short_forms_become_the_long_forms() -> None:
    template = parse_template(YAML)
    queue = template.resources["Queue"]["Properties"]
    assert queue["QueueName"] == {"Fn::Sub": "${Name}-queue"}
    assert queue["Tags"][0]["Value"] == {"Fn::GetAtt": ["Topic", "TopicArn"]}
    assert template.outputs["Url"]["Value"] == {"Ref": "Queue"}
    assert dependencies(template.resources, list(template.resources)) == {"Queue": {"Topic"}, "Topic": set()}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("Resources: [", "JSON not well-formed or YAML not well-formed"),
        ('{"Resources": {}}', "At least one Resources member must be defined."),
        ('{"Resources": {"A": {"Properties": {}}}}', "Every Resources object must contain a Type member."),
        ('{"Resources": {"a-b": {"Type": "X"}}}', "Resource name a-b is non alphanumeric."),
        (
            '{"Bogus": 1, "Resources": {"A": {"Type": "X"}}}',
            "Invalid template property or properties ['Bogus']",
        ),
        (
            '{"Resources": {"A": {"Type": "X", "Colour": 1}}}',
            "Unrecognized resource attribute(s) ['Colour'] in [A]",
        ),
    ],
)
def test_format_errors(body: str, message: str) -> None:
    with pytest.raises(AwsError) as raised:
        parse_template(body)
    assert raised.value.code == "ValidationError"
    assert message in raised.value.message


def test_parameters_types_defaults_and_no_echo() -> None:
    specs = {
        "Size": {"Type": "Number", "MinValue": 1, "MaxValue": 10},
        "Names": {"Type": "CommaDelimitedList", "Default": "a,b"},
        "Password": {"Type": "String", "NoEcho": True, "MinLength": 4},
    }
    values, raw = resolve_parameters(
        specs,
        [
            {"ParameterKey": "Size", "ParameterValue": "5"},
            {"ParameterKey": "Password", "ParameterValue": "hunter2"},
        ],
    )
    assert values == {"Size": "5", "Names": ["a", "b"], "Password": "hunter2"}
    assert displayed_parameters(specs, raw) == [
        {"ParameterKey": "Size", "ParameterValue": "5"},
        {"ParameterKey": "Names", "ParameterValue": "a,b"},
        {"ParameterKey": "Password", "ParameterValue": "****"},
    ]
    for given, message in (
        (
            [
                {"ParameterKey": "Size", "ParameterValue": "50"},
                {"ParameterKey": "Password", "ParameterValue": "long"},
            ],
            "not greater than 10",
        ),
        (
            [
                {"ParameterKey": "Size", "ParameterValue": "x"},
                {"ParameterKey": "Password", "ParameterValue": "long"},
            ],
            "must be a number",
        ),
        (
            [
                {"ParameterKey": "Size", "ParameterValue": "2"},
                {"ParameterKey": "Password", "ParameterValue": "abc"},
            ],
            "at least 4 characters",
        ),
        ([{"ParameterKey": "Size", "ParameterValue": "2"}], "Parameters: [Password] must have values"),
    ):
        with pytest.raises(AwsError, match=message.replace("[", r"\[").replace("]", r"\]")):
            resolve_parameters(specs, given)


def test_yaml_aliases_are_refused_before_they_expand() -> None:
    levels = ['a0: &a0 ["lol"]'] + [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 9)]
    bomb = "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Metadata:\n" + "".join(
        f"      {line}\n" for line in levels
    )
    with pytest.raises(AwsError, match="YAML aliases are not allowed"):
        parse_template(bomb)


@pytest.mark.parametrize(
    "body",
    [
        '{"Resources": {"A": {"Type": "X", "DependsOn": 5}}}',
        '{"Resources": {"A": {"Type": "X", "DependsOn": [["B"]]}}}',
        '{"Transform": 5, "Resources": {"A": {"Type": "X"}}}',
        '{"Parameters": {"P": "abc"}, "Resources": {"A": {"Type": "X"}}}',
        '{"Parameters": {"P": {"Type": "String", "MinLength": "abc"}}, "Resources": {"A": {"Type": "X"}}}',
        '{"Parameters": {"P": {"Type": "String", "AllowedValues": 5}}, "Resources": {"A": {"Type": "X"}}}',
        '{"Description": {"a": 1}, "Resources": {"A": {"Type": "X"}}}',
    ],
)
def test_sections_of_the_wrong_shape_are_format_errors(body: str) -> None:
    with pytest.raises(AwsError) as raised:
        parse_template(body)
    assert raised.value.message.startswith("Template format error")


def test_a_backtracking_allowed_pattern_is_bounded() -> None:
    import time

    started = time.perf_counter()
    with pytest.raises(AwsError, match="must match pattern"):
        resolve_parameters(
            {"P": {"Type": "String", "AllowedPattern": "(a+)+$"}},
            [{"ParameterKey": "P", "ParameterValue": "a" * 40 + "!"}],
        )
    assert time.perf_counter() - started < 2
