"""Starting an execution environment for real (a custom runtime in the process tier): a Runtime API
port that cannot be bound at once is retried, and a start that fails for the platform's reasons
answers ServiceException after closing everything it opened."""

from __future__ import annotations

import asyncio
import errno
import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.fake_backend import CODE
from tests.support.packaging import shell_runtime

from lamina.domain.functions import FunctionConfig
from lamina.errors import AwsError
from lamina.execution.environment import EnvironmentContext, ExecutionEnvironment, InvocationRequest
from lamina.execution.runtimes.catalog import RuntimeSpec
from lamina.execution.sandbox.process import ProcessSandbox
from lamina.runtime_api.endpoint import RuntimeApiEndpoint
from lamina.store.logs import FileLogStore

CUSTOM_RUNTIME = RuntimeSpec("provided.al2023", None, None)
BOOTSTRAP = shell_runtime("""BODY='"started"'""")

pytestmark = pytest.mark.skipif(
    not os.path.exists("/bin/sh") or not os.path.exists("/usr/bin/curl"), reason="needs sh and curl"
)


@pytest.fixture
def code(tmp_path: Path) -> Path:
    folder = tmp_path / "code"
    folder.mkdir()
    bootstrap = folder / "bootstrap"
    bootstrap.write_text(BOOTSTRAP)
    bootstrap.chmod(0o755)
    return folder


@pytest.fixture
def failing_binds(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Make the next N binds of a Runtime API port fail with EADDRINUSE: append N."""
    failures: list[int] = []
    original = RuntimeApiEndpoint.start

    async def start(self: RuntimeApiEndpoint, host: str = "127.0.0.1") -> str:
        if failures and failures[0] > 0:
            failures[0] -= 1
            raise OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE))
        return await original(self, host)

    monkeypatch.setattr(RuntimeApiEndpoint, "start", start)
    yield failures


def _run(
    tmp_path: Path,
    body: Callable[[Callable[[Path], ExecutionEnvironment]], Awaitable[Any]],
    revoked: list[str] | None = None,
) -> Any:
    """Run `body` with a factory of environments on one process-tier sandbox, then close it.
    `revoked`: given, each start mints credentials and their revocations are appended to it."""

    async def credentials(config: FunctionConfig) -> tuple[dict[str, str], float | None]:
        return {"AWS_ACCESS_KEY_ID": f"ASIA{uuid.uuid4().hex[:12].upper()}"}, None

    async def main() -> Any:
        sandbox = ProcessSandbox(None)
        context = EnvironmentContext(
            sandbox=sandbox,
            log_store=FileLogStore(tmp_path / "logs"),
            region="us-east-1",
            account_id="000000000000",
            sdk_library=None,
            scratch_root=tmp_path / "scratch",
            credentials=credentials if revoked is not None else None,
            revoke_credentials=revoked.append if revoked is not None else None,
        )
        config = FunctionConfig("f", "provided.al2023", "app.handler", "role", CODE)

        def environment(code: Path) -> ExecutionEnvironment:
            return ExecutionEnvironment(config, CUSTOM_RUNTIME, code, context)

        try:
            return await body(environment)
        finally:
            sandbox.close()

    return asyncio.run(main())


def _request() -> InvocationRequest:
    return InvocationRequest(
        str(uuid.uuid4()), b"{}", "arn:aws:lambda:us-east-1:000000000000:function:f", "Root=1"
    )


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _settled_descriptors(bound: int, wait_seconds: float = 10.0) -> int:
    """The open descriptors once at most `bound`, or after `wait_seconds`: the spawner's helper for
    the next start may be starting in a worker thread (its sockets and pipes open for a moment)."""
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while (count := _open_descriptors()) > bound and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    return count


def test_a_runtime_api_port_that_cannot_be_bound_at_first_is_retried(
    tmp_path: Path, code: Path, failing_binds: list[int]
) -> None:
    failing_binds.append(2)

    async def body(environment: Callable[[Path], ExecutionEnvironment]) -> bytes:
        started = environment(code)
        await started.start()
        try:
            result = await started.invoke(_request())
        finally:
            await started.stop()
        assert result.function_error is None, result.payload
        return result.payload

    assert _run(tmp_path, body) == b'"started"'
    assert failing_binds == [0]


def test_a_start_that_cannot_bind_answers_service_exception_and_leaks_nothing(
    tmp_path: Path, code: Path, failing_binds: list[int]
) -> None:
    failing_binds.append(10**6)

    async def body(environment: Callable[[Path], ExecutionEnvironment]) -> tuple[int, int]:
        before = _open_descriptors()
        for _ in range(10):
            with pytest.raises(AwsError) as failure:
                await environment(code).start()
            assert failure.value.code == "ServiceException"
            assert failure.value.status == 500
        return before, _open_descriptors()

    before, after = _run(tmp_path, body)
    assert after == before
    scratch = tmp_path / "scratch"
    assert not scratch.exists() or list(scratch.iterdir()) == []  # no scratch folder left either


def test_a_start_whose_confinement_fails_answers_service_exception_and_leaks_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-code"  # confine() cannot chdir there: the helper reports it

    async def body(environment: Callable[[Path], ExecutionEnvironment]) -> tuple[int, int]:
        before = _open_descriptors()
        for _ in range(5):
            with pytest.raises(AwsError) as failure:
                await environment(missing).start()
            assert failure.value.code == "ServiceException"
            assert isinstance(failure.value.__cause__, Exception)
            assert "could not confine" in str(failure.value.__cause__)
        return before, await _settled_descriptors(before + 1)

    before, after = _run(tmp_path, body)
    # The spawner keeps one helper started ahead of the next start, with one socket of ours; a leak
    # would be two or more descriptors per failed start.
    assert after <= before + 1


def test_a_start_that_fails_revokes_the_credentials_it_was_given(tmp_path: Path) -> None:
    """The temporary credentials minted for a start that failed end with it (else they would stay
    valid, with nothing left to use or revoke them)."""
    missing = tmp_path / "no-such-code"
    revoked: list[str] = []

    async def body(environment: Callable[[Path], ExecutionEnvironment]) -> None:
        for _ in range(3):
            with pytest.raises(AwsError):
                await environment(missing).start()

    _run(tmp_path, body, revoked)
    assert len(revoked) == 3 and len(set(revoked)) == 3 and all(key.startswith("ASIA") for key in revoked)
