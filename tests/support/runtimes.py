"""Which runtimes of a language this host offers, for tests that deploy functions of them."""

from __future__ import annotations

import functools
import shutil
import subprocess


@functools.cache
def node_runtime() -> str | None:
    """nodejsNN.x for the host's `node` (as the server discovers it), or None without one."""
    node = shutil.which("node")
    if node is None:
        return None
    major = subprocess.run(
        [node, "-p", "process.versions.node.split('.')[0]"], capture_output=True, text=True
    )
    return f"nodejs{major.stdout.strip()}.x" if major.returncode == 0 else None
