"""Running the real `lamina` command as a user would: a fresh process, no AWS_* or LAMINA_*
variables but those a test gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.server import RunningServer


def run_lamina(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "LAMINA_"))}
    return subprocess.run(
        [sys.executable, "-m", "lamina", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=clean | (env or {}),
    )


def create_account(server: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    """`lamina admin create-account` against `server`, as its root (`args`: e.g. --account-id)."""
    return run_lamina(
        "admin",
        "create-account",
        "--data-dir",
        str(server.data_dir),
        "--port",
        str(server.port),
        *args,
        env=server.root_env(),
        timeout=60,
    )


def run_aws(server: RunningServer, *args: str, endpoint_url: bool = False) -> Any:
    """The `aws` CLI (awscli, as the test dependencies install it) against `server`; its JSON
    answer (None when it printed nothing). `endpoint_url`: pass --endpoint-url, which awscli v1's
    `aws sqs` needs in us-east-1 (its customization ignores AWS_ENDPOINT_URL there)."""
    printed = aws_text(server, *args, endpoint_url=endpoint_url)
    return json.loads(printed) if printed.strip() else None


def aws_text(server: RunningServer, *args: str, endpoint_url: bool = False) -> str:
    """What the `aws` CLI printed (commands such as `cloudformation deploy` print text); asserts
    that it succeeded."""
    extra = ["--endpoint-url", server.endpoint] if endpoint_url else []
    completed = subprocess.run(
        [sys.executable, "-m", "awscli", *args, *extra],
        env=server.cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr + completed.stdout
    return completed.stdout


def new_account(server: RunningServer, account_id: str) -> Callable[[str], Any]:
    """`lamina admin create-account --account-id ACCOUNT_ID`; what makes boto3 clients of the
    new account's root (one per service name), without retries."""
    import re

    import boto3
    from botocore.config import Config

    created = create_account(server, "--account-id", account_id)
    assert created.returncode == 0, created.stderr
    exports = dict(re.findall(r"^export (AWS_[A-Z_]+)=(.*)$", created.stdout, re.MULTILINE))

    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=server.endpoint,
            region_name="us-east-1",
            aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
            config=Config(retries={"max_attempts": 1}),
        )

    return client
