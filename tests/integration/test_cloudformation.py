"""CloudFormation against a real server, through boto3: stacks created from YAML and JSON
templates (parameters, mappings, conditions, intrinsics, outputs and exports), their resources
made through Lamina's own APIs in dependency order, a failing resource rolling the stack back,
deletion, and the errors CloudFormation answers with."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, WaiterError

from tests.support.api_calls import call_api
from tests.support.cli import aws_text
from tests.support.lambda_calls import printed_events
from tests.support.packaging import make_zip
from tests.support.server import RunningServer, running_server

WAITER = {"Delay": 1, "MaxAttempts": 120}
FUNCTION_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Description: A function, its role and log group, a queue and a topic
Parameters:
  Greeting:
    Type: String
    Default: hello
    AllowedValues: [hello, hi]
  Secret:
    Type: String
    NoEcho: true
    Default: s3cr3t
  Environment:
    Type: String
    Default: dev
Mappings:
  Sizes:
    dev: {Memory: 128}
    prod: {Memory: 256}
Conditions:
  IsProd: !Equals [!Ref Environment, prod]
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: lambda.amazonaws.com}
            Action: sts:AssumeRole
  Logs:
    Type: AWS::Logs::LogGroup
    Properties:
      RetentionInDays: 7
  Function:
    Type: AWS::Lambda::Function
    DependsOn: Logs
    Properties:
      Runtime: python3.11
      Handler: index.handler
      Role: !GetAtt Role.Arn
      MemorySize: !FindInMap [Sizes, !Ref Environment, Memory]
      Environment:
        Variables:
          GREETING: !Sub "${Greeting}, ${AWS::Region}"
          QUEUE: !Ref Queue
          PROD_ONLY: !If [IsProd, "yes", !Ref AWS::NoValue]
      Code:
        ZipFile: |
          import os
          def handler(event, context):
              return {"greeting": os.environ["GREETING"], "queue": os.environ["QUEUE"], "prod": os.environ.get("PROD_ONLY")}
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 45
  Topic:
    Type: AWS::SNS::Topic
    Condition: IsProd
Outputs:
  FunctionArn:
    Value: !GetAtt Function.Arn
    Export:
      Name: !Sub "${AWS::StackName}-function"
  QueueUrl:
    Description: the queue
    Value: !Ref Queue
  Joined:
    Value: !Join ["/", [!Select [1, !Split [",", "a,b,c"]], !Base64 "x"]]
"""


@pytest.fixture(scope="module")
def cloudformation(server: RunningServer) -> Any:
    return server.client("cloudformation")


def stack_name() -> str:
    return f"stack-{uuid.uuid4().hex[:8]}"


def settled(cloudformation: Any, name: str, timeout: float = 60) -> str:
    """The stack's status once no operation is in progress."""
    deadline = time.monotonic() + timeout
    while True:
        status = str(cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"])
        if not status.endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def error_of(call: Any, **params: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call(**params)
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def test_a_stack_creates_its_resources_in_order_and_deletes_them(
    server: RunningServer, cloudformation: Any
) -> None:
    name = stack_name()
    stack_id = cloudformation.create_stack(
        StackName=name,
        TemplateBody=FUNCTION_TEMPLATE,
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": "Greeting", "ParameterValue": "hi"}],
    )["StackId"]
    assert stack_id.startswith(f"arn:aws:cloudformation:us-east-1:000000000000:stack/{name}/")
    cloudformation.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=WAITER)
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert stack["Description"] == "A function, its role and log group, a queue and a topic"
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]} == {
        "Greeting": "hi",
        "Secret": "****",
        "Environment": "dev",
    }
    outputs = {output["OutputKey"]: output for output in stack["Outputs"]}
    assert outputs["Joined"]["OutputValue"] == "b/eA=="
    assert outputs["FunctionArn"]["ExportName"] == f"{name}-function"

    resources = {
        r["LogicalResourceId"]: r
        for r in cloudformation.describe_stack_resources(StackName=name)["StackResources"]
    }
    assert set(resources) == {"Role", "Logs", "Function", "Queue"}  # the Topic's condition is false
    assert all(r["ResourceStatus"] == "CREATE_COMPLETE" for r in resources.values())
    function_name = resources["Function"]["PhysicalResourceId"]
    assert function_name.startswith(f"{name}-Function-")
    queue_url = resources["Queue"]["PhysicalResourceId"]
    assert outputs["QueueUrl"]["OutputValue"] == queue_url

    # The resources exist, as the stack made them.
    lambda_client = server.client("lambda")
    configuration = lambda_client.get_function_configuration(FunctionName=function_name)
    assert configuration["MemorySize"] == 128
    assert configuration["Role"].endswith(resources["Role"]["PhysicalResourceId"])
    result = json.loads(lambda_client.invoke(FunctionName=function_name)["Payload"].read())
    assert result == {"greeting": "hi, us-east-1", "queue": queue_url, "prod": None}
    sqs = server.client("sqs")
    assert sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"])[
        "Attributes"
    ] == {"VisibilityTimeout": "45"}
    logs = server.client("logs")
    group = resources["Logs"]["PhysicalResourceId"]
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["retentionInDays"] == 7

    # Events: the stack's, and each resource's, newest first.
    events = cloudformation.describe_stack_events(StackName=name)["StackEvents"]
    assert events[0]["ResourceStatus"] == "CREATE_COMPLETE" and events[0]["LogicalResourceId"] == name
    order = [e["LogicalResourceId"] for e in reversed(events) if e["ResourceStatus"] == "CREATE_COMPLETE"]
    assert order.index("Logs") < order.index("Function") and order.index("Role") < order.index("Function")
    assert order.index("Queue") < order.index("Function")
    assert cloudformation.get_template(StackName=name)["TemplateBody"] == FUNCTION_TEMPLATE
    assert name in [
        s["StackName"]
        for s in cloudformation.list_stacks(StackStatusFilter=["CREATE_COMPLETE"])["StackSummaries"]
    ]
    assert f"{name}-function" in {e["Name"] for e in cloudformation.list_exports()["Exports"]}

    cloudformation.delete_stack(StackName=name)
    cloudformation.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=WAITER)
    with pytest.raises(ClientError):
        lambda_client.get_function(FunctionName=function_name)
    with pytest.raises(ClientError):
        sqs.get_queue_attributes(QueueUrl=queue_url)
    assert cloudformation.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    assert error_of(cloudformation.describe_stacks, StackName=name) == (
        "ValidationError",
        f"Stack with id {name} does not exist",
    )


