"""PublishVersion, ListVersionsByFunction and provisioned concurrency through boto3 against a real server."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.conftest import ROLE
from tests.support.lambda_calls import (
    create_function,
    error_of,
    report_line,
    wait_active,
    wait_provisioned,
    wait_updated,
)
from tests.support.packaging import make_zip
from tests.support.server import running_server

HELLO = {"app.py": "def handler(event, context):\n    return 'hello'\n"}
ARN = "arn:aws:lambda:us-east-1:000000000000:function"


# versions ------------------------------------------------------------------------------------


def test_publish_version_and_list_versions(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy(HELLO)
    latest = lambda_client.get_function_configuration(FunctionName=name)
    first = lambda_client.publish_version(FunctionName=name, Description="first")
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (first["Version"], first["Description"]) == ("1", "first")
    assert first["FunctionArn"] == f"{ARN}:{name}:1"
    assert first["CodeSha256"] == latest["CodeSha256"]
    assert (
        lambda_client.get_function_configuration(FunctionName=name, Qualifier="1")["Description"] == "first"
    )

    # Lambda doesn't publish a version when code and configuration haven't changed since the last one.
    again = lambda_client.publish_version(FunctionName=name)
    assert (again["Version"], again["RevisionId"]) == ("1", first["RevisionId"])

    lambda_client.update_function_configuration(FunctionName=name, MemorySize=256)
    wait_updated(lambda_client, name)
    second = lambda_client.publish_version(FunctionName=f"{ARN}:{name}")
    assert (second["Version"], second["MemorySize"]) == ("2", 256)

    versions = lambda_client.list_versions_by_function(FunctionName=name)["Versions"]
    assert [item["Version"] for item in versions] == ["$LATEST", "1", "2"]
    assert [item["FunctionArn"] for item in versions] == [
        f"{ARN}:{name}:$LATEST",
        f"{ARN}:{name}:1",
        f"{ARN}:{name}:2",
    ]
    assert [item["MemorySize"] for item in versions] == [256, 128, 256]

    page = lambda_client.list_versions_by_function(FunctionName=name, MaxItems=2)
    assert [item["Version"] for item in page["Versions"]] == ["$LATEST", "1"]
    rest = lambda_client.list_versions_by_function(FunctionName=name, Marker=page["NextMarker"], MaxItems=2)
    assert [item["Version"] for item in rest["Versions"]] == ["2"]
    assert "NextMarker" not in rest
    paginator = lambda_client.get_paginator("list_versions_by_function")
    pages = paginator.paginate(FunctionName=name, PaginationConfig={"PageSize": 1})
    assert [item["Version"] for page in pages for item in page["Versions"]] == ["$LATEST", "1", "2"]

    invoked = lambda_client.invoke(FunctionName=name, Qualifier="2")
    assert (invoked["ExecutedVersion"], invoked["Payload"].read()) == ("2", b'"hello"')


def test_a_new_description_alone_is_a_change_worth_a_version(
    lambda_client: Any, deploy: Callable[..., str]
) -> None:
    """As on AWS: $LATEST's Description is part of its configuration; PublishVersion's own
    Description names the version and is not compared."""
    name = deploy(HELLO)
    first = lambda_client.publish_version(FunctionName=name, Description="release notes")
    assert lambda_client.publish_version(FunctionName=name, Description="other notes")["Version"] == "1"
    lambda_client.update_function_configuration(FunctionName=name, Description="now described")
    wait_updated(lambda_client, name)
    second = lambda_client.publish_version(FunctionName=name)
    assert (first["Version"], second["Version"], second["Description"]) == ("1", "2", "now described")
    assert lambda_client.publish_version(FunctionName=name)["Version"] == "2"


def test_snap_start_is_echoed(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy(HELLO, SnapStart={"ApplyOn": "PublishedVersions"})
    latest = lambda_client.get_function_configuration(FunctionName=name)
    assert latest["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"}
    version = lambda_client.publish_version(FunctionName=name)
    assert version["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    plain = deploy(HELLO)
    assert lambda_client.get_function_configuration(FunctionName=plain)["SnapStart"] == {
        "ApplyOn": "None",
        "OptimizationStatus": "Off",
    }


def test_publish_version_preconditions(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy(HELLO)
    latest = lambda_client.get_function_configuration(FunctionName=name)
    with pytest.raises(ClientError) as stale:
        lambda_client.publish_version(FunctionName=name, RevisionId=str(uuid.uuid4()))
    assert error_of(stale) == (
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id. "
        "Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
        412,
    )
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as mismatch:
        lambda_client.publish_version(FunctionName=name, CodeSha256="bm90LXRoZS1jb2Rl")
    assert error_of(mismatch)[1] == (
        f"CodeSHA256 (bm90LXRoZS1jb2Rl) is different from current CodeSHA256 in $LATEST "
        f"({latest['CodeSha256']}). Please try again with the CodeSHA256 in $LATEST."
    )
    assert [
        item["Version"] for item in lambda_client.list_versions_by_function(FunctionName=name)["Versions"]
    ] == ["$LATEST"]
    published = lambda_client.publish_version(
        FunctionName=name, RevisionId=latest["RevisionId"], CodeSha256=latest["CodeSha256"]
    )
    assert published["Version"] == "1"


def test_versions_of_a_missing_function(lambda_client: Any) -> None:
    name = f"missing-{uuid.uuid4().hex[:8]}"
    for call in (lambda_client.publish_version, lambda_client.list_versions_by_function):
        with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as missing:
            call(FunctionName=name)
        assert error_of(missing) == ("ResourceNotFoundException", f"Function not found: {ARN}:{name}", 404)


# provisioned concurrency ---------------------------------------------------------------------


def test_provisioned_concurrency_errors(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy(HELLO, Publish=True)
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as latest:
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="$LATEST", ProvisionedConcurrentExecutions=1
        )
    assert error_of(latest) == (
        "InvalidParameterValueException",
        "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
        400,
    )
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as unknown_version:
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="9", ProvisionedConcurrentExecutions=1
        )
    assert error_of(unknown_version) == (
        "ResourceNotFoundException",
        f"Function not found: {ARN}:{name}:9",
        404,
    )
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as alias:
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1
        )
    assert error_of(alias)[1] == f"Cannot find alias arn: {ARN}:{name}:live"
    with pytest.raises(lambda_client.exceptions.ProvisionedConcurrencyConfigNotFoundException) as none:
        lambda_client.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    assert error_of(none) == (
        "ProvisionedConcurrencyConfigNotFoundException",
        "No Provisioned Concurrency Config found for this function",
        404,
    )
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as get_latest:
        lambda_client.get_provisioned_concurrency_config(FunctionName=name, Qualifier="$LATEST")
    assert (
        error_of(get_latest)[1] == "The function resource provided must be an alias or a published version."
    )
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_provisioned_concurrency_config(FunctionName=name, Qualifier="2")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.list_provisioned_concurrency_configs(FunctionName=f"missing-{uuid.uuid4().hex[:8]}")
    # Deleting a configuration that does not exist succeeds, as AWS's idempotent deletes do.
    deleted = lambda_client.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert (
        lambda_client.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
        == []
    )


def test_provisioned_concurrency_put_get_list_delete(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy(HELLO, Publish=True)
    put = lambda_client.put_provisioned_concurrency_config(
        FunctionName=f"{name}:1", Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert put["RequestedProvisionedConcurrentExecutions"] == 1
    assert put["Status"] in {"IN_PROGRESS", "READY"}
    fetched = lambda_client.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    assert fetched["LastModified"] == put["LastModified"]
    assert fetched["RequestedProvisionedConcurrentExecutions"] == 1
    listed = lambda_client.list_provisioned_concurrency_configs(FunctionName=name)[
        "ProvisionedConcurrencyConfigs"
    ]
    assert [(item["FunctionArn"], item["RequestedProvisionedConcurrentExecutions"]) for item in listed] == [
        (f"{ARN}:{name}:1", 1)
    ]
    lambda_client.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    with pytest.raises(lambda_client.exceptions.ProvisionedConcurrencyConfigNotFoundException):
        lambda_client.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")

    # DeleteFunction drops the configs: a function created again under the name has none.
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    lambda_client.delete_function(FunctionName=name)
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": make_zip(HELLO)},
    )
    wait_active(lambda_client, name)
    lambda_client.publish_version(FunctionName=name)
    assert (
        lambda_client.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
        == []
    )


def test_provisioned_version_answers_without_init(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy(HELLO, Publish=True)
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=2
    )
    ready = wait_provisioned(lambda_client, name, "1")
    assert ready["Status"] == "READY", ready
    assert (
        ready["AllocatedProvisionedConcurrentExecutions"]
        == ready["AvailableProvisionedConcurrentExecutions"]
        == 2
    )
    provisioned = lambda_client.invoke(FunctionName=f"{name}:1", LogType="Tail")
    assert provisioned["ExecutedVersion"] == "1"
    assert "Init Duration" not in report_line(provisioned)
    on_demand = lambda_client.invoke(FunctionName=name, LogType="Tail")
    assert "Init Duration" in report_line(on_demand)  # $LATEST's first call is a cold start


def test_provisioned_concurrency_survives_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    name = f"pc-{uuid.uuid4().hex[:8]}"
    with running_server(data_dir) as first:
        client = first.client("lambda")
        create_function(client, name, HELLO, Publish=True)
        put = client.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1
        )
        assert wait_provisioned(client, name, "1")["Status"] == "READY"
        first.stop(signal.SIGTERM)

    with running_server(data_dir) as second:
        client = second.client("lambda")
        config = client.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
        assert (config["RequestedProvisionedConcurrentExecutions"], config["LastModified"]) == (
            1,
            put["LastModified"],
        )
        ready = wait_provisioned(client, name, "1")
        assert (ready["Status"], ready["AllocatedProvisionedConcurrentExecutions"]) == ("READY", 1)
        assert "Init Duration" not in report_line(
            client.invoke(FunctionName=name, Qualifier="1", LogType="Tail")
        )


def test_a_version_that_cannot_initialise_reports_failed(
    lambda_client: Any, deploy: Callable[..., str]
) -> None:
    name = deploy({"app.py": "raise RuntimeError('no database')\n"}, Publish=True)
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    failed = wait_provisioned(lambda_client, name, "1")
    assert failed["Status"] == "FAILED", failed
    assert failed["AllocatedProvisionedConcurrentExecutions"] == 0
    assert "no database" in failed["StatusReason"]
