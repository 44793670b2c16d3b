"""Hostile functions against real servers, once per sandbox tier the host supports.

Every attack that ever worked against Lamina lives on here as a test, next to the ones that held
(docs/security.md is the threat model). A module gets its own server per tier (`tier_server`), so an
attack that damages a server cannot hide or cause another module's result.

The process-tier server gets what its uid isolation needs (see sandbox/detect.py): a data directory
other users can reach and a python3.11 outside /root (Debian's), so functions run as their own uids.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.lambda_calls import wait_active
from tests.support.packaging import make_zip
from tests.support.server import EXECUTION_ROLE, RunningServer, running_server

DEBIAN_PYTHON = "/usr/bin/python3.11"
TIERS = ["process", "namespaces"]

if not sys.platform.startswith("linux") or os.geteuid() != 0:
    pytest.skip("sandbox tiers need Linux and root", allow_module_level=True)


def tier_arguments(tier: str) -> list[str]:
    """`lamina server` arguments that give `tier` everything its isolation needs on this host."""
    args = ["--sandbox", tier, "--keep-alive", "60"]
    if tier == "process":
        if not os.path.exists(DEBIAN_PYTHON):
            pytest.skip(f"the process tier's uid isolation needs {DEBIAN_PYTHON}")
        args += ["--runtime", f"python3.11={DEBIAN_PYTHON}"]
    return args


@contextlib.contextmanager
def server_in_tier(tier: str, *extra: str) -> Iterator[RunningServer]:
    """A fresh server in `tier`. Its data directory lies under /tmp itself (pytest's folders are
    private to root): the process tier's environments must be able to reach their own code."""
    parent = Path(tempfile.mkdtemp(prefix="lamina-security-", dir="/tmp"))
    parent.chmod(0o755)
    try:
        with running_server(parent / "data", *tier_arguments(tier), *extra) as server:
            if tier == "process":
                assert "per-environment uid" in server.output(), server.output()
            assert server.health()["sandbox"] == tier
            yield server
    finally:
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture(scope="module", params=TIERS)
def tier_server(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    with server_in_tier(request.param) as server:
        yield server


def create_function(server: RunningServer, files: dict[str, str], handler: str, **options: Any) -> str:
    """A Python function from {path: source}, with the test role (which allows only logs:*)."""
    name = options.pop("FunctionName", f"sec-{uuid.uuid4().hex[:10]}")
    options.setdefault("Timeout", 30)
    bootstrap = options.pop("_bootstrap", None)
    package = (
        make_zip(files)
        if bootstrap is None
        else make_zip({"bootstrap": bootstrap}, modes={"bootstrap": 0o755})
    )
    client = server.client("lambda")
    client.create_function(
        FunctionName=name,
        Runtime=options.pop("Runtime", "python3.11"),
        Role=options.pop("Role", EXECUTION_ROLE),
        Handler=handler,
        Code={"ZipFile": package},
        **options,
    )
    wait_active(client, name)
    return name


def create_custom_runtime(server: RunningServer, bootstrap: str, **options: Any) -> str:
    """A `provided.al2023` function whose ZIP holds only an executable `bootstrap`."""
    options.setdefault("Handler", "unused.handler")
    return create_function(
        server, {}, options.pop("Handler"), Runtime="provided.al2023", _bootstrap=bootstrap, **options
    )


def invoke(server: RunningServer, name: str, event: Any = None) -> tuple[dict[str, Any], Any]:
    """(boto3's response, the decoded payload) of a synchronous call with its log tail."""
    response = server.client("lambda").invoke(
        FunctionName=name, Payload=json.dumps(event if event is not None else {}).encode(), LogType="Tail"
    )
    return response, json.loads(response["Payload"].read())


VICTIM = """
def handler(event, context):
    return {"ok": True, "echo": event}
"""


def assert_still_serving(server: RunningServer) -> None:
    """A fresh, innocent function answers, and health says ok."""
    name = create_function(server, {"app.py": VICTIM}, "app.handler")
    response, result = invoke(server, name, {"ping": 1})
    assert "FunctionError" not in response, result
    assert result == {"ok": True, "echo": {"ping": 1}}
    assert server.health()["status"] == "ok"
