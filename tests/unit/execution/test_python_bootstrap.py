"""Lamina's Python runtime (bootstrap.py) against a fake Runtime API, run as a real subprocess."""

from __future__ import annotations

import ast
import calendar
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from tests.support.fake_runtime_api import (
    ERROR_TYPE_HEADER,
    FUNCTION_ARN,
    INIT_ERROR_PATH,
    LOG_TIMESTAMP,
    NBSP,
    SERVER_FLAGS,
    Invocation,
    Run,
    error_path,
    response_path,
    write_files,
)
from tests.support.fake_runtime_api import run_runtime as run_any_runtime

BOOTSTRAP = Path(__file__).resolve().parents[3] / "src/lamina/execution/runtimes/python/bootstrap.py"


def run_runtime(
    task_root: Path,
    handler: str,
    invocations: Iterable[Invocation] = (),
    *,
    python: Iterable[str] = (sys.executable, *SERVER_FLAGS),
    runtime_file: Path = BOOTSTRAP,
    **options: Any,
) -> Run:
    """Python's bootstrap.py, launched as the server launches it."""
    return run_any_runtime(
        task_root, handler, invocations, python=python, runtime_file=runtime_file, **options
    )


# --- Invocations ---------------------------------------------------------------------------------------

ECHO_CONTEXT = """
    import os

    def handler(event, context):
        client_context = context.client_context
        return {
            "event": event,
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining": context.get_remaining_time_in_millis(),
            "custom": client_context and client_context.custom,
            "env": client_context and client_context.env,
            "installation_id": client_context and client_context.client.installation_id,
            "cognito_identity_id": context.identity.cognito_identity_id,
            "cognito_identity_pool_id": context.identity.cognito_identity_pool_id,
            "trace_id": os.environ.get("_X_AMZN_TRACE_ID"),
            "has_dict": hasattr(context, "__dict__"),
        }
"""


def test_context_carries_the_invocation_and_function_attributes(tmp_path: Path) -> None:
    write_files(tmp_path, {"app.py": ECHO_CONTEXT})
    deadline_ms = int(time.time() * 1000) + 5000
    first = Invocation(
        "req-1",
        b'{"key": "value"}',
        {
            "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
            "Lambda-Runtime-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
            "Lambda-Runtime-Client-Context": json.dumps(
                {"custom": {"k": "v"}, "env": {"platform": "test"}, "client": {"installation_id": "inst-1"}}
            ),
            "Lambda-Runtime-Cognito-Identity": json.dumps(
                {"cognitoIdentityId": "us-east-1:id", "cognitoIdentityPoolId": "us-east-1:pool"}
            ),
        },
    )
    second = Invocation("req-2", b"[1, 2]")

    run = run_runtime(tmp_path, "app.handler", [first, second])

    assert run.returncode == 0, run.output
    assert [post.path for post in run.posts] == [response_path("req-1"), response_path("req-2")]
    assert run.posts[0].headers["Content-Type"] == "application/json"
    echoed = run.posts[0].json()
    remaining = echoed.pop("remaining")
    assert 0 < remaining <= 5000
    assert echoed == {
        "event": {"key": "value"},
        "function_name": "echo",
        "function_version": "$LATEST",
        "invoked_function_arn": FUNCTION_ARN,
        "memory_limit_in_mb": "256",
        "aws_request_id": "req-1",
        "log_group_name": "/aws/lambda/echo",
        "log_stream_name": "2024/01/01/[$LATEST]0123456789abcdef",
        "custom": {"k": "v"},
        "env": {"platform": "test"},
        "installation_id": "inst-1",
        "cognito_identity_id": "us-east-1:id",
        "cognito_identity_pool_id": "us-east-1:pool",
        "trace_id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
        "has_dict": False,
    }
    # Without the headers: no client context, an empty identity, and no stale trace id.
    echoed = run.posts[1].json()
    assert echoed["event"] == [1, 2]
    assert echoed["aws_request_id"] == "req-2"
    assert echoed["custom"] is None
    assert echoed["cognito_identity_id"] is None
    assert echoed["trace_id"] is None
    assert run.output == ""


