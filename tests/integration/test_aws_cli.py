"""The real `aws` CLI (v1, as installed with the test extras) against a running server.

awscli v1 sends `--payload` text as-is and rejects v2's `--cli-binary-format raw-in-base64-out`
("Unknown options"), so payloads here are plain JSON text or `fileb://` files, which both major
versions treat the same way.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import ROLE
from tests.support.packaging import make_zip
from tests.support.server import RunningServer

APP = """\
import os


def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail: " + str(event["fail"]))
    print("marker:", event.get("marker", "none"))
    return {"echo": event, "greeting": os.environ.get("GREETING"), "version": "v1"}
"""

APP_V2 = """\
def handler(event, context):
    return {"version": "v2"}
"""


@dataclass(frozen=True, slots=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout) if self.stdout.strip() else {}


def aws(server: RunningServer, *args: str) -> CliResult:
    completed = subprocess.run(
        [sys.executable, "-m", "awscli", "lambda", *args, "--output", "json"],
        env=server.cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return CliResult(completed.returncode, completed.stdout, completed.stderr)


def aws_ok(server: RunningServer, *args: str) -> Any:
    result = aws(server, *args)
    assert result.returncode == 0, (
        f"aws lambda {' '.join(args)} failed:\n{result.stderr}\n{server.output()[-3000:]}"
    )
    return result.json()


def write_zip(directory: Path, files: dict[str, str | bytes]) -> tuple[Path, bytes]:
    data = make_zip(files)
    path = directory / f"package-{uuid.uuid4().hex[:8]}.zip"
    path.write_bytes(data)
    return path, data


def code_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def cli_create(server: RunningServer, name: str, package: Path, *extra: str) -> Any:
    """`aws lambda create-function`, then `aws lambda wait function-active-v2`, as on AWS."""
    created = aws_ok(
        server,
        "create-function",
        f"--function-name={name}",
        "--runtime=python3.11",
        f"--role={ROLE}",
        "--handler=app.handler",
        f"--zip-file=fileb://{package}",
        *extra,
    )
    assert created["State"] == "Pending"
    assert aws(server, "wait", "function-active-v2", "--function-name", name).returncode == 0
    return created


@dataclass(frozen=True, slots=True)
class CliFunction:
    name: str
    created: dict[str, Any]
    package: bytes


@pytest.fixture(scope="module")
def cli_function(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliFunction]:
    """One function created with `aws lambda create-function`, shared by the read-only tests."""
    package, data = write_zip(tmp_path_factory.mktemp("cli"), {"app.py": APP})
    name = f"cli-{uuid.uuid4().hex[:10]}"
    created = cli_create(server, name, package, "--description", "made by the aws CLI")
    yield CliFunction(name, created, data)
    client = server.client("lambda")
    with contextlib.suppress(client.exceptions.ResourceNotFoundException):
        client.delete_function(FunctionName=name)


def invoke(server: RunningServer, name: str, outfile: Path, *extra: str) -> tuple[dict[str, Any], bytes]:
    printed = aws_ok(server, "invoke", "--function-name", name, *extra, str(outfile))
    return printed, outfile.read_bytes()


def test_create_function_prints_the_new_configuration(cli_function: CliFunction) -> None:
    created = cli_function.created
    assert created["FunctionName"] == cli_function.name
    assert created["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{cli_function.name}"
    assert created["Runtime"] == "python3.11"
    assert created["Handler"] == "app.handler"
    assert created["Role"] == ROLE
    assert created["Description"] == "made by the aws CLI"
    assert created["CodeSha256"] == code_sha256(cli_function.package)
    assert created["CodeSize"] == len(cli_function.package)
    assert created["Version"] == "$LATEST"
    assert created["MemorySize"] == 128
    assert created["Timeout"] == 3
    assert created["PackageType"] == "Zip"


def test_get_function_and_configuration_and_list(server: RunningServer, cli_function: CliFunction) -> None:
    name = cli_function.name
    got = aws_ok(server, "get-function", "--function-name", name)
    assert got["Configuration"]["FunctionName"] == name
    assert got["Configuration"]["CodeSha256"] == code_sha256(cli_function.package)
    assert got["Configuration"]["State"] == "Active"
    assert got["Code"]["RepositoryType"] == "S3"
    assert got["Code"]["Location"].startswith(server.endpoint)

    configuration = aws_ok(server, "get-function-configuration", "--function-name", name)
    assert configuration == got["Configuration"]

    listed = aws_ok(server, "list-functions")
    by_name = {function["FunctionName"]: function for function in listed["Functions"]}
    assert by_name[name]["CodeSha256"] == code_sha256(cli_function.package)
    assert by_name[name]["FunctionArn"] == cli_function.created["FunctionArn"]


def test_invoke_writes_the_payload_to_the_outfile(
    server: RunningServer, cli_function: CliFunction, tmp_path: Path
) -> None:
    printed, body = invoke(
        server, cli_function.name, tmp_path / "out.json", "--payload", '{"name": "Bob", "marker": "inline"}'
    )
    assert printed == {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
    assert json.loads(body) == {
        "echo": {"name": "Bob", "marker": "inline"},
        "greeting": None,
        "version": "v1",
    }

    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps({"items": [1, 2, 3], "text": "héllo"}))
    printed, body = invoke(
        server, cli_function.name, tmp_path / "out2.json", "--payload", f"fileb://{event_file}"
    )
    assert printed["StatusCode"] == 200
    assert json.loads(body)["echo"] == {"items": [1, 2, 3], "text": "héllo"}


def test_invoke_log_type_tail_returns_the_invocation_log(
    server: RunningServer, cli_function: CliFunction, tmp_path: Path
) -> None:
    marker = uuid.uuid4().hex
    printed, _ = invoke(
        server,
        cli_function.name,
        tmp_path / "out.json",
        "--log-type=Tail",
        f"--payload={json.dumps({'marker': marker})}",
    )
    assert printed["StatusCode"] == 200
    log = base64.b64decode(printed["LogResult"]).decode()
    lines = log.splitlines()
    start = next(line for line in lines if line.startswith("START "))
    request_id = re.fullmatch(r"START RequestId: ([0-9a-f-]{36}) Version: \$LATEST", start)
    assert request_id is not None, start
    assert f"marker: {marker}" in lines
    assert f"END RequestId: {request_id[1]}" in lines
    report = next(line for line in lines if line.startswith("REPORT "))
    assert re.match(
        rf"REPORT RequestId: {request_id[1]}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
        r"Memory Size: 128 MB\tMax Memory Used: \d+ MB\t",
        report,
    ), report
    assert report.endswith("\t")
    assert (
        lines.index(start) < lines.index(f"marker: {marker}") < lines.index(f"END RequestId: {request_id[1]}")
    )


def test_invoke_event_is_accepted_and_runs_later(
    server: RunningServer, cli_function: CliFunction, tmp_path: Path
) -> None:
    marker = f"event-{uuid.uuid4().hex}"
    printed, body = invoke(
        server,
        cli_function.name,
        tmp_path / "out.json",
        "--invocation-type=Event",
        f"--payload={json.dumps({'marker': marker})}",
    )
    assert printed == {"StatusCode": 202}
    assert body == b""
    deadline = time.monotonic() + 20
    logs = ""
    while time.monotonic() < deadline:
        logs = subprocess.run(
            [sys.executable, "-m", "lamina", "logs", cli_function.name, "--data-dir", str(server.data_dir)],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        if f"marker: {marker}" in logs:
            break
        time.sleep(0.2)
    assert f"marker: {marker}" in logs


def test_invoke_dry_run_returns_204_without_running(
    server: RunningServer, cli_function: CliFunction, tmp_path: Path
) -> None:
    printed, body = invoke(server, cli_function.name, tmp_path / "out.json", "--invocation-type", "DryRun")
    assert printed == {"StatusCode": 204}
    assert body == b""


def test_function_error_is_reported_in_the_output_and_outfile(
    server: RunningServer, cli_function: CliFunction, tmp_path: Path
) -> None:
    # The CLI exits 0 for a function error: the call itself succeeded (HTTP 200).
    printed, body = invoke(
        server, cli_function.name, tmp_path / "out.json", "--payload", '{"fail": "please"}'
    )
    assert printed == {"StatusCode": 200, "FunctionError": "Unhandled", "ExecutedVersion": "$LATEST"}
    error = json.loads(body)
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "asked to fail: please"
    assert isinstance(error.get("stackTrace"), list)


def test_get_account_settings(server: RunningServer, cli_function: CliFunction) -> None:
    settings = aws_ok(server, "get-account-settings")
    limit = settings["AccountLimit"]
    assert limit["ConcurrentExecutions"] == 1000
    assert limit["UnreservedConcurrentExecutions"] <= limit["ConcurrentExecutions"]
    assert limit["CodeSizeUnzipped"] == 262_144_000
    assert limit["CodeSizeZipped"] == 52_428_800
    usage = settings["AccountUsage"]
    assert usage["FunctionCount"] >= 1
    assert usage["TotalCodeSize"] >= len(cli_function.package)


def test_update_configuration_and_code(server: RunningServer, tmp_path: Path) -> None:
    package, _ = write_zip(tmp_path, {"app.py": APP})
    name = f"cli-upd-{uuid.uuid4().hex[:10]}"
    created = cli_create(server, name, package)
    try:
        updated = aws_ok(
            server,
            "update-function-configuration",
            f"--function-name={name}",
            "--memory-size=256",
            "--timeout=10",
            "--environment=Variables={GREETING=hello,OTHER=x}",
        )
        assert updated["MemorySize"] == 256
        assert updated["Timeout"] == 10
        assert updated["Environment"] == {"Variables": {"GREETING": "hello", "OTHER": "x"}}
        assert updated["RevisionId"] != created["RevisionId"]
        assert updated["CodeSha256"] == created["CodeSha256"]
        assert aws(server, "wait", "function-updated-v2", "--function-name", name).returncode == 0

        configuration = aws_ok(server, "get-function-configuration", "--function-name", name)
        assert (configuration["MemorySize"], configuration["Timeout"]) == (256, 10)
        _, body = invoke(server, name, tmp_path / "out.json")
        assert json.loads(body)["greeting"] == "hello"

        new_package, new_data = write_zip(tmp_path, {"app.py": APP_V2})
        updated_code = aws_ok(
            server, "update-function-code", "--function-name", name, "--zip-file", f"fileb://{new_package}"
        )
        assert updated_code["CodeSha256"] == code_sha256(new_data)
        assert updated_code["CodeSize"] == len(new_data)
        assert updated_code["MemorySize"] == 256  # configuration survives a code update
        assert aws(server, "wait", "function-updated-v2", "--function-name", name).returncode == 0
        _, body = invoke(server, name, tmp_path / "out2.json")
        assert json.loads(body) == {"version": "v2"}
    finally:
        aws(server, "delete-function", "--function-name", name)


def test_waiters_and_delete(server: RunningServer, tmp_path: Path) -> None:
    package, _ = write_zip(tmp_path, {"app.py": APP})
    name = f"cli-del-{uuid.uuid4().hex[:10]}"
    cli_create(server, name, package)
    assert aws(server, "wait", "function-active-v2", "--function-name", name).returncode == 0
    assert aws(server, "wait", "function-updated-v2", "--function-name", name).returncode == 0

    aws_ok(server, "delete-function", "--function-name", name)

    missing = aws(server, "get-function", "--function-name", name)
    assert missing.returncode != 0
    assert "ResourceNotFoundException" in missing.stderr
    assert name in missing.stderr
    failed_invoke = aws(server, "invoke", "--function-name", name, str(tmp_path / "out.json"))
    assert failed_invoke.returncode != 0
    assert "ResourceNotFoundException" in failed_invoke.stderr
    # A waiter on a missing function stops at once with the error instead of polling for minutes.
    waited = aws(server, "wait", "function-active-v2", "--function-name", name)
    assert waited.returncode != 0
    assert "ResourceNotFoundException" in waited.stderr


def test_versions_aliases_permissions_and_concurrency(server: RunningServer, tmp_path: Path) -> None:
    """The AWS CLI's own examples for publish-version, create-alias, add-permission (another
    account may invoke) and put-function-concurrency."""
    name = f"cli-{uuid.uuid4().hex[:8]}"
    package, _ = write_zip(tmp_path, {"app.py": APP})
    cli_create(server, name, package)
    assert aws_ok(server, "publish-version", f"--function-name={name}")["Version"] == "1"
    alias = aws_ok(server, "create-alias", f"--function-name={name}", "--name=LIVE", "--function-version=1")
    assert alias["AliasArn"].endswith(f":function:{name}:LIVE")
    statement = aws_ok(
        server,
        "add-permission",
        f"--function-name={name}",
        "--statement-id=xaccount",
        "--action=lambda:InvokeFunction",
        "--principal=123456789012",
    )["Statement"]
    assert json.loads(statement)["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    policy = json.loads(aws_ok(server, "get-policy", f"--function-name={name}")["Policy"])
    assert [item["Sid"] for item in policy["Statement"]] == ["xaccount"]
    reserved = aws_ok(
        server, "put-function-concurrency", f"--function-name={name}", "--reserved-concurrent-executions=5"
    )
    assert reserved == {"ReservedConcurrentExecutions": 5}
    invoked = aws_ok(server, "invoke", f"--function-name={name}:LIVE", str(tmp_path / "out.json"))
    assert invoked["ExecutedVersion"] == "1"
    aws_ok(server, "delete-function", f"--function-name={name}")