def test_a_failing_resource_rolls_the_stack_back(server: RunningServer, cloudformation: Any) -> None:
    template = {
        "Resources": {
            "Good": {"Type": "AWS::SQS::Queue"},
            "Bad": {
                "Type": "AWS::SQS::Queue",
                "DependsOn": "Good",
                "Properties": {"QueueName": "bad", "VisibilityTimeout": 999999},
            },
        }
    }
    name = stack_name()
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))
    with pytest.raises(WaiterError):  # the waiter fails on ROLLBACK_COMPLETE, as for AWS
        cloudformation.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=WAITER)
    assert settled(cloudformation, name) == "ROLLBACK_COMPLETE"
    events = cloudformation.describe_stack_events(StackName=name)["StackEvents"]
    failed = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED" and e["LogicalResourceId"] == "Bad"]
    assert failed and "VisibilityTimeout" in failed[0]["ResourceStatusReason"]
    good = next(
        e for e in events if e["LogicalResourceId"] == "Good" and e["ResourceStatus"] == "CREATE_COMPLETE"
    )
    assert any(e["LogicalResourceId"] == "Good" and e["ResourceStatus"] == "DELETE_COMPLETE" for e in events)
    with pytest.raises(ClientError):
        server.client("sqs").get_queue_attributes(QueueUrl=good["PhysicalResourceId"])
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"


def test_an_unsupported_type_fails_the_stack_naming_it(cloudformation: Any) -> None:
    name = stack_name()
    template = {"Resources": {"Thing": {"Type": "AWS::EC2::Instance", "Properties": {"ImageId": "ami-1"}}}}
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))
    assert settled(cloudformation, name) == "ROLLBACK_COMPLETE"
    events = cloudformation.describe_stack_events(StackName=name)["StackEvents"]
    reasons = [e.get("ResourceStatusReason", "") for e in events if e["LogicalResourceId"] == "Thing"]
    assert any("AWS::EC2::Instance" in reason for reason in reasons)


def test_validation_errors_answer_as_cloudformation(cloudformation: Any) -> None:
    iam_template = {
        "Resources": {
            "R": {
                "Type": "AWS::IAM::Role",
                "Properties": {"RoleName": "named", "AssumeRolePolicyDocument": {}},
            }
        }
    }
    assert error_of(
        cloudformation.create_stack, StackName=stack_name(), TemplateBody=json.dumps(iam_template)
    ) == (
        "InsufficientCapabilitiesException",
        "Requires capabilities : [CAPABILITY_NAMED_IAM]",
    )
    code, message = error_of(cloudformation.create_stack, StackName=stack_name(), TemplateBody="Resources: [")
    assert code == "ValidationError" and message.startswith("Template format error:")
    code, message = error_of(
        cloudformation.create_stack, StackName=stack_name(), TemplateBody=json.dumps({"Resources": {}})
    )
    assert message == "Template format error: At least one Resources member must be defined."
    code, message = error_of(
        cloudformation.create_stack,
        StackName=stack_name(),
        TemplateBody=FUNCTION_TEMPLATE,
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": "Greeting", "ParameterValue": "yo"}],
    )
    assert (code, message) == ("ValidationError", "Parameter 'Greeting' must be one of AllowedValues")
    code, message = error_of(
        cloudformation.create_stack,
        StackName=stack_name(),
        TemplateBody=FUNCTION_TEMPLATE,
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": "Nope", "ParameterValue": "x"}],
    )
    assert message == "Parameters: [Nope] do not exist in the template"
    circular = {
        "Resources": {
            "A": {"Type": "AWS::SQS::Queue", "DependsOn": "B"},
            "B": {"Type": "AWS::SQS::Queue", "DependsOn": "A"},
        }
    }
    code, message = error_of(
        cloudformation.create_stack, StackName=stack_name(), TemplateBody=json.dumps(circular)
    )
    assert (code, message) == (
        "ValidationError",
        "Template format error: Circular dependency between resources: [A, B]",
    )
    existing = stack_name()
    cloudformation.create_stack(
        StackName=existing, TemplateBody=json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}})
    )
    assert error_of(
        cloudformation.create_stack,
        StackName=existing,
        TemplateBody=json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}),
    ) == (
        "AlreadyExistsException",
        f"Stack [{existing}] already exists",
    )
    summary = cloudformation.validate_template(TemplateBody=FUNCTION_TEMPLATE)
    assert summary["Capabilities"] == ["CAPABILITY_IAM"]
    assert {p["ParameterKey"]: p.get("DefaultValue") for p in summary["Parameters"]} == {
        "Greeting": "hello",
        "Secret": "s3cr3t",
        "Environment": "dev",
    }
    cloudformation.delete_stack(StackName="no-such-stack")  # succeeds, as on AWS


