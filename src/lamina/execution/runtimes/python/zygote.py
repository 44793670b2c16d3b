"""Lamina's Python fork server ("zygote"): a pre-initialised interpreter that forks environments.

Started once per Python runtime by the server as `python3.X -I -S -B zygote.py CONTROL_FD`, with an
empty environment: what it needs comes in the first frame on the control socket. (A forked child's
/proc/self/environ is the block this process got at exec, whatever os.environ says later: anything
put there would be shown to every environment, e.g. the data directory's mount template.) It imports Lamina's runtime (bootstrap.py, loaded under a
private module name so a user's `bootstrap.py` cannot collide) and the modules handlers commonly use,
then forks one child per `spawn` request. A fork of this warm process is ready in ~1 ms where a fresh
interpreter needs tens of milliseconds, and its pages stay shared copy-on-write between environments
(SOCK, USENIX ATC'18).

Like bootstrap.py this file is standalone: standard library only, Python 3.8 syntax.

Control protocol (frames as in bootstrap.py: struct ">II" header/body lengths, JSON header, body):
- server → zygote, first: {"type": "configure", "confinePath", "preload", "runtimeLib", "template"}:
  Lamina's sandbox/confine.py, the modules to import ahead, the SDK folder, the namespaces tier's
  shared root (or null).
- server → zygote: {"type": "standby", "id", "cgroups", "announce"} with one descriptor, a private
  socket: the child joins those cgroups at once (the slow step of a start; none for a start on
  demand), says "R" on the socket when `announce`, then waits there for the {"type": "spawn", "env",
  "plan"} frame, with two descriptors (the output pipe, which becomes stdout and stderr, and the
  child's end of its framed Runtime API channel), that makes it a given environment. `plan` is the
  sandbox's confinement plan: the child applies it exactly as a freshly spawned environment would
  (cgroups, rlimits, namespaces and its own root, its own uid, the seccomp filter) before it runs any
  function code. The zygote itself never reads an environment's request: no code path or variable
  of one environment stays in its memory, to be inherited by the next one it forks.
- zygote → server: {"type": "ready", "pid"} once initialised; {"type": "spawned", "id", "pid"} or
  {"type": "spawn_failed", "id", "error"}; {"type": "exited", "pid", "status"} when a child ends
  (status < 0 means killed by signal -status, as asyncio reports it).
"""

from __future__ import annotations

import array
import contextlib
import gc
import importlib.util
import json
import os
import select
import signal
import socket
import struct
import sys

_FRAME_PREFIX = struct.Struct(">II")
_CHANNEL_FD = 3  # where the child finds its Runtime API channel
_HANDOVER_FD = _CHANNEL_FD + 1  # where a child finds the pipe for PID 1's pid (see confine.py)
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_PDEATHSIG = 1
_HERE = os.path.dirname(os.path.abspath(__file__))


