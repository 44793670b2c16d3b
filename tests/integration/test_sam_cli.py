"""The SAM CLI unchanged against a real server, as a team uses it: `sam build` (no container),
`sam deploy --resolve-s3` (its managed artifact bucket made by a stack in Lamina's S3), an HTTP
call to the API it made, `sam logs`, `sam list endpoints`, a second deploy with changed code,
and `sam delete`. The CLI lives in a virtual environment of its own (scripts/test installs it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.api_calls import call_api
from tests.support.server import RunningServer

SAM = os.environ.get("LAMINA_TEST_SAM") or str(
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lamina-tests/sam-cli/bin/sam"
)
pytestmark = pytest.mark.skipif(
    not Path(SAM).is_file(), reason=f"no SAM CLI at {SAM} (scripts/test installs it)"
)
# `sam build` checks that an interpreter of the template's runtime is on PATH: the one running here.
RUNTIME = f"python3.{sys.version_info.minor}"
TEMPLATE = f"""
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: hello world, as sam init makes it
Globals:
  Function:
    Timeout: 3
Resources:
  HelloWorldFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: hello_world/
      Handler: app.lambda_handler
      Runtime: {RUNTIME}
      Events:
        HelloWorld:
          Type: Api
          Properties:
            Path: /hello
            Method: get
Outputs:
  HelloWorldApi:
    Description: API Gateway endpoint URL for Prod stage for Hello World function
    Value: !Sub "https://${{ServerlessRestApi}}.execute-api.${{AWS::Region}}.amazonaws.com/Prod/hello/"
  HelloWorldFunction:
    Value: !GetAtt HelloWorldFunction.Arn
"""
APP = """
import json

def lambda_handler(event, context):
    print("MESSAGE-WAS TEXT")
    return {"statusCode": 200, "body": json.dumps({"message": "TEXT"})}
"""


def _project(root: Path, message: str) -> None:
    (root / "hello_world").mkdir(parents=True, exist_ok=True)
    (root / "template.yaml").write_text(TEMPLATE)
    (root / "hello_world" / "app.py").write_text(APP.replace("TEXT", message))
    (root / "hello_world" / "requirements.txt").write_text("")


def _sam(server: RunningServer, root: Path, *args: str, timeout: float = 240) -> str:
    env = server.cli_env() | {
        "HOME": str(root / "home"),  # sam keeps its settings and cache under ~/.aws-sam
        "SAM_CLI_TELEMETRY": "0",
        "SAM_CLI_CONTEXT": "",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    completed = subprocess.run(
        [SAM, *args], cwd=root, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert completed.returncode == 0, f"sam {' '.join(args)}:\n{completed.stdout}\n{completed.stderr}"
    return completed.stdout + completed.stderr


def _outputs(server: RunningServer, stack: str) -> dict[str, str]:
    described = server.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in described["Outputs"]}


def test_sam_build_deploy_logs_endpoints_and_delete(server: RunningServer, tmp_path: Path) -> None:
    if shutil.which(RUNTIME, path=str(Path(sys.executable).parent)) is None:
        pytest.skip(f"no {RUNTIME} next to the test interpreter for sam build")
    root = tmp_path / "hello"
    stack = f"sam-app-{uuid.uuid4().hex[:6]}"
    _project(root, "hello world")
    _sam(server, root, "build")
    assert (root / ".aws-sam" / "build" / "HelloWorldFunction" / "app.py").is_file()
    deploy = (
        "deploy",
        "--stack-name",
        stack,
        "--resolve-s3",
        "--capabilities",
        "CAPABILITY_IAM",
        "--no-confirm-changeset",
        "--no-progressbar",
    )
    printed = _sam(server, root, *deploy)
    assert f"Successfully created/updated stack - {stack}" in printed
    # --resolve-s3: SAM's managed stack made its artifact bucket in Lamina's S3.
    managed = _outputs(server, "aws-sam-cli-managed-default")["SourceBucket"]
    assert server.client("s3").list_objects_v2(Bucket=managed)["KeyCount"] >= 2  # code and template

    outputs = _outputs(server, stack)
    api_id = outputs["HelloWorldApi"].split("//", 1)[1].split(".", 1)[0]
    status, _, body = call_api(server, api_id, "/Prod/hello")
    assert (status, json.loads(body)) == (200, {"message": "hello world"})

    logs = ""
    deadline = time.monotonic() + 30
    while "MESSAGE-WAS hello world" not in logs and time.monotonic() < deadline:
        logs = _sam(server, root, "logs", "--stack-name", stack, "-n", "HelloWorldFunction")
    assert "MESSAGE-WAS hello world" in logs
    assert "REPORT RequestId:" in logs

    listed = _sam(server, root, "list", "endpoints", "--stack-name", stack, "--output", "json")
    endpoints: list[dict[str, Any]] = json.loads(listed[listed.index("[") :])
    api = next(item for item in endpoints if item["LogicalResourceId"] == "ServerlessRestApi")
    assert f"https://{api_id}.execute-api.us-east-1.amazonaws.com/Prod" in api["CloudEndpoint"]
    assert api["Methods"] == ["/hello['get']"]

    # A second deploy with changed code updates the stack in place.
    _project(root, "hello again")
    _sam(server, root, "build")
    assert f"Successfully created/updated stack - {stack}" in _sam(server, root, *deploy)
    status, _, body = call_api(server, api_id, "/Prod/hello")
    assert (status, json.loads(body)) == (200, {"message": "hello again"})

    assert "Deleted successfully" in _sam(server, root, "delete", "--stack-name", stack, "--no-prompts")
    summaries = server.client("cloudformation").list_stacks()["StackSummaries"]
    assert [s["StackStatus"] for s in summaries if s["StackName"] == stack] == ["DELETE_COMPLETE"]
    function = outputs["HelloWorldFunction"]
    with pytest.raises(server.client("lambda").exceptions.ResourceNotFoundException):
        server.client("lambda").get_function(FunctionName=function)