def test_a_create_killed_midway_is_rolled_back_at_the_next_start(tmp_path: Path) -> None:
    """SIGKILL while the stack's resources are being made: the next start rolls it back, deleting
    every resource the stack had recorded."""
    template = {"Resources": {f"Q{index}": {"Type": "AWS::SQS::Queue"} for index in range(300)}}
    data = tmp_path / "data"
    with running_server(data) as first:
        cloudformation = first.client("cloudformation")

        # CreateStack answers once the stack is made, or after a few seconds: it runs on a thread
        # while this one waits for resources to appear, then kills the server in the middle.
        def create() -> None:
            with contextlib.suppress(Exception):  # the server dies under the call
                cloudformation.create_stack(StackName="killed", TemplateBody=json.dumps(template))

        creating = threading.Thread(target=create, daemon=True)
        creating.start()
        watcher = first.client("cloudformation")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(ClientError):
                events = watcher.describe_stack_events(StackName="killed")["StackEvents"]
                if sum(e["ResourceStatus"] == "CREATE_COMPLETE" for e in events) >= 5:
                    break
            time.sleep(0.05)
        assert watcher.describe_stacks(StackName="killed")["Stacks"][0]["StackStatus"] == "CREATE_IN_PROGRESS"
        first.process.kill()
        first.process.wait()
        creating.join(30)
    with running_server(data) as second:
        cloudformation = second.client("cloudformation")
        assert settled(cloudformation, "killed") == "ROLLBACK_COMPLETE"
        events = cloudformation.describe_stack_events(StackName="killed")["StackEvents"]
        assert any(
            e.get("ResourceStatusReason") == "The server stopped during the stack operation" for e in events
        )
        created = {
            e["PhysicalResourceId"]
            for e in events
            if e["ResourceStatus"] == "CREATE_COMPLETE" and e["LogicalResourceId"] != "killed"
        }
        sqs = second.client("sqs")
        for url in created:
            with pytest.raises(ClientError):
                sqs.get_queue_attributes(QueueUrl=url)
        # The name is free again once the failed stack is deleted.
        cloudformation.delete_stack(StackName="killed")
        assert settled(cloudformation, f"{events[0]['StackId']}") == "DELETE_COMPLETE"
        cloudformation.create_stack(
            StackName="killed", TemplateBody=json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}})
        )
        assert settled(cloudformation, "killed") == "CREATE_COMPLETE"


def _kill_when(server: RunningServer, stack: str, status: str, count: int, start: Any) -> None:
    """Run `start` (a stack call) on a thread, wait until `count` resource events of `status`
    happened in its operation, then SIGKILL the server in the middle of it."""

    def call() -> None:
        with contextlib.suppress(Exception):  # the server dies under the call
            start()

    thread = threading.Thread(target=call, daemon=True)
    before = {
        e["EventId"]
        for e in server.client("cloudformation").describe_stack_events(StackName=stack)["StackEvents"]
    }
    thread.start()
    watcher = server.client("cloudformation")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(ClientError):
            events = watcher.describe_stack_events(StackName=stack)["StackEvents"]
            if sum(e["ResourceStatus"] == status and e["EventId"] not in before for e in events) >= count:
                break
        time.sleep(0.02)
    assert watcher.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"].endswith("_IN_PROGRESS")
    server.process.kill()
    server.process.wait()
    thread.join(30)


def _queues(count: int = 150, fifo: bool = False, suffix: str | None = None) -> str:
    """`count` queues; with `fifo` each becomes a FIFO queue, which replaces it (a new queue, the
    old one deleted); `suffix` names them kill-N-suffix instead of letting the stack name them."""
    properties: dict[str, Any] = {"FifoQueue": "true"} if fifo else {}
    return json.dumps(
        {
            "Resources": {
                f"Q{index}": {
                    "Type": "AWS::SQS::Queue",
                    "Properties": {
                        **properties,
                        **({"QueueName": f"kill-{index}-{suffix}"} if suffix else {}),
                    },
                }
                for index in range(count)
            }
        }
    )


def _queue_urls(server: RunningServer, prefix: str) -> set[str]:
    """The queues' names (a URL has the server's port, which a restart changes)."""
    urls = server.client("sqs").list_queues(QueueNamePrefix=prefix, MaxResults=1000).get("QueueUrls", [])
    return {url.rsplit("/", 1)[1] for url in urls}


def test_an_update_with_replacements_killed_midway_is_rolled_back(tmp_path: Path) -> None:
    """SIGKILL while an update replaces its resources (every queue made FIFO, so made anew): the
    next start rolls the update back, the originals kept and every replacement deleted, also one
    whose create had been made but not yet recorded when the server died."""
    data = tmp_path / "data"
    with running_server(data) as first:
        cloudformation = first.client("cloudformation")
        cloudformation.create_stack(StackName="renamed", TemplateBody=_queues())
        assert settled(cloudformation, "renamed") == "CREATE_COMPLETE"
        originals = _queue_urls(first, "renamed-")
        assert len(originals) == 150
        _kill_when(
            first,
            "renamed",
            "UPDATE_COMPLETE",
            10,
            lambda: cloudformation.update_stack(StackName="renamed", TemplateBody=_queues(fifo=True)),
        )
    with running_server(data) as second:
        cloudformation = second.client("cloudformation")
        assert settled(cloudformation, "renamed", timeout=120) == "UPDATE_ROLLBACK_COMPLETE"
        assert _queue_urls(second, "renamed-") == originals
        # The stack goes on working: the same update, uninterrupted, completes.
        cloudformation.update_stack(StackName="renamed", TemplateBody=_queues(fifo=True))
        assert settled(cloudformation, "renamed", timeout=120) == "UPDATE_COMPLETE"
        remaining = _queue_urls(second, "renamed-")
        assert len(remaining) == 150 and all(url.endswith(".fifo") for url in remaining)