def test_module_runs_once_and_globals_persist_across_invocations(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "app.py": """
                import os

                print("init ran")
                count = 0

                def handler(event, context):
                    global count
                    count += 1
                    return {"count": count, "pid": os.getpid()}
            """
        },
    )

    run = run_runtime(tmp_path, "app.handler", [Invocation("a"), Invocation("b")])

    assert run.returncode == 0
    first, second = (post.json() for post in run.posts)
    assert (first["count"], second["count"]) == (1, 2)
    assert first["pid"] == second["pid"]
    assert run.output == "init ran\n"


@pytest.mark.parametrize("flags", [(), SERVER_FLAGS], ids=["plain", "isolated"])
def test_output_is_in_the_pipe_before_the_result_is_posted(tmp_path: Path, flags: tuple[str, ...]) -> None:
    # No trailing newlines and no PYTHONUNBUFFERED: only an explicit flush gets these out before posting.
    write_files(
        tmp_path,
        {
            "app.py": """
                import sys

                def handler(event, context):
                    print("partial stdout", end="")
                    sys.stderr.write("partial stderr")
                    if event.get("fail"):
                        raise RuntimeError("failed")
                    return "ok"
            """
        },
    )

    run = run_runtime(
        tmp_path,
        "app.handler",
        [Invocation("ok"), Invocation("fails", b'{"fail": true}')],
        python=[sys.executable, *flags],
        unbuffered=False,
        awaited_output=["partial stdout", "partial stderr"],
    )

    assert run.returncode == 0
    assert [post.path for post in run.posts] == [response_path("ok"), error_path("fails")]
    assert [post.output_ready for post in run.posts] == [True, True]


def test_handler_exception_is_reported_with_the_user_frames(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "app.py": """
                def helper():
                    raise ValueError("boom")

                def handler(event, context):
                    helper()
            """
        },
    )
    app = "/var/task/app.py"  # the task root as AWS names it, not the host's folder

    run = run_runtime(tmp_path, "app.handler", [Invocation("req-1"), Invocation("req-2")])

    assert run.returncode == 0
    first, second = run.posts
    assert first.path == error_path("req-1")
    assert first.headers[ERROR_TYPE_HEADER] == "ValueError"
    assert first.json() == {
        "errorMessage": "boom",
        "errorType": "ValueError",
        "requestId": "req-1",
        "stackTrace": [
            f'  File "{app}", line 6, in handler\n    helper()\n',
            f'  File "{app}", line 3, in helper\n    raise ValueError("boom")\n',
        ],
    }
    # One log line per error, trace lines separated by '\r' and indented with no-break spaces.
    expected_line = "\r".join(
        [
            "[ERROR] ValueError: boom",
            "Traceback (most recent call last):",
            f'{NBSP * 2}File "{app}", line 6, in handler',
            f"{NBSP * 4}helper()",
            f'{NBSP * 2}File "{app}", line 3, in helper',
            f'{NBSP * 4}raise ValueError("boom")',
        ]
    )
    assert run.lines.count(expected_line) == 2
    # The loop goes on after a failed invocation.
    assert second.path == error_path("req-2")


def test_results_that_json_cannot_encode_are_marshal_errors(tmp_path: Path) -> None:
    write_files(tmp_path, {"app.py": "def handler(event, context):\n    return {1, 2}\n"})

    run = run_runtime(tmp_path, "app.handler", [Invocation("req-1")])

    (post,) = run.posts
    assert post.path == error_path("req-1")
    assert post.headers[ERROR_TYPE_HEADER] == "Runtime.MarshalError"
    assert post.json() == {
        "errorMessage": "Unable to marshal response: Object of type set is not JSON serializable",
        "errorType": "Runtime.MarshalError",
        "requestId": "req-1",
        "stackTrace": [],
    }
    assert (
        "[ERROR] Runtime.MarshalError: Unable to marshal response: Object of type set is not JSON "
        "serializable\rTraceback (most recent call last):"
    ) in run.lines


