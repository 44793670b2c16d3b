"""Lamina's Node.js runtime (bootstrap.js) against a fake Runtime API, run as a real `node`
subprocess: async, callback and context.succeed/fail/done handlers, the context, AWS's console
line format, CommonJS and ES modules, and init errors named as AWS names them."""

from __future__ import annotations

import json
import re
import shutil
import socket
import struct
import subprocess
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


@pytest.mark.parametrize(("waits", "second_sees_timer"), [(True, True), (False, False)])
def test_a_callback_answer_waits_for_the_event_loop_unless_told_not_to(
    tmp_path: Path, waits: bool, second_sees_timer: bool
) -> None:
    """With callbackWaitsForEmptyEventLoop (the default) the first answer is posted only once the
    handler's timer has run, so the second invocation sees it; without, the answer goes at once."""
    write_files(
        tmp_path,
        {
            "index.js": f"""
                let fired = false;
                exports.handler = (event, context, callback) => {{
                  if (event.first) {{
                    context.callbackWaitsForEmptyEventLoop = {str(waits).lower()};
                    setTimeout(() => {{ fired = true; }}, 3000);  // far longer than the next invocation takes to arrive
                  }}
                  callback(null, {{ fired }});
                }};
            """
        },
    )
    run = run_node(tmp_path, "index.handler", [Invocation("1", b'{"first": true}'), Invocation("2")])
    assert [post.json() for post in run.posts] == [{"fired": False}, {"fired": second_sees_timer}]


def test_a_returned_promise_answers_without_waiting_for_timers(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "index.js": """
                let fired = false;
                exports.handler = async (event) => {
                  if (event.first) setTimeout(() => { fired = true; }, 3000);
                  return { fired };
                };
            """
        },
    )
    run = run_node(tmp_path, "index.handler", [Invocation("1", b'{"first": true}'), Invocation("2")])
    assert [post.json() for post in run.posts] == [{"fired": False}, {"fired": False}]


@pytest.mark.parametrize(
    ("source", "error_type", "message", "label", "status"),
    [
        (
            "exports.handler = (e, c, cb) => { setTimeout(() => { throw new TypeError('late'); }, 10); };",
            "TypeError",
            "late",
            "Uncaught Exception",
            129,
        ),
        (
            "exports.handler = (e, c, cb) => { Promise.reject(new Error('nobody waits')); };",
            "Runtime.UnhandledPromiseRejection",
            "Error: nobody waits",
            "Unhandled Promise Rejection",
            128,
        ),
    ],
)
def test_an_uncaught_error_fails_the_invocation_and_ends_the_process(
    tmp_path: Path, source: str, error_type: str, message: str, label: str, status: int
) -> None:
    write_files(tmp_path, {"index.js": source})
    run = run_node(tmp_path, "index.handler", [Invocation("1"), Invocation("never")])
    assert run.returncode == status, run.output
    [post] = run.posts
    assert post.path == error_path("1")
    assert post.headers[ERROR_TYPE_HEADER] == error_type
    assert (post.json()["errorType"], post.json()["errorMessage"]) == (error_type, message)
    assert f"\tERROR\t{label} \t" in run.output


def test_process_exit_in_a_handler_ends_the_process_unanswered(tmp_path: Path) -> None:
    write_files(tmp_path, {"index.js": "exports.handler = async () => { process.exit(3); };"})
    run = run_node(tmp_path, "index.handler", [Invocation("1")])
    assert run.returncode == 3
    assert run.posts == []


