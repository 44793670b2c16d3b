"""A project deployed as a stack, the way `sam deploy` does it: its code packaged and uploaded,
a change set (CREATE or UPDATE) made and executed, each resource said as it completes, then the
stack's outputs. A change set with nothing to change ends there ("No changes to deploy")."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cfn_flip import load_json, load_yaml

from lamina.domain.yaml_documents import has_aliases, nesting_problem
from lamina.projects.build import CodeFolder, packaged_template
from lamina.projects.connection import Connection

__all__ = ["DeployFailed", "Deployment", "deploy", "load_template", "local_url", "stack_name_for"]

TEMPLATE_NAMES = ("template.yaml", "template.yml", "template.json")
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
MAX_TEMPLATE_BODY = 51_200  # larger templates go by TemplateURL, from the artifacts bucket
_POLL_S = 0.25
_NO_CHANGES = "didn't contain changes"
Say = Callable[[str], None]


class DeployFailed(Exception):
    """The stack operation failed: the message says why (the failed resources' reasons)."""


@dataclass
class Deployment:
    stack_name: str
    status: str
    outputs: dict[str, str] = field(default_factory=dict)
    changed: bool = True
    code: list[CodeFolder] = field(default_factory=list)


_EXECUTE_API = re.compile(r"https://([a-z0-9]{10})\.execute-api\.[a-z0-9-]+\.amazonaws\.com(/\S*)?")


def local_url(endpoint_url: str, value: str) -> str | None:
    """An API's AWS-style URL (what templates' outputs say) as this server answers it: by Lamina's
    path form, which needs no DNS for *.execute-api names."""
    match = _EXECUTE_API.fullmatch(value)
    if match is None:
        return None
    return f"{endpoint_url.rstrip('/')}/_lamina/apis/{match.group(1)}{match.group(2) or '/'}"


def stack_name_for(directory: Path) -> str:
    """A stack name from a folder's name: [a-zA-Z][-a-zA-Z0-9]*, at most 128 characters."""
    name = re.sub(r"[^A-Za-z0-9-]+", "-", directory.resolve().name).strip("-") or "app"
    if not name[0].isalpha():
        name = "app-" + name
    return name[:128]


def template_path(directory: Path) -> Path:
    for name in TEMPLATE_NAMES:
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(f"no template.yaml in {directory.resolve()}")


def load_template(directory: Path) -> dict[str, Any]:
    """The project's template, checked as the server will check it (aliases, nesting) before this
    process builds it, and for the shape packaging reads (Resources of objects with a Type)."""
    path = template_path(directory)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise DeployFailed(f"{path} is not UTF-8 text") from None
    problem = nesting_problem(text) or (
        "it uses YAML aliases, which CloudFormation refuses" if has_aliases(text) else None
    )
    if problem is not None:
        raise DeployFailed(f"{path} is not a template: {problem}")
    try:
        loaded = load_json(text) if text.lstrip().startswith("{") else load_yaml(text)
        document = json.loads(json.dumps(loaded, default=str))  # YAML dates as their text
    except (ValueError, yaml.YAMLError, RecursionError) as error:
        raise DeployFailed(f"{path} is not a template: {str(error).splitlines()[0]}") from None
    resources = document.get("Resources") if isinstance(document, dict) else None
    if not isinstance(resources, dict) or not resources:
        raise DeployFailed(f"{path} is not a template: it has no Resources section")
    for name, resource in resources.items():
        if not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
            raise DeployFailed(f"{path}: resource {name} must be an object with a Type")
        if not isinstance(resource.get("Properties", {}), dict):
            raise DeployFailed(f"{path}: the Properties of {name} must be an object")
    if not isinstance(document.get("Globals", {}), dict):
        raise DeployFailed(f"{path}: Globals must be an object")
    return dict(document)


def artifacts_bucket(connection: Connection) -> str:
    """Lamina's bucket for packages, made on first use: one per account and region."""
    account = connection.client("sts").get_caller_identity()["Account"]
    name = f"lamina-artifacts-{account}-{connection.region}"
    s3 = connection.client("s3")
    try:
        s3.head_bucket(Bucket=name)
    except s3.exceptions.ClientError:
        params: dict[str, Any] = {"Bucket": name}
        if connection.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": connection.region}
        s3.create_bucket(**params)
    return name


def _stack(cloudformation: Any, name: str) -> dict[str, Any] | None:
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except cloudformation.exceptions.ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    return stacks[0] if stacks else None


def _outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs") or []}


def _wait_for_change_set(cloudformation: Any, change_set_id: str) -> dict[str, Any]:
    while True:
        described: dict[str, Any] = cloudformation.describe_change_set(ChangeSetName=change_set_id)
        if described["Status"] in ("CREATE_COMPLETE", "FAILED"):
            return described
        time.sleep(_POLL_S)


def _follow(cloudformation: Any, name: str, seen: set[str], total: int, say: Say) -> str:
    """Print the stack's new events until it is no longer in progress; its final status."""
    done = 0
    while True:
        events = cloudformation.describe_stack_events(StackName=name)["StackEvents"]
        for event in reversed(events):
            if event["EventId"] in seen:
                continue
            seen.add(event["EventId"])
            status = event["ResourceStatus"]
            if event["ResourceType"] == "AWS::CloudFormation::Stack":
                continue
            if (status.endswith("_COMPLETE") and not status.startswith("DELETE")) or status.endswith(
                "FAILED"
            ):
                done += status.endswith("_COMPLETE")
                reason = f"  {event['ResourceStatusReason']}" if event.get("ResourceStatusReason") else ""
                counter = f"[{done}/{total}]" if status.endswith("_COMPLETE") else "[!]"
                say(
                    f"  {counter:>8} {status:<20} {event['ResourceType']:<34} {event['LogicalResourceId']}{reason}"
                )
        status = str(cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"])
        if not status.endswith("_IN_PROGRESS"):
            return status
        time.sleep(_POLL_S)


def _failure_reasons(cloudformation: Any, name: str, seen_before: set[str]) -> str:
    events = cloudformation.describe_stack_events(StackName=name)["StackEvents"]
    reasons = [
        f"{event['LogicalResourceId']}: {event.get('ResourceStatusReason', '')}"
        for event in events
        if event["EventId"] not in seen_before and event["ResourceStatus"].endswith("FAILED")
    ]
    return "; ".join(reversed(reasons)) or "see `aws cloudformation describe-stack-events`"


def deploy(
    connection: Connection,
    directory: Path,
    stack_name: str,
    parameters: dict[str, str],
    say: Say,
) -> Deployment:
    directory = directory.resolve()
    cloudformation = connection.client("cloudformation")
    s3 = connection.client("s3")
    document = load_template(directory)
    bucket = artifacts_bucket(connection)
    cache = directory / ".lamina" / "requirements"
    cache.mkdir(parents=True, exist_ok=True)
    packaged, code = packaged_template(document, directory, s3, bucket, cache)
    for folder in code:
        if not folder.folder.is_relative_to(directory):  # allowed, as SAM allows it; said
            say(f"note: the code of {folder.logical_id} comes from {folder.folder}, outside the project")
    body = json.dumps(packaged)
    template: dict[str, str] = {"TemplateBody": body}
    if len(body.encode()) > MAX_TEMPLATE_BODY:
        key = f"templates/{stack_name}-{int(time.time())}.json"
        s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
        template = {"TemplateURL": f"{connection.endpoint_url}/{bucket}/{key}"}

    existing = _stack(cloudformation, stack_name)
    if existing is not None and existing["StackStatus"] in ("ROLLBACK_COMPLETE", "REVIEW_IN_PROGRESS"):
        say(
            f"Stack {stack_name} is {existing['StackStatus']} (a create that never finished): deleting it first"
        )
        cloudformation.delete_stack(StackName=stack_name)
        while (_stack(cloudformation, stack_name) or {"StackStatus": "DELETE_COMPLETE"})[
            "StackStatus"
        ] != "DELETE_COMPLETE":
            time.sleep(_POLL_S)
        existing = None
    kind = "CREATE" if existing is None else "UPDATE"
    seen = (
        {
            event["EventId"]
            for event in cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"]
        }
        if existing is not None
        else set()
    )
    change_set = cloudformation.create_change_set(
        StackName=stack_name,
        ChangeSetName=f"lamina-deploy-{int(time.time() * 1000)}",
        ChangeSetType=kind,
        Capabilities=CAPABILITIES,
        Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
        **template,
    )
    described = _wait_for_change_set(cloudformation, change_set["Id"])
    if described["Status"] == "FAILED":
        reason = str(described.get("StatusReason", ""))
        cloudformation.delete_change_set(ChangeSetName=change_set["Id"])
        if _NO_CHANGES in reason and existing is not None:
            say(f"No changes to deploy: stack {stack_name} is up to date")
            return Deployment(stack_name, str(existing["StackStatus"]), _outputs(existing), False, code)
        raise DeployFailed(f"the change set failed: {reason}")
    changes = described.get("Changes") or []
    say(f"{'Creating' if kind == 'CREATE' else 'Updating'} stack {stack_name}: {len(changes)} change(s)")
    for change in changes:
        resource = change["ResourceChange"]
        replacement = " (replacement)" if resource.get("Replacement") == "True" else ""
        say(
            f"  {resource['Action']:<8} {resource['ResourceType']:<34} {resource['LogicalResourceId']}{replacement}"
        )
    cloudformation.execute_change_set(ChangeSetName=change_set["Id"])
    before = set(seen)
    status = _follow(cloudformation, stack_name, seen, len(changes), say)
    if status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        reasons = _failure_reasons(cloudformation, stack_name, before)
        raise DeployFailed(f"stack {stack_name} is {status}: {reasons}")
    stack = _stack(cloudformation, stack_name) or {}
    return Deployment(stack_name, status, _outputs(stack), True, code)