def test_a_delete_killed_midway_finishes_at_the_next_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_server(data) as first:
        cloudformation = first.client("cloudformation")
        cloudformation.create_stack(StackName="going", TemplateBody=_queues(suffix="d"))
        assert settled(cloudformation, "going") == "CREATE_COMPLETE"
        stack_id = cloudformation.describe_stacks(StackName="going")["Stacks"][0]["StackId"]
        _kill_when(
            first, "going", "DELETE_COMPLETE", 10, lambda: cloudformation.delete_stack(StackName="going")
        )
    with running_server(data) as second:
        cloudformation = second.client("cloudformation")
        assert settled(cloudformation, stack_id, timeout=120) == "DELETE_COMPLETE"
        assert _queue_urls(second, "kill-") == set()


def queue_template(visibility: int, name: str | None = None, extra: bool = False) -> str:
    queue: dict[str, Any] = {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": visibility}}
    if name:
        queue["Properties"]["QueueName"] = name
    resources: dict[str, Any] = {"Queue": queue}
    if extra:
        resources["Topic"] = {"Type": "AWS::SNS::Topic"}
    return json.dumps({"Resources": resources, "Outputs": {"Url": {"Value": {"Ref": "Queue"}}}})


def test_change_sets_plan_and_execute_updates(server: RunningServer, cloudformation: Any) -> None:
    name = stack_name()
    created = cloudformation.create_change_set(
        StackName=name, ChangeSetName="first", ChangeSetType="CREATE", TemplateBody=queue_template(30)
    )
    assert cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "REVIEW_IN_PROGRESS"
    cloudformation.get_waiter("change_set_create_complete").wait(
        ChangeSetName="first", StackName=name, WaiterConfig=WAITER
    )
    described = cloudformation.describe_change_set(ChangeSetName=created["Id"])
    assert [c["ResourceChange"]["Action"] for c in described["Changes"]] == ["Add"]
    cloudformation.execute_change_set(ChangeSetName="first", StackName=name)
    cloudformation.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=WAITER)
    first_url = cloudformation.describe_stacks(StackName=name)["Stacks"][0]["Outputs"][0]["OutputValue"]

    # An in-place change and an added resource.
    cloudformation.create_change_set(
        StackName=name, ChangeSetName="second", TemplateBody=queue_template(60, extra=True)
    )
    cloudformation.get_waiter("change_set_create_complete").wait(
        ChangeSetName="second", StackName=name, WaiterConfig=WAITER
    )
    changes = {
        c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"]
        for c in cloudformation.describe_change_set(ChangeSetName="second", StackName=name)["Changes"]
    }
    assert changes["Queue"]["Action"] == "Modify" and changes["Queue"]["Replacement"] == "False"
    assert changes["Queue"]["Details"][0]["Target"]["Name"] == "VisibilityTimeout"
    assert changes["Topic"]["Action"] == "Add"
    assert [s["ChangeSetName"] for s in cloudformation.list_change_sets(StackName=name)["Summaries"]] == [
        "second"
    ]
    cloudformation.execute_change_set(ChangeSetName="second", StackName=name)
    cloudformation.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=WAITER)
    sqs = server.client("sqs")
    assert (
        sqs.get_queue_attributes(QueueUrl=first_url, AttributeNames=["VisibilityTimeout"])["Attributes"][
            "VisibilityTimeout"
        ]
        == "60"
    )

    # A name change replaces the queue: a new one is made, the old one deleted; the topic goes.
    new_name = f"renamed-{uuid.uuid4().hex[:6]}"
    cloudformation.update_stack(StackName=name, TemplateBody=queue_template(60, name=new_name))
    cloudformation.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=WAITER)
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    new_url = stack["Outputs"][0]["OutputValue"]
    assert new_url.endswith(f"/{new_name}") and new_url != first_url
    with pytest.raises(ClientError):
        sqs.get_queue_attributes(QueueUrl=first_url)
    assert [
        r["LogicalResourceId"]
        for r in cloudformation.describe_stack_resources(StackName=name)["StackResources"]
    ] == ["Queue"]

    # Nothing to change.
    assert error_of(
        cloudformation.update_stack, StackName=name, TemplateBody=queue_template(60, name=new_name)
    ) == ("ValidationError", "No updates are to be performed.")
    cloudformation.create_change_set(
        StackName=name, ChangeSetName="empty", TemplateBody=queue_template(60, name=new_name)
    )
    empty = cloudformation.describe_change_set(ChangeSetName="empty", StackName=name)
    assert (empty["Status"], empty["ExecutionStatus"]) == ("FAILED", "UNAVAILABLE")
    assert (
        empty["StatusReason"]
        == "The submitted information didn't contain changes. Submit different information to create a change set."
    )
    cloudformation.delete_change_set(ChangeSetName="empty", StackName=name)


