"""seccomp.py: the classic-BPF program, checked with its own evaluator on both architectures, and
installed for real in a child process where the kernel allows it."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lamina.execution.sandbox import seccomp
from lamina.execution.sandbox.seccomp import (
    ARCHITECTURES,
    AUDIT_ARCH_AARCH64,
    AUDIT_ARCH_X86_64,
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_ERRNO,
    UnsupportedArchitecture,
    build_filter,
    evaluate,
)

EPERM = SECCOMP_RET_ERRNO | errno.EPERM
ENOSYS = SECCOMP_RET_ERRNO | errno.ENOSYS
CLONE_NEWUSER = 0x10000000
CLONE_NEWNS = 0x00020000
CLONE_NEWTIME = 0x00000080
# What pthread_create passes to clone (glibc): no namespace flag
THREAD_FLAGS = 0x003D0F00
SIGCHLD = 17
MACHINES = [("x86_64", AUDIT_ARCH_X86_64), ("aarch64", AUDIT_ARCH_AARCH64)]


@pytest.mark.parametrize(("machine", "arch"), MACHINES)
def test_every_denied_call_fails_with_eperm(machine: str, arch: int) -> None:
    program = build_filter(machine)
    table = ARCHITECTURES[machine][1]
    for name in seccomp.DENIED:
        if name in table:
            assert evaluate(program, table[name], arch) == EPERM, name


@pytest.mark.parametrize(("machine", "arch"), MACHINES)
def test_clone3_and_io_uring_look_absent(machine: str, arch: int) -> None:
    program = build_filter(machine)
    table = ARCHITECTURES[machine][1]
    for name in ("clone3", "io_uring_setup", "io_uring_enter", "io_uring_register"):
        assert evaluate(program, table[name], arch) == ENOSYS, name


@pytest.mark.parametrize(("machine", "arch"), MACHINES)
def test_namespace_flags_are_refused_other_flags_pass(machine: str, arch: int) -> None:
    program = build_filter(machine)
    table = ARCHITECTURES[machine][1]
    clone, unshare = table["clone"], table["unshare"]
    assert evaluate(program, clone, arch, (THREAD_FLAGS,)) == SECCOMP_RET_ALLOW
    assert evaluate(program, clone, arch, (SIGCHLD,)) == SECCOMP_RET_ALLOW  # fork()
    # clone's low byte is the exit signal, not CLONE_NEWTIME: SIGCHLD | 0x80 must not be read as it
    assert evaluate(program, clone, arch, (0x80 | SIGCHLD,)) == SECCOMP_RET_ALLOW
    assert evaluate(program, clone, arch, (SIGCHLD | CLONE_NEWUSER,)) == EPERM
    assert evaluate(program, clone, arch, (SIGCHLD | CLONE_NEWNS,)) == EPERM
    assert evaluate(program, unshare, arch, (CLONE_NEWUSER,)) == EPERM
    assert evaluate(program, unshare, arch, (CLONE_NEWTIME,)) == EPERM
    assert evaluate(program, unshare, arch, (0x400,)) == SECCOMP_RET_ALLOW  # CLONE_FILES
    # A high word does not hide the flags: only the low 32 bits reach the kernel's checks.
    assert evaluate(program, unshare, arch, ((1 << 32) | CLONE_NEWUSER,)) == EPERM


@pytest.mark.parametrize(("machine", "arch"), MACHINES)
def test_ordinary_calls_pass(machine: str, arch: int) -> None:
    program = build_filter(machine)
    listed = set(ARCHITECTURES[machine][1].values())
    for number in range(0, 460):
        if number not in listed:
            assert evaluate(program, number, arch, (CLONE_NEWUSER,)) == SECCOMP_RET_ALLOW, number


def test_foreign_abis_are_refused() -> None:
    program = build_filter("x86_64")
    audit_arch_i386 = 0x40000003
    assert evaluate(program, 0, audit_arch_i386) == EPERM  # read() through int 0x80
    assert evaluate(program, 0x40000000, AUDIT_ARCH_X86_64) == EPERM  # x32's read()
    assert evaluate(program, 0, AUDIT_ARCH_AARCH64) == EPERM
    assert evaluate(build_filter("aarch64"), 63, AUDIT_ARCH_X86_64) == EPERM


def test_program_is_whole_instructions_and_small() -> None:
    for machine, _arch in MACHINES:
        program = build_filter(machine)
        assert len(program) % 8 == 0 and len(program) // 8 < 256


def test_unknown_machine_has_no_filter() -> None:
    with pytest.raises(UnsupportedArchitecture):
        build_filter("riscv64")


PROBE = textwrap.dedent(
    """
    import ctypes, errno, importlib.util, json, os, subprocess, sys, threading
    spec = importlib.util.spec_from_file_location("probe_seccomp", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.install(module.build_filter())
    libc = ctypes.CDLL(None, use_errno=True)

    def outcome(result):
        return errno.errorcode.get(ctypes.get_errno(), "?") if result != 0 else "ok"

    seen = {"unshare_user": outcome(libc.unshare(0x10000000))}
    seen["mount"] = outcome(libc.mount(b"none", b"/mnt", b"tmpfs", 0, None))
    seen["ptrace"] = outcome(libc.ptrace(0, 0, 0, 0))
    thread = threading.Thread(target=lambda: seen.__setitem__("thread", "ok"))
    thread.start()
    thread.join()
    child = subprocess.run([sys.executable, "-c", "print('child')"], capture_output=True, text=True)
    seen["child"] = child.stdout.strip()
    print(json.dumps(seen))
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="seccomp is Linux's")
def test_installed_filter_refuses_namespaces_and_keeps_threads_and_children() -> None:
    result = subprocess.run(
        [sys.executable, "-I", "-c", PROBE, str(Path(seccomp.__file__))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen == {
        "unshare_user": "EPERM",
        "mount": "EPERM",
        "ptrace": "EPERM",
        "thread": "ok",
        "child": "child",
    }
