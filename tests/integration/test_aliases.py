"""Aliases through boto3 against a real server: CRUD and errors, weighted routing, qualifiers,
DeleteFunction with a version, and provisioned concurrency on an alias."""

from __future__ import annotations

import json
import signal
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.lambda_calls import (
    create_function,
    error_of,
    log_lines,
    report_line,
    wait_provisioned,
    wait_updated,
)
from tests.support.packaging import make_zip
from tests.support.server import running_server

ARN = "arn:aws:lambda:us-east-1:000000000000:function"


def whoami(tag: str) -> dict[str, str]:
    """A function that reports which version ran and which ARN it was invoked by."""
    return {
        "app.py": (
            "def handler(event, context):\n"
            f"    return {{'tag': {tag!r}, 'version': context.function_version,\n"
            "            'arn': context.invoked_function_arn}\n"
        )
    }


def two_versions(client: Any, deploy: Callable[..., str]) -> str:
    """A function with versions 1 and 2, whose code differs."""
    name = deploy(whoami("one"), Publish=True)
    client.update_function_code(FunctionName=name, ZipFile=make_zip(whoami("two")), Publish=True)
    wait_updated(client, name)
    return name


def test_alias_lifecycle(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = two_versions(lambda_client, deploy)
    created = lambda_client.create_alias(
        FunctionName=name, Name="live", FunctionVersion="1", Description="prod"
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (created["AliasArn"], created["Name"], created["FunctionVersion"], created["Description"]) == (
        f"{ARN}:{name}:live",
        "live",
        "1",
        "prod",
    )
    got = lambda_client.get_alias(FunctionName=f"{ARN}:{name}", Name="live")
    assert got["RevisionId"] == created["RevisionId"]
    lambda_client.create_alias(FunctionName=name, Name="edge", FunctionVersion="$LATEST")

    with pytest.raises(lambda_client.exceptions.ResourceConflictException) as duplicate:
        lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="2")
    assert error_of(duplicate) == (
        "ResourceConflictException",
        f"Alias already exists: {ARN}:{name}:live",
        409,
    )
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as no_version:
        lambda_client.create_alias(FunctionName=name, Name="next", FunctionVersion="7")
    assert error_of(no_version) == ("ResourceNotFoundException", f"Function not found: {ARN}:{name}:7", 404)
    with pytest.raises(lambda_client.exceptions.ClientError) as digits:
        lambda_client.create_alias(FunctionName=name, Name="12", FunctionVersion="1")
    assert error_of(digits)[0] == "ValidationException"
    with pytest.raises(lambda_client.exceptions.PreconditionFailedException) as stale:
        lambda_client.update_alias(FunctionName=name, Name="live", FunctionVersion="2", RevisionId="stale")
    assert error_of(stale)[2] == 412

    updated = lambda_client.update_alias(
        FunctionName=name, Name="live", FunctionVersion="2", RevisionId=created["RevisionId"]
    )
    assert (updated["FunctionVersion"], updated["Description"]) == ("2", "prod")
    assert updated["RevisionId"] != created["RevisionId"]

    listed = lambda_client.list_aliases(FunctionName=name)["Aliases"]
    assert [(alias["Name"], alias["FunctionVersion"]) for alias in listed] == [
        ("edge", "$LATEST"),
        ("live", "2"),
    ]
    only_two = lambda_client.list_aliases(FunctionName=name, FunctionVersion="2")["Aliases"]
    assert [alias["Name"] for alias in only_two] == ["live"]
    page = lambda_client.list_aliases(FunctionName=name, MaxItems=1)
    assert [alias["Name"] for alias in page["Aliases"]] == ["edge"]
    assert [
        a["Name"] for a in lambda_client.list_aliases(FunctionName=name, Marker=page["NextMarker"])["Aliases"]
    ] == ["live"]

    deleted = lambda_client.delete_alias(FunctionName=name, Name="edge")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as gone:
        lambda_client.get_alias(FunctionName=name, Name="edge")
    assert error_of(gone) == ("ResourceNotFoundException", f"Cannot find alias arn: {ARN}:{name}:edge", 404)
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as no_function:
        lambda_client.list_aliases(FunctionName=f"missing-{uuid.uuid4().hex[:8]}")
    assert error_of(no_function)[2] == 404


def test_an_alias_qualifies_invoke_and_get_function(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = two_versions(lambda_client, deploy)
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    for call in (
        {"FunctionName": name, "Qualifier": "live"},
        {"FunctionName": f"{name}:live"},
        {"FunctionName": f"{ARN}:{name}:live"},
        {"FunctionName": f"000000000000:function:{name}:live"},
    ):
        response = lambda_client.invoke(LogType="Tail", **call)
        assert response["ExecutedVersion"] == "1"
        assert json.loads(response["Payload"].read()) == {
            "tag": "one",
            "version": "1",
            "arn": f"{ARN}:{name}:live",
        }
        assert any(
            line.startswith("START RequestId:") and line.endswith("Version: 1")
            for line in log_lines(response)
        )

    config = lambda_client.get_function_configuration(FunctionName=name, Qualifier="live")
    assert (config["FunctionArn"], config["Version"]) == (f"{ARN}:{name}:live", "1")
    function = lambda_client.get_function(FunctionName=f"{name}:live")
    assert function["Configuration"]["FunctionArn"] == f"{ARN}:{name}:live"
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as missing:
        lambda_client.invoke(FunctionName=name, Qualifier="nope")
    assert error_of(missing) == ("ResourceNotFoundException", f"Function not found: {ARN}:{name}:nope", 404)


def test_a_weighted_alias_splits_invocations(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = two_versions(lambda_client, deploy)
    lambda_client.create_alias(
        FunctionName=name,
        Name="canary",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}},
    )
    alias = lambda_client.get_alias(FunctionName=name, Name="canary")
    assert alias["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.5}}
    executed: Counter[str] = Counter()
    for _ in range(60):
        response = lambda_client.invoke(FunctionName=name, Qualifier="canary")
        body = json.loads(response["Payload"].read())
        assert body["version"] == response["ExecutedVersion"]  # the header names the version that ran
        assert body["tag"] == {"1": "one", "2": "two"}[body["version"]]
        executed[response["ExecutedVersion"]] += 1
    # Each version's count is Binomial(60, 0.5): below 10 with probability under 1e-7.
    assert executed["1"] >= 10 and executed["2"] >= 10, executed

    # Shifting all traffic: routing removed, the alias runs version 2 only.
    lambda_client.update_alias(FunctionName=name, Name="canary", FunctionVersion="2", RoutingConfig={})
    assert "RoutingConfig" not in lambda_client.get_alias(FunctionName=name, Name="canary")
    assert {
        lambda_client.invoke(FunctionName=name, Qualifier="canary")["ExecutedVersion"] for _ in range(5)
    } == {"2"}


def test_weighted_routing_rules(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = two_versions(lambda_client, deploy)
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as latest:
        lambda_client.create_alias(
            FunctionName=name,
            Name="bad",
            FunctionVersion="$LATEST",
            RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}},
        )
    assert error_of(latest)[1] == "$LATEST is not supported for an alias pointing to more than 1 version"
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.create_alias(
            FunctionName=name,
            Name="bad",
            FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": {"9": 0.5}},
        )
    with pytest.raises(lambda_client.exceptions.ClientError) as weight:
        lambda_client.create_alias(
            FunctionName=name,
            Name="bad",
            FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": {"2": 1.5}},
        )
    assert error_of(weight)[0] == "ValidationException"
    assert lambda_client.list_aliases(FunctionName=name)["Aliases"] == []


def test_delete_function_with_a_version_qualifier(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = two_versions(lambda_client, deploy)
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="2")
    with pytest.raises(lambda_client.exceptions.ResourceConflictException) as referenced:
        lambda_client.delete_function(FunctionName=name, Qualifier="2")
    assert error_of(referenced) == (
        "ResourceConflictException",
        "Unable to delete version because the following aliases reference it: [live]",
        409,
    )
    lambda_client.delete_function(FunctionName=name, Qualifier="1")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function(FunctionName=name, Qualifier="1")
    # As on AWS, deleting a version that is gone (or never was) succeeds; $LATEST is refused first,
    # whether the function exists or not.
    lambda_client.delete_function(FunctionName=name, Qualifier="1")
    lambda_client.delete_function(FunctionName=name, Qualifier="1233")
    for function in (name, "no-such-function"):
        with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as latest:
            lambda_client.delete_function(FunctionName=function, Qualifier="$LATEST")
        assert error_of(latest) == (
            "InvalidParameterValueException",
            "$LATEST version cannot be deleted without deleting the function.",
            400,
        )
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as gone:
        lambda_client.delete_function(FunctionName="no-such-function", Qualifier="1233")
    assert error_of(gone)[1] == f"Function not found: {ARN}:no-such-function"

    # A deleted version's number is never given again.
    lambda_client.update_function_code(FunctionName=name, ZipFile=make_zip(whoami("three")))
    wait_updated(lambda_client, name)
    third = lambda_client.publish_version(FunctionName=name)["Version"]
    lambda_client.delete_function(FunctionName=f"{name}:{third}")
    lambda_client.update_function_code(FunctionName=name, ZipFile=make_zip(whoami("four")))
    wait_updated(lambda_client, name)
    assert (third, lambda_client.publish_version(FunctionName=name)["Version"]) == ("3", "4")
    versions = lambda_client.list_versions_by_function(FunctionName=name)["Versions"]
    assert [item["Version"] for item in versions] == ["$LATEST", "2", "4"]
    assert lambda_client.invoke(FunctionName=name, Qualifier="live")["ExecutedVersion"] == "2"


def test_provisioned_concurrency_on_an_alias(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = two_versions(lambda_client, deploy)
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1
    )
    ready = wait_provisioned(lambda_client, name, "live")
    assert (ready["Status"], ready["AllocatedProvisionedConcurrentExecutions"]) == ("READY", 1), ready
    listed = lambda_client.list_provisioned_concurrency_configs(FunctionName=name)[
        "ProvisionedConcurrencyConfigs"
    ]
    assert [item["FunctionArn"] for item in listed] == [f"{ARN}:{name}:live"]
    warm = lambda_client.invoke(FunctionName=name, Qualifier="live", LogType="Tail")
    assert warm["ExecutedVersion"] == "1"
    assert "Init Duration" not in report_line(warm)

    # The alias moves to version 2: the provisioned environments follow it.
    lambda_client.update_alias(FunctionName=name, Name="live", FunctionVersion="2")
    ready = wait_provisioned(lambda_client, name, "live")
    assert ready["Status"] == "READY", ready
    moved = lambda_client.invoke(FunctionName=name, Qualifier="live", LogType="Tail")
    assert moved["ExecutedVersion"] == "2"
    assert "Init Duration" not in report_line(moved)

    lambda_client.delete_alias(FunctionName=name, Name="live")
    assert (
        lambda_client.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
        == []
    )


def test_aliases_survive_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    name = f"alias-{uuid.uuid4().hex[:8]}"
    with running_server(data_dir) as first:
        client = first.client("lambda")
        create_function(client, name, whoami("one"), Publish=True)
        created = client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
        client.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1
        )
        first.stop(signal.SIGTERM)

    with running_server(data_dir) as second:
        client = second.client("lambda")
        alias = client.get_alias(FunctionName=name, Name="live")
        assert (alias["FunctionVersion"], alias["RevisionId"]) == ("1", created["RevisionId"])
        assert wait_provisioned(client, name, "live")["Status"] == "READY"
        response = client.invoke(FunctionName=name, Qualifier="live", LogType="Tail")
        assert response["ExecutedVersion"] == "1"
        assert "Init Duration" not in report_line(response)
