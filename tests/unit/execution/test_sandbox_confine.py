"""confine.py: the plan as data, its validation, and (where the host allows) a real confinement."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from lamina.execution.sandbox import confine as confine_module
from lamina.execution.sandbox.confine import ConfinementError, ConfinementPlan, Mount, confine
from lamina.execution.sandbox.detect import probe_namespaces

CONFINE_SOURCE = Path(confine_module.__file__)
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def full_plan() -> ConfinementPlan:
    return ConfinementPlan(
        cgroup_procs=["/sys/fs/cgroup/memory/x/cgroup.procs"],
        rlimits={"NOFILE": 1024, "NPROC": 1024, "FSIZE": 512 * 1024 * 1024, "CORE": 0},
        uid=100_007,
        gid=100_007,
        namespaces=["mount", "pid", "ipc", "uts", "net"],
        root="/data/sandbox/root",
        mounts=[
            Mount("/usr", "bind", "/usr"),
            Mount("/bin", "symlink", "usr/bin"),
            Mount("/tmp", "tmpfs", options="size=512m,mode=1777"),
            Mount("/proc", "proc"),
            Mount("/var/runtime", "dir"),
            Mount("/dev/tty", "bind", "/dev/tty", writable=True, optional=True),
        ],
        hostname="localhost",
        working_directory="/var/task",
        keep_fds=[0, 1, 2, 3],
        inside_task_root="/var/task",
        inside_runtime_dir="/var/runtime",
        inside_runtime_library="/var/runtime",
        inside_tmp="/tmp",
    )


def test_plan_round_trips_through_json() -> None:
    plan = full_plan()
    text = plan.to_json()
    assert json.loads(text)["mounts"][0] == {
        "target": "/usr",
        "kind": "bind",
        "source": "/usr",
        "writable": False,
        "options": "",
        "optional": False,
    }
    assert ConfinementPlan.from_json(text) == plan
    assert ConfinementPlan.from_json(ConfinementPlan().to_json()) == ConfinementPlan()


def test_default_plan_is_valid_and_keeps_stdio() -> None:
    plan = ConfinementPlan()
    plan.validate()
    assert plan.keep_fds == [0, 1, 2]
    assert plan.uid is None and plan.namespaces == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda plan: plan.namespaces.append("time"), "unknown namespaces"),
        (lambda plan: plan.namespaces.remove("mount"), "needs the mount namespace"),
        (lambda plan: setattr(plan, "root", None), "mounts need a root"),
        (lambda plan: plan.namespaces.remove("uts"), "hostname needs"),
        (lambda plan: plan.mounts.append(Mount("/x", "overlay")), "unknown mount kind"),
        (lambda plan: plan.mounts.append(Mount("relative", "dir")), "absolute"),
        (lambda plan: plan.mounts.append(Mount("/var/../etc", "dir")), "absolute"),
        (lambda plan: plan.rlimits.update(BOGUS=1), "unknown rlimit"),
        (lambda plan: setattr(plan, "gid", None), "uid and gid"),
        (
            lambda plan: plan.mounts.extend([Mount("/srv", "bind", "/usr"), Mount("/srv/x", "dir")]),
            "inside an earlier bind mount",
        ),
        (
            lambda plan: (
                setattr(plan, "network_namespace", "/proc/1/ns/net"),
                setattr(plan, "namespaces", [*plan.namespaces, "net"]),
            ),
            "either joined or new",
        ),
    ],
)
def test_invalid_plans_are_refused_before_anything_happens(
    change: Callable[[ConfinementPlan], None], message: str
) -> None:
    plan = full_plan()
    change(plan)
    with pytest.raises(ConfinementError, match=message):
        plan.validate()
    with pytest.raises(ConfinementError, match=message):
        confine(plan)  # validation comes first: this process is left untouched


def test_module_is_standalone_and_python38_compatible() -> None:
    """The fork server loads it by path into an interpreter without `lamina`."""
    source = CONFINE_SOURCE.read_text()
    assert "import lamina" not in source and "from lamina" not in source
    script = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('confine', {str(CONFINE_SOURCE)!r})\n"
        "module = importlib.util.module_from_spec(spec); sys.modules['confine'] = module\n"
        "spec.loader.exec_module(module)\n"
        "plan = module.ConfinementPlan.from_json(sys.stdin.read())\n"
        "print(plan.to_json())\n"
    )
    interpreters = [sys.executable] + [
        str(path) for path in Path("/root/.pyenv/versions").glob("3.8.*/bin/python3.8") if path.exists()
    ]
    for interpreter in interpreters[:2]:
        result = subprocess.run(
            [interpreter, "-I", "-S", "-c", script],
            input=full_plan().to_json(),
            capture_output=True,
            text=True,
            check=True,
        )
        assert ConfinementPlan.from_json(result.stdout) == full_plan()


def _system_mounts() -> list[Mount]:
    """What this interpreter needs to run inside a new root: /usr, its prefix, the /bin-style links."""
    prefix = str(Path(sys.executable).resolve().parents[1])
    links = [
        Mount(path, "symlink", os.readlink(path))
        for path in ("/bin", "/lib", "/lib64")
        if os.path.islink(path)
    ]
    return [*links, Mount("/usr", "bind", "/usr"), Mount(prefix, "bind", prefix)]


def _run_confined(plan: ConfinementPlan, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        # The real interpreter: a virtual environment's bin/python link is not inside the private root.
        [os.path.realpath(sys.executable), "-I", "-S", "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=30,
        preexec_fn=lambda: confine(plan, exec_follows=True),
        start_new_session=True,
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
def test_process_confinement_sets_limits_and_closes_inherited_descriptors() -> None:
    leaked = os.open(os.devnull, os.O_RDONLY)
    os.set_inheritable(leaked, True)
    try:
        plan = ConfinementPlan(rlimits={"NOFILE": 64, "CORE": 0}, working_directory="/")
        result = subprocess.run(
            [
                sys.executable,
                "-I",
                "-S",
                "-c",
                "import os, resource, json; print(json.dumps([resource.getrlimit(resource.RLIMIT_NOFILE)[0], "
                "os.getcwd(), sorted(int(fd) for fd in os.listdir('/proc/self/fd')), "
                "os.getsid(0) == os.getpid()]))",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            close_fds=False,
            preexec_fn=lambda: confine(plan, exec_follows=True),
        )
    finally:
        os.close(leaked)
    assert result.returncode == 0, result.stderr
    limit, cwd, fds, leader = json.loads(result.stdout)
    assert (limit, cwd, leader) == (64, "/", True)
    assert leaked not in fds


@pytest.mark.skipif(not ROOT, reason="needs root")
def test_namespaces_confinement_builds_a_private_root(tmp_path: Path) -> None:
    if probe_namespaces(tmp_path / "probe", None) is not None:
        pytest.skip("namespaces unavailable here")
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text("x = 1\n")
    root = tmp_path / "root"
    root.mkdir()
    mounts = [*_system_mounts(), Mount("/etc", "bind", "/etc")]
    mounts += [Mount("/var/task", "bind", str(code)), Mount("/proc", "proc")]
    mounts += [Mount("/tmp", "tmpfs", options="size=1m,mode=1777")]
    plan = ConfinementPlan(
        namespaces=["mount", "pid", "ipc", "uts", "net"],
        root=str(root),
        mounts=mounts,
        hostname="sandboxed",
        working_directory="/var/task",
        uid=100_123,
        gid=100_123,
    )
    result = _run_confined(
        plan,
        "import os, socket, json, sys\n"
        "def attempt(path):\n"
        "    try:\n"
        "        open(path, 'w').write('x'); return 'wrote'\n"
        "    except OSError as error: return error.strerror\n"
        "big = 'denied'\n"
        "try:\n"
        "    open('/tmp/big', 'wb').write(b'x' * 2 * 1024 * 1024)\n"
        "except OSError as error: big = error.strerror\n"
        "print(json.dumps({'pid': os.getpid(), 'ppid': os.getppid(), 'uid': os.getuid(), 'cwd': os.getcwd(),\n"
        "  'host': socket.gethostname(), 'task': attempt('/var/task/x'), 'etc': attempt('/etc/x'),\n"
        "  'tmp': attempt('/tmp/x'), 'big': big, 'root': sorted(os.listdir('/')),\n"
        "  'data': os.path.exists(sys.argv[1])}))\n",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    # The runtime is PID 2, below the namespace's init (PID 1), as on Lambda.
    assert (seen["pid"], seen["ppid"], seen["uid"]) == (2, 1, 100_123)
    assert (seen["cwd"], seen["host"]) == ("/var/task", "sandboxed")
    assert seen["task"] == seen["etc"] == "Read-only file system"
    assert seen["tmp"] == "wrote"
    assert seen["big"] == "No space left on device"
    assert "var" in seen["root"] and "proc" in seen["root"]
    assert seen["data"] is False  # the host's folders are gone


@pytest.mark.skipif(not ROOT, reason="needs root")
def test_outside_waiter_reports_how_the_runtime_ended(tmp_path: Path) -> None:
    if probe_namespaces(tmp_path / "probe", None) is not None:
        pytest.skip("namespaces unavailable here")
    plan = ConfinementPlan(namespaces=["pid"], working_directory="/")
    assert _run_confined(plan, "import os; os._exit(7)").returncode == 7
    # The init reports a signal apart from an exit status: exit(137) is not a SIGKILL.
    assert _run_confined(plan, "import os; os._exit(137)").returncode == 137
    killed = _run_confined(plan, "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    assert killed.returncode == -9
    crashed = _run_confined(plan, "import ctypes; ctypes.string_at(0)")
    assert crashed.returncode == -11


@pytest.mark.skipif(not ROOT, reason="needs root")
def test_the_namespace_init_reaps_orphans_while_the_runtime_runs(tmp_path: Path) -> None:
    """A handler's double-forked children are re-parented to PID 1 when their parent exits: the init
    reaps them, so no zombie is left holding a pid until the environment ends."""
    if probe_namespaces(tmp_path / "probe", None) is not None:
        pytest.skip("namespaces unavailable here")
    root = tmp_path / "root"
    root.mkdir()
    mounts = [*_system_mounts(), Mount("/proc", "proc")]
    plan = ConfinementPlan(namespaces=["mount", "pid"], root=str(root), mounts=mounts, working_directory="/")
    result = _run_confined(
        plan,
        "import os, time\n"
        "for _ in range(5):\n"
        "    if os.fork() == 0:\n"
        "        if os.fork() == 0:\n"
        "            os._exit(0)\n"  # the grandchild: an orphan once its parent is gone
        "        os._exit(0)\n"
        "    os.wait()\n"  # the runtime reaps its own child
        "def pids():\n"  # zombies included: a zombie keeps its pid until reaped
        "    return sorted(int(pid) for pid in os.listdir('/proc') if pid.isdigit())\n"
        "deadline = time.monotonic() + 5\n"
        "while len(pids()) > 2 and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
        "print(pids())\n",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[1, 2]\n"  # the init and the runtime: no zombie left


@pytest.mark.skipif(not ROOT, reason="needs root")
def test_a_namespace_entered_ahead_has_its_init_confined_before_the_runtime_runs(tmp_path: Path) -> None:
    """A fork server's standby enters its PID namespace ahead: its init waits as root until the
    runtime's confine() sends the credentials. confine() returns only once the init has dropped to
    them, so no function code ever runs beside a root PID 1."""
    if probe_namespaces(tmp_path / "probe", None) is not None:
        pytest.skip("namespaces unavailable here")
    script = (
        "import ctypes, importlib.util, json, os, sys\n"
        "spec = importlib.util.spec_from_file_location('lamina_confine', sys.argv[1])\n"
        "confine = importlib.util.module_from_spec(spec)\n"
        "sys.modules['lamina_confine'] = confine\n"
        "spec.loader.exec_module(confine)\n"
        "ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)\n"  # a child subreaper, as the zygote
        "handover_read, handover_write = os.pipe()\n"
        "ran_read, ran_write = os.pipe()\n"
        "server = os.getpid()\n"
        "if os.fork() == 0:\n"
        "    os.close(handover_read); os.close(ran_read)\n"
        "    confine.enter_pid_namespace_ahead(handover_write, server)\n"
        "    plan = confine.ConfinementPlan(namespaces=['pid'], uid=100321, gid=100321,\n"
        "                                   working_directory='/', keep_fds=[0, 1, 2, ran_write])\n"
        "    confine.confine(plan)\n"
        "    os.write(ran_write, json.dumps([os.getpid(), os.getppid(), os.getuid()]).encode())\n"
        "    os._exit(0)\n"
        "os.close(handover_write); os.close(ran_write)\n"
        "init = int(os.read(handover_read, 64).split()[0])\n"
        "runtime = json.loads(os.read(ran_read, 256))\n"
        "status = open('/proc/%d/status' % init).read()\n"  # read as soon as the runtime runs code
        "uid = [line.split()[1:] for line in status.splitlines() if line.startswith('Uid:')][0]\n"
        "print(json.dumps({'runtime': runtime, 'init_uids': uid}))\n"
        "os.waitpid(-1, 0)\n",
    )
    result = subprocess.run(
        [sys.executable, "-c", script[0], str(CONFINE_SOURCE)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["runtime"] == [2, 1, 100321]
    assert seen["init_uids"] == ["100321"] * 4  # real, effective, saved and file-system uid


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
def test_descriptors_above_the_new_limit_are_closed_too() -> None:
    """A spawner holding more descriptors than the function's NOFILE limit: lowered before the
    descriptors were closed, the limit left no descriptor to list /proc/self/fd with, and those
    above it passed to the function."""
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(100)]
    for fd in held:
        os.set_inheritable(fd, True)
    try:
        plan = ConfinementPlan(rlimits={"NOFILE": 64}, working_directory="/")
        result = subprocess.run(
            [
                sys.executable,
                "-I",
                "-S",
                "-c",
                "import os; print(sorted(int(fd) for fd in os.listdir('/proc/self/fd')))",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            close_fds=False,
            preexec_fn=lambda: confine(plan, exec_follows=True),
        )
    finally:
        for fd in held:
            os.close(fd)
    assert result.returncode == 0, result.stderr
    assert not set(json.loads(result.stdout)) & set(held)