def test_errors_answer_as_awss_node_runtime_words_them(tmp_path: Path) -> None:
    """A non-Error failure answers its JS type and its string; an Error its name, message, stack;
    the log line is `Invoke Error \\t{json with "stack"}`."""
    write_files(
        tmp_path,
        {
            "index.js": """
                exports.str = (e, context) => context.fail("Something went wrong");
                exports.bare = (e, context) => context.fail();
                exports.num = (e, c, callback) => callback(42);
            """
        },
    )
    for handler, expected in [
        ("index.str", {"errorType": "string", "errorMessage": "Something went wrong", "trace": []}),
        ("index.bare", {"errorType": "string", "errorMessage": "handled", "trace": []}),
        ("index.num", {"errorType": "number", "errorMessage": "42", "trace": []}),
    ]:
        run = run_node(tmp_path, handler, [Invocation("r")])
        assert [post.json() for post in run.posts] == [expected]
        logged = json.loads(run.output.split("\tERROR\tInvoke Error \t", 1)[1].split("\n", 1)[0])
        assert logged == {
            "errorType": expected["errorType"],
            "errorMessage": expected["errorMessage"],
            "stack": [],
        }


def test_json_log_format_writes_records_filtered_by_level(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "index.js": """
                exports.handler = async () => {
                  console.debug("hidden");
                  console.info("plain", 1);
                  console.warn({ shape: "kept" });
                  throw new Error("boom");
                };
            """
        },
    )
    env = {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"}
    run = run_node(tmp_path, "index.handler", [Invocation("rq")], env=env)
    records = [json.loads(line) for line in run.lines if line.strip()]
    assert [(record["level"], record["message"]) for record in records] == [
        ("INFO", "plain 1"),
        ("WARN", {"shape": "kept"}),
        ("ERROR", "Invoke Error"),
    ]
    assert all(record["requestId"] == "rq" and record["timestamp"].endswith("Z") for record in records)
    assert records[2]["errorType"] == "Error" and records[2]["errorMessage"] == "boom"


def test_modules_resolve_from_layers_then_the_runtime_library_then_the_code(tmp_path: Path) -> None:
    code, layers, library = tmp_path / "code", tmp_path / "layers", tmp_path / "sdk"
    assert NODE is not None
    major = subprocess.run(
        [NODE, "-p", "process.versions.node.split('.')[0]"], capture_output=True, text=True
    ).stdout.strip()
    write_files(
        code,
        {
            "index.js": "exports.handler = async () => [require('shared'), require('versioned'), require('sdk'), process.env.NODE_PATH];"
        },
    )
    write_files(layers, {"nodejs/node_modules/shared/index.js": "module.exports = 'layer';"})
    write_files(
        layers, {f"nodejs/node{major}/node_modules/versioned/index.js": "module.exports = 'by version';"}
    )
    write_files(library, {"node_modules/sdk/index.js": "module.exports = 'sdk';"})
    env = {
        "LAMINA_LAYER_ROOT": str(layers),
        "LAMINA_RUNTIME_LIB": str(library),
        "LAMBDA_RUNTIME_DIR": str(BOOTSTRAP.parent),
    }
    [post] = run_node(code, "index.handler", [Invocation("m")], env=env).posts
    shared, versioned, sdk, node_path = post.json()
    assert (shared, versioned, sdk) == ("layer", "by version", "sdk")
    assert node_path == ":".join(
        [
            f"{layers}/nodejs/node{major}/node_modules",
            f"{layers}/nodejs/node_modules",
            f"{library}/node_modules",
            str(BOOTSTRAP.parent),
            str(code),
        ]
    )


def _framed_run(
    task_root: Path, handler: str, events: list[bytes], standby_env: dict[str, str] | None = None
) -> tuple[int, list[tuple[dict[str, Any], bytes]]]:
    """Run the Node runtime on Lamina's framed channel (a socket pair), answering each `next` with
    the next event; the frames it sent back, in order, and its exit status."""
    assert NODE is not None
    ours, theirs = socket.socketpair()
    environment = {
        "PATH": "/usr/bin:/bin",
        "_HANDLER": handler,
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMINA_RUNTIME_CHANNEL_FD": str(theirs.fileno()),
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9",  # unused: the channel carries everything
    }
    if standby_env is not None:  # booted first, its function's variables and folder sent after
        assigned = {**environment, **standby_env}
        del assigned["LAMINA_RUNTIME_CHANNEL_FD"]
        environment = {
            "PATH": "/usr/bin:/bin",
            "LAMINA_STANDBY": "1",
            "LAMINA_RUNTIME_CHANNEL_FD": str(theirs.fileno()),
        }
    process = subprocess.Popen(
        [NODE, str(BOOTSTRAP)],
        cwd="/" if standby_env is not None else task_root,
        env=environment,
        pass_fds=(theirs.fileno(),),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    theirs.close()
    ours.settimeout(10)
    if standby_env is not None:
        assign = json.dumps({"type": "assign", "env": assigned, "cwd": str(task_root)}).encode()
        ours.sendall(struct.pack(">II", len(assign), 0) + assign)
    received: list[tuple[dict[str, Any], bytes]] = []
    buffer = b""
    pending = list(events)

    def frame() -> tuple[dict[str, Any], bytes] | None:
        nonlocal buffer
        while True:
            if len(buffer) >= 8:
                header_size, body_size = struct.unpack(">II", buffer[:8])
                if len(buffer) >= 8 + header_size + body_size:
                    header = json.loads(buffer[8 : 8 + header_size])
                    body = buffer[8 + header_size : 8 + header_size + body_size]
                    buffer = buffer[8 + header_size + body_size :]
                    return header, body
            chunk = ours.recv(65536)
            if not chunk:
                return None
            buffer += chunk

    try:
        while (message := frame()) is not None:
            header, body = message
            if header["type"] != "next":
                received.append((header, body))
                continue
            if not pending:
                break
            event = pending.pop(0)
            request_id = f"req-{len(events) - len(pending)}"
            invoke = json.dumps(
                {
                    "type": "invoke",
                    "requestId": request_id,
                    "deadlineMs": 2**42,
                    "functionArn": FUNCTION_ARN,
                    "traceId": "Root=1",
                }
            ).encode()
            ours.sendall(struct.pack(">II", len(invoke), len(event)) + invoke + event)
    finally:
        ours.close()
        returncode = process.wait(timeout=10)
    return returncode, received


def test_the_framed_channel_carries_invocations_and_answers(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "index.js": """
                let fired = false;
                exports.handler = (event, context, callback) => {
                  if (event.boom) throw new Error("boom");
                  if (event.first) setTimeout(() => { fired = true; }, 200);
                  callback(null, { fired, id: context.awsRequestId, channel: process.env.LAMINA_RUNTIME_CHANNEL_FD });
                };
            """
        },
    )
    returncode, frames = _framed_run(
        tmp_path, "index.handler", [b'{"first": true}', b"{}", b'{"boom": true}']
    )
    assert returncode == 0
    assert [(header["type"], header["requestId"]) for header, _ in frames] == [
        ("response", "req-1"),
        ("response", "req-2"),
        ("error", "req-3"),
    ]
    # The first answer waited for its timer (the channel does not hold the event loop open).
    assert json.loads(frames[1][1]) == {"fired": True, "id": "req-2"}  # the channel's fd is not shown
    assert frames[2][0]["errorType"] == "Error" and json.loads(frames[2][1])["errorMessage"] == "boom"


def test_an_init_error_goes_over_the_framed_channel(tmp_path: Path) -> None:
    write_files(tmp_path, {"index.js": "exports.other = 1;"})
    returncode, frames = _framed_run(tmp_path, "index.handler", [b"{}"])
    assert returncode == 1
    [(header, body)] = frames
    assert (header["type"], header["errorType"]) == ("init_error", "Runtime.HandlerNotFound")
    assert json.loads(body)["errorMessage"] == "index.handler is undefined or not exported"


def test_a_standby_boots_first_then_becomes_its_function(tmp_path: Path) -> None:
    """LAMINA_STANDBY: the runtime waits for an assign frame, takes its variables (and nothing of
    the standby's) and its folder, then loads the handler from there."""
    write_files(
        tmp_path,
        {
            "index.js": """
                exports.handler = async (event, context) => ({
                  cwd: process.cwd(),
                  name: context.functionName,
                  standby: process.env.LAMINA_STANDBY === undefined ? "gone" : "kept",
                  format: process.env.AWS_LAMBDA_LOG_FORMAT,
                });
            """
        },
    )
    env = {"AWS_LAMBDA_FUNCTION_NAME": "late", "AWS_LAMBDA_LOG_FORMAT": "JSON"}
    returncode, frames = _framed_run(tmp_path, "index.handler", [b"{}"], standby_env=env)
    assert returncode == 0
    [(header, body)] = frames
    assert header["type"] == "response"
    assert json.loads(body) == {"cwd": str(tmp_path), "name": "late", "standby": "gone", "format": "JSON"}


def test_every_log_line_is_in_the_pipe_before_the_answer(tmp_path: Path) -> None:
    """Console writes are synchronous, as on AWS: with a reader slower than the function (the pipe
    full for a second), the answer is posted only once all 2 MB of lines have entered the pipe."""
    source = "exports.handler = async () => { for (let i = 0; i < 20000; i++) console.log('x'.repeat(100)); return 1; };"
    write_files(tmp_path, {"index.js": source})
    run = run_node(tmp_path, "index.handler", [Invocation("r")], output_pause=1.0)
    [post] = run.posts
    assert post.output_written >= len(run.output.encode()) > 2_000_000


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("exports.handler = async () => new Promise(() => {});", None),  # never settles: null
        ("exports.handler = (event, context, callback) => {};", None),  # never calls back: null
        ("exports.handler = (event) => ({ sync: true });", None),  # a plain return is not an answer
        ("exports.handler = async () => () => 1;", None),  # nothing JSON can say
        (
            "exports.handler = (e, c, cb) => { cb(null, 'first'); cb(null, 'second'); };",
            "second",  # the last callback counts once the loop is empty
        ),
        (
            "exports.handler = (e, c, cb) => { setTimeout(() => {}, 300); cb(null, 'cb'); c.succeed('now'); };",
            "now",  # succeed answers at once, without waiting for the timer
        ),
    ],
)
def test_answers_are_what_awss_node_runtime_answers(tmp_path: Path, source: str, expected: Any) -> None:
    write_files(tmp_path, {"index.js": source})
    [post] = run_node(tmp_path, "index.handler", [Invocation("r")]).posts
    assert post.path == response_path("r")
    assert post.json() == expected