def test_events_that_are_not_json_are_unmarshal_errors(tmp_path: Path) -> None:
    write_files(tmp_path, {"app.py": "def handler(event, context):\n    return event\n"})

    run = run_runtime(tmp_path, "app.handler", [Invocation("bad", b"{oops"), Invocation("good", b"7")])

    bad, good = run.posts
    assert bad.headers[ERROR_TYPE_HEADER] == "Runtime.UnmarshalError"
    assert bad.json()["errorMessage"].startswith("Unable to unmarshal input: Expecting property name")
    assert (good.path, good.body) == (response_path("good"), b"7")


def test_decimals_keep_their_digits_and_bytes_pass_through(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "app.py": """
                from decimal import Decimal

                def handler(event, context):
                    if event == "bytes":
                        return b"\\x00raw"
                    return {"price": Decimal("1.10"), "count": Decimal("3"), "name": "caf\\u00e9"}
            """
        },
    )

    run = run_runtime(tmp_path, "app.handler", [Invocation("json"), Invocation("raw", b'"bytes"')])

    as_json, raw = run.posts
    # Without AWS_EXECUTION_ENV the interpreter's version decides whether non-ASCII is escaped.
    name = "caf\\u00e9" if sys.version_info < (3, 12) else "café"
    assert as_json.body == f'{{"price": 1.10, "count": 3, "name": "{name}"}}'.encode()
    assert (raw.body, raw.headers["Content-Type"]) == (b"\x00raw", "application/unknown")


# --- Initialisation ------------------------------------------------------------------------------------


def _syntax_error(path: Path, source: str) -> SyntaxError:
    try:
        compile(source, str(path), "exec")
    except SyntaxError as error:
        return error
    raise AssertionError("source compiled")


@pytest.mark.parametrize(
    ("files", "handler", "error_type", "message"),
    [
        (
            {"app.py": "import foo_missing_dependency\n"},
            "app.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'app': No module named 'foo_missing_dependency'",
        ),
        (
            {},
            "absent.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'absent': No module named 'absent'",
        ),
        (
            {"app.py": "def handler(event, context):\n    return 1\n"},
            "app.nothere",
            "Runtime.HandlerNotFound",
            "Handler 'nothere' missing on module 'app'",
        ),
        (
            {},
            "nodot",
            "Runtime.MalformedHandlerName",
            "Bad handler 'nodot': not enough values to unpack (expected 2, got 1)",
        ),
        (
            {},
            "sys.handler",
            "Runtime.BuiltInModuleConflict",
            "Cannot use built-in module sys as a handler module",
        ),
    ],
    ids=["missing-dependency", "missing-module", "handler-not-found", "malformed", "built-in-module"],
)
def test_init_errors_are_posted_and_the_runtime_exits_1(
    tmp_path: Path, files: dict[str, str], handler: str, error_type: str, message: str
) -> None:
    write_files(tmp_path, files)

    run = run_runtime(tmp_path, handler, [Invocation("never")])

    assert run.returncode == 1
    (post,) = run.posts
    assert post.path == INIT_ERROR_PATH
    assert post.headers[ERROR_TYPE_HEADER] == error_type
    assert post.json() == {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": "",
        "stackTrace": [],
    }
    assert run.lines == [f"[ERROR] {error_type}: {message}\rTraceback (most recent call last):", ""]


