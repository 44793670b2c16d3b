"""Start confined children from the multi-threaded server without running Python between fork and exec.

subprocess forks and execs in C; the child is `confine_exec.py` in a fresh single-threaded
interpreter, which confines itself and then execs the runtime. An interpreter start and confine.py's
imports cost ~30 ms, so one helper is always started ahead: it waits, confine.py loaded, for the next
environment, and a start pays only for confinement and exec. (Lamina's Python runtime usually starts
from a fork server instead, execution/zygote, whose children run confine() in a single-threaded
process already.)

The helper is a child of the server: the environment's process (or, with a PID namespace, its
waiter) is the helper's pid, and its exit is noticed as any child's.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import select
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from lamina.execution.sandbox.base import ProcessesExhausted
from lamina.execution.sandbox.confine import ConfinementPlan

HELPER = Path(__file__).resolve().with_name("confine_exec.py")
# Longest wait for a helper to confine itself and exec; building a namespace root takes
# milliseconds, so past this the helper is stuck and is killed.
_START_TIMEOUT_SECONDS = 30.0


class ConfinementFailed(Exception):
    """The helper could not confine the child as planned, or not start at all; no runtime ran."""


@dataclass(slots=True)
class _Helper:
    """A started confine_exec.py and the server's end of its control socket."""

    popen: subprocess.Popen[bytes]
    control: socket.socket

    @classmethod
    def start(cls) -> _Helper:
        """Blocking (fork and exec): call in a worker thread."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            popen = subprocess.Popen(
                [sys.executable, "-I", "-S", "-B", str(HELPER), str(theirs.fileno()), str(os.getpid())],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={},
                start_new_session=True,
                close_fds=True,
                pass_fds=(theirs.fileno(),),
            )
        except OSError as error:  # the server's own interpreter: not the function's fault
            ours.close()
            if error.errno == errno.EAGAIN:  # the host has no process left for the helper
                raise ProcessesExhausted(f"could not start the confinement helper: {error}") from error
            raise ConfinementFailed(f"could not start the confinement helper: {error}") from error
        finally:
            theirs.close()
        return cls(popen, ours)

    def launch(self, request: bytes, fds: list[int]) -> str | None:
        """Hand the helper its environment; its report ("" once the runtime exec'd), None when it
        did not answer in time. Blocking: call in a worker thread."""
        try:
            socket.send_fds(self.control, [b"R"], fds)
            self.control.sendall(request)
            self.control.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the helper is gone: its report is empty and its exit says the rest
        chunks: list[bytes] = []
        while True:
            readable, _, _ = select.select([self.control], [], [], _START_TIMEOUT_SECONDS)
            if not readable:
                return None
            try:
                chunk = self.control.recv(4096)
            except OSError:
                chunk = b""
            if not chunk:
                return b"".join(chunks).decode("utf-8", "replace").strip()
            chunks.append(chunk)

    def discard(self) -> None:
        """Kill and reap it (blocking for a moment)."""
        self.control.close()
        with contextlib.suppress(ProcessLookupError):
            self.popen.kill()
        self.popen.wait()


class Spawner:
    """Starts environments through confine_exec.py, with one helper started ahead of need.

    Not thread-safe: the event loop is its only caller. `close()` ends the waiting helper."""

    def __init__(self) -> None:
        # The helper started ahead is handed over by the worker thread that started it, under this
        # lock: a close() while that thread runs cannot lose the helper (cancelling the task that
        # awaits a thread does not stop the thread), the thread reaps it instead.
        self._lock = threading.Lock()
        self._ready: _Helper | None = None
        self._refill: asyncio.Task[None] | None = None
        self._closed = False

    async def spawn(
        self,
        argv: list[str],
        environment: dict[str, str],
        plan: ConfinementPlan,
        *,
        output_fd: int,
        pass_fds: tuple[int, ...],
    ) -> subprocess.Popen[bytes]:
        """The child running `argv` confined by `plan` (its own session; stdout and stderr on
        `output_fd`; stdin /dev/null; `pass_fds` at the same numbers), once the runtime is exec'd.
        Raises OSError as exec(2) failed (e.g. a missing or non-executable bootstrap),
        ProcessesExhausted when the kernel refused a process (EAGAIN) and ConfinementFailed; either way the helper is reaped and nothing of this call stays open."""
        helper = await self._take_helper()
        request = _request(argv, environment, plan, pass_fds)
        try:
            report = await asyncio.to_thread(helper.launch, request, [output_fd, *pass_fds])
        except BaseException:
            await asyncio.shield(asyncio.to_thread(helper.discard))
            raise
        if report != "":
            await asyncio.to_thread(helper.discard)
        return _outcome(helper, report, argv)

    async def inject(self, pid: int, mounts: list[tuple[str, str]]) -> None:
        """Mount host folders read-only into the mount namespace of process `pid` (confine.py's
        inject_mounts, run by a helper: entering a namespace takes a single-threaded process)."""
        helper = await self._take_helper()
        request = json.dumps({"inject": {"pid": pid, "mounts": mounts}}).encode()
        try:
            report = await asyncio.to_thread(helper.launch, request, [])
        finally:
            await asyncio.shield(asyncio.to_thread(helper.discard))  # it exits once done
        if report is None:
            raise ConfinementFailed("the confinement helper did not mount the code in time")
        if report != "":
            raise _failure(report, "", helper.popen.returncode)

    async def _take_helper(self) -> _Helper:
        """The helper started ahead (or a new one), and the next one on its way."""
        if self._ready is None and self._refill is not None and not self._refill.done():
            await asyncio.wait({self._refill})  # a helper on its way is ready sooner than a new one
        with self._lock:
            helper, self._ready = self._ready, None
        if helper is not None and helper.popen.poll() is not None:
            await asyncio.to_thread(helper.discard)
            helper = None
        if helper is None:
            helper = await asyncio.to_thread(_Helper.start)
        self._start_refill()
        return helper

    def _start_refill(self) -> None:
        if self._closed or self._ready is not None or (self._refill is not None and not self._refill.done()):
            return
        self._refill = asyncio.get_running_loop().create_task(self._start_ahead())

    async def _start_ahead(self) -> None:
        await asyncio.to_thread(self._start_ahead_blocking)

    def _start_ahead_blocking(self) -> None:
        try:
            helper = _Helper.start()
        except (ConfinementFailed, ProcessesExhausted):
            return  # the next spawn starts one itself, and reports why that fails
        with self._lock:
            if not self._closed and self._ready is None:
                self._ready = helper
                return
        helper.discard()

    def close(self) -> None:
        """End the helper waiting for an environment (idempotent); one still starting is reaped by
        its thread."""
        with self._lock:
            self._closed = True
            helper, self._ready = self._ready, None
        if self._refill is not None:
            self._refill.cancel()
        if helper is not None:
            helper.discard()


def spawn_blocking(
    argv: list[str],
    environment: dict[str, str],
    plan: ConfinementPlan,
    *,
    output_fd: int,
    pass_fds: tuple[int, ...] = (),
) -> subprocess.Popen[bytes]:
    """As Spawner.spawn, blocking and with a helper of its own: for checks at server start. An
    empty `argv` confines only: the child then exits with status 0."""
    helper = _Helper.start()
    try:
        report = helper.launch(_request(argv, environment, plan, pass_fds), [output_fd, *pass_fds])
    except BaseException:
        helper.discard()
        raise
    if report != "":
        helper.discard()
    return _outcome(helper, report, argv)


def _request(
    argv: list[str], environment: dict[str, str], plan: ConfinementPlan, pass_fds: tuple[int, ...]
) -> bytes:
    return json.dumps(
        {"plan": plan.to_json(), "argv": argv, "env": environment, "fds": list(pass_fds)}
    ).encode()


def _outcome(helper: _Helper, report: str | None, argv: list[str]) -> subprocess.Popen[bytes]:
    """The running child once the helper's report is empty; else the error (the helper is reaped)."""
    if report == "":
        helper.control.close()
        return helper.popen
    if report is None:
        raise ConfinementFailed("the confinement helper did not start the runtime in time")
    raise _failure(report, argv[0] if argv else "", helper.popen.returncode)


def _failure(report: str, program: str, returncode: int | None) -> Exception:
    kind, _, detail = report.partition(" ")
    if kind == "exec":
        number, _, message = detail.partition(" ")
        code = int(number) if number.isdigit() else errno.ENOEXEC
        return OSError(code, message or os.strerror(code), program)
    if kind == "confine":
        return ConfinementFailed(detail)
    if kind == "exhausted":
        return ProcessesExhausted(detail)
    return ConfinementFailed(f"the confinement helper ended with status {returncode}: {report}")
