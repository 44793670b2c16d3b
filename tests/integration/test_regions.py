"""Every region at once, against a real server driven by boto3: the region a request was signed
for is the namespace it reaches (functions, logs, metrics), ARNs carry it, another region's ARN
gets AWS's 404, another account's gets 403, and a region state survives a restart."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.lambda_calls import create_function, error_of
from tests.support.packaging import make_zip
from tests.support.server import ACCESS_KEY, SECRET_KEY, RunningServer, running_server

ACCOUNT = "000000000000"
REPORTS_REGION = {
    "app.py": (
        "import os\n"
        "def handler(event, context):\n"
        "    print('running in', os.environ['AWS_REGION'])\n"
        "    return {'region': os.environ['AWS_REGION'], 'arn': context.invoked_function_arn,\n"
        "            'default': os.environ['AWS_DEFAULT_REGION']}\n"
    )
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("regions") / "data") as running:
        yield running


def invoke(client: Any, name: str) -> dict[str, Any]:
    response = client.invoke(FunctionName=name, Payload=b"{}")
    assert "FunctionError" not in response, response
    return json.loads(response["Payload"].read())  # type: ignore[no-any-return]


def test_each_region_is_a_namespace_of_its_own(server: RunningServer) -> None:
    east = server.client("lambda", region="us-east-1")
    west = server.client("lambda", region="eu-west-1")
    create_function(east, "same-name", REPORTS_REGION, Description="east")
    create_function(west, "same-name", REPORTS_REGION, Description="west")
    create_function(west, "west-only", REPORTS_REGION)

    assert east.get_function(FunctionName="same-name")["Configuration"]["Description"] == "east"
    west_config = west.get_function(FunctionName="same-name")["Configuration"]
    assert west_config["Description"] == "west"
    assert west_config["FunctionArn"] == f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:same-name"
    assert {f["FunctionName"] for f in west.list_functions()["Functions"]} == {"same-name", "west-only"}
    assert "west-only" not in {f["FunctionName"] for f in east.list_functions()["Functions"]}
    with pytest.raises(ClientError) as missing:
        east.get_function(FunctionName="west-only")
    assert error_of(missing)[0] == "ResourceNotFoundException"

    result = invoke(west, "same-name")
    assert result == {
        "region": "eu-west-1",
        "default": "eu-west-1",
        "arn": f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:same-name",
    }
    assert invoke(east, "same-name")["region"] == "us-east-1"
    assert "eu-west-1" in server.health()["regions"]

    # Its log group and its metrics are the region's too.
    west_logs = server.client("logs", region="eu-west-1")
    east_logs = server.client("logs", region="us-east-1")
    deadline = time.monotonic() + 10
    while True:
        groups = west_logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/west-only")["logGroups"]
        if groups or time.monotonic() > deadline:
            break
        invoke(west, "west-only")
        time.sleep(0.3)
    assert groups and groups[0]["arn"].startswith(f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:")
    assert east_logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/west-only")["logGroups"] == []
    dimensions = [{"Name": "FunctionName", "Value": "west-only"}]
    west_metrics = server.client("cloudwatch", region="eu-west-1")
    east_metrics = server.client("cloudwatch", region="us-east-1")
    listed = west_metrics.list_metrics(
        Namespace="AWS/Lambda", MetricName="Invocations", Dimensions=dimensions
    )
    assert listed["Metrics"]
    assert (
        east_metrics.list_metrics(Namespace="AWS/Lambda", MetricName="Invocations", Dimensions=dimensions)[
            "Metrics"
        ]
        == []
    )


def test_another_regions_arn_is_not_reachable(server: RunningServer) -> None:
    east = server.client("lambda", region="us-east-1")
    central = server.client("lambda", region="eu-central-1")
    create_function(central, "central-fn", REPORTS_REGION)
    arn = f"arn:aws:lambda:eu-central-1:{ACCOUNT}:function:central-fn"
    assert central.get_function(FunctionName=arn)["Configuration"]["FunctionArn"] == arn

    message = "Functions from 'eu-central-1' are not reachable in this region ('us-east-1')"
    for call in (
        lambda: east.get_function(FunctionName=arn),
        lambda: east.invoke(FunctionName=arn, Payload=b"{}"),
        lambda: east.delete_function(FunctionName=arn),
    ):
        with pytest.raises(ClientError) as refused:
            call()
        assert error_of(refused) == ("ResourceNotFoundException", message, 404)
    central.get_function(FunctionName="central-fn")  # still there


def test_a_layer_of_another_region_is_refused_with_awss_message(server: RunningServer) -> None:
    west = server.client("lambda", region="eu-west-1")
    east = server.client("lambda", region="us-east-1")
    layer = west.publish_layer_version(
        LayerName="west-layer", Content={"ZipFile": make_zip({"x.py": "X = 1\n"})}
    )
    assert layer["LayerVersionArn"] == f"arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:west-layer:1"
    with pytest.raises(ClientError) as refused:
        create_function(east, "east-with-west-layer", REPORTS_REGION, Layers=[layer["LayerVersionArn"]])
    assert error_of(refused) == (
        "InvalidParameterValueException",
        "Layers are not in the same region as the function. Layers are expected to be in region us-east-1.",
        400,
    )


def test_another_accounts_arn_is_refused_with_403(server: RunningServer) -> None:
    east = server.client("lambda", region="us-east-1")
    arn = "arn:aws:lambda:us-east-1:999999999999:function:theirs"
    with pytest.raises(ClientError) as refused:
        east.get_function(FunctionName=arn)
    assert error_of(refused) == (
        "AccessDeniedException",
        f"User: arn:aws:iam::{ACCOUNT}:root is not authorized to perform: lambda:GetFunction on resource: "
        f"{arn} because no resource-based policy allows the lambda:GetFunction action",
        403,
    )


def test_a_region_aws_does_not_have_is_refused(server: RunningServer) -> None:
    client = boto3.client(
        "lambda",
        endpoint_url=server.endpoint,
        region_name="moon-base-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as refused:
        client.list_functions()
    client.close()
    assert error_of(refused) == (
        "InvalidSignatureException",
        "Credential should be scoped to a valid region. ",
        403,
    )
    # CloudWatch too, in the protocol the request spoke (JSON here, not the query API's XML).
    metrics = server.client("cloudwatch", region="moon-base-1")
    with pytest.raises(ClientError) as metrics_refused:
        metrics.list_metrics()
    assert error_of(metrics_refused)[0::2] == ("InvalidSignatureException", 403)
    assert "moon-base-1" not in server.health()["regions"]


def test_regions_survive_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with running_server(data_dir) as first:
        west = first.client("lambda", region="us-west-2")
        create_function(west, "persisted", REPORTS_REGION)
        assert invoke(west, "persisted")["region"] == "us-west-2"
    assert (data_dir / "regions" / "us-west-2").is_dir()
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "lamina",
            "logs",
            "persisted",
            "--region",
            "us-west-2",
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "running in us-west-2" in shown.stdout, shown.stderr
    with running_server(data_dir) as second:
        assert "us-west-2" in second.health()["regions"]
        west = second.client("lambda", region="us-west-2")
        assert invoke(west, "persisted")["region"] == "us-west-2"
        assert second.client("lambda").list_functions()["Functions"] == []
        with urllib.request.urlopen(f"{second.endpoint}/_lamina/health", timeout=5) as response:
            assert json.loads(response.read())["region"] == "us-east-1"
