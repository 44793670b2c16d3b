"""Node.js functions driven as a user drives them: CreateFunction with nodejsNN.x through boto3, then
Invoke, with the classic handler styles, the context, logs, errors, layers and warm reuse, in
whichever sandbox tier the test server runs."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.lambda_calls import log_lines, wait_provisioned, wait_updated
from tests.support.packaging import make_zip
from tests.support.runtimes import node_runtime
from tests.support.server import LAMBDA_TRUST_POLICY

RUNTIME = node_runtime()
pytestmark = pytest.mark.skipif(RUNTIME is None, reason="no node on this host")

HELLO = 'exports.handler = function (event, context) { context.succeed("Hello, " + event.username); };'


def _invoke(client: Any, name: str, event: Any, **options: Any) -> tuple[Any, dict[str, Any]]:
    response = client.invoke(FunctionName=name, Payload=json.dumps(event).encode(), **options)
    return json.loads(response["Payload"].read()), response


def test_the_classic_hello_runs_unchanged(deploy: Callable[..., str], lambda_client: Any) -> None:
    name = deploy({"index.js": HELLO}, handler="index.handler", Runtime=RUNTIME)
    payload, response = _invoke(lambda_client, name, {"username": "Ada"}, LogType="Tail")
    assert payload == "Hello, Ada"
    assert "FunctionError" not in response
    lines = log_lines(response)
    assert lines[0].startswith("START RequestId: ")
    assert any(line.startswith("REPORT RequestId: ") for line in lines)
    config = lambda_client.get_function_configuration(FunctionName=name)
    assert (config["Runtime"], config["State"]) == (RUNTIME, "Active")


def test_the_context_and_environment_are_awss(deploy: Callable[..., str], lambda_client: Any) -> None:
    source = """
        exports.handler = async (event, context) => {
          console.log("request", context.awsRequestId);
          return {
            requestId: context.awsRequestId,
            functionName: context.functionName,
            functionVersion: context.functionVersion,
            arn: context.invokedFunctionArn,
            memory: context.memoryLimitInMB,
            group: context.logGroupName,
            stream: context.logStreamName,
            remaining: context.getRemainingTimeInMillis(),
            executionEnv: process.env.AWS_EXECUTION_ENV,
            nodePath: process.env.NODE_PATH,
            taskRoot: process.env.LAMBDA_TASK_ROOT,
            pythonVariables: Object.keys(process.env).filter((key) => key.startsWith("PYTHON")),
          };
        };
    """
    name = deploy({"index.js": source}, handler="index.handler", Runtime=RUNTIME, MemorySize=256, Timeout=7)
    result, response = _invoke(lambda_client, name, {}, LogType="Tail")
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert result["requestId"] == request_id
    assert (result["functionName"], result["functionVersion"], result["memory"]) == (name, "$LATEST", "256")
    assert result["arn"].endswith(f":function:{name}")
    assert result["group"] == f"/aws/lambda/{name}"
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", result["stream"])
    assert 0 < result["remaining"] <= 7000
    assert result["executionEnv"] == f"AWS_Lambda_{RUNTIME}"
    assert result["nodePath"].endswith(":" + result["taskRoot"])
    assert result["pythonVariables"] == []
    assert any(
        re.fullmatch(rf"\S+Z\t{request_id}\tINFO\trequest {request_id}", line) for line in log_lines(response)
    )


def test_state_is_kept_warm_and_an_uncaught_exception_ends_only_that_environment(
    deploy: Callable[..., str], lambda_client: Any
) -> None:
    source = """
        let calls = 0;
        const token = Math.random();
        exports.handler = (event, context, callback) => {
          calls += 1;
          if (event.crash) setTimeout(() => { throw new Error("crash " + calls); }, 5);
          else callback(null, { calls, token });
        };
    """
    name = deploy({"index.js": source}, handler="index.handler", Runtime=RUNTIME)
    first, _ = _invoke(lambda_client, name, {})
    second, _ = _invoke(lambda_client, name, {})
    assert (first["calls"], second["calls"], first["token"]) == (1, 2, second["token"])
    crashed, response = _invoke(lambda_client, name, {"crash": True})
    assert response["FunctionError"] == "Unhandled"
    assert (crashed["errorType"], crashed["errorMessage"]) == ("Error", "crash 3")
    after, _ = _invoke(lambda_client, name, {})
    assert "calls" in after, after
    assert after["calls"] == 1 and after["token"] != first["token"]  # a fresh environment


def test_errors_and_init_errors_are_answered_as_aws_does(
    deploy: Callable[..., str], lambda_client: Any
) -> None:
    failing = deploy(
        {"index.js": 'exports.handler = (event, context) => context.fail(new TypeError("bad " + event.x));'},
        handler="index.handler",
        Runtime=RUNTIME,
    )
    payload, response = _invoke(lambda_client, failing, {"x": 1}, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert (payload["errorType"], payload["errorMessage"]) == ("TypeError", "bad 1")
    assert payload["trace"][0] == "TypeError: bad 1"
    assert any("\tERROR\tInvoke Error \t{" in line for line in log_lines(response))

    missing = deploy({"index.js": "exports.other = () => 1;"}, handler="index.handler", Runtime=RUNTIME)
    payload, response = _invoke(lambda_client, missing, {})
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.HandlerNotFound"
    assert payload["errorMessage"] == "index.handler is undefined or not exported"


def test_es_modules_and_layers(deploy: Callable[..., str], lambda_client: Any) -> None:
    layer = lambda_client.publish_layer_version(
        LayerName="node-greeting",
        Content={
            "ZipFile": make_zip(
                {"nodejs/node_modules/greeting/index.js": "module.exports = (n) => 'Hi ' + n;"}
            )
        },
        CompatibleRuntimes=[RUNTIME],
    )
    source = """
        import { createRequire } from "module";
        const require = createRequire(import.meta.url);
        const greet = require("greeting");
        const prefix = await Promise.resolve("!");
        export const handler = async (event) => greet(event.name) + prefix;
    """
    name = deploy(
        {"src/app.mjs": source}, handler="src/app.handler", Runtime=RUNTIME, Layers=[layer["LayerVersionArn"]]
    )
    payload, _ = _invoke(lambda_client, name, {"name": "Grace"})
    assert payload == "Hi Grace!"


def test_a_timeout_ends_a_node_environment(deploy: Callable[..., str], lambda_client: Any) -> None:
    name = deploy(
        {"index.js": "exports.handler = () => new Promise(() => setInterval(() => {}, 1000));"},
        handler="index.handler",
        Runtime=RUNTIME,
        Timeout=1,
    )
    payload, response = _invoke(lambda_client, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"


def _node_sdk_installed() -> bool:
    node = shutil.which("node")
    if node is None:
        return False
    probe = subprocess.run(
        [node, "-e", "require.resolve('@aws-sdk/client-lambda')"],
        capture_output=True,
        env={
            "NODE_PATH": subprocess.run(["npm", "root", "-g"], capture_output=True, text=True).stdout.strip()
        }
        if shutil.which("npm")
        else {},
    )
    return probe.returncode == 0


SDK_CALLER = """
    const { LambdaClient, GetFunctionCommand } = require("@aws-sdk/client-lambda");
    const { STSClient, GetCallerIdentityCommand } = require("@aws-sdk/client-sts");
    exports.handler = async (event, context) => {
      const identity = await new STSClient({}).send(new GetCallerIdentityCommand({})).catch((e) => ({ Arn: e.name }));
      try {
        const own = await new LambdaClient({}).send(new GetFunctionCommand({ FunctionName: context.functionName }));
        return { runtime: own.Configuration.Runtime, arn: identity.Arn };
      } catch (error) {
        return { error: error.name, arn: identity.Arn };
      }
    };