def test_a_failing_update_rolls_back_to_the_previous_state(
    server: RunningServer, cloudformation: Any
) -> None:
    name = stack_name()
    cloudformation.create_stack(StackName=name, TemplateBody=queue_template(30))
    cloudformation.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=WAITER)
    url = cloudformation.describe_stacks(StackName=name)["Stacks"][0]["Outputs"][0]["OutputValue"]
    failing = json.loads(queue_template(40, extra=True))
    failing["Resources"]["Bad"] = {
        "Type": "AWS::SQS::Queue",
        "DependsOn": ["Queue", "Topic"],
        "Properties": {"VisibilityTimeout": 999999},
    }
    cloudformation.update_stack(StackName=name, TemplateBody=json.dumps(failing))
    with pytest.raises(WaiterError):
        cloudformation.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=WAITER)
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    sqs = server.client("sqs")
    assert (
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"][
            "VisibilityTimeout"
        ]
        == "30"
    )
    assert [
        r["LogicalResourceId"]
        for r in cloudformation.describe_stack_resources(StackName=name)["StackResources"]
    ] == ["Queue"]
    # boto3 hands a JSON template back decoded.
    assert cloudformation.get_template(StackName=name)["TemplateBody"] == json.loads(queue_template(30))
    events = cloudformation.describe_stack_events(StackName=name)["StackEvents"]
    assert any(e["LogicalResourceId"] == "Bad" and e["ResourceStatus"] == "CREATE_FAILED" for e in events)
    topic = next(
        e["PhysicalResourceId"]
        for e in events
        if e["LogicalResourceId"] == "Topic" and e["ResourceStatus"] == "CREATE_COMPLETE"
    )
    assert topic not in [t["TopicArn"] for t in server.client("sns").list_topics()["Topics"]]


def test_aws_cloudformation_deploy_creates_updates_and_reports_no_changes(
    server: RunningServer, tmp_path: Path
) -> None:
    template = tmp_path / "template.yaml"
    name = stack_name()
    template.write_text(
        "Parameters:\n  Timeout: {Type: Number, Default: 30}\nResources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      VisibilityTimeout: !Ref Timeout\nOutputs:\n  Url: {Value: !Ref Queue}\n"
    )
    printed = aws_text(
        server, "cloudformation", "deploy", "--template-file", str(template), "--stack-name", name
    )
    assert f"Successfully created/updated stack - {name}" in printed
    cloudformation = server.client("cloudformation")
    assert cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    aws_text(
        server,
        "cloudformation",
        "deploy",
        "--template-file",
        str(template),
        "--stack-name",
        name,
        "--parameter-overrides",
        "Timeout=90",
    )
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    url = stack["Outputs"][0]["OutputValue"]
    assert (
        server.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])[
            "Attributes"
        ]["VisibilityTimeout"]
        == "90"
    )
    # A deploy with nothing new: the CLI says so and succeeds (it reads the empty change set's reason).
    printed = aws_text(
        server,
        "cloudformation",
        "deploy",
        "--template-file",
        str(template),
        "--stack-name",
        name,
        "--parameter-overrides",
        "Timeout=90",
        "--no-fail-on-empty-changeset",
    )
    assert "No changes to deploy" in printed


TRIGGERS_TEMPLATE = """
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}]
      ManagedPolicyArns: [arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole]
  Handler:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.11
      Handler: index.handler
      Role: !GetAtt Role.Arn
      Code:
        ZipFile: |
          import json
          def handler(event, context):
              print("CFN-EVENT " + json.dumps(event))
  Queue:
    Type: AWS::SQS::Queue
  Mapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      EventSourceArn: !GetAtt Queue.Arn
      FunctionName: !Ref Handler
      BatchSize: 1
  Topic:
    Type: AWS::SNS::Topic
  TopicPermission:
    Type: AWS::Lambda::Permission
    Properties:
      FunctionName: !Ref Handler
      Action: lambda:InvokeFunction
      Principal: sns.amazonaws.com
      SourceArn: !Ref Topic
  Subscription:
    Type: AWS::SNS::Subscription
    DependsOn: TopicPermission
    Properties:
      TopicArn: !Ref Topic
      Protocol: lambda
      Endpoint: !GetAtt Handler.Arn
  Nightly:
    Type: AWS::Events::Rule
    Properties:
      ScheduleExpression: cron(0 3 * * ? *)
      Targets: [{Id: handler, Arn: !GetAtt Handler.Arn}]
  Url:
    Type: AWS::Lambda::Url
    Properties:
      TargetFunctionArn: !GetAtt Handler.Arn
      AuthType: AWS_IAM
  Retries:
    Type: AWS::Lambda::EventInvokeConfig
    Properties:
      FunctionName: !Ref Handler
      Qualifier: $LATEST
      MaximumRetryAttempts: 0
Outputs:
  Url: {Value: !GetAtt Url.FunctionUrl}
  Rule: {Value: !GetAtt Nightly.Arn}
"""


def test_triggers_connect_sources_to_a_function(server: RunningServer, cloudformation: Any) -> None:
    name = stack_name()
    cloudformation.create_stack(
        StackName=name, TemplateBody=TRIGGERS_TEMPLATE, Capabilities=["CAPABILITY_IAM"]
    )
    cloudformation.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=WAITER)
    resources = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cloudformation.describe_stack_resources(StackName=name)["StackResources"]
    }
    function = resources["Handler"]
    lambda_client = server.client("lambda")
    mappings = lambda_client.list_event_source_mappings(FunctionName=function)["EventSourceMappings"]
    assert [m["UUID"] for m in mappings] == [resources["Mapping"]]
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in cloudformation.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]
    }
    assert outputs["Url"] == lambda_client.get_function_url_config(FunctionName=function)["FunctionUrl"]
    assert lambda_client.get_function_event_invoke_config(FunctionName=function)["MaximumRetryAttempts"] == 0
    events = server.client("events")
    assert outputs["Rule"].endswith(f":rule/{resources['Nightly']}")
    assert [t["Id"] for t in events.list_targets_by_rule(Rule=resources["Nightly"])["Targets"]] == ["handler"]

    # Messages reach the function through the mapping and the subscription.
    server.client("sqs").send_message(QueueUrl=resources["Queue"], MessageBody="from the queue")
    server.client("sns").publish(TopicArn=resources["Topic"], Message="from the topic")
    printed = printed_events(server.client("logs"), function, "CFN-EVENT", 2)
    sources = sorted(
        record.get("eventSource") or record.get("EventSource")
        for event in printed
        for record in event["Records"]
    )
    assert sources == ["aws:sns", "aws:sqs"]

    cloudformation.delete_stack(StackName=name)
    cloudformation.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=WAITER)
    assert (
        lambda_client.list_event_source_mappings(
            EventSourceArn=f"arn:aws:sqs:us-east-1:000000000000:{resources['Queue'].rsplit('/', 1)[1]}"
        )["EventSourceMappings"]
        == []
    )
    with pytest.raises(ClientError):
        events.describe_rule(Name=resources["Nightly"])


