"""The `lamina` command against real servers: one server per data directory, LAMINA_DATA_DIR,
`lamina logs` and `lamina tune` on functions that are not there, multi-line records, and runtimes
listed in version order."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import run_lamina
from tests.support.lambda_calls import wait_active
from tests.support.packaging import make_zip
from tests.support.server import EXECUTION_ROLE, RunningServer, free_port, running_server


def short_failure(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode != 0, result
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2 and lines[0].startswith("lamina: "), result.stderr
    return lines


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(
        tmp_path_factory.mktemp("cli") / "data",
        "--runtime",
        f"python3.9={sys.executable}",
        "--runtime",
        f"python3.10={sys.executable}",
    ) as running:
        yield running


def test_a_second_server_on_the_same_data_directory_exits_naming_the_first(server: RunningServer) -> None:
    second = run_lamina("server", "--data-dir", str(server.data_dir), "--port", str(free_port()), timeout=60)
    [line] = short_failure(second)
    assert f"pid {server.process.pid}" in line and str(server.data_dir) in line
    assert server.health()["accounts"] == 1  # the first one is untouched


def test_the_lock_goes_with_the_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with running_server(data_dir) as first:
        pass
    assert first.process.returncode is not None
    with running_server(data_dir) as again:  # a stopped (or killed) server leaves nothing held
        assert again.health()["accounts"] == 1


@pytest.fixture
def generated(tmp_path: Path) -> Iterator[RunningServer]:
    """A server that generated its root credentials and keeps them in its data directory."""
    (tmp_path / "generated").mkdir()
    with running_server(tmp_path / "generated" / "data", credentials=False) as running:
        yield running


def test_env_reads_the_data_directory_it_is_pointed_at(generated: RunningServer, tmp_path: Path) -> None:
    server = generated
    tmp_path = tmp_path / "elsewhere"
    tmp_path.mkdir()
    outside = run_lamina("env", cwd=tmp_path)
    short_failure(outside)
    assert list(tmp_path.iterdir()) == []  # no new data directory, no new credentials
    pointed = run_lamina("env", "--data-dir", str(server.data_dir), "--port", str(server.port), cwd=tmp_path)
    assert pointed.returncode == 0, pointed.stderr
    by_variable = run_lamina(
        "env", "--port", str(server.port), cwd=tmp_path, env={"LAMINA_DATA_DIR": str(server.data_dir)}
    )
    assert by_variable.stdout == pointed.stdout
    exports = dict(line.removeprefix("export ").split("=", 1) for line in pointed.stdout.splitlines())
    assert exports["AWS_ACCESS_KEY_ID"] in server.output()  # the pair the server generated and printed


def test_env_never_makes_credentials_the_server_does_not_know(server: RunningServer) -> None:
    """This server was given LAMINA_ROOT_*: without them, `lamina env` has nothing true to print."""
    result = run_lamina("env", "--data-dir", str(server.data_dir))
    assert "holds no root credentials" in short_failure(result)[0]
    assert not (server.data_dir / "secrets" / "root-credentials.json").exists()
    given = run_lamina(
        "env",
        "--data-dir",
        str(server.data_dir),
        env=server.root_env(),
    )
    assert f"export AWS_ACCESS_KEY_ID={server.cli_env()['AWS_ACCESS_KEY_ID']}" in given.stdout
    # No --port: the server's own, as it wrote it in its data directory (not the default 5264).
    assert f"export AWS_ENDPOINT_URL=http://127.0.0.1:{server.port}\n" in given.stdout


def test_lamina_data_dir_places_the_servers_state(tmp_path: Path) -> None:
    data_dir = tmp_path / "from-variable"
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "LAMINA_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "lamina", "server", "--port", str(port), "--sandbox", "process"],
        env=env | {"LAMINA_DATA_DIR": str(data_dir)},
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_lamina/health", timeout=5).close()
                break
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        assert (data_dir / "lamina.db").is_file()
        assert not (tmp_path / ".lamina").exists()
    finally:
        process.terminate()
        process.wait(30)


def test_logs_of_a_function_that_does_not_exist_says_so(server: RunningServer) -> None:
    result = run_lamina("logs", "nosuch", "--data-dir", str(server.data_dir))
    [what, _] = short_failure(result)
    assert "no log group /aws/lambda/nosuch" in what
    unknown_account = run_lamina(
        "logs", "nosuch", "--data-dir", str(server.data_dir), "--account-id", "123412341234"
    )
    assert "no account 123412341234" in short_failure(unknown_account)[0]


def test_logs_follow_waits_for_a_log_group_that_does_not_exist_yet(server: RunningServer) -> None:
    with pytest.raises(subprocess.TimeoutExpired) as waiting:
        run_lamina("logs", "not-run-yet", "--follow", "--data-dir", str(server.data_dir), timeout=10)
    stderr = waiting.value.stderr
    text = stderr.decode() if isinstance(stderr, bytes) else stderr or ""
    assert "waiting for /aws/lambda/not-run-yet" in text


def test_logs_print_the_lines_of_a_multi_line_record_as_lines(server: RunningServer) -> None:
    client = server.client("lambda")
    client.create_function(
        FunctionName="fails",
        Runtime="python3.11",
        Role=EXECUTION_ROLE,
        Handler="app.handler",
        Code={
            "ZipFile": make_zip({"app.py": "def handler(event, context):\n    raise ValueError('broken')\n"})
        },
    )
    wait_active(client, "fails")
    assert client.invoke(FunctionName="fails").get("FunctionError") == "Unhandled"
    deadline = time.monotonic() + 20
    while True:  # log events reach the disk within the server's flush interval
        shown = run_lamina("logs", "fails", "--data-dir", str(server.data_dir))
        if "Traceback" in shown.stdout or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert shown.returncode == 0, shown.stderr
    assert "\r" not in shown.stdout
    lines = shown.stdout.splitlines()
    error = next(index for index, line in enumerate(lines) if "[ERROR] ValueError: broken" in line)
    assert lines[error + 1].startswith("Traceback (most recent call last):")


def test_tune_of_a_function_that_does_not_exist_is_one_failure(server: RunningServer, tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text("{}")
    result = run_lamina(
        "tune", "nosuch", "--event", str(event), "--endpoint-url", server.endpoint, env=server.cli_env()
    )
    assert "no function nosuch" in short_failure(result)[0]


def test_runtimes_are_listed_in_version_order(server: RunningServer) -> None:
    banner = next(line for line in server.output().splitlines() if "runtimes:" in line)
    assert banner.index("python3.9,") < banner.index("python3.10,")
    listed = server.health()["runtimes"]
    assert listed.index("python3.9") < listed.index("python3.10") < listed.index("python3.11")
    client = server.client("lambda")
    with pytest.raises(client.exceptions.ClientError) as refused:
        client.create_function(
            FunctionName="old",
            Runtime="ruby3.4",  # AWS's, not this host's: refused with the list of what is here
            Role=EXECUTION_ROLE,
            Handler="app.handler",
            Code={"ZipFile": make_zip({"app.py": "x = 1\n"})},
        )
    message = refused.value.response["Error"]["Message"]
    assert message.index("python3.9") < message.index("python3.10") < message.index("python3.11"), message
