"""Invoke through boto3 against a real server: types, payloads, errors, context, environment."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.lambda_calls import wait_active
from tests.support.packaging import make_zip
from tests.support.server import EXECUTION_ROLE, RunningServer

CONTEXT_ECHO = """
import os, sys, json
def handler(event, context):
    print("event", json.dumps(event))
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
        "client_context": context.client_context.custom if context.client_context else None,
        "identity": context.identity.cognito_identity_id if context.identity else None,
        "environ": dict(os.environ),
        "cwd": os.getcwd(),
    }
"""


def _invoke_json(client: Any, name: str, payload: Any = None, **options: Any) -> tuple[dict[str, Any], Any]:
    body = json.dumps(payload).encode() if payload is not None else b""
    response = client.invoke(FunctionName=name, Payload=body, **options)
    return response, json.loads(response["Payload"].read())


def test_request_response_passes_event_and_full_context(
    lambda_client: Any, deploy: Callable[..., str]
) -> None:
    name = deploy(
        {"app.py": CONTEXT_ECHO}, MemorySize=256, Timeout=7, Environment={"Variables": {"GREETING": "hello"}}
    )
    client_context = base64.b64encode(json.dumps({"custom": {"tenant": "t1"}}).encode()).decode()
    response, result = _invoke_json(lambda_client, name, {"key": [1, 2, 3]}, ClientContext=client_context)
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in response
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/json"
    assert result["event"] == {"key": [1, 2, 3]}
    assert result["function_name"] == name
    assert result["function_version"] == "$LATEST"
    assert result["invoked_function_arn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert result["memory_limit_in_mb"] == "256"  # a string, as AWS's Python runtime gives it
    assert result["aws_request_id"] == response["ResponseMetadata"]["RequestId"]
    assert result["log_group_name"] == f"/aws/lambda/{name}"
    assert result["log_stream_name"].startswith(tuple(f"20{year}/" for year in range(20, 100)))
    assert "[$LATEST]" in result["log_stream_name"]
    assert 0 < result["remaining"] <= 7000
    assert result["client_context"] == {"tenant": "t1"}
    environ = result["environ"]
    assert environ["GREETING"] == "hello"
    expected = {
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": result["log_stream_name"],
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "_HANDLER": "app.handler",
    }
    assert {key: environ.get(key) for key in expected} == expected
    for key in ("LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "AWS_LAMBDA_RUNTIME_API", "TZ"):
        assert environ.get(key), key
    assert result["cwd"] == environ["LAMBDA_TASK_ROOT"]


def test_environment_does_not_inherit_server_secrets(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy({"app.py": CONTEXT_ECHO})
    _, result = _invoke_json(lambda_client, name, {})
    environ = result["environ"]
    assert not any(key.startswith("LAMINA_ROOT") for key in environ)
    assert (
        "AWS_SECRET_ACCESS_KEY" not in environ
        or environ["AWS_SECRET_ACCESS_KEY"] != "test-secret-key-for-integration-tests-0000"
    )
    assert "PYTEST_CURRENT_TEST" not in environ


def test_empty_payload_becomes_empty_object(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy({"app.py": "def handler(event, context):\n    return event\n"})
    response = lambda_client.invoke(FunctionName=name)
    assert json.loads(response["Payload"].read()) == {}


def test_event_invocation_is_accepted_and_runs(
    server: RunningServer, lambda_client: Any, deploy: Callable[..., str]
) -> None:
    marker = uuid.uuid4().hex
    name = deploy({"app.py": f"def handler(event, context):\n    print('async-ran {marker}', event)\n"})
    response = lambda_client.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"a": 1}')
    assert response["StatusCode"] == 202
    assert response["Payload"].read() == b""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        logs = subprocess.run(
            [sys.executable, "-m", "lamina", "logs", name, "--data-dir", str(server.data_dir)],
            capture_output=True,
            text=True,
        ).stdout  # fails (no log group) until the queued invocation has run: polled again
        if f"async-ran {marker} {{'a': 1}}" in logs:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the Event invocation never ran")


def test_dry_run_returns_204_without_running(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy({"app.py": "def handler(event, context):\n    raise RuntimeError('must not run')\n"})
    response = lambda_client.invoke(FunctionName=name, InvocationType="DryRun")
    assert response["StatusCode"] == 204
    assert response["Payload"].read() == b""


def test_log_type_tail_returns_this_invocations_log(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy(
        {
            "app.py": "def handler(event, context):\n    print('line one')\n    print('line two')\n    return 1\n"
        }
    )
    response = lambda_client.invoke(FunctionName=name, LogType="Tail")
    log = base64.b64decode(response["LogResult"]).decode()
    request_id = response["ResponseMetadata"]["RequestId"]
    assert f"START RequestId: {request_id} Version: $LATEST" in log
    assert "line one\nline two\n" in log
    assert f"END RequestId: {request_id}" in log
    report = next(line for line in log.splitlines() if line.startswith("REPORT"))
    fields = report.split("\t")
    assert fields[0] == f"REPORT RequestId: {request_id}"
    assert fields[1].startswith("Duration: ") and fields[1].endswith(" ms")
    assert fields[2].startswith("Billed Duration: ")
    assert fields[3] == "Memory Size: 128 MB"
    assert fields[4].startswith("Max Memory Used: ")
    assert fields[5].startswith("Init Duration: ")  # the first call is a cold start
    warm = lambda_client.invoke(FunctionName=name, LogType="Tail")
    assert "Init Duration" not in base64.b64decode(warm["LogResult"]).decode()


def test_tail_is_limited_to_last_4kb(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy(
        {"app.py": "def handler(event, context):\n    for i in range(500):\n        print('x' * 50, i)\n"}
    )
    response = lambda_client.invoke(FunctionName=name, LogType="Tail")
    log = base64.b64decode(response["LogResult"])
    assert len(log) <= 4096
    assert b"REPORT RequestId" in log


def test_function_error_is_unhandled_with_aws_payload(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy({"app.py": "def handler(event, context):\n    raise ValueError('bad input')\n"})
    response, payload = _invoke_json(lambda_client, name, {})
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "ValueError"
    assert payload["errorMessage"] == "bad input"
    assert payload["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert any("raise ValueError" in frame for frame in payload["stackTrace"])


@pytest.mark.parametrize(
    ("files", "handler", "error_type"),
    [
        (
            {"app.py": "import not_a_module\ndef handler(e, c):\n    return 1\n"},
            "app.handler",
            "Runtime.ImportModuleError",
        ),
        ({"app.py": "def handler(e, c)\n    return 1\n"}, "app.handler", "Runtime.UserCodeSyntaxError"),
        ({"app.py": "def other(e, c):\n    return 1\n"}, "app.handler", "Runtime.HandlerNotFound"),
        ({"app.py": "def handler(e, c):\n    return 1\n"}, "missing.handler", "Runtime.ImportModuleError"),
    ],
)
def test_init_errors_are_reported_like_aws(
    lambda_client: Any, deploy: Callable[..., str], files: dict[str, str], handler: str, error_type: str
) -> None:
    name = deploy(files, handler=handler)
    for _ in range(2):  # the environment is discarded and the next call fails the same way
        response, payload = _invoke_json(lambda_client, name, {})
        assert response["FunctionError"] == "Unhandled"
        assert payload["errorType"] == error_type


def test_unserialisable_result_is_marshal_error(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy({"app.py": "def handler(event, context):\n    return object()\n"})
    response, payload = _invoke_json(lambda_client, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.MarshalError"


def test_runtime_exit_is_reported_and_next_call_gets_fresh_environment(
    lambda_client: Any, deploy: Callable[..., str]
) -> None:
    name = deploy(
        {
            # A token per environment process: os.getpid() is 1 in every namespaces-tier environment.
            "app.py": "import os\nSEEN = []\nPID = os.urandom(8).hex()\ndef handler(event, context):\n"
            "    SEEN.append(1)\n"
            "    if event.get('die'):\n        os._exit(3)\n    return {'pid': PID, 'calls': len(SEEN)}\n"
        }
    )
    _, first = _invoke_json(lambda_client, name, {})
    response, payload = _invoke_json(lambda_client, name, {"die": True})
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in payload["errorMessage"]
    _, after = _invoke_json(lambda_client, name, {})
    assert after["pid"] != first["pid"] and after["calls"] == 1


@pytest.mark.parametrize(
    ("source", "event"),
    [
        ("import sys\ndef handler(event, context):\n    sys.exit(3)\n", {}),  # in the handler
        ("import sys\nsys.exit(3)\ndef handler(event, context):\n    return 1\n", {}),  # during init
    ],
    ids=["invoke", "init"],
)
def test_sys_exit_is_reported_with_its_status(
    lambda_client: Any, deploy: Callable[..., str], source: str, event: dict[str, Any]
) -> None:
    """Lambda: "Runtime exited with error: exit status 3" — also for environments a fork server
    forked (the default start method), where the runtime does not end as an interpreter's main."""
    name = deploy({"app.py": source})
    response, payload = _invoke_json(lambda_client, name, event)
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.ExitError"
    assert payload["errorMessage"].endswith("Error: Runtime exited with error: exit status 3"), payload