def test_handler_paths_are_read_as_awss_runtime_reads_them(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "index.js": "exports.nested = { deep: { fn: async () => 'deep' } };",
            "lib/index.js": "exports.handler = async () => 'folder';",
            "node_modules/pkg/package.json": '{"main": "main.js"}',
            "node_modules/pkg/main.js": "exports.handler = async () => 'package';",
        },
    )
    assert run_node(tmp_path, "index.nested.deep.fn", [Invocation("a")]).posts[0].json() == "deep"
    assert run_node(tmp_path, "lib.handler", [Invocation("b")]).posts[0].json() == "folder"
    assert run_node(tmp_path, "pkg.handler", [Invocation("c")]).posts[0].json() == "package"
    [post] = run_node(tmp_path, "a/b/../../index.handler", [Invocation("d")]).posts
    assert post.path == INIT_ERROR_PATH and post.headers[ERROR_TYPE_HEADER] == "Runtime.MalformedHandlerName"
    assert (
        post.json()["errorMessage"] == "'../' not allowed in handler name. Relative paths are not supported."
    )


def test_odd_throws_still_answer(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "bad.js": "throw null;",
            "odd.js": "exports.handler = async () => { const e = new Error('x'); e.name = { toString() { throw 1; } }; throw e; };",
        },
    )
    run = run_node(tmp_path, "bad.handler", [Invocation("never")])
    assert run.returncode == 1 and run.posts[0].path == INIT_ERROR_PATH
    assert run.posts[0].json()["errorType"] == "object"
    [post] = run_node(tmp_path, "odd.handler", [Invocation("o")]).posts
    assert post.path == error_path("o") and post.json()["errorType"] == "handled"