def test_syntax_errors_are_user_code_syntax_errors(tmp_path: Path) -> None:
    source = "def handler(event, context):\n    return 1\nx = = 3\n"
    write_files(tmp_path, {"app.py": source})
    error = _syntax_error(tmp_path / "app.py", source)

    run = run_runtime(tmp_path, "app.handler")

    assert run.returncode == 1
    (post,) = run.posts
    assert post.headers[ERROR_TYPE_HEADER] == "Runtime.UserCodeSyntaxError"
    assert post.json() == {
        "errorMessage": f"Syntax error in module 'app': {error}",
        "errorType": "Runtime.UserCodeSyntaxError",
        "requestId": "",
        "stackTrace": [f'  File "{tmp_path / "app.py"}" Line 3\n    {error.text}'],
    }
    assert "(app.py, line 3)" in post.json()["errorMessage"]


def test_exceptions_in_module_code_are_reported_by_class_name(tmp_path: Path) -> None:
    write_files(tmp_path, {"app.py": 'raise RuntimeError("broken at import")\n'})

    run = run_runtime(tmp_path, "app.handler")

    assert run.returncode == 1
    (post,) = run.posts
    assert post.headers[ERROR_TYPE_HEADER] == "RuntimeError"
    body = post.json()
    assert (body["errorMessage"], body["errorType"], body["requestId"]) == (
        "broken at import",
        "RuntimeError",
        "",
    )
    assert body["stackTrace"][-1] == (
        '  File "/var/task/app.py", line 1, in <module>\n    raise RuntimeError("broken at import")\n'
    )
    assert not any(str(BOOTSTRAP) in entry for entry in body["stackTrace"])
    (line, end) = run.lines
    assert line.startswith("[ERROR] RuntimeError: broken at import\rTraceback (most recent call last):\r")
    assert end == ""


# --- Module resolution ---------------------------------------------------------------------------------


@pytest.mark.parametrize("handler", ["src/app.handler", "src.app.handler", "src/pkg/deep.handler"])
def test_handlers_in_nested_paths(tmp_path: Path, handler: str) -> None:
    source = "def handler(event, context):\n    return __name__\n"
    write_files(tmp_path, {"src/app.py": source, "src/pkg/deep.py": source})

    run = run_runtime(tmp_path, handler, [Invocation("req-1")])

    assert run.returncode == 0, run.output
    module_name = handler.rsplit(".", 1)[0].replace("/", ".")
    assert run.posts[0].json() == module_name


def test_task_root_shadows_the_runtime_library(tmp_path: Path) -> None:
    task_root = tmp_path / "task"
    runtime_lib = tmp_path / "runtime-lib"
    write_files(
        runtime_lib,
        {
            "lamina_fake_sdk/__init__.py": 'ORIGIN = "runtime-lib"\n',
            "lamina_fake_sdk_core/__init__.py": 'ORIGIN = "runtime-lib"\n',
        },
    )
    write_files(
        task_root,
        {
            "lamina_fake_sdk/__init__.py": 'ORIGIN = "task-root"\n',
            "app.py": """
                import sys
                import lamina_fake_sdk
                import lamina_fake_sdk_core

                def handler(event, context):
                    return [lamina_fake_sdk.ORIGIN, lamina_fake_sdk_core.ORIGIN, sys.path[0], sys.path[-1]]
            """,
        },
    )

    run = run_runtime(
        task_root, "app.handler", [Invocation("req-1")], env={"LAMINA_RUNTIME_LIB": str(runtime_lib)}
    )

    assert run.posts[0].json() == ["task-root", "runtime-lib", str(task_root), str(runtime_lib)]


@pytest.mark.parametrize("flags", [(), SERVER_FLAGS], ids=["plain", "isolated"])
def test_runtime_directory_is_not_importable(tmp_path: Path, flags: tuple[str, ...]) -> None:
    runtime_dir = tmp_path / "runtime"
    runtime_dir.mkdir()
    runtime_file = runtime_dir / "bootstrap.py"
    shutil.copyfile(BOOTSTRAP, runtime_file)
    write_files(runtime_dir, {"decoy_module.py": "VALUE = 1\n"})
    task_root = tmp_path / "task"
    write_files(
        task_root,
        {
            "app.py": """
                import importlib.util

                def handler(event, context):
                    return [importlib.util.find_spec("decoy_module") is None, importlib.util.find_spec("bootstrap") is None]
            """
        },
    )

    run = run_runtime(
        task_root,
        "app.handler",
        [Invocation("req-1")],
        python=[sys.executable, *flags],
        runtime_file=runtime_file,
    )

    assert run.posts[0].json() == [True, True]


