"""Confining one execution environment from the inside: everything between fork and the runtime.

Standalone on purpose: standard library only, Python 3.8 syntax, no `lamina` imports (load it by
path with importlib and put it in sys.modules before exec_module: dataclasses looks it up). Two callers
run it in a fresh single-threaded process, never in a fork of the multi-threaded server: the spawn
path's helper program (confine_exec.py, before it execs the runtime) and a fork server ("zygote")
that has no `lamina` package (before importing the runtime and user code). The server builds a
`ConfinementPlan` (plain data, JSON round-trip) and the child calls `confine(plan)`.

What `confine(plan)` does, in this order (each step only when the plan asks for it):
  1. parent-death signal (the child dies with its parent), new session;
  2. join cgroups (write "0" to each `cgroup.procs`), set rlimits;
  3. join `plan.network_namespace` (one the server prepared), unshare the namespaces; with a new
     PID namespace, fork once more: the calling process stays outside as a waiter (see `_wait_for_namespace_init`) and never returns, or, for a fork server
     that adopts orphans (a child subreaper), hands PID 1's pid over and exits; its child, PID 1 of
     the new namespace, carries on;
  4. build a minimal root from `plan.mounts` on a tmpfs at `plan.root`, pivot into it and detach the
     old root; set the hostname; bring up loopback in a new network namespace;
  5. chdir to `plan.working_directory`;
  6. close inherited file descriptors except `plan.keep_fds` (or mark them close-on-exec);
  7. drop privileges: setgroups([]), setresgid, setresuid, then no_new_privs, and set the
     parent-death signal again (a uid change clears it);
  8. the seccomp filter (seccomp.py, beside this file), unless `plan.seccomp` is False. Callers
     that confine many processes call `prepare_seccomp()` first, so the filter is built once per
     process, not once per start;
  9. with a PID namespace, last: PID 1 forks the runtime and stays behind as the namespace's init
     (see `_run_init`): it reaps every orphan, as Lambda's own init does, forwards termination
     signals, and ends with the runtime, reporting how the runtime ended. confine() returns in the
     runtime (PID 2); the init never returns.
A fork server's standby takes steps 3 and 9 for the PID namespace ahead, before it knows its
environment (`enter_pid_namespace_ahead`): a start then forks nothing, and confine() in the
runtime-to-be sends its init the credentials to drop to instead, and returns only once the init says
it has dropped to them.
Any failure raises `ConfinementError` (or OSError) before user code could run; callers must treat
that as a failed start and never run the runtime unconfined.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import signal
import socket
import struct
import sys
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

# <sched.h> / <sys/mount.h> / <sys/prctl.h> constants (Linux, every architecture Lamina runs on).
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
NAMESPACE_FLAGS = {
    "mount": CLONE_NEWNS,
    "uts": CLONE_NEWUTS,
    "ipc": CLONE_NEWIPC,
    "pid": CLONE_NEWPID,
    "net": CLONE_NEWNET,
}
_MS_RDONLY = 0x1
_MS_NOSUID = 0x2
_MS_NODEV = 0x4
_MS_NOEXEC = 0x8
_MS_REMOUNT = 0x20
_MS_BIND = 0x1000
_MS_REC = 0x4000
_MS_PRIVATE = 0x40000
_MS_RELATIME = 0x200000
# statvfs f_flag bits (ST_NODEV and ST_NOEXEC equal their MS_ twins)
_ST_NOATIME = 0x400
_ST_NODIRATIME = 0x800
_ST_RELATIME = 0x1000
_MNT_DETACH = 0x2
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_NO_NEW_PRIVS = 38
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1

# Signals the outside waiter passes on to PID 1 of the namespace. PID 1 only receives the ones it
# handles (pid_namespaces(7)); SIGKILL needs no forwarding: the waiter's death kills PID 1.
_FORWARDED_SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")

MOUNT_KINDS = ("bind", "tmpfs", "proc", "symlink", "dir")


class ConfinementError(Exception):
    """A confinement step failed; the process must not go on to run user code."""


@dataclass
class Mount:
    """One entry of the new root, applied in plan order. `target` is a path inside the new root.

    kind "bind": `source` (a host file or directory) appears at `target`, read-only unless
    `writable`; "tmpfs": a fresh tmpfs with mount data `options` (e.g. "size=512m,mode=1777");
    "proc": a procfs of the new PID namespace; "symlink": a link to `source`; "dir": an empty
    directory (mode in `options`, octal, default 755). `optional` skips a missing bind source.
    """

    target: str
    kind: str
    source: str = ""
    writable: bool = False
    options: str = ""
    optional: bool = False


@dataclass
class ConfinementPlan:
    """Everything one environment's process must do to itself; JSON-serialisable.

    Paths in `cgroup_procs`, `root` and mount sources are host paths; `working_directory` and the
    `inside_*` paths are what the process sees once confined (equal to host paths without a mount
    namespace). The `inside_*` values are for the caller's environment variables, not for confine().
    """

    cgroup_procs: list[str] = field(default_factory=list)
    # resource name without "RLIMIT_" -> soft = hard limit, e.g. {"NOFILE": 1024}
    rlimits: dict[str, int] = field(default_factory=dict)
    uid: int | None = None  # None: keep the caller's credentials
    gid: int | None = None
    namespaces: list[str] = field(default_factory=list)  # subset of NAMESPACE_FLAGS
    root: str | None = None  # host directory to mount the new root on (needs "mount")
    # A root a fork server built once (build_template) in the mount namespace it shares with its
    # children: `mounts` then holds only this environment's own, mounted on top of it.
    template_root: str | None = None
    mounts: list[Mount] = field(default_factory=list)
    hostname: str | None = None  # needs "uts"
    working_directory: str = "/"
    keep_fds: list[int] = field(default_factory=lambda: [0, 1, 2])
    new_session: bool = True
    parent_death_signal: int = int(signal.SIGKILL)
    # With a PID namespace: a descriptor to write PID 1's pid to, after which the calling process exits
    # instead of waiting outside (a fork server that is a child subreaper adopts PID 1). -1: wait.
    namespace_init_handover_fd: int = -1
    namespace_init_adopter: int = 0  # the pid of that fork server
    # A network namespace to join (a path such as /proc/<pid>/fd/<n>) instead of a new one: the
    # namespaces tier prepares one per environment (network.py), its listeners already inside. "": none.
    network_namespace: str = ""
    inside_task_root: str = ""
    inside_runtime_dir: str = ""
    inside_runtime_library: str = ""
    inside_tmp: str = ""
    seccomp: bool = True  # step 8: install seccomp.py's filter last

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ConfinementPlan:
        data = json.loads(text)
        data["mounts"] = [Mount(**entry) for entry in data.get("mounts", [])]
        return cls(**data)

    def validate(self) -> None:
        """Raises ConfinementError for a plan confine() cannot carry out as written."""
        unknown = [name for name in self.namespaces if name not in NAMESPACE_FLAGS]
        if unknown:
            raise ConfinementError(f"unknown namespaces: {', '.join(unknown)}")
        if (self.root is not None or self.mounts or self.template_root) and "mount" not in self.namespaces:
            raise ConfinementError("a new root needs the mount namespace")
        if self.mounts and self.root is None and self.template_root is None:
            raise ConfinementError("mounts need a root")
        if self.hostname is not None and "uts" not in self.namespaces:
            raise ConfinementError("a hostname needs the uts namespace")
        for mount in self.mounts:
            if mount.kind not in MOUNT_KINDS:
                raise ConfinementError(f"unknown mount kind {mount.kind!r}")
            if not mount.target.startswith("/") or ".." in mount.target.split("/"):
                raise ConfinementError(f"mount target must be absolute and normal: {mount.target!r}")
        binds: list[str] = []
        for mount in self.mounts:
            # Bind mounts turn read-only only once all are made: nothing may be created inside one
            # meanwhile, or it would be created in the host's folder.
            if any(mount.target.startswith(bound.rstrip("/") + "/") for bound in binds):
                raise ConfinementError(f"mount target inside an earlier bind mount: {mount.target!r}")
            if mount.kind == "bind":
                binds.append(mount.target)
        for name in self.rlimits:
            if not hasattr(resource, "RLIMIT_" + name):
                raise ConfinementError(f"unknown rlimit {name}")
        if (self.uid is None) != (self.gid is None):
            raise ConfinementError("uid and gid go together")
        if self.network_namespace and "net" in self.namespaces:
            raise ConfinementError("a network namespace is either joined or new, not both")


# libc -------------------------------------------------------------------------------------------
_libc = None


def _load_libc() -> Any:
    global _libc
    if _libc is None:
        if not sys.platform.startswith("linux"):
            raise ConfinementError("namespaces and prctl need Linux")
        # dlopen(NULL): the C library is already loaded; find_library() would spawn processes.
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.mount.argtypes = [
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_ulong,
            ctypes.c_char_p,
        ]
        _libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        _libc.unshare.argtypes = [ctypes.c_int]
        _libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return _libc


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _encode(path: str | None) -> bytes | None:
    return None if path is None else os.fsencode(path)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    result = _load_libc().mount(_encode(source), _encode(target), _encode(fstype), flags, _encode(data))
    _check(result, f"mount {source or fstype or ''} on {target}")


def _prctl(option: int, value: int) -> None:
    _check(_load_libc().prctl(option, value, 0, 0, 0), f"prctl({option})")


def _syscall_pivot_root(new_root: str, put_old: str) -> None:
    # glibc has no pivot_root wrapper; the syscall number differs per architecture.
    numbers = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217, "i686": 217}
    machine = os.uname().machine
    if machine not in numbers:
        raise ConfinementError(f"pivot_root: unknown architecture {machine}")
    libc = _load_libc()
    libc.syscall.restype = ctypes.c_long
    result = libc.syscall(ctypes.c_long(numbers[machine]), _encode(new_root), _encode(put_old))
    _check(int(result), "pivot_root")


# steps ------------------------------------------------------------------------------------------
def _set_parent_death_signal(sig: int, parent: int) -> None:
    """Die with the parent; if it is already gone (we raced it), die now."""
    _prctl(_PR_SET_PDEATHSIG, sig)
    if os.getppid() != parent:
        os._exit(1)


def _join_cgroups(procs_files: list[str]) -> None:
    for procs_file in procs_files:
        with open(procs_file, "w") as procs:
            procs.write("0")


def _apply_rlimits(limits: dict[str, int]) -> None:
    for name, value in sorted(limits.items()):
        limit = getattr(resource, "RLIMIT_" + name)
        _, hard = resource.getrlimit(limit)
        ceiling = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(limit, (ceiling, ceiling))


def _open_fds() -> list[int]:
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        # No procfs: fall back to the descriptor limit (slow only when that limit is huge).
        return list(range(resource.getrlimit(resource.RLIMIT_NOFILE)[0]))
    return sorted(int(name) for name in names)


def _close_inherited_fds(keep: list[int], exec_follows: bool) -> None:
    """Close every descriptor not in `keep`; before an exec, marking them close-on-exec is enough
    and keeps the spawner's own error pipe (already close-on-exec) working until the exec."""
    kept = set(keep)
    for fd in _open_fds():
        if fd in kept:
            continue
        try:
            if exec_follows:
                os.set_inheritable(fd, False)
            else:
                os.close(fd)
        except OSError:
            pass  # the directory listing's own descriptor, already closed


