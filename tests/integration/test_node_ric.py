"""AWS's own Node.js runtime interface client (aws-lambda-ric, from npm) as a custom runtime: the
Runtime API must satisfy it. Deployed as a user would: the client inside the ZIP under
node_modules, and a `bootstrap` that starts it with a node by absolute path.

The project's test setup (scripts/test) installs the client into ~/.cache/lamina-tests/node-ric."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support.lambda_calls import log_lines, wait_active
from tests.support.packaging import make_zip
from tests.support.server import EXECUTION_ROLE

RIC = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    / "lamina-tests/node-ric/node_modules/aws-lambda-ric"
)
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(
    NODE is None or not (RIC / "dist" / "rapid-client.node").is_file(),
    reason="aws-lambda-ric is not installed (scripts/test installs it)",
)

APP = """
let calls = 0;
exports.handler = async (event, context) => {
  calls += 1;
  console.log("handled", context.awsRequestId);
  if (event.fail) throw new TypeError("bad value: " + event.fail);
  return { event, calls, functionName: context.functionName, requestId: context.awsRequestId };
};
"""


def _package() -> bytes:
    files: dict[str, str | bytes] = {"index.js": APP}
    for relative in ("package.json", "bin/index.mjs", "dist/index.mjs", "dist/rapid-client.node"):
        files[f"node_modules/aws-lambda-ric/{relative}"] = (RIC / relative).read_bytes()
    files["bootstrap"] = (
        f'#!/bin/sh\ncd "$LAMBDA_TASK_ROOT"\nexec {os.path.realpath(str(NODE))} '
        'node_modules/aws-lambda-ric/bin/index.mjs "$_HANDLER"\n'
    )
    return make_zip(
        files, modes={"bootstrap": 0o755, "node_modules/aws-lambda-ric/dist/rapid-client.node": 0o755}
    )


@pytest.fixture
def ric_function(lambda_client: Any) -> Any:
    name = "node-ric"
    lambda_client.create_function(
        FunctionName=name,
        Runtime="provided.al2023",
        Role=EXECUTION_ROLE,
        Handler="index.handler",
        Code={"ZipFile": _package()},
        Timeout=10,
    )
    wait_active(lambda_client, name)
    yield name
    lambda_client.delete_function(FunctionName=name)


def test_awss_node_runtime_client_answers_and_stays_warm(lambda_client: Any, ric_function: str) -> None:
    first = lambda_client.invoke(FunctionName=ric_function, Payload=b'{"n": 1}', LogType="Tail")
    body = json.loads(first["Payload"].read())
    request_id = first["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert body == {"event": {"n": 1}, "calls": 1, "functionName": ric_function, "requestId": request_id}
    assert any(f"\t{request_id}\tINFO\thandled {request_id}" in line for line in log_lines(first))
    second = json.loads(lambda_client.invoke(FunctionName=ric_function, Payload=b"{}")["Payload"].read())
    assert second["calls"] == 2


def test_awss_node_runtime_client_reports_errors(lambda_client: Any, ric_function: str) -> None:
    response = lambda_client.invoke(FunctionName=ric_function, Payload=b'{"fail": 7}')
    assert response["FunctionError"] == "Unhandled"
    body = json.loads(response["Payload"].read())
    assert (body["errorType"], body["errorMessage"]) == ("TypeError", "bad value: 7")