"""


@pytest.mark.skipif(
    not _node_sdk_installed(), reason="the AWS SDK for JavaScript v3 is not installed (npm -g)"
)
def test_the_aws_sdk_v3_reaches_lamina_with_the_roles_credentials(
    deploy: Callable[..., str], lambda_client: Any, server: Any
) -> None:
    """As on AWS's Node runtimes, @aws-sdk is there without bundling it; it finds Lamina through
    AWS_ENDPOINT_URL and signs with the function's role, whose policy decides."""
    iam = server.client("iam")
    role_name = f"node-sdk-{str(RUNTIME).replace('.', '-')}-{uuid.uuid4().hex[:6]}"
    iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=LAMBDA_TRUST_POLICY)
    role = f"arn:aws:iam::000000000000:role/{role_name}"
    name = deploy({"index.js": SDK_CALLER}, handler="index.handler", Runtime=RUNTIME, Role=role, Timeout=20)
    denied, _ = _invoke(lambda_client, name, {})
    assert denied == {
        "error": "AccessDeniedException",
        "arn": f"arn:aws:sts::000000000000:assumed-role/{role_name}/{name}",
    }
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "lambda:GetFunction", "Resource": "*"}],
    }
    iam.put_role_policy(RoleName=role_name, PolicyName="read", PolicyDocument=json.dumps(policy))
    lambda_client.update_function_configuration(FunctionName=name, Description="new credentials")
    wait_updated(lambda_client, name)
    allowed, _ = _invoke(lambda_client, name, {})
    assert allowed["runtime"] == RUNTIME


