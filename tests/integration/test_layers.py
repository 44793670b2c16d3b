"""Layers through boto3 against a real server: publishing and listing versions, permissions, and
functions that import from their layers (in order, a later layer winning)."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.lambda_calls import error_of, wait_updated
from tests.support.packaging import make_zip
from tests.support.server import RunningServer

USES_LAYERS = """\
import os
import common, greeting

def handler(event, context):
    return {
        "greeting": greeting.greet("layers"),
        "common": common.WHO,
        "opt": os.path.exists("/opt/python/greeting.py"),
    }
"""


@pytest.fixture
def layer_name(lambda_client: Any) -> Iterator[str]:
    name = f"layer-{uuid.uuid4().hex[:8]}"
    yield name
    for version in lambda_client.list_layer_versions(LayerName=name)["LayerVersions"]:
        lambda_client.delete_layer_version(LayerName=name, VersionNumber=version["Version"])


def publish(client: Any, name: str, files: dict[str, str], **options: Any) -> dict[str, Any]:
    return client.publish_layer_version(LayerName=name, Content={"ZipFile": make_zip(files)}, **options)  # type: ignore[no-any-return]


def test_publish_get_list_and_delete_layer_versions(lambda_client: Any, layer_name: str) -> None:
    first = publish(
        lambda_client,
        layer_name,
        {"python/greeting.py": "def greet(who):\n    return 'hi ' + who\n"},
        Description="first",
        CompatibleRuntimes=["python3.11"],
        CompatibleArchitectures=["x86_64"],
        LicenseInfo="MIT",
    )
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 201
    arn = f"arn:aws:lambda:us-east-1:000000000000:layer:{layer_name}"
    assert (first["LayerArn"], first["LayerVersionArn"], first["Version"]) == (arn, f"{arn}:1", 1)
    assert (first["Description"], first["CompatibleRuntimes"], first["LicenseInfo"]) == (
        "first",
        ["python3.11"],
        "MIT",
    )
    with urllib.request.urlopen(first["Content"]["Location"], timeout=10) as download:
        assert download.read()[:2] == b"PK"
    second = publish(lambda_client, layer_name, {"python/greeting.py": "def greet(who):\n    return who\n"})
    assert second["Version"] == 2

    got = lambda_client.get_layer_version(LayerName=layer_name, VersionNumber=1)
    assert got["Content"]["CodeSha256"] == first["Content"]["CodeSha256"]
    assert lambda_client.get_layer_version_by_arn(Arn=f"{arn}:2")["Version"] == 2
    versions = lambda_client.list_layer_versions(LayerName=layer_name)["LayerVersions"]
    assert [item["Version"] for item in versions] == [2, 1]
    filtered = lambda_client.list_layer_versions(LayerName=arn, CompatibleRuntime="python3.11")[
        "LayerVersions"
    ]
    assert [item["Version"] for item in filtered] == [1]
    listed = [item for item in lambda_client.list_layers()["Layers"] if item["LayerName"] == layer_name]
    assert listed[0]["LatestMatchingVersion"]["Version"] == 2
    matching = [
        item
        for item in lambda_client.list_layers(CompatibleRuntime="python3.11")["Layers"]
        if item["LayerName"] == layer_name
    ]
    assert matching[0]["LatestMatchingVersion"]["Version"] == 1

    deleted = lambda_client.delete_layer_version(LayerName=layer_name, VersionNumber=2)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    lambda_client.delete_layer_version(LayerName=layer_name, VersionNumber=2)  # idempotent
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_layer_version(LayerName=layer_name, VersionNumber=2)
    for number in (0, -1):  # AWS's words, before it looks for the layer
        with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as refused:
            lambda_client.get_layer_version(LayerName=layer_name, VersionNumber=number)
        assert refused.value.response["Error"]["Message"] == "Layer Version Cannot be less than 1"
    # A deleted version's number is never given again.
    assert publish(lambda_client, layer_name, {"python/x.py": ""})["Version"] == 3


def test_layer_version_permissions(lambda_client: Any, layer_name: str) -> None:
    publish(lambda_client, layer_name, {"python/x.py": ""})
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_layer_version_policy(LayerName=layer_name, VersionNumber=1)
    added = lambda_client.add_layer_version_permission(
        LayerName=layer_name,
        VersionNumber=1,
        StatementId="xaccount",
        Action="lambda:GetLayerVersion",
        Principal="210987654321",
    )
    statement = json.loads(added["Statement"])
    assert statement["Principal"] == {"AWS": "arn:aws:iam::210987654321:root"}
    assert statement["Action"] == "lambda:GetLayerVersion"
    policy = lambda_client.get_layer_version_policy(LayerName=layer_name, VersionNumber=1)
    assert policy["RevisionId"] == added["RevisionId"]
    assert [item["Sid"] for item in json.loads(policy["Policy"])["Statement"]] == ["xaccount"]
    with pytest.raises(lambda_client.exceptions.ResourceConflictException):
        lambda_client.add_layer_version_permission(
            LayerName=layer_name,
            VersionNumber=1,
            StatementId="xaccount",
            Action="lambda:GetLayerVersion",
            Principal="*",
        )
    lambda_client.remove_layer_version_permission(
        LayerName=layer_name, VersionNumber=1, StatementId="xaccount"
    )
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as gone:
        lambda_client.remove_layer_version_permission(
            LayerName=layer_name, VersionNumber=1, StatementId="xaccount"
        )
    assert error_of(gone)[1] == "Statement xaccount is not found in resource policy."


def test_functions_import_from_their_layers_in_order(
    server: RunningServer, lambda_client: Any, deploy: Callable[..., str], layer_name: str
) -> None:
    base = publish(
        lambda_client,
        layer_name,
        {
            "python/greeting.py": "def greet(who):\n    return 'hello ' + who\n",
            "python/common.py": "WHO = 'base'\n",
        },
    )
    other = f"{layer_name}-override"
    override = publish(lambda_client, other, {"python/common.py": "WHO = 'override'\n"})
    try:
        name = deploy({"app.py": USES_LAYERS}, Layers=[base["LayerVersionArn"], override["LayerVersionArn"]])
        config = lambda_client.get_function_configuration(FunctionName=name)
        assert [layer["Arn"] for layer in config["Layers"]] == [
            base["LayerVersionArn"],
            override["LayerVersionArn"],
        ]
        assert config["Layers"][0]["CodeSize"] == base["Content"]["CodeSize"]
        result = json.loads(lambda_client.invoke(FunctionName=name)["Payload"].read())
        assert (result["greeting"], result["common"]) == ("hello layers", "override")
        # The namespaces tier shows the layers at /opt, as AWS does.
        assert result["opt"] is (server.health()["sandbox"] == "namespaces")

        # A deleted layer version keeps working for the functions that have it.
        lambda_client.delete_layer_version(LayerName=other, VersionNumber=1)
        lambda_client.update_function_configuration(FunctionName=name, Layers=[base["LayerVersionArn"]])
        wait_updated(lambda_client, name)
        result = json.loads(lambda_client.invoke(FunctionName=name)["Payload"].read())
        assert result["common"] == "base"
        lambda_client.update_function_configuration(FunctionName=name, Layers=[])
        wait_updated(lambda_client, name)
        assert "Layers" not in lambda_client.get_function_configuration(FunctionName=name)
        assert (
            lambda_client.invoke(FunctionName=name).get("FunctionError") == "Unhandled"
        )  # no greeting module
    finally:
        lambda_client.delete_layer_version(LayerName=other, VersionNumber=1)


def test_layer_limits(lambda_client: Any, deploy: Callable[..., str], layer_name: str) -> None:
    versions = [
        publish(lambda_client, layer_name, {f"python/m{index}.py": ""})["LayerVersionArn"]
        for index in range(2)
    ]
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as same_layer:
        deploy({"app.py": USES_LAYERS}, Layers=versions)
    assert "same layer" in error_of(same_layer)[1]
    missing = versions[0].rsplit(":", 1)[0] + ":99"
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as unknown:
        deploy({"app.py": USES_LAYERS}, Layers=[missing])
    assert error_of(unknown)[1] == f"Layer version {missing} does not exist."
    names = [f"{layer_name}-{index}" for index in range(6)]
    arns = [publish(lambda_client, name, {"python/x.py": ""})["LayerVersionArn"] for name in names]
    try:
        with pytest.raises(lambda_client.exceptions.ClientError) as too_many:
            deploy({"app.py": USES_LAYERS}, Layers=arns)
        assert error_of(too_many)[2] == 400
    finally:
        for name in names:
            lambda_client.delete_layer_version(LayerName=name, VersionNumber=1)


LAYER_RUNTIME = r"""#!/bin/sh
# A custom runtime shipped as a layer: it answers with the handler script's output.
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  HEADERS=$(mktemp)
  EVENT=$(curl -sS -D "$HEADERS" "$API/invocation/next")
  ID=$(grep -i Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  RESPONSE=$(sh "$LAMBDA_TASK_ROOT/$(echo "$_HANDLER" | cut -d. -f1).sh" "$EVENT")
  curl -sS -X POST "$API/invocation/$ID/response" -d "$RESPONSE" > /dev/null
done
"""


def test_a_custom_runtimes_bootstrap_may_come_from_a_layer(
    lambda_client: Any, layer_name: str, deploy: Callable[..., str]
) -> None:
    """provided.al2023 with no bootstrap in the ZIP runs /opt/bootstrap, as on AWS."""
    layer = lambda_client.publish_layer_version(
        LayerName=layer_name,
        Content={"ZipFile": make_zip({"bootstrap": LAYER_RUNTIME}, modes={"bootstrap": 0o755})},
    )
    name = deploy(
        {"echo.sh": 'echo "{\\"echoed\\": $1}"\n'},
        handler="echo.handler",
        Runtime="provided.al2023",
        Layers=[layer["LayerVersionArn"]],
    )
    response = lambda_client.invoke(FunctionName=name, Payload=b'{"n": 1}')
    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == {"echoed": {"n": 1}}
