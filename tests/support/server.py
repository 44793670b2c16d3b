"""A real `lamina server` process for integration tests, driven like a user would."""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ACCESS_KEY = "LKIATESTROOTKEY00001"
SECRET_KEY = "test-secret-key-for-integration-tests-0000"
REGION = "us-east-1"
# The execution role every test server has (created through the IAM API, as a user would).
EXECUTION_ROLE_NAME = "lambda-role"
EXECUTION_ROLE = f"arn:aws:iam::000000000000:role/{EXECUTION_ROLE_NAME}"
LAMBDA_TRUST_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log_path: Path
    extra_args: list[str] = field(default_factory=list)
    # Every client made by `client()`, closed when the server stops: a pooled socket to a stopped
    # server would otherwise be collected later, as a ResourceWarning in whichever test runs then.
    _clients: list[Any] = field(default_factory=list, repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, service: str = "lambda", region: str = REGION, **config: Any) -> Any:
        import boto3
        from botocore.config import Config

        client = boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(
                **{"retries": {"max_attempts": 1}, "read_timeout": 120, "inject_host_prefix": False, **config}
            ),
        )
        self._clients.append(client)
        return client

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.endpoint}/_lamina/health", timeout=5) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    def cli_env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        env.update(
            AWS_ENDPOINT_URL=self.endpoint,
            AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_DEFAULT_REGION=REGION,
            AWS_DISABLE_HOST_PREFIX_INJECTION="true",
            AWS_CONFIG_FILE="/dev/null",
            AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        )
        return env

    def root_env(self) -> dict[str, str]:
        """`cli_env` plus LAMINA_ROOT_*: what `lamina admin` and `lamina env` need for a server that
        was given its root credentials rather than storing them."""
        return self.cli_env() | {
            "LAMINA_ROOT_ACCESS_KEY_ID": ACCESS_KEY,
            "LAMINA_ROOT_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def close_clients(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        self.close_clients()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(5)


def start_server(
    data_dir: Path,
    *args: str,
    credentials: bool = True,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> RunningServer:
    """`data_dir` may be relative to `cwd` (the folder the server is started in).

    Test servers use the `process` sandbox unless the test picks one (several tests hand files to
    their functions through the host's file system, which the `namespaces` tier hides);
    LAMINA_TEST_SANDBOX=namespaces|process|auto changes that default for a whole run;
    Test servers run one process (`--workers 1`) unless the test picks a count: LAMINA_TEST_WORKERS=N
    runs every other server with `--workers N`, and LAMINA_TEST_WORKERS=default with the CLI's own
    default (one per core). LAMINA_TEST_METADATA=postgres keeps every server's state in a database
    of its own (the same one again when a test restarts a server on its data directory) on a
    throwaway PostgreSQL server, instead of the data directory's SQLite files.
    A port that another process took between our probe and the server's bind is tried once more.
    `env`: variables the server gets besides the root credentials (the tests' own AWS_* and LAMINA_*
    variables are never passed on).
    """
    for _ in range(_PORT_ATTEMPTS - 1):
        try:
            return _start_server(data_dir, *args, credentials=credentials, cwd=cwd, env=env)
        except PortTaken:
            continue
    return _start_server(data_dir, *args, credentials=credentials, cwd=cwd, env=env)


_PORT_ATTEMPTS = 3
# For tests that look at the data directory's own files (SQLite databases, blob and log files).
files_only = pytest.mark.skipif(
    os.environ.get("LAMINA_TEST_METADATA") == "postgres",
    reason="looks at the data directory's files: under LAMINA_TEST_METADATA=postgres the server keeps "
    "that state in PostgreSQL",
)
_DATABASES: dict[Path, str] = {}  # LAMINA_TEST_METADATA=postgres: each data directory's database
_POSTGRES: list[Any] = []  # that run's PostgreSQL server, started on first use


def _database_of(data_dir: Path) -> str:
    if not _POSTGRES:
        from tests.support.postgres import postgres_server

        stack = contextlib.ExitStack()
        _POSTGRES.append(stack.enter_context(postgres_server()))
        atexit.register(stack.close)
    key = data_dir.resolve()
    if key not in _DATABASES:
        _DATABASES[key] = _POSTGRES[0].new_database()
    return _DATABASES[key]


class PortTaken(RuntimeError):
    """The free port we picked was taken before the server could bind it (a race, not a bug)."""


def _start_server(
    data_dir: Path, *args: str, credentials: bool, cwd: Path | None, env: Mapping[str, str] | None
) -> RunningServer:
    port = free_port()
    if "--sandbox" not in args:
        args = (*args, "--sandbox", os.environ.get("LAMINA_TEST_SANDBOX", "process"))
    absolute_data_dir = (cwd / data_dir) if cwd is not None and not data_dir.is_absolute() else data_dir
    if os.environ.get("LAMINA_TEST_METADATA") == "postgres" and "--metadata" not in args:
        args = (*args, "--metadata", _database_of(absolute_data_dir))
    workers = os.environ.get("LAMINA_TEST_WORKERS") or "1"
    if "--workers" not in args and "--cluster" not in args and workers != "default":
        # LAMINA_TEST_WORKERS=N: a whole run against servers of several processes (every test must
        # pass there too).
        args = (*args, "--workers", workers)
    variables = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "LAMINA_"))}
    variables.update(env or {})
    if credentials:
        variables["LAMINA_ROOT_ACCESS_KEY_ID"] = ACCESS_KEY
        variables["LAMINA_ROOT_SECRET_ACCESS_KEY"] = SECRET_KEY
    log_path = absolute_data_dir.parent / f"{data_dir.name}-server-{port}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - handed to the child process
    process = subprocess.Popen(
        [sys.executable, "-m", "lamina", "server", "--data-dir", str(data_dir), "--port", str(port), *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=variables,
        cwd=cwd,
    )
    log.close()
    server = RunningServer(process, port, absolute_data_dir, log_path, list(args))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = server.output()
            if f"cannot listen on 127.0.0.1:{port}: [Errno 98]" in output:
                raise PortTaken(output)
            raise RuntimeError(f"server exited early:\n{output}")
        # Not yet listening, or another program's port (the server then exits: PortTaken).
        with contextlib.suppress(OSError, http.client.HTTPException):
            server.health()
            if credentials:
                _ensure_execution_role(server)
            return server
        time.sleep(0.05)
    server.stop(signal.SIGKILL)
    raise RuntimeError(f"server did not become healthy:\n{server.output()}")


def _ensure_execution_role(server: RunningServer) -> None:
    iam = server.client("iam")
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName=EXECUTION_ROLE_NAME, AssumeRolePolicyDocument=LAMBDA_TRUST_POLICY)
    iam.close()


@contextlib.contextmanager
def running_server(
    data_dir: Path,
    *args: str,
    credentials: bool = True,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[RunningServer]:
    server = start_server(data_dir, *args, credentials=credentials, cwd=cwd, env=env)
    try:
        yield server
    finally:
        server.stop()
