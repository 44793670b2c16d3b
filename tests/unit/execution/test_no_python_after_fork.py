"""The server is multi-threaded, and a forked copy of it may run nothing but exec: Python code there
deadlocks on any lock another thread held at fork time (subprocess's documentation of `preexec_fn`).
So no module of the server passes `preexec_fn` or calls os.fork(); only the standalone programs that
run in processes of their own (a fork server, the confinement code they and the spawn helper load)
fork."""

from __future__ import annotations

import ast
from pathlib import Path

import lamina

SOURCE = Path(lamina.__file__).resolve().parent
# Loaded by path into single-threaded processes of their own, never imported by the server to run.
FORKING_PROGRAMS = {
    "execution/sandbox/confine.py",  # forks into a new PID namespace, in the spawn helper or a zygote child
    "execution/runtimes/python/zygote.py",  # the Python fork server
}


def _calls(path: Path) -> list[ast.Call]:
    return [node for node in ast.walk(ast.parse(path.read_text(), str(path))) if isinstance(node, ast.Call)]


def _sources() -> list[Path]:
    return sorted(SOURCE.rglob("*.py"))


def test_no_module_passes_a_preexec_fn() -> None:
    offenders = [
        f"{path.relative_to(SOURCE)}:{call.lineno}"
        for path in _sources()
        for call in _calls(path)
        if any(keyword.arg == "preexec_fn" for keyword in call.keywords)
    ]
    assert offenders == []


def test_only_standalone_programs_fork() -> None:
    forking = {
        str(path.relative_to(SOURCE))
        for path in _sources()
        for call in _calls(path)
        if isinstance(call.func, ast.Attribute)
        and call.func.attr in ("fork", "forkpty")
        and isinstance(call.func.value, ast.Name)
        and call.func.value.id == "os"
    }
    assert forking <= FORKING_PROGRAMS, forking - FORKING_PROGRAMS
    assert forking, "the check looks at calls written as os.fork()"
