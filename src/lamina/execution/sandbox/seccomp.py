"""A seccomp filter for execution environments, built as classic BPF in pure Python.

Standalone like confine.py (standard library only, Python 3.8 syntax, no `lamina` imports): confine.py
loads it by path, in the spawn path's helper (confine_exec.py) and in a fork server's children, and
installs it as the last step of confinement, so everything the runtime and the function run is
filtered, and so is every process they start (a filter is inherited and cannot be removed).

Modelled on the default profile of container runtimes (Docker/moby's `profiles/seccomp/default.json`,
for a container without extra capabilities): a process may not make namespaces (unshare, setns, clone
with a CLONE_NEW* flag: "unprivileged user namespaces" are the door to most kernel attack surface), touch
mounts (the old and the new mount API), keyrings, eBPF, trace or read other processes (ptrace,
process_vm_*, kcmp, pidfd_getfd), load kernel modules or kernels, reboot, change the clock, swap,
accounting, quotas, read the kernel log, open files by handle, use userfaultfd, perf events, io_uring
or fanotify. Denied calls fail with EPERM, as Docker's do; io_uring_setup/enter/register fail with
ENOSYS (libuv and others then use their thread pool, as on a kernel without it), and clone3, whose flags
sit in memory a filter cannot read, fails with ENOSYS so that the C library falls back to clone, whose
flags it can (glibc 2.34+ does; Docker does the same).

The filter first checks the architecture field: a call made through a foreign ABI (i386's int 0x80 on
x86_64, or the x32 ABI, which shares x86_64's architecture value but sets bit 30 of the number) has
other numbers, so it is refused outright (EPERM) instead of being matched against this table.

Contract: `build_filter()` is pure (bytes of `struct sock_filter`), raises UnsupportedArchitecture on
a machine without a table; `install()` sets no_new_privs and the filter on the calling thread (call it
single-threaded, before starting threads: each thread keeps the filters it had), raises OSError when
the kernel refuses. Build it and make its `Installer` once per process, install in many fork children: the
intended use.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

# <linux/audit.h>: AUDIT_ARCH_* (EM_* | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE)
AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
X32_SYSCALL_BIT = 0x40000000

# <linux/seccomp.h>
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
_SECCOMP_MODE_FILTER = 2
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22

# <linux/filter.h> classic BPF opcodes
_BPF_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_BPF_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_BPF_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_BPF_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_BPF_RET_K = 0x06  # BPF_RET | BPF_K
_INSTRUCTION = struct.Struct("=HBBI")  # struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}

# struct seccomp_data {int nr; u32 arch; u64 instruction_pointer; u64 args[6]}; both supported
# architectures are little-endian, so an argument's low 32 bits come first.
_OFFSET_NR = 0
_OFFSET_ARCH = 4
_OFFSET_ARG0_LOW = 16

# <sched.h>: the namespace flags. CLONE_NEWTIME (0x80) exists only for unshare and clone3: in clone's
# flags the low byte is the exit signal.
CLONE_NAMESPACE_FLAGS = 0x7E020000  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET, as Docker
CLONE_NEWTIME = 0x00000080

# Calls refused whatever their arguments (EPERM).
DENIED = (
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    "perf_event_open",
    "userfaultfd",
    "fanotify_init",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "quotactl_fd",
    "syslog",
    "vhangup",
    "iopl",
    "ioperm",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "open_by_handle_at",
    "name_to_handle_at",
    "lookup_dcookie",
    "nfsservctl",
    "uselib",
    "_sysctl",
    "create_module",
    "get_kernel_syms",
    "query_module",
)
# Calls that fail as if the kernel lacked them (ENOSYS), so that callers use their fallback.
NOT_IMPLEMENTED = ("clone3", "io_uring_setup", "io_uring_enter", "io_uring_register")
# Calls refused (EPERM) when their first argument has any of these flags set.
DENIED_WITH_FLAGS = {
    "clone": CLONE_NAMESPACE_FLAGS,
    "unshare": CLONE_NAMESPACE_FLAGS | CLONE_NEWTIME,
}

# Syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl; include/uapi/asm-generic/unistd.h for
# aarch64). A name missing from an architecture's table does not exist there.
_X86_64 = {
    "clone": 56,
    "clone3": 435,
    "unshare": 272,
    "setns": 308,
    "mount": 165,
    "umount2": 166,
    "pivot_root": 155,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
    "keyctl": 250,
    "add_key": 248,
    "request_key": 249,
    "bpf": 321,
    "ptrace": 101,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "kcmp": 312,
    "pidfd_getfd": 438,
    "perf_event_open": 298,
    "userfaultfd": 323,
    "fanotify_init": 300,
    "init_module": 175,
    "finit_module": 313,
    "delete_module": 176,
    "kexec_load": 246,
    "kexec_file_load": 320,
    "reboot": 169,
    "swapon": 167,
    "swapoff": 168,
    "acct": 163,
    "quotactl": 179,
    "quotactl_fd": 443,
    "syslog": 103,
    "vhangup": 153,
    "iopl": 172,
    "ioperm": 173,
    "settimeofday": 164,
    "clock_settime": 227,
    "clock_adjtime": 305,
    "adjtimex": 159,
    "open_by_handle_at": 304,
    "name_to_handle_at": 303,
    "lookup_dcookie": 212,
    "nfsservctl": 180,
    "uselib": 134,
    "_sysctl": 156,
    "create_module": 174,
    "get_kernel_syms": 177,
    "query_module": 178,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
}
_AARCH64 = {
    "clone": 220,
    "clone3": 435,
    "unshare": 97,
    "setns": 268,
    "mount": 40,
    "umount2": 39,
    "pivot_root": 41,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
    "keyctl": 219,
    "add_key": 217,
    "request_key": 218,
    "bpf": 280,
    "ptrace": 117,
    "process_vm_readv": 270,
    "process_vm_writev": 271,
    "kcmp": 272,
    "pidfd_getfd": 438,
    "perf_event_open": 241,
    "userfaultfd": 282,
    "fanotify_init": 262,
    "init_module": 105,
    "finit_module": 273,
    "delete_module": 106,
    "kexec_load": 104,
    "kexec_file_load": 294,
    "reboot": 142,
    "swapon": 224,
    "swapoff": 225,
    "acct": 89,
    "quotactl": 60,
    "quotactl_fd": 443,
    "syslog": 116,
    "vhangup": 58,
    "settimeofday": 170,
    "clock_settime": 112,
    "clock_adjtime": 266,
    "adjtimex": 171,
    "open_by_handle_at": 265,
    "name_to_handle_at": 264,
    "lookup_dcookie": 18,
    "nfsservctl": 42,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
}
# platform.machine() -> (AUDIT_ARCH value, syscall table, whether x32 numbers must be refused)
ARCHITECTURES: dict[str, tuple[int, dict[str, int], bool]] = {
    "x86_64": (AUDIT_ARCH_X86_64, _X86_64, True),
    "amd64": (AUDIT_ARCH_X86_64, _X86_64, True),
    "aarch64": (AUDIT_ARCH_AARCH64, _AARCH64, False),
    "arm64": (AUDIT_ARCH_AARCH64, _AARCH64, False),
}


class UnsupportedArchitecture(Exception):
    """No syscall table for this machine: environments cannot be filtered here."""


def _errno(number: int) -> int:
    return SECCOMP_RET_ERRNO | (number & 0xFFFF)


def _statement(code: int, k: int) -> tuple[int, int, int, int]:
    return (code, 0, 0, k)


def _jump(code: int, k: int, true: int, false: int) -> tuple[int, int, int, int]:
    if not (0 <= true <= 255 and 0 <= false <= 255):
        raise ValueError("jump too far for classic BPF")
    return (code, true, false, k)


def build_instructions(machine: str | None = None) -> list[tuple[int, int, int, int]]:
    """The program as (code, jt, jf, k) tuples for `machine` (default: this one's)."""
    name = (machine or platform.machine()).lower()
    if name not in ARCHITECTURES:
        raise UnsupportedArchitecture(f"no seccomp syscall table for {name!r}")
    arch, table, refuse_x32 = ARCHITECTURES[name]
    denied = sorted({table[call] for call in DENIED if call in table})
    not_implemented = sorted({table[call] for call in NOT_IMPLEMENTED if call in table})

    program: list[tuple[int, int, int, int]] = [
        _statement(_BPF_LD_W_ABS, _OFFSET_ARCH),
        _jump(_BPF_JEQ_K, arch, 1, 0),
        _statement(_BPF_RET_K, _errno(errno.EPERM)),  # a foreign ABI: other numbers, refused
        _statement(_BPF_LD_W_ABS, _OFFSET_NR),
    ]
    if refuse_x32:
        program += [
            _jump(_BPF_JGE_K, X32_SYSCALL_BIT, 0, 1),
            _statement(_BPF_RET_K, _errno(errno.EPERM)),
        ]
    for call, flags in sorted(DENIED_WITH_FLAGS.items()):
        # Not this call: skip its 4 instructions. Else load the flags (the accumulator then holds
        # no syscall number any more, so each block ends by returning).
        program += [
            _jump(_BPF_JEQ_K, table[call], 0, 4),
            _statement(_BPF_LD_W_ABS, _OFFSET_ARG0_LOW),
            _jump(_BPF_JSET_K, flags, 0, 1),
            _statement(_BPF_RET_K, _errno(errno.EPERM)),
            _statement(_BPF_RET_K, SECCOMP_RET_ALLOW),
        ]
    # Then one comparison per listed call, jumping to the shared returns at the end:
    #   [denied...] [not implemented...] ALLOW EPERM ENOSYS
    checks = len(denied) + len(not_implemented)
    for index, number in enumerate(denied):
        to_eperm = checks - index - 1 + 1  # past the remaining checks and ALLOW
        program.append(_jump(_BPF_JEQ_K, number, to_eperm, 0))
    for index, number in enumerate(not_implemented):
        to_enosys = len(not_implemented) - index - 1 + 2  # past the remaining checks, ALLOW, EPERM
        program.append(_jump(_BPF_JEQ_K, number, to_enosys, 0))
    program += [
        _statement(_BPF_RET_K, SECCOMP_RET_ALLOW),
        _statement(_BPF_RET_K, _errno(errno.EPERM)),
        _statement(_BPF_RET_K, _errno(errno.ENOSYS)),
    ]
    return program


def build_filter(machine: str | None = None) -> bytes:
    """The filter as the bytes of a `struct sock_filter` array, ready for install()."""
    return b"".join(_INSTRUCTION.pack(*instruction) for instruction in build_instructions(machine))


def evaluate(program: bytes, nr: int, arch: int, args: tuple[int, ...] = ()) -> int:
    """What the kernel would return for one call: a tiny classic-BPF interpreter for the opcodes
    build_filter() uses, so tests can check the program itself on any machine."""
    instructions = [_INSTRUCTION.unpack_from(program, offset) for offset in range(0, len(program), 8)]
    words = {_OFFSET_NR: nr & 0xFFFFFFFF, _OFFSET_ARCH: arch}
    for index, value in enumerate(args[:6]):
        words[_OFFSET_ARG0_LOW + 8 * index] = value & 0xFFFFFFFF
        words[_OFFSET_ARG0_LOW + 8 * index + 4] = (value >> 32) & 0xFFFFFFFF
    accumulator = 0
    pc = 0
    while True:
        code, true, false, k = instructions[pc]
        pc += 1
        if code == _BPF_LD_W_ABS:
            accumulator = words.get(k, 0)
        elif code == _BPF_RET_K:
            return k
        elif code in (_BPF_JEQ_K, _BPF_JGE_K, _BPF_JSET_K):
            if code == _BPF_JEQ_K:
                taken = accumulator == k
            elif code == _BPF_JGE_K:
                taken = accumulator >= k
            else:
                taken = bool(accumulator & k)
            pc += true if taken else false
        else:
            raise ValueError(f"unexpected opcode {code:#x}")


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class Installer:
    """Installs one program with everything made ahead (the C library's handle, the program in C
    memory): a call costs two prctl(2) calls, which matters in a fork server's children."""

    def __init__(self, program: bytes) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._libc.prctl.argtypes = [
            ctypes.c_int,
            ctypes.c_ulong,
            ctypes.c_ulong,
            ctypes.c_ulong,
            ctypes.c_ulong,
        ]
        self._buffer = ctypes.create_string_buffer(program, len(program))  # alive as long as self
        self._fprog = _SockFprog(
            len(program) // _INSTRUCTION.size, ctypes.cast(self._buffer, ctypes.c_void_p)
        )

    def __call__(self) -> None:
        """no_new_privs, then the filter, on the calling thread (and every process it starts)."""
        if self._libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            number = ctypes.get_errno()
            raise OSError(number, f"no_new_privs: {errno.errorcode.get(number, number)}")
        if self._libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(self._fprog), 0, 0) != 0:
            number = ctypes.get_errno()
            raise OSError(number, f"seccomp filter: {errno.errorcode.get(number, number)}")


def install(program: bytes) -> None:
    """no_new_privs, then the filter, on the calling thread (and every process it starts)."""
    Installer(program)()
