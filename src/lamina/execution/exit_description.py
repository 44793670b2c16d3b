"""How a runtime's end is worded in "Runtime exited with error: …".

Lambda's own init is written in Go and words a process's end as Go's os.ProcessState does: "exit
status N", or "signal: " and the signal's name as Go spells it on Linux ("segmentation fault",
"terminated", "killed"), not its SIG* abbreviation. Users search for those exact messages.
"""

from __future__ import annotations

import signal

_GO_SIGNAL_NAMES: dict[int, str] = {
    signal.SIGHUP: "hangup",
    signal.SIGINT: "interrupt",
    signal.SIGQUIT: "quit",
    signal.SIGILL: "illegal instruction",
    signal.SIGTRAP: "trace/breakpoint trap",
    signal.SIGABRT: "aborted",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating point exception",
    signal.SIGKILL: "killed",
    signal.SIGUSR1: "user defined signal 1",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGUSR2: "user defined signal 2",
    signal.SIGPIPE: "broken pipe",
    signal.SIGALRM: "alarm clock",
    signal.SIGTERM: "terminated",
    signal.SIGCHLD: "child exited",
    signal.SIGCONT: "continued",
    signal.SIGSTOP: "stopped (signal)",
    signal.SIGTSTP: "stopped",
    signal.SIGTTIN: "stopped (tty input)",
    signal.SIGTTOU: "stopped (tty output)",
    signal.SIGURG: "urgent I/O condition",
    signal.SIGXCPU: "CPU time limit exceeded",
    signal.SIGXFSZ: "file size limit exceeded",
    signal.SIGVTALRM: "virtual timer expired",
    signal.SIGPROF: "profiling timer expired",
    signal.SIGWINCH: "window changed",
    signal.SIGIO: "I/O possible",
    signal.SIGSYS: "bad system call",
}
_GO_SIGNAL_NAMES.update(
    {
        getattr(signal, name): text
        for name, text in (("SIGSTKFLT", "stack fault"), ("SIGPWR", "power failure"))
        if hasattr(signal, name)
    }
)


def describe_exit(returncode: int) -> str:
    """`returncode` as subprocess gives it: -N for a signal N, else the exit status."""
    if returncode < 0:
        number = -returncode
        return f"signal: {_GO_SIGNAL_NAMES.get(number, f'signal {number}')}"
    return f"exit status {returncode}"