def _forward_signals_to(pid: int) -> None:
    """Pass termination signals on to `pid` (a waiter to its PID 1, an init to its runtime)."""

    def forward(signum: int, frame: Any) -> None:
        with contextlib.suppress(OSError):
            os.kill(pid, signum)

    for name in _FORWARDED_SIGNALS:
        # Outside the main thread signal() fails: forwarding is a courtesy, not a guarantee.
        with contextlib.suppress(ValueError, OSError):
            signal.signal(getattr(signal, name), forward)


def _wait_for_namespace_init(child: int, alive_fd: int, ending_fd: int) -> None:
    """The process outside a new PID namespace: wait for PID 1 inside, then end the same way.

    It holds `alive_fd` (the write end of a pipe) so the child can tell it is alive, and `ending_fd`
    (the read end of the pipe PID 1's init reports the runtime's ending on); it closes every other
    descriptor (a spawner waiting for its error pipe must see EOF once the child execs), forwards
    termination signals, and exits as the runtime ended: killed by signal N -> killed by signal N,
    exit code N -> exit code N. Never returns.
    """
    try:
        _close_inherited_fds([alive_fd, ending_fd], exec_follows=False)
        _forward_signals_to(child)
        while True:
            try:
                _, status = os.waitpid(child, 0)
                break
            except ChildProcessError:
                os._exit(1)
        signum = read_runtime_signal(ending_fd)
        if signum is None and os.WIFSIGNALED(status):
            signum = os.WTERMSIG(status)
        if signum is not None:
            with contextlib.suppress(ValueError, OSError):  # SIGKILL and SIGSTOP: default anyway
                signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            os._exit(128 + signum)
        os._exit(os.WEXITSTATUS(status))
    finally:
        os._exit(1)


