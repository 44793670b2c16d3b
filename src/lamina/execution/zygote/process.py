"""The server's side of one fork server (runtimes/python/zygote.py) and the processes it forks.

Children of the zygote are not children of the server, so their exit statuses arrive as `exited`
messages on the control socket. If the zygote dies, its children die with it (parent-death
signal); the next spawn starts a new zygote.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lamina.execution.sandbox.process import first_child, runtime_below
from lamina.runtime_api.channel import FRAME_PREFIX, encode_frame

# Modules handlers commonly import; the zygote loads them once so no environment pays for them again.
DEFAULT_PRELOAD = (
    "base64,collections,dataclasses,datetime,decimal,enum,functools,hashlib,io,itertools,logging,math,"
    "random,re,string,typing,urllib.parse,uuid"
)
ZYGOTE_SCRIPT = Path(__file__).resolve().parents[1] / "runtimes" / "python" / "zygote.py"
CONFINE_SCRIPT = Path(__file__).resolve().parents[1] / "sandbox" / "confine.py"
_START_TIMEOUT_SECONDS = 30.0
_log = logging.getLogger(__name__)


class ZygoteUnavailable(Exception):
    """The fork server could not be started or died; callers fall back to a plain spawn."""


class ForkedProcess:
    """A ProcessHandle for an environment forked by a zygote.

    With a PID namespace the forked child hands the namespace's init (PID 1) over to the zygote, or
    stays outside as confine()'s waiter with the init as its child; the runtime is the init's first
    child, created moments later. `pid` names the runtime once it exists (memory readings are the
    runtime's), `process_group` the forked child's group, which holds them all (kills use it).
    """

    def __init__(self, pid: int, *, waits_outside: bool = False) -> None:
        self.process_group = pid
        self.returncode: int | None = None
        self._forked = pid
        self._init: int | None = None
        self._runtime: int | None = None if waits_outside else pid
        self._exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def moved_to(self, pid: int) -> None:
        """The forked child handed its PID namespace's init over to the zygote and exited: `pid` is
        the environment's process now (its exit is the one the zygote reports); the runtime is its
        child."""
        self._init, self._runtime = pid, None

    def expect_runtime_below(self) -> None:
        """A standby became an environment with a PID namespace: the runtime will be the child of
        its init (which the standby may already have handed over)."""
        self._runtime = None

    @property
    def pid(self) -> int:
        if self._runtime is None:
            self._runtime = runtime_below(self._init if self._init is not None else first_child(self._forked))
            if self._runtime is None:
                return self._forked  # not created yet
        return self._runtime

    def set_exit(self, status: int) -> None:
        if self.returncode is None:
            self.returncode = status
        if not self._exited.done():
            self._exited.set_result(status)

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)


@dataclass(frozen=True, slots=True)
class SpawnRequest:
    environment: dict[str, str]
    output_fd: int
    channel_fd: int
    plan_json: str  # the sandbox's ConfinementPlan; the child applies it before any function code
    waits_outside: bool = False  # the plan has a PID namespace: the runtime is the child's child


def _spawn_frame(request: SpawnRequest) -> bytes:
    """What a forked child reads on its private socket to become an environment."""
    return encode_frame(
        {"type": "spawn", "id": 0, "fds": 2, "env": request.environment, "plan": request.plan_json}
    )


class ZygoteProcess:
    def __init__(
        self, interpreter: str, *, preload: str, sdk_library: Path | None, template: str | None = None
    ) -> None:
        """`template`: a shared root for the zygote to build once (NamespaceSandbox.template_for)."""
        self.interpreter = interpreter
        self._preload = preload
        self._sdk_library = sdk_library
        self.template = template
        self.template_built = False  # the zygote reported it built the template
        self._process: asyncio.subprocess.Process | None = None
        self._control: socket.socket | None = None
        self._buffer = b""
        self._ready: asyncio.Future[dict[str, Any]] | None = None
        self._pending: dict[int, asyncio.Future[ForkedProcess]] = {}
        self._children: dict[int, ForkedProcess] = {}
        self._next_id = 0
        self._start_lock = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def ensure_started(self) -> None:
        async with self._start_lock:
            if self.running and self._control is not None:
                return
            await self._start()

    async def _start(self) -> None:
        self._shutdown_transport()
        server_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # Sent as the first frame, not as variables: every forked child's /proc/self/environ shows
        # the zygote's environment at exec, which therefore stays empty.
        configuration = {
            "type": "configure",
            "confinePath": str(CONFINE_SCRIPT),
            "preload": self._preload,
            "runtimeLib": str(self._sdk_library) if self._sdk_library is not None else None,
            "template": self.template,
        }
        self.template_built = False
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        try:
            self._process = await asyncio.create_subprocess_exec(
                self.interpreter,
                "-I",
                "-S",
                "-B",
                str(ZYGOTE_SCRIPT),
                str(zygote_end.fileno()),
                stdin=asyncio.subprocess.DEVNULL,
                env={},
                pass_fds=(zygote_end.fileno(),),
                start_new_session=True,
            )
        except OSError as exc:
            server_end.close()
            raise ZygoteUnavailable(str(exc)) from exc
        finally:
            zygote_end.close()
        server_end.setblocking(False)
        self._control = server_end
        loop.add_reader(server_end.fileno(), self._on_readable)
        self._watcher = loop.create_task(self._watch(self._process))
        try:
            await self._send(server_end, encode_frame(configuration), [])
            await asyncio.wait_for(asyncio.shield(self._ready), _START_TIMEOUT_SECONDS)
        except (TimeoutError, ZygoteUnavailable) as exc:
            self.close()
            raise ZygoteUnavailable(f"zygote for {self.interpreter} did not start: {exc}") from exc

    async def _watch(self, process: asyncio.subprocess.Process) -> None:
        await process.wait()
        if process is self._process:
            self._on_zygote_exit()

    def _on_zygote_exit(self) -> None:
        error = ZygoteUnavailable(f"zygote for {self.interpreter} exited")
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(error)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()
        # Its children received SIGKILL through their parent-death signal.
        for child in self._children.values():
            child.set_exit(-9)
        self._children.clear()
        self._shutdown_transport()

    def _on_readable(self) -> None:
        assert self._control is not None
        try:
            data = self._control.recv(1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._on_zygote_exit()
            return
        self._buffer += data
        while len(self._buffer) >= FRAME_PREFIX.size:
            header_size, body_size = FRAME_PREFIX.unpack(self._buffer[: FRAME_PREFIX.size])
            end = FRAME_PREFIX.size + header_size + body_size
            if len(self._buffer) < end:
                return
            message = json.loads(self._buffer[FRAME_PREFIX.size : FRAME_PREFIX.size + header_size])
            self._buffer = self._buffer[end:]
            self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "ready" and self._ready is not None and not self._ready.done():
            self.template_built = message.get("template") is not None
            self._ready.set_result(message)
        elif kind in ("spawned", "spawn_failed"):
            future = self._pending.pop(int(message.get("id", -1)), None)
            if future is not None and not future.done():
                if kind == "spawned":
                    # Known at once: the child's "moved" (or "exited") report may be in the very
                    # read that brought this one, before the forking coroutine resumes.
                    pid = int(message["pid"])
                    forked = self._children[pid] = ForkedProcess(pid)
                    future.set_result(forked)
                else:
                    future.set_exception(OSError(message.get("error", "spawn failed")))
        elif kind == "moved":
            child = self._children.pop(int(message["pid"]), None)
            if child is not None:
                child.moved_to(int(message["to"]))
                self._children[int(message["to"])] = child
        elif kind == "exited":
            child = self._children.pop(int(message["pid"]), None)
            if child is not None:
                child.set_exit(int(message["status"]))

    async def spawn(self, request: SpawnRequest) -> ForkedProcess:
        """Fork an environment; raises ZygoteUnavailable when the zygote is gone, OSError on fork failure.

        The request goes to the child over a private socket, never through the zygote: a fork server
        that read each plan would keep code paths in its heap (freed memory is not cleared), and
        every child forked later would inherit them (issue 12, attack 6). It is queued on that
        socket before the fork is even asked for, so a start waits for no extra round trip."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            ours.setblocking(False)
            await self._send(ours, _spawn_frame(request), [request.output_fd, request.channel_fd])
            ours.close()  # the child reads the queued request, then end of file
            header = {
                "type": "standby",
                "cgroups": [],
                "announce": False,
                "pidNamespace": request.waits_outside,
            }
            child = await self._fork(header, [theirs.fileno()])
        finally:
            ours.close()
            theirs.close()  # the child holds its own copy
        if request.waits_outside:
            child.expect_runtime_below()
        return child

    async def stand_by(
        self, cgroup_procs: list[str], *, announce: bool = True, pid_namespace: bool = False
    ) -> tuple[ForkedProcess, socket.socket]:
        """Fork a child that joins `cgroup_procs` now and waits for `assign()` on the returned socket;
        `announce`: it says "R" there once it has joined them (see _Standby.check_ready).
        `pid_namespace`: it also enters a new PID namespace, whose PID 1 then waits in its place."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            header = {
                "type": "standby",
                "cgroups": cgroup_procs,
                "announce": announce,
                "pidNamespace": pid_namespace,
            }
            child = await self._fork(header, [theirs.fileno()])
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # the child holds its own copy
        ours.setblocking(False)
        return child, ours

    async def _fork(self, header: dict[str, Any], fds: list[int]) -> ForkedProcess:
        """Send one fork request with its descriptors; the child, once the zygote reports its pid."""
        await self.ensure_started()
        control = self._control
        if control is None:
            raise ZygoteUnavailable("zygote is not running")
        self._next_id += 1
        request_id = self._next_id
        future: asyncio.Future[ForkedProcess] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        await self._send(control, encode_frame({**header, "id": request_id, "fds": len(fds)}), fds)
        return await future

    async def assign(self, standby: socket.socket, child: ForkedProcess, request: SpawnRequest) -> None:
        """Make a standby child the environment `request` describes (it confines itself as a spawned
        one would, minus the cgroups it has joined). Raises ZygoteUnavailable if it is gone."""
        if request.waits_outside:
            child.expect_runtime_below()
        try:
            await self._send(standby, _spawn_frame(request), [request.output_fd, request.channel_fd])
        finally:
            standby.close()

    async def _send(self, control: socket.socket, frame: bytes, fds: list[int]) -> None:
        """Send one frame with descriptors attached to its first byte; the rest as plain data."""
        loop = asyncio.get_running_loop()
        sent = 0
        while sent < len(frame):
            try:
                if sent == 0 and fds:
                    sent = socket.send_fds(control, [frame], fds)
                else:
                    sent += control.send(frame[sent:])
            except BlockingIOError:
                writable = loop.create_future()
                loop.add_writer(control.fileno(), writable.set_result, None)
                try:
                    await writable
                finally:
                    loop.remove_writer(control.fileno())
            except OSError as exc:
                raise ZygoteUnavailable(str(exc)) from exc

    def _shutdown_transport(self) -> None:
        if self._control is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._control.fileno())
            self._control.close()
            self._control = None
        self._buffer = b""

    def close(self) -> None:
        """Stop the zygote; every environment it forked dies with it."""
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        self._shutdown_transport()