def test_provisioned_concurrency_initialises_node_ahead(
    deploy: Callable[..., str], lambda_client: Any
) -> None:
    source = """
        const initialisedAt = Date.now();
        exports.handler = async () => ({ type: process.env.AWS_LAMBDA_INITIALIZATION_TYPE, initialisedAt });
    """
    name = deploy({"index.js": source}, handler="index.handler", Runtime=RUNTIME, Publish=True)
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    assert wait_provisioned(lambda_client, name, "1")["Status"] == "READY"
    asked_at = time.time() * 1000
    payload, response = _invoke(lambda_client, f"{name}:1", {}, LogType="Tail")
    assert payload["type"] == "provisioned-concurrency"
    assert payload["initialisedAt"] < asked_at  # its code ran before the invocation
    assert not any("Init Duration" in line for line in log_lines(response))


def test_logging_config_json_makes_node_log_json(deploy: Callable[..., str], lambda_client: Any) -> None:
    source = (
        'exports.handler = async () => { console.debug("quiet"); console.warn({ loud: true }); return 1; };'
    )
    name = deploy(
        {"index.js": source},
        handler="index.handler",
        Runtime=RUNTIME,
        LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "WARN"},
    )
    _, response = _invoke(lambda_client, name, {}, LogType="Tail")
    records = [json.loads(line) for line in log_lines(response)]
    application = [record for record in records if "level" in record and "type" not in record]
    assert [(record["level"], record["message"]) for record in application] == [("WARN", {"loud": True})]


def test_an_oversized_node_response_is_refused_as_aws_refuses_it(
    deploy: Callable[..., str], lambda_client: Any
) -> None:
    name = deploy(
        {"index.js": "exports.handler = async () => 'x'.repeat(7 * 1024 * 1024);"},
        handler="index.handler",
        Runtime=RUNTIME,
    )
    payload, response = _invoke(lambda_client, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Function.ResponseSizeTooLarge"
    assert _invoke(lambda_client, name, {})[1]["FunctionError"] == "Unhandled"  # and again: still served


def test_process_exit_fails_that_invocation_only(deploy: Callable[..., str], lambda_client: Any) -> None:
    source = """
        const token = Math.random();
        exports.handler = async (event) => { if (event.exit) process.exit(3); return token; };
    """
    name = deploy({"index.js": source}, handler="index.handler", Runtime=RUNTIME)
    before, _ = _invoke(lambda_client, name, {})
    failed, response = _invoke(lambda_client, name, {"exit": True})
    assert response["FunctionError"] == "Unhandled"
    assert failed["errorType"] == "Runtime.ExitError"
    assert failed["errorMessage"].endswith("Error: Runtime exited with error: exit status 3")
    after, response = _invoke(lambda_client, name, {})
    assert "FunctionError" not in response and after != before  # a new environment


def test_the_client_context_and_identity_reach_the_handler(
    deploy: Callable[..., str], lambda_client: Any
) -> None:
    source = "exports.handler = async (event, context) => ({ client: context.clientContext });"
    name = deploy({"index.js": source}, handler="index.handler", Runtime=RUNTIME)
    client_context = base64.b64encode(json.dumps({"custom": {"app": "lamina"}}).encode()).decode()
    payload, _ = _invoke(lambda_client, name, {}, ClientContext=client_context)
    assert payload["client"]["custom"] == {"app": "lamina"}