@dataclass
class _Adoption:
    """PID 1 after a hand-over: its forker is exiting and a fork server will adopt it. `status` is
    this process's /proc status file, opened while the host's /proc was still mounted (PPid there
    is a host pid; in the namespace's own /proc the parent shows as 0)."""

    forker: int
    exited: int  # read end of a pipe: end of file once the forker is exiting
    status: int

    def wait(self, adopter: int) -> None:
        """Wait until adopted (or exit): only then may a parent-death signal be set, or it would
        fire at the adoption itself. By the end of confine() the forker is usually long gone."""
        os.set_blocking(self.exited, True)
        while os.read(self.exited, 1):
            pass
        parent = self.forker
        for _ in range(_ADOPTION_SPINS):
            parent = _parent_pid(self.status)
            if parent != self.forker:
                break
            os.sched_yield()
        os.close(self.exited)
        os.close(self.status)
        if parent != adopter:
            os._exit(1)  # never adopted, or by someone else: the fork server is gone

    @property
    def descriptors(self) -> list[int]:
        return [self.exited, self.status]


def _enter_pid_namespace(handover_fd: int) -> tuple[int | None, _Adoption | None, int]:
    """Fork into the PID namespace unshared before. The calling process either stays outside as
    the waiter, and the child gets the liveness pipe; or (`handover_fd` >= 0) writes the child's pid
    there (a line) and exits, and the child gets what it needs to wait for its adoption (_Adoption).
    The last value is where the child's init will report the runtime's ending: a pipe to the waiter,
    or `handover_fd` itself (the fork server that adopts PID 1 reads it)."""
    read_end, write_end = os.pipe()
    ending_read, ending_write = os.pipe() if handover_fd < 0 else (-1, handover_fd)
    forker = os.getpid()  # this process is outside the new namespace: a host pid
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() in a process that had threads; this one has a single one.
        warnings.simplefilter("ignore", DeprecationWarning)
        child = os.fork()
    if child != 0:
        os.close(read_end)
        if handover_fd >= 0:
            try:
                os.write(handover_fd, b"%d\n" % child)
            finally:
                os._exit(0)
        _wait_for_namespace_init(child, write_end, ending_read)
    os.close(write_end)
    if handover_fd < 0:
        os.close(ending_read)
        return read_end, None, ending_write
    return None, _Adoption(forker, read_end, os.open("/proc/self/status", os.O_RDONLY)), ending_write