STORAGE_TEMPLATE = """
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}]
  ReadObjects:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      Roles: [!Ref Role]
      PolicyDocument:
        Version: "2012-10-17"
        Statement: [{Effect: Allow, Action: s3:GetObject, Resource: "*"}]
  WriteLogs:
    Type: AWS::IAM::Policy
    Properties:
      PolicyName: write-logs
      Roles: [!Ref Role]
      PolicyDocument:
        Statement: [{Effect: Allow, Action: logs:PutLogEvents, Resource: "*"}]
  OnUpload:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.11
      Handler: index.handler
      Role: !GetAtt Role.Arn
      Code:
        ZipFile: |
          import json
          def handler(event, context):
              print("CFN-UPLOAD " + json.dumps(event))
  UploadPermission:
    Type: AWS::Lambda::Permission
    Properties:
      FunctionName: !Ref OnUpload
      Action: lambda:InvokeFunction
      Principal: s3.amazonaws.com
      SourceAccount: !Ref AWS::AccountId
  Uploads:
    Type: AWS::S3::Bucket
    DependsOn: UploadPermission
    Properties:
      NotificationConfiguration:
        LambdaConfigurations:
          - Event: s3:ObjectCreated:*
            Function: !GetAtt OnUpload.Arn
            Filter: {S3Key: {Rules: [{Name: suffix, Value: .txt}]}}
  Errors:
    Type: AWS::Logs::MetricFilter
    Properties:
      LogGroupName: !Sub /aws/lambda/${OnUpload}
      FilterPattern: ERROR
      MetricTransformations: [{MetricName: UploadErrors, MetricNamespace: App, MetricValue: "1"}]
    DependsOn: Group
  Group:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: !Sub /aws/lambda/${OnUpload}
  TooManyErrors:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Namespace: App
      MetricName: UploadErrors
      Statistic: Sum
      Period: 60
      EvaluationPeriods: 1
      Threshold: 1
      ComparisonOperator: GreaterThanOrEqualToThreshold
Outputs:
  Bucket: {Value: !Ref Uploads}
  BucketArn: {Value: !GetAtt Uploads.Arn}
"""


def test_a_bucket_notifies_a_function_with_policies_filters_and_alarms(
    server: RunningServer, cloudformation: Any
) -> None:
    name = stack_name()
    cloudformation.create_stack(
        StackName=name, TemplateBody=STORAGE_TEMPLATE, Capabilities=["CAPABILITY_NAMED_IAM"]
    )
    cloudformation.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=WAITER)
    resources = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cloudformation.describe_stack_resources(StackName=name)["StackResources"]
    }
    bucket = resources["Uploads"]
    assert bucket == bucket.lower() and bucket.startswith(name.lower())
    iam = server.client("iam")
    attached = iam.list_attached_role_policies(RoleName=resources["Role"])["AttachedPolicies"]
    assert [policy["PolicyArn"] for policy in attached] == [resources["ReadObjects"]]
    assert iam.list_role_policies(RoleName=resources["Role"])["PolicyNames"] == ["write-logs"]
    assert (
        server.client("cloudwatch").describe_alarms(AlarmNames=[resources["TooManyErrors"]])["MetricAlarms"][
            0
        ]["Threshold"]
        == 1.0
    )
    filters = server.client("logs").describe_metric_filters(
        logGroupName=f"/aws/lambda/{resources['OnUpload']}"
    )["metricFilters"]
    assert [f["filterName"] for f in filters] == [resources["Errors"]]

    s3 = server.client("s3")
    s3.put_object(Bucket=bucket, Key="skipped.bin", Body=b"x")
    s3.put_object(Bucket=bucket, Key="notes.txt", Body=b"hello")
    printed = printed_events(server.client("logs"), resources["OnUpload"], "CFN-UPLOAD", 1)
    assert [event["Records"][0]["s3"]["object"]["key"] for event in printed] == ["notes.txt"]

    # A bucket with objects cannot be deleted: the stack says so, as AWS's does.
    cloudformation.delete_stack(StackName=name)
    assert settled(cloudformation, name) == "DELETE_FAILED"
    reasons = [
        e.get("ResourceStatusReason", "")
        for e in cloudformation.describe_stack_events(StackName=name)["StackEvents"]
        if e["LogicalResourceId"] == "Uploads"
    ]
    assert any("not empty" in reason for reason in reasons)
    for key in ("skipped.bin", "notes.txt"):
        s3.delete_object(Bucket=bucket, Key=key)
    cloudformation.delete_stack(StackName=name)
    cloudformation.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=WAITER)
    with pytest.raises(ClientError):
        iam.get_role(RoleName=resources["Role"])


