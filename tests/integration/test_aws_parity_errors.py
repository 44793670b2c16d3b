"""Errors word for word, against the shared server with boto3: the codes, messages and statuses AWS
returns for the same calls (as recorded against AWS; see docs/compatibility.md, issue 13)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.lambda_calls import error_of
from tests.support.packaging import make_zip

ARN = "arn:aws:lambda:us-east-1:000000000000:function"
HELLO = {"app.py": "def handler(event, context):\n    return 'hello'\n"}


def refused(call: Callable[[], Any]) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    return error_of(caught)


def body_of(call: Callable[[], Any]) -> dict[str, Any]:
    """The error members botocore parsed from the body (Type is there when AWS sends it)."""
    with pytest.raises(ClientError) as caught:
        call()
    return {
        key: value for key, value in caught.value.response.items() if key in ("Type", "message", "Message")
    }


def test_names_no_function_can_have_are_simply_not_found(lambda_client: Any) -> None:
    long_name = "a" * 65
    for call in (
        lambda: lambda_client.get_function(FunctionName=long_name),
        lambda: lambda_client.delete_function(FunctionName=long_name),
    ):
        assert refused(call) == ("ResourceNotFoundException", f"Function not found: {ARN}:{long_name}", 404)
    incomplete = "arn:aws:lambda:us-east-1:000000000000:function"
    assert refused(lambda: lambda_client.get_function(FunctionName=incomplete))[0::2] == (
        "ResourceNotFoundException",
        404,
    )
    assert refused(lambda: lambda_client.get_function(FunctionName="my.function"))[0::2] == (
        "ResourceNotFoundException",
        404,
    )


def test_create_with_a_65_character_name_gets_awss_validation_message(lambda_client: Any) -> None:
    long_name = "a" * 65
    assert refused(
        lambda: lambda_client.create_function(
            FunctionName=long_name,
            Runtime="python3.11",
            Role="arn:aws:iam::000000000000:role/lambda-role",
            Handler="app.handler",
            Code={"ZipFile": make_zip(HELLO)},
        )
    ) == (
        "InvalidParameterValueException",
        f"1 validation error detected: Value '{long_name}' at 'functionName' failed to satisfy constraint: "
        "Member must have length less than or equal to 64",
        400,
    )


def test_not_found_messages_keep_qualifiers(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy(HELLO)
    assert refused(lambda: lambda_client.get_function(FunctionName=name, Qualifier="1221")) == (
        "ResourceNotFoundException",
        f"Function not found: {ARN}:{name}:1221",
        404,
    )
    assert refused(lambda: lambda_client.get_alias(FunctionName=name, Name="nope")) == (
        "ResourceNotFoundException",
        f"Cannot find alias arn: {ARN}:{name}:nope",
        404,
    )
    assert refused(lambda: lambda_client.get_function_event_invoke_config(FunctionName=name)) == (
        "ResourceNotFoundException",
        f"The function {ARN}:{name}:$LATEST doesn't have an EventInvokeConfig",
        404,
    )
    assert refused(lambda: lambda_client.get_layer_version(LayerName="no-such-layer", VersionNumber=1)) == (
        "ResourceNotFoundException",
        "The resource you requested does not exist.",
        404,
    )
    # Not-found bodies carry Message and Type, as AWS's do.
    assert body_of(lambda: lambda_client.get_function(FunctionName=f"{name}-gone")) == {
        "Message": f"Function not found: {ARN}:{name}-gone",
        "Type": "User",
    }


def test_tag_checks(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy(HELLO, Publish=True)
    arn = f"{ARN}:{name}"
    for resource in (f"{arn}:1", f"{arn}:$LATEST"):
        assert refused(
            lambda resource=resource: lambda_client.tag_resource(Resource=resource, Tags={"a": "b"})
        ) == (
            "InvalidParameterValueException",
            "Tags on function aliases and versions are not supported. Please specify a function ARN.",
            400,
        )
    assert refused(lambda: lambda_client.tag_resource(Resource=arn, Tags={})) == (
        "InvalidParameterValueException",
        "An error occurred and the request cannot be processed.",
        400,
    )
    lambda_client.tag_resource(Resource=arn, Tags={f"key{index}": "v" for index in range(50)})
    assert refused(lambda: lambda_client.tag_resource(Resource=arn, Tags={"one-more": "v"})) == (
        "InvalidParameterValueException",
        "Number of tags exceeds resource tag limit.",
        400,
    )


def test_add_permission_checks_the_principal_and_takes_an_aliass_revision_id(
    lambda_client: Any, deploy: Callable[..., str]
) -> None:
    name = deploy(HELLO, Publish=True)
    for principal in ("invalid.nonaws.com", "123", "arn:aws:s3:::bucket"):
        assert refused(
            lambda principal=principal: lambda_client.add_permission(
                FunctionName=name, StatementId="s", Action="lambda:InvokeFunction", Principal=principal
            )
        ) == (
            "InvalidParameterValueException",
            "The provided principal was invalid. Please check the principal and try again.",
            400,
        )
    alias = lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    assert refused(
        lambda: lambda_client.add_permission(
            FunctionName=name,
            Qualifier="live",
            StatementId="s",
            Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com",
            RevisionId="wrong",
        )
    ) == (
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id. "
        "Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
        412,
    )
    added = lambda_client.add_permission(
        FunctionName=name,
        Qualifier="live",
        StatementId="s",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        RevisionId=alias["RevisionId"],
    )
    assert f":{name}:live" in added["Statement"]


def test_reserved_concurrency_belongs_to_the_function(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy(HELLO, Publish=True)
    for qualified in (f"{ARN}:{name}:1", f"{ARN}:{name}:$LATEST"):
        assert refused(
            lambda qualified=qualified: lambda_client.put_function_concurrency(
                FunctionName=qualified, ReservedConcurrentExecutions=1
            )
        ) == (
            "InvalidParameterValueException",
            "This operation is permitted on Lambda functions only. Aliases and versions do not support this "
            "operation. Please specify either a function name or an unqualified function ARN.",
            400,
        )


def test_provisioned_concurrency_limits_and_overlaps(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy(HELLO, Publish=True)
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    code, message, status = refused(
        lambda: lambda_client.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=5000
        )
    )
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message.startswith(
        "Specified ConcurrentExecutions for function is greater than account's unreserved concurrency ["
    )
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    assert refused(
        lambda: lambda_client.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1
        )
    ) == (
        "ResourceConflictException",
        "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version",
        409,
    )
    lambda_client.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="1")


def test_layer_compatible_lists_are_echoed_when_given(lambda_client: Any) -> None:
    content = {"ZipFile": make_zip({"python/lib.py": "X = 1\n"})}
    given = lambda_client.publish_layer_version(
        LayerName="parity-layer", Content=content, CompatibleRuntimes=[], CompatibleArchitectures=[]
    )
    assert (given["CompatibleRuntimes"], given["CompatibleArchitectures"]) == ([], [])
    absent = lambda_client.publish_layer_version(LayerName="parity-layer", Content=content)
    assert "CompatibleRuntimes" not in absent and "CompatibleArchitectures" not in absent
    again = lambda_client.get_layer_version(LayerName="parity-layer", VersionNumber=given["Version"])
    assert again["CompatibleRuntimes"] == []


def test_a_zip_over_50_mb_is_too_large(lambda_client: Any) -> None:
    oversized = os.urandom(52_428_801)
    assert refused(
        lambda: lambda_client.create_function(
            FunctionName="too-large",
            Runtime="python3.11",
            Role="arn:aws:iam::000000000000:role/lambda-role",
            Handler="app.handler",
            Code={"ZipFile": oversized},
        )
    ) == ("RequestEntityTooLargeException", "Zipped size must be smaller than 52428800 bytes", 413)
