"""Confine, then exec: the first program of every environment the server spawns itself.

Run as `python -I -S -B confine_exec.py CONTROL_FD SERVER_PID` by spawner.py. The server is
multi-threaded (the event loop, its executor, SQLite threads), and Python runs nothing safely in the
child of a fork there: a lock another thread held at fork time stays locked forever in the child
(subprocess documents `preexec_fn` as unsafe for that reason). So the server starts this fresh,
single-threaded interpreter with no Python of its own between fork and exec; this program applies
confine() to itself (whose last step installs the seccomp filter, seccomp.py) and execs the
runtime in its place. The server starts it ahead of need: it loads
confine.py, then waits for its request, so a start pays only for confinement and exec.

Standalone like confine.py (standard library only, no `lamina` imports): it runs under the server's
own interpreter with -S, so site-packages are not on its path, and loads confine.py from its folder.

CONTROL_FD is a Unix stream socket. The server sends one byte carrying descriptors (SCM_RIGHTS): the
output pipe (becomes stdout and stderr), then the descriptors the runtime inherits; then a JSON
document, and shuts its side down: {"plan": ConfinementPlan as JSON, "argv": [...], "env": {...},
"fds": [the number each inherited descriptor must have]}. This program answers on the same socket,
which is close-on-exec once confine() has run: the server reads to its end, which comes with the
runtime's exec (nothing written: started) or after one line "confine <message>", "exhausted
<message>" (the kernel refused a process: EAGAIN, a pids limit reached) or "exec <errno> <message>"
(not started; this process then exits). End of file before a request: exit quietly.
An empty argv asks for confinement only: the process then exits with status 0. A request
{"inject": {"pid": N, "mounts": [[host folder, target], ...]}} (no descriptors) instead mounts
those folders read-only into the mount namespace of process N, then exits: nothing written means
done.
"""

from __future__ import annotations

import array
import contextlib
import errno
import fcntl
import importlib.util
import json
import os
import signal
import socket
import sys

_CONFINE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "confine.py")
_MAX_FDS = 16


def _load_confinement() -> object:
    spec = importlib.util.spec_from_file_location("_lamina_confine", _CONFINE_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["_lamina_confine"] = module  # dataclasses looks the module up while it loads
    spec.loader.exec_module(module)
    return module


def _receive(control: socket.socket) -> tuple[dict, list[int]] | None:
    """The request and its descriptors; None when the server closed the socket without one.
    Leaves the descriptor open (detached from `control`): the answer goes back on it."""
    descriptors = array.array("i")
    data, ancillary, _flags, _address = control.recvmsg(1, socket.CMSG_SPACE(_MAX_FDS * descriptors.itemsize))
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            descriptors.frombytes(payload[: len(payload) - (len(payload) % descriptors.itemsize)])
    if not data:
        return None
    chunks = []
    while True:
        chunk = control.recv(1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    control.detach()
    return json.loads(b"".join(chunks)), list(descriptors)


def _lift(fd: int, floor: int) -> int:
    """`fd` moved to the lowest free number at or above `floor`."""
    if fd >= floor:
        return fd
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, floor)
    os.close(fd)
    return moved


def _place(received: list[int], numbers: list[int], control: int) -> int:
    """The output pipe on 1 and 2, each inherited descriptor at its number; returns where the
    control socket is now. Everything is first lifted above those numbers, so that no dup2
    clobbers a descriptor still to be placed."""
    floor = max([2, *numbers]) + 1
    control = _lift(control, floor)
    lifted = [_lift(fd, floor) for fd in received]
    output, inherited = lifted[0], lifted[1:]
    os.dup2(output, 1)
    os.dup2(output, 2)
    for fd, number in zip(inherited, numbers, strict=True):
        os.dup2(fd, number)
    for fd in lifted:
        os.close(fd)
    return control


def _report(fd: int, text: str) -> None:
    with contextlib.suppress(OSError):  # the server is gone: nobody to tell
        os.write(fd, text.replace("\n", " ").encode("utf-8", "replace") + b"\n")


def main(control_fd: int, server: int) -> int:
    confinement = _load_confinement()
    # The seccomp filter is built now, while this helper waits, not on a start's clock; a failure
    # comes back from confine() below, as an answer to the request.
    with contextlib.suppress(Exception):
        confinement.prepare_seccomp()  # type: ignore[attr-defined]
    # An idle helper dies with the server (checked against the server's pid: it may be gone already).
    confinement._set_parent_death_signal(int(signal.SIGKILL), server)  # type: ignore[attr-defined]
    received = _receive(socket.socket(fileno=control_fd))
    if received is None:
        return 0
    request, descriptors = received
    if "inject" in request:  # mounts for a standby's namespace, not an environment of its own
        try:
            injection = request["inject"]
            confinement.inject_mounts(injection["pid"], [tuple(pair) for pair in injection["mounts"]])  # type: ignore[attr-defined]
        except Exception as error:
            _report(control_fd, f"confine {type(error).__name__}: {error}")
            return 126
        return 0
    if len(descriptors) != 1 + len(request["fds"]):
        _report(control_fd, "confine the request came without its descriptors")
        return 126
    report_fd = _place(descriptors, request["fds"], control_fd)
    try:
        plan = confinement.ConfinementPlan.from_json(request["plan"])  # type: ignore[attr-defined]
        # With a PID namespace the process that called confine() stays outside as the waiter and
        # never returns here (it closes the report socket, so only PID 1's exec or error ends it).
        confinement.confine(plan, exec_follows=True)  # type: ignore[attr-defined]
    except Exception as error:  # any failure means: never run the runtime
        kind = "exhausted" if isinstance(error, OSError) and error.errno == errno.EAGAIN else "confine"
        _report(report_fd, f"{kind} {type(error).__name__}: {error}")
        return 126
    argv = request["argv"]
    if not argv:  # confinement only (the server's check that the namespaces tier works)
        return 0
    try:
        os.execvpe(argv[0], argv, request["env"])
    except OSError as error:
        _report(report_fd, f"exec {error.errno or 0} {error.strerror or error}")
    return 127


if __name__ == "__main__":
    os._exit(main(int(sys.argv[1]), int(sys.argv[2])))