API_TEMPLATE = """
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}]
  Hello:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.11
      Handler: index.handler
      Role: !GetAtt Role.Arn
      Code:
        ZipFile: |
          def handler(event, context):
              return {"statusCode": 200, "body": "hello from " + event.get("resource", event.get("routeKey", "?"))}
  Invoke:
    Type: AWS::Lambda::Permission
    Properties:
      FunctionName: !Ref Hello
      Action: lambda:InvokeFunction
      Principal: apigateway.amazonaws.com
      SourceArn: !Sub arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:*
  Api:
    Type: AWS::ApiGateway::RestApi
    Properties: {Name: cfn-rest}
  HelloResource:
    Type: AWS::ApiGateway::Resource
    Properties:
      RestApiId: !Ref Api
      ParentId: !GetAtt Api.RootResourceId
      PathPart: hello
  HelloGet:
    Type: AWS::ApiGateway::Method
    Properties:
      RestApiId: !Ref Api
      ResourceId: !Ref HelloResource
      HttpMethod: GET
      AuthorizationType: NONE
      Integration:
        Type: AWS_PROXY
        IntegrationHttpMethod: POST
        Uri: !Sub arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Hello.Arn}/invocations
  Deployment:
    Type: AWS::ApiGateway::Deployment
    DependsOn: HelloGet
    Properties:
      RestApiId: !Ref Api
  Prod:
    Type: AWS::ApiGateway::Stage
    Properties:
      RestApiId: !Ref Api
      DeploymentId: !Ref Deployment
      StageName: prod
      Variables: {color: blue}
  HttpApi:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      Name: cfn-http
      ProtocolType: HTTP
      Target: !GetAtt Hello.Arn
Outputs:
  RestApi: {Value: !Ref Api}
  HttpApi: {Value: !Ref HttpApi}
  HttpEndpoint: {Value: !GetAtt HttpApi.ApiEndpoint}
"""


def test_apis_made_by_a_stack_answer(server: RunningServer, cloudformation: Any) -> None:
    name = stack_name()
    cloudformation.create_stack(StackName=name, TemplateBody=API_TEMPLATE, Capabilities=["CAPABILITY_IAM"])
    cloudformation.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=WAITER)
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in cloudformation.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]
    }
    status, _, body = call_api(server, outputs["RestApi"], "/prod/hello")
    assert (status, body) == (200, b"hello from /hello")
    status, _, body = call_api(server, outputs["HttpApi"], "/anything")
    assert (status, body) == (200, b"hello from $default")
    assert server.client("apigateway").get_stage(restApiId=outputs["RestApi"], stageName="prod")[
        "variables"
    ] == {"color": "blue"}
    cloudformation.delete_stack(StackName=name)
    cloudformation.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=WAITER)
    assert call_api(server, outputs["RestApi"], "/prod/hello")[0] == 403


def test_a_template_url_names_an_object_in_a_lamina_bucket(
    server: RunningServer, cloudformation: Any
) -> None:
    s3 = server.client("s3")
    bucket = f"templates-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="stacks/queue.json", Body=queue_template(20).encode())
    for url in (
        f"{server.endpoint}/{bucket}/stacks/queue.json",
        f"https://{bucket}.s3.amazonaws.com/stacks/queue.json",
    ):
        name = stack_name()
        cloudformation.create_stack(StackName=name, TemplateURL=url)
        cloudformation.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=WAITER)
    assert (
        cloudformation.validate_template(TemplateURL=f"https://s3.amazonaws.com/{bucket}/stacks/queue.json")[
            "Parameters"
        ]
        == []
    )
    code, message = error_of(
        cloudformation.create_stack,
        StackName=stack_name(),
        TemplateURL=f"https://{bucket}.s3.amazonaws.com/missing.json",
    )
    assert code == "ValidationError" and message.startswith("S3 error:")
    assert error_of(
        cloudformation.create_stack, StackName=stack_name(), TemplateURL="ftp://example.com/x"
    ) == ("ValidationError", "TemplateURL must be a supported URL.")


def test_a_layer_version_from_a_bucket_is_used_by_a_function(
    server: RunningServer, cloudformation: Any
) -> None:
    s3 = server.client("s3")
    bucket = f"layers-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(
        Bucket=bucket, Key="layer.zip", Body=make_zip({"python/shared_words.py": "WORD = 'layered'\n"})
    )
    template = {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "lambda.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ]
                    }
                },
            },
            "Shared": {
                "Type": "AWS::Lambda::LayerVersion",
                "Properties": {
                    "Content": {"S3Bucket": bucket, "S3Key": "layer.zip"},
                    "CompatibleRuntimes": ["python3.11"],
                },
            },
            "UsesLayer": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.11",
                    "Handler": "index.handler",
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Layers": [{"Ref": "Shared"}],
                    "Code": {
                        "ZipFile": "import shared_words\ndef handler(event, context):\n    return shared_words.WORD\n"
                    },
                },
            },
        }
    }
    name = stack_name()
    cloudformation.create_stack(
        StackName=name, TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"]
    )
    cloudformation.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=WAITER)
    function = cloudformation.describe_stack_resource(StackName=name, LogicalResourceId="UsesLayer")[
        "StackResourceDetail"
    ]["PhysicalResourceId"]
    assert json.loads(server.client("lambda").invoke(FunctionName=function)["Payload"].read()) == "layered"


