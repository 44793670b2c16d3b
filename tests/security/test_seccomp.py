"""Issue 12, attack 9: unprivileged user namespaces (and the kernel surface behind them) worked
inside both tiers. Every environment now runs under a seccomp filter (sandbox/seccomp.py) modelled on
container runtimes' default profile: a Python function forked by the fork server, its children, and a
custom runtime started through the spawn path all get EPERM for namespaces, mounts, keyrings, eBPF and
ptrace, while threads, subprocesses and multiprocessing keep working."""

from __future__ import annotations

import json
import shutil
from typing import Any

from tests.security.conftest import assert_still_serving, create_custom_runtime, create_function, invoke
from tests.support.packaging import shell_runtime
from tests.support.server import RunningServer

ATTACKER = r"""
import ctypes, errno, json, multiprocessing, os, platform, signal, subprocess, sys, threading

CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x00020000
NUMBERS = {"x86_64": {"keyctl": 250, "bpf": 321, "add_key": 248},
           "aarch64": {"keyctl": 219, "bpf": 280, "add_key": 217}}[platform.machine()]
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def outcome(result):
    if result == -1:
        number = ctypes.get_errno()
        return errno.errorcode.get(number, str(number))
    return "ok"

def call(function, *args):
    ctypes.set_errno(0)
    return outcome(function(*args))

def status_field(name):
    for line in open("/proc/self/status"):
        if line.startswith(name + ":"):
            return line.split()[1]

def ptrace_attach_own_child():
    child = subprocess.Popen(["sleep", "30"])
    try:
        return call(libc.ptrace, ctypes.c_long(16), ctypes.c_long(child.pid), None, None)  # PTRACE_ATTACH
    finally:
        child.kill()
        child.wait()

def square(connection, value):
    connection.send(value * value)
    connection.close()

def ordinary():
    seen = {}
    results = []
    threads = [threading.Thread(target=results.append, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seen["threads"] = sorted(results)
    seen["subprocess"] = subprocess.run(["echo", "hello"], capture_output=True, text=True).stdout.strip()
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.Process(target=square, args=(child, 7))
    process.start()
    seen["multiprocessing"] = parent.recv()
    process.join()
    seen["python_child"] = subprocess.run(
        [sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True
    ).stdout.strip()
    return seen

CHILD_ATTEMPT = "import ctypes, errno; libc = ctypes.CDLL(None, use_errno=True); " \
    "print('ok' if libc.unshare(0x10000000) == 0 else errno.errorcode[ctypes.get_errno()])"

def handler(event, context):
    seen = {
        "seccomp": status_field("Seccomp"),
        "no_new_privs": status_field("NoNewPrivs"),
        "unshare_user": call(libc.unshare, CLONE_NEWUSER),
        "unshare_user_mount": call(libc.unshare, CLONE_NEWUSER | CLONE_NEWNS),
        "mount": call(libc.mount, b"none", b"/tmp", b"tmpfs", ctypes.c_ulong(0), None),
        # KEYCTL_GET_KEYRING_ID of KEY_SPEC_SESSION_KEYRING, creating it: fine for any user unfiltered
        "keyctl": call(libc.syscall, ctypes.c_long(NUMBERS["keyctl"]), ctypes.c_long(0), ctypes.c_long(-3), ctypes.c_long(1)),
        "add_key": call(libc.syscall, ctypes.c_long(NUMBERS["add_key"]), b"user", b"lamina", b"x", ctypes.c_long(1), ctypes.c_long(-3)),
        "bpf": call(libc.syscall, ctypes.c_long(NUMBERS["bpf"]), ctypes.c_long(0), None, ctypes.c_long(0)),
        "ptrace_traceme": call(libc.ptrace, ctypes.c_long(0), ctypes.c_long(0), None, None),
        "ptrace_attach": ptrace_attach_own_child(),
        "child_unshare_user": subprocess.run(
            [sys.executable, "-c", CHILD_ATTEMPT], capture_output=True, text=True
        ).stdout.strip(),
    }
    unshare_tool = subprocess.run(["unshare", "-U", "true"], capture_output=True, text=True)
    seen["unshare_tool"] = [unshare_tool.returncode, unshare_tool.stderr.strip()]
    seen["ordinary"] = ordinary()
    return seen
"""

# A custom runtime (started through the spawn path, confine_exec.py): what it may do, from a shell.
BOOTSTRAP = shell_runtime(
    r"""
SECCOMP=$(grep '^Seccomp:' /proc/self/status | tr -cd '0-9')
if unshare -U true 2>/dev/null; then USERNS=ok; else USERNS=refused; fi
CHILD=$(sh -c 'echo child')
BODY="{\"seccomp\": \"$SECCOMP\", \"userns\": \"$USERNS\", \"child\": \"$CHILD\"}"
"""
)


def test_python_function_cannot_reach_kernel_surface(tier_server: RunningServer) -> None:
    name = create_function(tier_server, {"app.py": ATTACKER}, "app.handler", Timeout=60)
    response, seen = invoke(tier_server, name)
    assert "FunctionError" not in response, seen
    assert seen["seccomp"] == "2" and seen["no_new_privs"] == "1", seen
    for attempt in (
        "unshare_user",
        "unshare_user_mount",
        "mount",
        "keyctl",
        "add_key",
        "bpf",
        "ptrace_traceme",
        "ptrace_attach",
        "child_unshare_user",
    ):
        assert seen[attempt] == "EPERM", (attempt, seen)
    if shutil.which("unshare"):
        returncode, stderr = seen["unshare_tool"]
        assert returncode != 0 and "Operation not permitted" in stderr, seen
    assert seen["ordinary"] == {
        "threads": [0, 1, 2, 3],
        "subprocess": "hello",
        "multiprocessing": 49,
        "python_child": "42",
    }
    assert_still_serving(tier_server)


def test_custom_runtime_is_filtered_too(tier_server: RunningServer) -> None:
    client = tier_server.client("lambda")
    name = create_custom_runtime(tier_server, BOOTSTRAP)
    response = client.invoke(FunctionName=name, Payload=b"{}")
    seen: dict[str, Any] = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, seen
    assert seen == {"seccomp": "2", "userns": "refused", "child": "child"}