# --- Shutdown ------------------------------------------------------------------------------------------


def test_runtime_exits_0_when_the_api_goes_away(tmp_path: Path) -> None:
    write_files(tmp_path, {"app.py": "def handler(event, context):\n    return 1\n"})

    run = run_runtime(tmp_path, "app.handler")

    assert (run.returncode, run.output, run.posts) == (0, "", [])


def test_runtime_exits_0_when_the_api_refuses_connections(tmp_path: Path) -> None:
    write_files(tmp_path, {"app.py": "def handler(event, context):\n    return 1\n"})
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]

    run = run_runtime(tmp_path, "app.handler", env={"AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}"})

    assert (run.returncode, run.output) == (0, "")


# --- Logging -------------------------------------------------------------------------------------------

LOGGING_APP = """
    import logging

    logger = logging.getLogger("app")
    logger.warning("at init")

    def handler(event, context):
        logger.debug("debug detail")
        logger.warning("first\\nsecond")
        try:
            1 / 0
        except ZeroDivisionError:
            logger.exception("failed")
        return None
"""


def test_log_records_are_one_line_in_aws_format(tmp_path: Path) -> None:
    write_files(tmp_path, {"app.py": LOGGING_APP})

    # TZ east of UTC: timestamps must still be UTC.
    run = run_runtime(tmp_path, "app.handler", [Invocation("req-1")], env={"TZ": "XYZ-9"})

    assert run.posts[0].body == b"null"
    init, warning, error, end = run.lines
    assert re.fullmatch(rf"\[WARNING\]\t{LOG_TIMESTAMP}\t\tat init", init)
    assert re.fullmatch(rf"\[WARNING\]\t{LOG_TIMESTAMP}\treq-1\tfirst\rsecond", warning)
    assert re.fullmatch(
        rf"\[ERROR\]\t{LOG_TIMESTAMP}\treq-1\tfailed\rTraceback \(most recent call last\):\r.*"
        r"ZeroDivisionError: division by zero",
        error,
    )
    assert end == ""
    logged_at = calendar.timegm(time.strptime(warning.split("\t")[1][:19], "%Y-%m-%dT%H:%M:%S"))
    assert abs(logged_at - time.time()) < 60


@pytest.mark.parametrize(("level", "shown"), [("DEBUG", True), ("TRACE", True), ("ERROR", False)])
def test_log_level_comes_from_the_environment(tmp_path: Path, level: str, shown: bool) -> None:
    write_files(tmp_path, {"app.py": LOGGING_APP})

    run = run_runtime(tmp_path, "app.handler", [Invocation("req-1")], env={"AWS_LAMBDA_LOG_LEVEL": level})

    assert ("[DEBUG]" in run.output) is shown
    assert ("at init" in run.output) is (level != "ERROR")
    assert "\tfailed\r" in run.output


# --- Portability ---------------------------------------------------------------------------------------


