"""Reading a process's resident memory from /proc (Linux); zeros elsewhere."""

from __future__ import annotations


def read_memory_kb(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) in KiB; (0, 0) when the process is gone or /proc is absent."""
    rss = peak = 0
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith(b"VmHWM:"):
                    peak = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return 0, 0
    return rss, peak