# Step 9: the namespace's init ---------------------------------------------------------------------
_RUNTIME_SIGNAL = b"runtime-signal "


def read_runtime_signal(ending_fd: int, received: bytes = b"") -> int | None:
    """The signal that killed the runtime, as its init reported it on `ending_fd` (read to its end,
    then closed; `received`: what a reader already took from it); None when the runtime exited (its
    status is the init's) or nothing was reported. The waiter outside and the fork server that
    adopts PID 1 both read the report here.

    An init cannot die by a signal of its own making (pid_namespaces(7)), so it exits with 128+N and
    says N here: an exit status alone could not tell `kill -9` from `exit(137)`."""
    os.set_blocking(ending_fd, False)
    with contextlib.suppress(OSError):
        while True:
            chunk = os.read(ending_fd, 256)
            if not chunk:
                break
            received += chunk
    with contextlib.suppress(OSError):
        os.close(ending_fd)
    for line in reversed(received.splitlines()):
        if line.startswith(_RUNTIME_SIGNAL):
            with contextlib.suppress(ValueError):
                return int(line[len(_RUNTIME_SIGNAL) :])
    return None


def _start_init(ending_fd: int, parent_death_signal: int) -> None:
    """Fork the runtime from PID 1; PID 1 becomes the init and never returns. Returns in the runtime."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        runtime = os.fork()
    if runtime == 0:
        os.close(ending_fd)  # only the init reports; the function's code must not
        if parent_death_signal:
            _prctl(_PR_SET_PDEATHSIG, parent_death_signal)  # fork cleared it: die with the init
        return
    _run_init(runtime, ending_fd)


def _run_init(runtime: int, ending_fd: int) -> None:
    """PID 1 of an environment's namespace. Orphans (a handler's double-forked children) are re-parented
    to it: it reaps them as they end, so none stays a zombie holding a pid of the budget. Termination
    signals from outside are passed on to the runtime. When the runtime ends the init ends too (the
    kernel then kills what is left in the namespace), with the runtime's exit status, or 128+N and a
    report on `ending_fd` when a signal N killed it. Not dumpable: the function's code, same uid,
    can neither read its memory nor reach its descriptors through /proc. Never returns."""
    try:
        _prctl(_PR_SET_DUMPABLE, 0)
        _close_inherited_fds([ending_fd], exec_follows=False)
        _forward_signals_to(runtime)
        while True:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                os._exit(1)
            if pid == runtime:
                break
        if os.WIFSIGNALED(status):
            signum = os.WTERMSIG(status)
            with contextlib.suppress(OSError):
                os.write(ending_fd, _RUNTIME_SIGNAL + b"%d\n" % signum)
            os._exit(128 + signum)
        os._exit(os.WEXITSTATUS(status))
    finally:
        os._exit(1)


_ADOPTION_SPINS = 1_000_000  # microseconds in practice; the bound only stops a runaway loop


def _parent_pid(status_fd: int) -> int:
    for line in os.pread(status_fd, 4096, 0).decode().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    return 0


def _parent_still_alive(alive_fd: int) -> bool:
    os.set_blocking(alive_fd, False)
    try:
        return os.read(alive_fd, 1) != b""
    except BlockingIOError:
        return True


def _remount_read_only(targets: list[str]) -> None:
    """Read-only for bind mounts and every mount below them (e.g. Docker's /etc/resolv.conf),
    keeping each mount's nodev/noexec/atime flags (a remount replaces them all). One pass over
    mountinfo for all of them: a start makes dozens of read-only binds."""
    points = list(targets)
    prefixes = tuple(target.rstrip("/") + "/" for target in targets)
    if prefixes:
        try:
            with open("/proc/self/mountinfo") as mountinfo:
                for line in mountinfo:
                    point = line.split()[4].replace("\\040", " ")
                    if point.startswith(prefixes):
                        points.append(point)
        except OSError:
            pass
    for point in points:
        kept = os.statvfs(point).f_flag
        flags = _MS_BIND | _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID
        flags |= kept & (_MS_NODEV | _MS_NOEXEC | _ST_NOATIME | _ST_NODIRATIME)
        if kept & _ST_RELATIME:
            flags |= _MS_RELATIME
        _mount(None, point, None, flags, None)


def _apply_mount(root: str, mount: Mount) -> bool:
    """Returns True for a bind mount still to be made read-only (see _build_root)."""
    path = root + mount.target
    if mount.kind == "symlink":
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        os.symlink(mount.source, path)
        return False
    if mount.kind == "dir":
        os.makedirs(path, mode=int(mount.options or "755", 8), exist_ok=True)
        return False
    if mount.kind == "bind":
        if not os.path.exists(mount.source):
            if mount.optional:
                return False
            raise ConfinementError(f"bind source missing: {mount.source}")
        if os.path.isdir(mount.source):
            os.makedirs(path, mode=0o755, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
            if not os.path.exists(path):
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
        _mount(mount.source, path, None, _MS_BIND | _MS_REC, None)
        return not mount.writable
    os.makedirs(path, mode=0o755, exist_ok=True)
    if mount.kind == "tmpfs":
        _mount("tmpfs", path, "tmpfs", _MS_NOSUID | _MS_NODEV, mount.options or None)
    else:  # proc: counts only the processes of the new PID namespace
        _mount("proc", path, "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None)
    return False


def _build_root(root: str, mounts: list[Mount]) -> None:
    """A tmpfs root holding only `mounts`, pivoted into; the old root is detached."""
    _fresh_root(root)
    _apply_mounts(root, mounts)
    _pivot(root)


def _fresh_root(root: str) -> None:
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE, None)  # nothing below propagates to the host
    _mount("tmpfs", root, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=1m,mode=755")


def _enter_template(root: str, mounts: list[Mount]) -> None:
    """The fork server's prepared root, with this environment's own mounts on top, pivoted into."""
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE, None)
    _apply_mounts(root, mounts)
    _pivot(root)


def _apply_mounts(root: str, mounts: list[Mount]) -> None:
    read_only = [root + mount.target for mount in mounts if _apply_mount(root, mount)]
    _remount_read_only(read_only)  # after every mount point exists: the binds become read-only


def _pivot(root: str) -> None:
    os.chdir(root)
    _syscall_pivot_root(".", ".")  # the old root now sits on top of the new one, at "/"
    _check(_load_libc().umount2(b".", _MNT_DETACH), "detach old root")
    os.chdir("/")
    _mount(None, "/", None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV, None)


def build_template(root: str, mounts: list[Mount], mount_points: list[str]) -> None:
    """For a fork server, once: a private mount namespace of its own and, at `root`, the mounts
    every environment shares, read-only, with empty `mount_points` for each environment's own
    (code, /tmp, /proc). Its children's mount namespaces are copies of this one; each pivots into
    the template after mounting its own (confine with `template_root`), instead of building ~35
    mounts per start."""
    _check(_load_libc().unshare(NAMESPACE_FLAGS["mount"]), "unshare")
    _fresh_root(root)
    for point in mount_points:  # before the binds: none of them may lie inside one
        os.makedirs(root + point, mode=0o755, exist_ok=True)
    _apply_mounts(root, mounts)
    _mount(None, root, None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV, None)


def _join_network_namespace(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_load_libc().setns(fd, NAMESPACE_FLAGS["net"]), "setns")
    finally:
        os.close(fd)


def _bring_up_loopback() -> None:
    import fcntl  # only a network namespace needs it

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        request = struct.pack("16sh", b"lo", 0).ljust(40, b"\0")
        flags = struct.unpack("16sh", fcntl.ioctl(probe, _SIOCGIFFLAGS, request)[:18])[1]
        fcntl.ioctl(probe, _SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | _IFF_UP).ljust(40, b"\0"))


def _drop_privileges(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid or os.getgid() != gid:
        raise ConfinementError("credentials did not change")


# In the runtime-to-be of a PID namespace entered ahead (enter_pid_namespace_ahead): its end of a
# socket pair with its init, which waits there for the credentials to drop to. confine() then skips
# step 3's PID namespace and step 9's fork, sends the credentials instead and, before it returns,
# waits for the init to say it has dropped to them. -1: not entered ahead.
_ahead_init_credentials_fd = -1
_CREDENTIALS_DROPPED = b"K"


def enter_pid_namespace_ahead(
    handover_fd: int, adopter: int, parent_death_signal: int = int(signal.SIGKILL)
) -> None:
    """Steps 3 and 9 for the PID namespace before the environment is known (a fork server's standby
    child), so that a start forks nothing: a new session, the namespace and its PID 1, handed over
    to `adopter` (the fork server, a child subreaper) through `handover_fd` as confine() would; PID
    1 forks the runtime-to-be at once, before it has written to its memory (the init's pages stay
    the fork server's, shared), and waits as its init for the credentials confine() will send
    (`_await_credentials`). Returns in the runtime-to-be (PID 2); the calling process exits.
    `handover_fd` is closed here: only the init reports on it."""
    global _ahead_init_credentials_fd
    with contextlib.suppress(PermissionError):  # already a group leader: already in a session of its own
        os.setsid()
    _check(_load_libc().unshare(CLONE_NEWPID), "unshare")
    _, adoption, ending_fd = _enter_pid_namespace(handover_fd)
    assert adoption is not None
    adoption.wait(adopter)
    init_end, runtime_end = (end.detach() for end in socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        runtime = os.fork()
    if runtime == 0:
        os.close(init_end)
        os.close(ending_fd)
        if parent_death_signal:
            _prctl(_PR_SET_PDEATHSIG, parent_death_signal)  # die with the init
        _ahead_init_credentials_fd = runtime_end
        return
    os.close(runtime_end)
    if parent_death_signal:
        _prctl(_PR_SET_PDEATHSIG, parent_death_signal)  # the fork cleared it; the adopter is the parent now
    _await_credentials(runtime, init_end, ending_fd, parent_death_signal)


def _await_credentials(runtime: int, credentials_fd: int, ending_fd: int, parent_death_signal: int) -> None:
    """The init of a namespace entered ahead, until its runtime is confined: wait for the credentials
    (uid, gid, seccomp: a JSON line) the runtime's confine() sends, drop to them, say so, then run as
    init. If the runtime ends or fails its confinement first (end of file), kill it and end as it
    did. Never returns."""
    try:
        _close_inherited_fds([credentials_fd, ending_fd], exec_follows=False)
        with contextlib.suppress(Exception):  # while root, the host's files in view; retried if needed
            prepare_seccomp()
        received = b""
        while not received.endswith(b"\n"):
            chunk = os.read(credentials_fd, 4096)
            if not chunk:
                break
            received += chunk
        try:
            credentials = json.loads(received) if received.endswith(b"\n") else None
        except ValueError:
            credentials = None
        if credentials is None:
            with contextlib.suppress(OSError):
                os.kill(runtime, signal.SIGKILL)
        else:
            if credentials.get("uid") is not None:
                _drop_privileges(int(credentials["uid"]), int(credentials["gid"]))
            if parent_death_signal:
                _prctl(_PR_SET_PDEATHSIG, parent_death_signal)  # a credential change clears it
            _prctl(_PR_SET_NO_NEW_PRIVS, 1)
            if credentials.get("seccomp"):
                _install_seccomp()
            os.write(credentials_fd, _CREDENTIALS_DROPPED)  # only now may the runtime run code
        os.close(credentials_fd)
        _run_init(runtime, ending_fd)
    finally:
        os._exit(1)


def ahead_init_pipe() -> int:
    """In the runtime-to-be of a namespace entered ahead: its socket to the init; -1 elsewhere."""
    return _ahead_init_credentials_fd


def move_ahead_init_pipe(fd: int) -> None:
    """Put that socket at descriptor `fd`, for a caller that closes descriptors before confine()."""
    global _ahead_init_credentials_fd
    if _ahead_init_credentials_fd >= 0 and _ahead_init_credentials_fd != fd:
        os.dup2(_ahead_init_credentials_fd, fd, inheritable=False)
        os.close(_ahead_init_credentials_fd)
        _ahead_init_credentials_fd = fd


def _send_credentials_to_init(plan: ConfinementPlan) -> None:
    data = json.dumps({"uid": plan.uid, "gid": plan.gid, "seccomp": plan.seccomp}) + "\n"
    os.write(_ahead_init_credentials_fd, data.encode())


def _await_init_credentials_dropped() -> None:
    """Before confine() returns: the init is as confined as the runtime (never root beside it)."""
    global _ahead_init_credentials_fd
    try:
        answer = os.read(_ahead_init_credentials_fd, 1)
    finally:
        os.close(_ahead_init_credentials_fd)
        _ahead_init_credentials_fd = -1
    if answer != _CREDENTIALS_DROPPED:
        raise ConfinementError("the namespace's init did not drop its privileges")


def enter_cgroups_ahead(procs_files: list[str], parent_death_signal: int = int(signal.SIGKILL)) -> None:
    """A fork server's standby child: the first steps of confine(), taken before the environment
    it will become is known. Joining a cgroup is the slow step of a start (on cgroup v1 the first
    migration in a while waits for an RCU grace period, ~8 ms); done ahead, confine() then runs
    with an empty `cgroup_procs`. New session first, as confine() does it."""
    _set_parent_death_signal(parent_death_signal, os.getppid())
    with contextlib.suppress(PermissionError):
        os.setsid()
    _join_cgroups(procs_files)


def confine(plan: ConfinementPlan, exec_follows: bool = False) -> None:
    """Confine the calling process (a fresh fork) as `plan` says. See the module docstring.

    `exec_follows`: True when the caller execs right after (confine_exec.py): inherited
    descriptors are then marked close-on-exec instead of closed. With a PID namespace the process
    that called confine() stays outside as a waiter and never returns; the caller holds its PID,
    and killing that PID (or its process group) with SIGKILL ends the whole environment.
    """
    plan.validate()
    if plan.seccomp:
        prepare_seccomp()  # step 8's module, loaded while the host's files are still in view
    parent = os.getppid()
    entered = "pid" in plan.namespaces and _ahead_init_credentials_fd >= 0
    if plan.parent_death_signal:
        _set_parent_death_signal(plan.parent_death_signal, parent)
    if plan.new_session and not entered:  # PID 1 entered ahead stays in its forker's session
        # Fails when already a process-group leader (start_new_session=True did it).
        with contextlib.suppress(PermissionError):
            os.setsid()
    _join_cgroups(plan.cgroup_procs)
    _apply_rlimits({name: value for name, value in plan.rlimits.items() if name != "NOFILE"})
    flags = 0
    for name in plan.namespaces:
        flags |= NAMESPACE_FLAGS[name]
    if entered:
        flags &= ~CLONE_NEWPID
    alive_fd = None
    adoption = None
    ending_fd = -1
    if plan.network_namespace:
        _join_network_namespace(plan.network_namespace)
    if flags:
        _check(_load_libc().unshare(flags), "unshare")
    if "pid" in plan.namespaces and not entered:
        alive_fd, adoption, ending_fd = _enter_pid_namespace(plan.namespace_init_handover_fd)
        if plan.parent_death_signal and adoption is None:
            _prctl(_PR_SET_PDEATHSIG, plan.parent_death_signal)  # fork cleared it
    if plan.template_root is not None:
        _enter_template(plan.template_root, plan.mounts)
    elif plan.root is not None:
        _build_root(plan.root, plan.mounts)
    if plan.hostname is not None:
        socket.sethostname(plan.hostname)
    if "net" in plan.namespaces:
        _bring_up_loopback()
    keep = list(plan.keep_fds) + ([alive_fd] if alive_fd is not None else [])
    keep += adoption.descriptors if adoption is not None else []
    keep += [ending_fd] if ending_fd >= 0 else []
    keep += [_ahead_init_credentials_fd] if entered else []
    os.chdir(plan.working_directory)
    _close_inherited_fds(keep, exec_follows)
    # The descriptor limit comes last: lowered first, it left a process holding more descriptors
    # than it no descriptor to list /proc/self/fd with (EMFILE), and those above the limit passed
    # on to the function.
    if "NOFILE" in plan.rlimits:
        _apply_rlimits({"NOFILE": plan.rlimits["NOFILE"]})
    if plan.uid is not None and plan.gid is not None:
        _drop_privileges(plan.uid, plan.gid)
        _prctl(_PR_SET_DUMPABLE, 1)  # ptrace and /proc/self need it after a credential change
    if entered:
        _send_credentials_to_init(plan)  # the init drops to them too, while this goes on
    if adoption is not None:
        adoption.wait(plan.namespace_init_adopter)
    if plan.parent_death_signal:
        # Again: a credential change clears it, and an adopted process has a new parent.
        _prctl(_PR_SET_PDEATHSIG, plan.parent_death_signal)
    if sys.platform.startswith("linux"):
        _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    if alive_fd is not None:
        if not _parent_still_alive(alive_fd):
            os._exit(1)
        os.close(alive_fd)
    elif plan.parent_death_signal and "pid" not in plan.namespaces and os.getppid() != parent:
        os._exit(1)
    # Step 8, kept apart from the rest: nothing above may run under the filter (it unshares, mounts).
    if plan.seccomp:
        _install_seccomp()
    if entered:
        _await_init_credentials_dropped()
    if ending_fd >= 0:
        os.set_inheritable(ending_fd, False)  # the runtime closes it after the fork; an exec must too
        _start_init(ending_fd, plan.parent_death_signal)


# Step 8: seccomp ------------------------------------------------------------------------------
_seccomp_module: Any = None
_seccomp_installer: Any = None


# Mount-API system calls (the same numbers on every architecture: added after the tables merged).
_SYS_OPEN_TREE, _SYS_MOVE_MOUNT, _SYS_MOUNT_SETATTR = 428, 429, 442
_OPEN_TREE_CLONE, _AT_RECURSIVE, _AT_EMPTY_PATH, _MOVE_MOUNT_F_EMPTY_PATH = 1, 0x8000, 0x1000, 0x4
_MOUNT_ATTR_RDONLY, _MOUNT_ATTR_NOSUID, _MOUNT_ATTR_NODEV = 0x1, 0x2, 0x4
_AT_FDCWD, _CLONE_NEWNS = -100, 0x00020000


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def inject_mounts(pid: int, mounts: list[tuple[str, str]]) -> None:
    """Mount host folders read-only at targets inside the mount namespace of process `pid` (a
    standby environment that started before its code was known). Each folder is cloned as a
    detached tree here, in the host's namespace, then this process enters the environment's
    namespace and moves the trees into place. Call from a single-threaded process (setns)."""
    libc = _load_libc()
    libc.syscall.restype = ctypes.c_long
    trees: list[tuple[int, str]] = []
    try:
        for source, target in mounts:
            tree = int(
                libc.syscall(
                    ctypes.c_long(_SYS_OPEN_TREE),
                    ctypes.c_int(_AT_FDCWD),
                    _encode(source),
                    ctypes.c_uint(_OPEN_TREE_CLONE | os.O_CLOEXEC | _AT_RECURSIVE),
                )
            )
            if tree < 0:
                _check(-1, f"open_tree {source}")
            trees.append((tree, target))
            attributes = _MountAttr(_MOUNT_ATTR_RDONLY | _MOUNT_ATTR_NOSUID | _MOUNT_ATTR_NODEV, 0, 0, 0)
            result = libc.syscall(
                ctypes.c_long(_SYS_MOUNT_SETATTR),
                ctypes.c_int(tree),
                b"",
                ctypes.c_uint(_AT_EMPTY_PATH | _AT_RECURSIVE),
                ctypes.byref(attributes),
                ctypes.c_size_t(ctypes.sizeof(attributes)),
            )
            _check(int(result), f"mount_setattr {source}")
        namespace = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _check(libc.setns(namespace, _CLONE_NEWNS), f"setns into the mount namespace of {pid}")
        finally:
            os.close(namespace)
        for tree, target in trees:
            result = libc.syscall(
                ctypes.c_long(_SYS_MOVE_MOUNT),
                ctypes.c_int(tree),
                b"",
                ctypes.c_int(_AT_FDCWD),
                _encode(target),
                ctypes.c_uint(_MOVE_MOUNT_F_EMPTY_PATH),
            )
            _check(int(result), f"move_mount to {target}")
    finally:
        for tree, _ in trees:
            os.close(tree)


def prepare_seccomp() -> None:
    """Load seccomp.py, build its filter and make its installer now (once per process; idempotent).
    Raises ConfinementError where no filter can be built (an architecture without a syscall table)."""
    global _seccomp_module, _seccomp_installer
    if _seccomp_installer is not None:
        return
    if _seccomp_module is None:
        import importlib.util  # only this step loads a module by path

        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seccomp.py")
        spec = importlib.util.spec_from_file_location("_lamina_seccomp", path)
        if spec is None or spec.loader is None:
            raise ConfinementError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _seccomp_module = module
    try:
        _seccomp_installer = _seccomp_module.Installer(_seccomp_module.build_filter())
    except _seccomp_module.UnsupportedArchitecture as error:
        raise ConfinementError(str(error)) from error


def _install_seccomp() -> None:
    prepare_seccomp()
    try:
        _seccomp_installer()
    except OSError as error:
        raise ConfinementError(f"seccomp: {error}") from error
