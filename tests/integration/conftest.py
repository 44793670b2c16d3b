"""Integration fixtures: one shared server per test session, plus helpers to deploy functions."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.lambda_calls import wait_active
from tests.support.packaging import make_zip
from tests.support.server import EXECUTION_ROLE, RunningServer, running_server

ROLE = EXECUTION_ROLE


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data_dir = tmp_path_factory.mktemp("shared") / "data"
    with running_server(data_dir, "--keep-alive", "30") as running:
        yield running


@pytest.fixture(scope="session")
def lambda_client(server: RunningServer) -> Any:
    return server.client("lambda")


@pytest.fixture
def deploy(lambda_client: Any) -> Iterator[Callable[..., str]]:
    """Create a function from {path: source}; deleted after the test. Returns its name."""
    created: list[str] = []

    def create(files: dict[str, str | bytes], handler: str = "app.handler", **options: Any) -> str:
        name = options.pop("FunctionName", f"fn-{uuid.uuid4().hex[:12]}")
        lambda_client.create_function(
            FunctionName=name,
            Runtime=options.pop("Runtime", "python3.11"),
            Role=options.pop("Role", ROLE),
            Handler=handler,
            Code={"ZipFile": make_zip(files)},
            **options,
        )
        created.append(name)
        wait_active(lambda_client, name)
        return name

    yield create
    for name in created:
        with contextlib.suppress(lambda_client.exceptions.ResourceNotFoundException):
            lambda_client.delete_function(FunctionName=name)


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    return tmp_path