def test_what_the_attack_on_stacks_found(cloudformation: Any) -> None:
    """Each ends in a 400 or a terminal stack status, never a 500 or a stack stuck in progress."""
    # A condition naming a resource: refused at once.
    template = {
        "Conditions": {"C": {"Fn::Equals": [{"Ref": "Q"}, "x"]}},
        "Resources": {"Q": {"Type": "AWS::SQS::Queue"}, "R": {"Type": "AWS::SQS::Queue", "Condition": "C"}},
    }
    code, message = error_of(
        cloudformation.create_stack, StackName=stack_name(), TemplateBody=json.dumps(template)
    )
    assert code == "ValidationError" and "Cannot reference resources in the Conditions block" in message
    # An output whose function takes arguments of the wrong shape: the stack rolls back.
    name = stack_name()
    bad_output = {
        "Resources": {"Q": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"O": {"Value": {"Fn::Select": [[0], ["a"]]}}},
    }
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(bad_output))
    assert settled(cloudformation, name) == "ROLLBACK_COMPLETE"
    # A stack a CREATE change set left in review is deleted at once.
    name = stack_name()
    cloudformation.create_change_set(
        StackName=name, ChangeSetName="cs", ChangeSetType="CREATE", TemplateBody=queue_template(10)
    )
    cloudformation.delete_stack(StackName=name)
    assert (
        settled(
            cloudformation,
            next(
                s["StackId"] for s in cloudformation.list_stacks()["StackSummaries"] if s["StackName"] == name
            ),
        )
        == "DELETE_COMPLETE"
    )
    # Properties of the wrong shape fail the resource with CloudFormation's wording.
    name = stack_name()
    wrong = {
        "Resources": {
            "F": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.11",
                    "Handler": "index.h",
                    "Role": "arn:aws:iam::000000000000:role/r",
                    "Code": "notadict",
                },
            }
        }
    }
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(wrong))
    assert settled(cloudformation, name) == "ROLLBACK_COMPLETE"
    reasons = [
        e.get("ResourceStatusReason", "")
        for e in cloudformation.describe_stack_events(StackName=name)["StackEvents"]
        if e["LogicalResourceId"] == "F"
    ]
    assert any("Properties validation failed" in reason for reason in reasons)


# What `cdk synth` writes for a stack with one function (trimmed of the long lists, kept in shape):
# the version report, its condition, the bootstrap version parameter and rule.
CDK_TEMPLATE = {
    "Resources": {
        "HandlerServiceRoleFCDC14AE": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Statement": [
                        {
                            "Action": "sts:AssumeRole",
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                        }
                    ],
                    "Version": "2012-10-17",
                },
                "ManagedPolicyArns": [
                    {
                        "Fn::Join": [
                            "",
                            [
                                "arn:",
                                {"Ref": "AWS::Partition"},
                                ":iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
                            ],
                        ]
                    }
                ],
            },
            "Metadata": {"aws:cdk:path": "CdkStack/Handler/ServiceRole/Resource"},
        },
        "Handler886CB40B": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Code": {"ZipFile": "def handler(event, context):\n    return 'from the cdk'\n"},
                "Handler": "index.handler",
                "Role": {"Fn::GetAtt": ["HandlerServiceRoleFCDC14AE", "Arn"]},
                "Runtime": "python3.12",
            },
            "DependsOn": ["HandlerServiceRoleFCDC14AE"],
            "Metadata": {"aws:cdk:path": "CdkStack/Handler/Resource"},
        },
        "CDKMetadata": {
            "Type": "AWS::CDK::Metadata",
            "Properties": {"Analytics": "v2:deflate64:H4sIAAAAAAAA/zPSMzQ="},
            "Metadata": {"aws:cdk:path": "CdkStack/CDKMetadata/Default"},
            "Condition": "CDKMetadataAvailable",
        },
    },
    "Conditions": {
        "CDKMetadataAvailable": {
            "Fn::Or": [
                {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]},
                {"Fn::Equals": [{"Ref": "AWS::Region"}, "eu-west-1"]},
            ]
        }
    },
    "Outputs": {"FunctionName": {"Value": {"Ref": "Handler886CB40B"}}},
    "Parameters": {
        "BootstrapVersion": {
            "Type": "AWS::SSM::Parameter::Value<String>",
            "Default": "/cdk-bootstrap/hnb659fds/version",
            "Description": "Version of the CDK Bootstrap resources in this environment, automatically retrieved from SSM Parameter Store. [cdk:skip]",
        }
    },
    "Rules": {
        "CheckBootstrapVersion": {
            "Assertions": [
                {
                    "Assert": {
                        "Fn::Not": [
                            {"Fn::Contains": [["1", "2", "3", "4", "5"], {"Ref": "BootstrapVersion"}]}
                        ]
                    },
                    "AssertDescription": "CDK bootstrap stack version 6 required. Please run 'cdk bootstrap' with a recent version of the CDK CLI.",
                }
            ]
        }
    },
}


def test_a_template_the_cdk_synthesised_deploys(
    server: RunningServer, cloudformation: Any, tmp_path: Path
) -> None:
    name = stack_name()
    template = tmp_path / "CdkStack.template.json"
    template.write_text(json.dumps(CDK_TEMPLATE, indent=1))
    aws_text(
        server,
        "cloudformation",
        "deploy",
        "--stack-name",
        name,
        "--template-file",
        str(template),
        "--capabilities",
        "CAPABILITY_IAM",
    )
    outputs = cloudformation.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]
    function = outputs[0]["OutputValue"]
    answer = server.client("lambda").invoke(FunctionName=function)["Payload"].read()
    assert json.loads(answer) == "from the cdk"
    types = {
        r["ResourceType"] for r in cloudformation.describe_stack_resources(StackName=name)["StackResources"]
    }
    assert "AWS::CDK::Metadata" in types
    cloudformation.delete_stack(StackName=name)
    cloudformation.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=WAITER)