def test_boto3_is_provided_by_the_runtime_and_bundled_copy_wins(
    lambda_client: Any, deploy: Callable[..., str]
) -> None:
    provided = deploy({"app.py": "import boto3\ndef handler(e, c):\n    return boto3.__file__\n"})
    _, location = _invoke_json(lambda_client, provided, {})
    assert location.endswith("boto3/__init__.py")
    bundled = deploy(
        {
            "app.py": "import boto3\ndef handler(e, c):\n    return boto3.MARK\n",
            "boto3/__init__.py": "MARK = 'bundled'\n",
        }
    )
    _, mark = _invoke_json(lambda_client, bundled, {})
    assert mark == "bundled"


def test_oversized_request_payload_is_413(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy({"app.py": "def handler(event, context):\n    return 1\n"})
    big = b'"' + b"x" * (6 * 1024 * 1024) + b'"'
    with pytest.raises(lambda_client.exceptions.RequestTooLargeException) as failure:
        lambda_client.invoke(FunctionName=name, Payload=big)
    assert failure.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    event_big = b'"' + b"x" * (1024 * 1024 + 10) + b'"'
    with pytest.raises(lambda_client.exceptions.RequestTooLargeException):
        lambda_client.invoke(FunctionName=name, Payload=event_big, InvocationType="Event")


def test_oversized_response_is_function_error(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy({"app.py": "def handler(event, context):\n    return 'x' * (7 * 1024 * 1024)\n"})
    response, payload = _invoke_json(lambda_client, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Function.ResponseSizeTooLarge"
    # The environment stays usable for normal responses afterwards.
    assert response["StatusCode"] == 200


def test_invalid_json_payload_is_rejected(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy({"app.py": "def handler(event, context):\n    return 1\n"})
    with pytest.raises(lambda_client.exceptions.InvalidRequestContentException) as failure:
        lambda_client.invoke(FunctionName=name, Payload=b"{not json")
    assert failure.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # AWS's prefix; the parser's own words follow.
    assert failure.value.response["Error"]["Message"].startswith(
        "Could not parse request body into json: Could not parse payload into json: "
    )


def test_custom_runtime_without_bootstrap_is_invalid_entrypoint(
    lambda_client: Any, deploy: Callable[..., str]
) -> None:
    name = deploy({"app.py": "x = 1\n"}, Runtime="provided.al2023")
    response, payload = _invoke_json(lambda_client, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.InvalidEntrypoint"


def test_a_bootstrap_that_is_not_executable_fails_every_start_without_leaking_descriptors(
    server: RunningServer, lambda_client: Any, deploy: Callable[..., str]
) -> None:
    name = deploy({"bootstrap": "#!/bin/sh\nexit 0\n"}, Runtime="provided.al2023")  # mode 0644

    def failed_start() -> str:
        response, payload = _invoke_json(lambda_client, name, {})
        assert response["FunctionError"] == "Unhandled"
        assert payload["errorType"] == "Runtime.InvalidEntrypoint"
        assert "permission denied" in payload["errorMessage"].lower(), payload
        return str(payload["errorMessage"])

    failed_start()  # the first start opens what the server keeps: a helper started ahead (spawner.py)
    for _ in range(15):
        failed_start()  # and anything the server opens once, at its first use, opens in this batch
    before = _steady_descriptor_kinds(server)
    for _ in range(15):
        failed_start()
    after = _steady_descriptor_kinds(server)
    # None more of any kind (fewer is fine: other tests' idle environments may have ended meanwhile).
    assert {kind: count for kind, count in after.items() if count > before[kind]} == {}, (before, after)


def _steady_descriptor_kinds(server: RunningServer) -> Counter[str]:
    """The fewest of each kind over a few looks: a file a background task (a flush, a read in a
    thread) has open for a moment is not a leak; a leaked one stays in every look. The namespaces
    tier keeps network namespaces ready (each with its listeners): looked at once it has them all."""
    deadline = time.monotonic() + 30
    while not _network_standby_full(server.port) and time.monotonic() < deadline:
        time.sleep(0.02)
    looks = []
    for _ in range(5):
        looks.append(_descriptor_kinds(server.process.pid))
        time.sleep(0.1)
    return Counter({kind: min(look[kind] for look in looks) for kind in set().union(*looks)})


def _descriptor_kinds(pid: int) -> Counter[str]:
    """How many pipes, sockets, files... the process holds, once the confinement helper started ahead
    of the next spawn is there (each holds one socket of the server's). Log files are left out: the
    log store keeps a handle per recent stream, and each environment has a stream of its own."""
    deadline = time.monotonic() + 30
    while not _idle_helpers(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    kinds: Counter[str] = Counter()
    database = _database_connections()
    for entry in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(entry)
            if not target.endswith(".jsonl") and target not in database:
                kinds[target.split(":[", 1)[0] if ":[" in target else "file"] += 1
    return kinds


def _database_connections() -> set[str]:
    """Client sockets of PostgreSQL connections (LAMINA_TEST_METADATA=postgres), as /proc names them:
    the stores' pools open connections as load needs them and keep them, which is not a leak. The
    server's end of each is listed with the server's socket path and the client's inode as its peer."""
    try:
        listing = subprocess.run(["ss", "-xn"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {
        f"socket:[{fields[-1]}]"
        for line in listing.splitlines()
        if ".s.PGSQL." in line and len(fields := line.split()) >= 2
    }


def _network_standby_full(port: int) -> bool:
    """Network namespaces made ahead are all ready, and no Node.js standby is being started (each
    holds descriptors of the server's once it waits)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_lamina/health", timeout=10) as response:
        health = json.loads(response.read())
    standby = health.get("networkNamespaces")
    return (standby is None or standby["ready"] >= standby["standby"]) and health["nodeStandbysStarting"] == 0


def _idle_helpers(pid: int) -> list[int]:
    """Children of any of the server's threads (the helpers are started from worker threads)."""
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            children += [int(child) for child in (task / "children").read_text().split()]
    return [child for child in children if b"confine_exec.py" in _cmdline(child)]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_every_discovered_python_runtime_runs_functions(
    server: RunningServer, lambda_client: Any, deploy: Callable[..., str]
) -> None:
    runtimes = [name for name in server.health()["runtimes"] if name.startswith("python3.")]
    assert "python3.11" in runtimes
    source = "import sys\ndef handler(event, context):\n    return '%d.%d' % sys.version_info[:2]\n"
    for runtime in runtimes:
        name = deploy({"app.py": source}, Runtime=runtime)
        response, version = _invoke_json(lambda_client, name, {})
        assert "FunctionError" not in response, (runtime, version)
        assert f"python{version}" == runtime


def test_invoke_with_response_stream_sends_chunks_then_completion(deploy: Any, lambda_client: Any) -> None:
    name = deploy(
        {
            "app.py": (
                "def handler(event, context):\n"
                "    if event.get('fail'):\n"
                "        raise ValueError('streamed failure')\n"
                "    print('streaming')\n"
                "    return 'x' * event['size']\n"
            )
        }
    )
    response = lambda_client.invoke_with_response_stream(
        FunctionName=name, Payload=json.dumps({"size": 150_000}), LogType="Tail"
    )
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    events = list(response["EventStream"])
    chunks = [event["PayloadChunk"]["Payload"] for event in events if "PayloadChunk" in event]
    assert len(chunks) >= 3  # 150 KB in 64 KB chunks
    assert json.loads(b"".join(chunks)) == "x" * 150_000
    complete = events[-1]["InvokeComplete"]
    assert "ErrorCode" not in complete
    assert "streaming" in base64.b64decode(complete["LogResult"]).decode()

    failed = list(
        lambda_client.invoke_with_response_stream(FunctionName=name, Payload=json.dumps({"fail": True}))[
            "EventStream"
        ]
    )
    complete = failed[-1]["InvokeComplete"]
    assert complete["ErrorCode"] == "Unhandled"
    assert json.loads(complete["ErrorDetails"])["errorMessage"] == "streamed failure"
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.invoke_with_response_stream(FunctionName="no-such-function", Payload=b"{}")


ONE_SHOT_RUNTIME = r"""#!/bin/sh
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
HEADERS=$(mktemp)
curl -sS -D "$HEADERS" -o /dev/null "$API/invocation/next"
ID=$(grep -i Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
TOKEN=$(cat /proc/sys/kernel/random/uuid)
curl -sS -X POST "$API/invocation/$ID/response" -d "\"$TOKEN\"" >/dev/null
exit 0
"""


def test_a_runtime_that_exits_after_answering_leaves_the_next_invocation_to_a_new_environment(
    lambda_client: Any,
) -> None:
    """A runtime may end right after its answer (Node's does after an uncaught exception): the
    next invocation never reached it, so it runs in a fresh environment instead of failing."""
    name = f"fn-{uuid.uuid4().hex[:12]}"
    lambda_client.create_function(
        FunctionName=name,
        Runtime="provided.al2023",
        Role=EXECUTION_ROLE,
        Handler="unused",
        Code={"ZipFile": make_zip({"bootstrap": ONE_SHOT_RUNTIME}, modes={"bootstrap": 0o755})},
    )
    try:
        wait_active(lambda_client, name)
        answers = []
        for _ in range(4):
            response = lambda_client.invoke(FunctionName=name, Payload=b"{}")
            assert "FunctionError" not in response, response["Payload"].read()
            answers.append(json.loads(response["Payload"].read()))
        assert len(set(answers)) == 4  # every one answered by another runtime process (its own token)
    finally:
        lambda_client.delete_function(FunctionName=name)


def test_a_function_may_set_the_variables_aws_does_not_reserve(
    lambda_client: Any, deploy: Callable[..., str]
) -> None:
    """TZ, LANG and PATH have AWS's values unless the function sets its own (AWS reserves only the
    AWS_*, _HANDLER and LAMBDA_* ones)."""
    name = deploy(
        {"app.py": CONTEXT_ECHO}, Environment={"Variables": {"TZ": "Asia/Tokyo", "LANG": "C.UTF-8"}}
    )
    _, result = _invoke_json(lambda_client, name, {})
    environ = result["environ"]
    assert (environ["TZ"], environ["LANG"], environ["PATH"]) == (
        "Asia/Tokyo",
        "C.UTF-8",
        "/usr/local/bin:/usr/bin:/bin",
    )