def _load_runtime() -> object:
    spec = importlib.util.spec_from_file_location("_lamina_runtime", os.path.join(_HERE, "bootstrap.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["_lamina_runtime"] = module
    spec.loader.exec_module(module)
    return module


def _preload(names: str, sdk_dir: str | None) -> list[str]:
    """Import what the server asked for; returns the top-level names that came from the SDK folder."""
    if sdk_dir:
        sys.path.append(sdk_dir)
    from_sdk = []
    for name in filter(None, (part.strip() for part in names.split(","))):
        try:
            module = importlib.import_module(name)
        except Exception:  # a preload is an optimisation: never fatal
            continue
        origin = getattr(module, "__file__", None) or ""
        if sdk_dir and origin.startswith(sdk_dir):
            from_sdk.append(name.split(".")[0])
    if sdk_dir and sdk_dir in sys.path:
        sys.path.remove(sdk_dir)
    return from_sdk


def _libc() -> object | None:
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True)
    except (OSError, ImportError):
        return None


class _Control:
    """Blocking frame I/O on the control socket, with descriptors attached to spawn requests."""

    def __init__(self, descriptor: int) -> None:
        self.socket = socket.socket(fileno=descriptor)
        self.socket.setblocking(True)
        self._buffer = b""
        self._fds: list[int] = []

    def send(self, header: dict) -> None:
        encoded = json.dumps(header).encode()
        self.socket.sendall(_FRAME_PREFIX.pack(len(encoded), 0) + encoded)

    def _fill(self) -> bool:
        fds = array.array("i")
        data, ancillary, _flags, _address = self.socket.recvmsg(1 << 16, socket.CMSG_SPACE(16 * fds.itemsize))
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
        self._fds.extend(fds)
        self._buffer += data
        return bool(data)

    def receive(self) -> tuple[dict, list[int]] | None:
        """One request and its descriptors; None at end of file (the server is gone)."""
        while True:
            if len(self._buffer) >= _FRAME_PREFIX.size:
                header_size, body_size = _FRAME_PREFIX.unpack(self._buffer[: _FRAME_PREFIX.size])
                end = _FRAME_PREFIX.size + header_size + body_size
                if len(self._buffer) >= end:
                    header = json.loads(self._buffer[_FRAME_PREFIX.size : _FRAME_PREFIX.size + header_size])
                    self._buffer = self._buffer[end:]
                    count = int(header.get("fds", 0))
                    fds, self._fds = self._fds[:count], self._fds[count:]
                    return header, fds
            if not self._fill():
                return None


def _load_confinement(path: str | None) -> object | None:
    """Lamina's sandbox/confine.py, when the server named it (stdlib only, like this file), with
    its seccomp filter built once here for every child."""
    if not path:
        return None
    spec = importlib.util.spec_from_file_location("_lamina_confine", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["_lamina_confine"] = module  # dataclasses looks the module up while it loads
    spec.loader.exec_module(module)
    try:
        module.prepare_seccomp()  # type: ignore[attr-defined]
    except Exception as error:  # each child's confine() fails the same way and says so
        _write_stderr(f"lamina zygote: no seccomp filter ({error})\n")
    return module


def _build_template(confinement: object | None, request: str | None) -> str | None:
    """The namespaces tier's shared root, built once in this process's own mount namespace (see
    confine.build_template); returns its path, or None when there is none (the children then
    build their whole root, as spawned environments do)."""
    if confinement is None or not request:
        return None
    try:
        spec = json.loads(request)
        mounts = [confinement.Mount(**entry) for entry in spec["mounts"]]  # type: ignore[attr-defined]
        confinement.build_template(spec["root"], mounts, spec["mountPoints"])  # type: ignore[attr-defined]
    except Exception as error:  # e.g. no privilege to unshare: the slower way still works
        _write_stderr(f"lamina zygote: no shared root ({error}); environments build their own\n")
        return None
    return str(spec["root"])


def _write_stderr(text: str) -> None:
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except Exception:
        pass


def _leave_zygote(control: _Control, wakeup: int) -> None:
    """In a forked child: drop what belongs to the zygote's loop."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    control.socket.close()
    os.close(wakeup)


def _above(fd: int, floor: int) -> int:
    while fd < floor:
        fd = os.dup(fd)  # the lower copies are closed with everything else below
    return fd


def _become_environment(
    request: dict,
    fds: list[int],
    handover: int,
    confinement: object | None,
    runtime: object,
    sdk_modules: list[str],
) -> None:
    """In the forked child: wire descriptors and environment, confine, then run the runtime."""
    # Lift every descriptor above the numbers they are about to take, so no dup2 clobbers another.
    # `handover` is -1 when the PID namespace was entered ahead (its init holds the pipe).
    output, channel = (_above(fd, _HANDOVER_FD + 1) for fd in fds)
    handover = _above(handover, _HANDOVER_FD + 1) if handover >= 0 else -1
    init_pipe = confinement.ahead_init_pipe() if confinement is not None else -1  # type: ignore[attr-defined]
    if init_pipe >= 0:
        confinement.move_ahead_init_pipe(_above(init_pipe, _HANDOVER_FD + 1))  # type: ignore[attr-defined]
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.dup2(channel, _CHANNEL_FD)
    if handover >= 0:
        os.dup2(handover, _HANDOVER_FD)
    elif init_pipe >= 0:
        confinement.move_ahead_init_pipe(_HANDOVER_FD)  # type: ignore[attr-defined]
    os.closerange(_HANDOVER_FD + 1, 65536)
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ["LAMINA_RUNTIME_CHANNEL_FD"] = str(_CHANNEL_FD)
    if confinement is None or not request.get("plan"):
        raise RuntimeError("no confinement plan: refusing to run unconfined")
    plan = confinement.ConfinementPlan.from_json(request["plan"])  # type: ignore[attr-defined]
    plan.keep_fds = [0, 1, 2, _CHANNEL_FD]
    if handover < 0:
        pass  # PID 2 of a namespace entered ahead (_stand_by); its init waits for its credentials
    elif "pid" in plan.namespaces:
        plan.namespace_init_handover_fd = _HANDOVER_FD  # this zygote adopts PID 1: no waiter process
        plan.namespace_init_adopter = os.getppid()
    else:
        os.close(_HANDOVER_FD)
    # Joins cgroups, applies rlimits, enters namespaces and the environment's root, drops to its uid.
    # With a PID namespace this process is or becomes PID 2, the runtime, below the namespace's init.
    confinement.confine(plan, exec_follows=False)  # type: ignore[attr-defined]
    _forget_shadowed_sdk(sdk_modules, os.environ.get("LAMBDA_TASK_ROOT", os.getcwd()))
    os._exit(_run_to_exit_status(runtime))


def _run_to_exit_status(runtime: object) -> int:
    """Run the runtime and end as the interpreter would have ended a spawned one: sys.exit(3) in a
    handler is exit status 3 (Lambda: "Runtime exited with error: exit status 3"), an uncaught
    exception prints its traceback and is status 1, and atexit handlers run."""
    try:
        status = runtime.main()  # type: ignore[attr-defined]
    except SystemExit as exit_request:
        status = _system_exit_status(exit_request.code)
    except BaseException:
        import traceback  # the rare failure path only

        traceback.print_exc()
        status = 1
    import atexit

    with contextlib.suppress(BaseException):  # an atexit handler cannot change the status any more
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # output closed by the function: nothing left to flush
            stream.flush()
    return status


def _system_exit_status(code: object) -> int:
    """The status sys.exit(code) gives: None is 0, an int is itself, anything else is printed and 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    _write_stderr(f"{code}\n")
    return 1


def _stand_by(
    request: dict,
    fds: list[int],
    handover: int,
    confinement: object | None,
    runtime: object,
    sdk_modules: list[str],
) -> None:
    """In the forked child: join the environment's cgroups now, then wait on a private socket for the
    spawn request that says which environment to become (see confine.enter_cgroups_ahead)."""
    if confinement is None or len(fds) != 1:
        raise RuntimeError("a standby needs the confinement module and its private socket")
    private = _Control(fds[0])
    confinement.enter_cgroups_ahead(request.get("cgroups") or [])  # type: ignore[attr-defined]
    if request.get("pidNamespace"):
        # This process hands PID 1 of a new PID namespace over to the zygote and exits; PID 1 forks
        # its runtime-to-be, which returns here and waits for the spawn request: a start forks nothing.
        confinement.enter_pid_namespace_ahead(handover, os.getppid())  # type: ignore[attr-defined]
        handover = -1  # closed: the init reports on it, not the runtime
    if request.get("announce", True):
        private.socket.sendall(b"R")  # ready: the server hands out only standbys that have said so
    received = private.receive()
    if received is None or received[0].get("type") != "spawn" or len(received[1]) != 2:
        os._exit(0)  # the server dropped this standby
    private.socket.close()
    _become_environment(received[0], received[1], handover, confinement, runtime, sdk_modules)


def _forget_shadowed_sdk(names: list[str], task_root: str) -> None:
    """A package in the function's ZIP (or a layer) wins over the SDK this zygote preloaded."""
    for name in names:
        if any(os.path.exists(os.path.join(root, name)) for root in (task_root, "/opt/python")):
            for loaded in [key for key in sys.modules if key == name or key.startswith(name + ".")]:
                del sys.modules[loaded]


def _read_handovers(
    control: _Control, handovers: dict, adopted: set, inits: dict, only: int | None = None
) -> None:
    """Children that made a PID namespace write PID 1's pid to their pipe (a line), then exit: tell
    the server which process is the environment now, before any exit of it could be reported.
    `only`: just that child's pipe. The pipe stays open in `inits` (PID 1's pid -> [pipe, what came
    after the line]): PID 1, the namespace's init, reports there how the runtime ended."""
    for fd, forked in list(handovers.items()):
        if only is not None and forked != only:
            continue
        try:
            data = os.read(fd, 64)
        except BlockingIOError:
            continue
        del handovers[fd]
        line, newline, rest = data.partition(b"\n")
        if not newline:  # it ended before handing anything over
            os.close(fd)
            continue
        adopted.add(forked)
        inits[int(line)] = [fd, rest]
        control.send({"type": "moved", "pid": forked, "to": int(line)})


def _reap(
    control: _Control, handovers: dict, adopted: set, inits: dict, runtime_signal: object = None
) -> None:
    """`runtime_signal`: confine.read_runtime_signal, how an init reports the signal that ended its
    runtime (needed only once `inits` holds one, which takes the confinement module)."""
    _read_handovers(control, handovers, adopted, inits)
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        # It may have written its hand-over and exited after the pipes were read above: the write
        # came first, so its pipe holds it now.
        _read_handovers(control, handovers, adopted, inits, only=pid)
        if pid in adopted:  # it handed its environment over; that one's exit is what counts
            adopted.discard(pid)
            continue
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        if pid in inits:  # the init exits 128+N when a signal N ended the runtime, and says N
            signum = runtime_signal(*inits.pop(pid))  # type: ignore[operator]
            code = -signum if signum is not None else code
        control.send({"type": "exited", "pid": pid, "status": code})


def main() -> int:
    control = _Control(int(sys.argv[1]))
    received = control.receive()
    if received is None or received[0].get("type") != "configure":
        return 2
    configuration = received[0]
    libc = _libc()
    if libc is not None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # type: ignore[attr-defined]
        # Orphans below this process become its children: PID 1 of an environment's PID namespace
        # is adopted here when the process that forked it exits (see confine.py's hand-over).
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # type: ignore[attr-defined]
    confinement = _load_confinement(configuration.get("confinePath"))
    template = _build_template(confinement, configuration.get("template"))
    runtime = _load_runtime()
    sdk_modules = _preload(configuration.get("preload") or "", configuration.get("runtimeLib"))
    del configuration, received
    try:
        runtime.warm_up()  # type: ignore[attr-defined]
    except Exception as error:  # only an optimisation
        _write_stderr(f"lamina zygote: runtime warm-up failed: {error}\n")
    wakeup_read, wakeup_write = os.pipe()
    os.set_blocking(wakeup_write, False)
    signal.set_wakeup_fd(wakeup_write)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    # Everything loaded so far is shared with every child: kept out of the collector's passes, whose
    # writes to each object's header would copy every page of the heap into each child and init.
    gc.freeze()
    control.send({"type": "ready", "pid": os.getpid(), "preloadedSdk": sdk_modules, "template": template})
    handovers: dict = {}  # read end of a child's hand-over pipe -> that child's pid
    adopted: set = set()  # children that handed their environment over to the process they forked
    inits: dict = {}  # PID 1 of an environment -> [read end of its pipe, what was read after its pid]
    while True:
        readable, _, _ = select.select([control.socket, wakeup_read, *handovers], [], [])
        if wakeup_read in readable or any(fd in handovers for fd in readable):
            if wakeup_read in readable:
                os.read(wakeup_read, 4096)
            _reap(control, handovers, adopted, inits, getattr(confinement, "read_runtime_signal", None))
        if control.socket not in readable:
            continue
        received = control.receive()
        if received is None:
            return 0  # the server closed the channel
        request, fds = received
        kind = request.get("type")
        if kind != "standby" or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        handover_read, handover_write = os.pipe()
        try:
            pid = os.fork()
        except OSError as error:
            control.send({"type": "spawn_failed", "id": request.get("id"), "error": str(error)})
            for fd in [*fds, handover_read, handover_write]:
                os.close(fd)
            continue
        if pid == 0:
            try:
                _leave_zygote(control, wakeup_read)
                os.close(handover_read)
                for fd in [*handovers, *(init[0] for init in inits.values())]:
                    os.close(fd)
                _stand_by(request, fds, handover_write, confinement, runtime, sdk_modules)
            finally:
                os._exit(127)
        for fd in [*fds, handover_write]:
            os.close(fd)
        os.set_blocking(handover_read, False)
        handovers[handover_read] = pid
        control.send({"type": "spawned", "id": request.get("id"), "pid": pid})


if __name__ == "__main__":
    sys.exit(main())
