"""Lamina's Node.js runtime (bootstrap.js) against a fake Runtime API, run as a real `node`
subprocess: async, callback and context.succeed/fail/done handlers, the context, AWS's console
line format, CommonJS and ES modules, and init errors named as AWS names them."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.support.fake_runtime_api import (
    ERROR_TYPE_HEADER,
    FUNCTION_ARN,
    INIT_ERROR_PATH,
    Invocation,
    Run,
    error_path,
    response_path,
    write_files,
)
from tests.support.fake_runtime_api import run_runtime as run_any_runtime

BOOTSTRAP = Path(__file__).resolve().parents[3] / "src/lamina/execution/runtimes/node/bootstrap.js"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="no node on PATH")


def run_node(task_root: Path, handler: str, invocations: list[Invocation], **options: Any) -> Run:
    assert NODE is not None
    return run_any_runtime(task_root, handler, invocations, python=(NODE,), runtime_file=BOOTSTRAP, **options)


@pytest.mark.parametrize(
    "source",
    [
        "exports.handler = async (event) => ({ hello: event.name });",
        "exports.handler = (event, context, callback) => callback(null, { hello: event.name });",
        "exports.handler = function (event, context) { context.succeed({ hello: event.name }); };",
        "exports.handler = function (event, context) { context.done(null, { hello: event.name }); };",
    ],
)
def test_every_handler_style_answers(tmp_path: Path, source: str) -> None:
    write_files(tmp_path, {"index.js": source})
    run = run_node(tmp_path, "index.handler", [Invocation("req-1", b'{"name": "Lamina"}')])
    assert run.returncode == 0, run.output
    [post] = run.posts
    assert post.path == response_path("req-1")
    assert post.json() == {"hello": "Lamina"}


def test_context_fail_and_thrown_errors_are_function_errors(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "index.js": """
                exports.fails = function (event, context) { context.fail(new TypeError("bad input")); };
                exports.throws = async () => { throw new RangeError("out of range"); };
            """
        },
    )
    failed = run_node(tmp_path, "index.fails", [Invocation("req-1")])
    [post] = failed.posts
    assert post.path == error_path("req-1")
    assert post.headers[ERROR_TYPE_HEADER] == "TypeError"
    body = post.json()
    assert (body["errorType"], body["errorMessage"]) == ("TypeError", "bad input")
    assert body["trace"][0] == "TypeError: bad input"
    thrown = run_node(tmp_path, "index.throws", [Invocation("req-2")])
    assert thrown.posts[0].json()["errorType"] == "RangeError"


def test_the_context_carries_the_invocation(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "index.js": """
                exports.handler = async (event, context) => ({
                  id: context.awsRequestId, name: context.functionName, version: context.functionVersion,
                  arn: context.invokedFunctionArn, memory: context.memoryLimitInMB,
                  group: context.logGroupName, stream: context.logStreamName,
                  remaining: context.getRemainingTimeInMillis(), waits: context.callbackWaitsForEmptyEventLoop,
                });
            """
        },
    )
    run = run_node(tmp_path, "index.handler", [Invocation("req-ctx")])
    result = run.posts[0].json()
    assert result["id"] == "req-ctx" and result["arn"] == FUNCTION_ARN
    assert (result["name"], result["version"], result["memory"]) == ("echo", "$LATEST", "256")
    assert result["group"] == "/aws/lambda/echo" and result["stream"]
    assert 0 < result["remaining"] <= 3000 and result["waits"] is True


def test_console_lines_have_awss_node_prefix(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "index.js": 'exports.handler = async () => { console.log("hi", 42); console.error("bad"); return 1; };'
        },
    )
    run = run_node(tmp_path, "index.handler", [Invocation("req-log")])
    time = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    assert re.search(rf"^{time}\treq-log\tINFO\thi 42$", run.output, re.MULTILINE), run.output
    assert re.search(rf"^{time}\treq-log\tERROR\tbad$", run.output, re.MULTILINE), run.output


def test_es_modules_and_nested_handler_paths(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "src/app.mjs": "const greeting = await Promise.resolve('hi');\nexport const handler = async () => greeting;",
            "lib/package.json": '{"type": "module"}',
            "lib/index.js": "export const handler = async () => 'module';",
        },
    )
    assert run_node(tmp_path, "src/app.handler", [Invocation("a")]).posts[0].json() == "hi"
    assert run_node(tmp_path, "lib/index.handler", [Invocation("b")]).posts[0].json() == "module"


@pytest.mark.parametrize(
    ("files", "handler", "error_type"),
    [
        ({}, "missing.handler", "Runtime.ImportModuleError"),
        ({"index.js": "exports.other = () => 1;"}, "index.handler", "Runtime.HandlerNotFound"),
        ({"index.js": "exports.handler = () => {"}, "index.handler", "Runtime.UserCodeSyntaxError"),
    ],
)
def test_init_errors_are_named_as_aws_names_them(
    tmp_path: Path, files: dict[str, str], handler: str, error_type: str
) -> None:
    write_files(tmp_path, files)
    run = run_node(tmp_path, handler, [Invocation("never")])
    assert run.returncode == 1
    [post] = run.posts
    assert post.path == INIT_ERROR_PATH
    assert post.headers[ERROR_TYPE_HEADER] == error_type
    body = post.json()
    assert body["errorType"] == error_type and body["errorMessage"] and isinstance(body["trace"], list)