def test_source_is_python_3_8_and_imports_only_the_loop_modules_eagerly() -> None:
    tree = ast.parse(BOOTSTRAP.read_text(), feature_version=(3, 8))
    eager = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            eager.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            eager.add(node.module or "")
    # http.client is imported only for the HTTP transport (it costs ~20 ms of cold start).
    assert eager == {"__future__", "json", "os", "struct", "sys", "time", "traceback"}
    assert "lamina" not in {
        (alias.name if isinstance(node, ast.Import) else node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }


def _oldest_python() -> str | None:
    path = shutil.which("python3.8")
    if path is None:
        return None
    probe = subprocess.run([path, "-c", "pass"], capture_output=True, check=False)
    return path if probe.returncode == 0 else None


@pytest.mark.skipif(_oldest_python() is None, reason="no runnable python3.8 on PATH")
def test_runs_on_python_3_8(tmp_path: Path) -> None:
    write_files(tmp_path, {"app.py": ECHO_CONTEXT})

    run = run_runtime(
        tmp_path, "app.handler", [Invocation("req-1")], python=[str(_oldest_python()), *SERVER_FLAGS]
    )

    assert run.returncode == 0, run.output
    assert run.posts[0].json()["aws_request_id"] == "req-1"


# --- Pure pieces, in process ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bootstrap() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lamina_bootstrap_under_test", BOOTSTRAP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("1.10"), "1.10"),
        (Decimal("-0"), "-0"),
        (Decimal("1E+2"), "1E+2"),
        (Decimal("12345678901234567890.123456789012345678"), "12345678901234567890.123456789012345678"),
        (Decimal("NaN"), "NaN"),
        (Decimal("-Infinity"), "-Infinity"),
        ({"a": [Decimal("1"), "\x00", Decimal("2.5")]}, '{"a": [1, "\\u0000", 2.5]}'),
    ],
)
def test_decimals_are_encoded_with_their_exact_digits(
    bootstrap: ModuleType, value: Any, expected: str
) -> None:
    payload, content_type = bootstrap._marshal_result(value)

    assert (payload.decode(), content_type) == (expected, "application/json")


@pytest.mark.parametrize(
    ("execution_env", "escaped"),
    [
        ("AWS_Lambda_python3.11", True),
        ("AWS_Lambda_python3.12", False),
        ("AWS_Lambda_python3.13", False),
        (None, sys.version_info < (3, 12)),
    ],
)
def test_non_ascii_is_escaped_before_python_3_12(
    bootstrap: ModuleType, monkeypatch: pytest.MonkeyPatch, execution_env: str | None, escaped: bool
) -> None:
    if execution_env is None:
        monkeypatch.delenv("AWS_EXECUTION_ENV", raising=False)
    else:
        monkeypatch.setenv("AWS_EXECUTION_ENV", execution_env)

    payload, _ = bootstrap._marshal_result("é")

    assert payload.decode() == ('"\\u00e9"' if escaped else '"é"')


def test_import_path_order(bootstrap: ModuleType, tmp_path: Path) -> None:
    layers = tmp_path / "opt"
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    (layers / "python" / "lib" / version / "site-packages").mkdir(parents=True)
    runtime_dir = tmp_path / "runtime"
    runtime_dir.mkdir()

    path = bootstrap._import_path(
        [str(runtime_dir), "/usr/lib/stdlib"], "/var/task", "/runtime/lib", str(runtime_dir), str(layers)
    )

    assert path == [
        "/var/task",
        str(layers / "python" / "lib" / version / "site-packages"),
        str(layers / "python"),
        "/usr/lib/stdlib",
        "/runtime/lib",
    ]


def test_error_log_line_without_message_or_frames(bootstrap: ModuleType) -> None:
    line = bootstrap._error_log_line({"errorMessage": "", "errorType": "KeyError", "stackTrace": []})

    assert line == "[ERROR] KeyError\rTraceback (most recent call last):\n"


def test_multi_line_messages_stay_on_one_log_line(bootstrap: ModuleType) -> None:
    line = bootstrap._error_log_line({"errorMessage": "a\nb", "errorType": "ValueError", "stackTrace": []})

    assert line == "[ERROR] ValueError: a\rb\rTraceback (most recent call last):\n"


def test_warm_up_runs_the_invocation_loop_in_memory_and_leaves_nothing_behind(bootstrap: ModuleType) -> None:
    """A fork server calls it before forking: it must not touch the process's environment, leave
    descriptors open, or fail."""
    before = set(os.listdir("/proc/self/fd"))
    bootstrap.warm_up(rounds=5)
    assert "_X_AMZN_TRACE_ID" not in os.environ
    assert set(os.listdir("/proc/self/fd")) == before
