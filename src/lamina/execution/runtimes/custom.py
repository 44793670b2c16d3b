"""Custom runtimes (provided.al2023, provided.al2): which `bootstrap` runs and how it is started.

As on AWS, the function's own `bootstrap` wins, else a layer's (`/opt/bootstrap`). Amazon Linux's
/bin/sh is bash, and custom runtimes written for it (AWS's own tutorial among them) use bash in
`#!/bin/sh` scripts (`source`, `set -o pipefail`, `function f ()`): where the host's /bin/sh is
another shell (Debian's dash), such a bootstrap is started with bash instead.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

BASH = "/bin/bash"
_SH_SHEBANGS = (b"#!/bin/sh", b"#! /bin/sh", b"#!/usr/bin/sh")


def bootstrap_path(code: Path, layers: Path | None) -> Path:
    """The function's `bootstrap`, else its layers' (a missing one is reported when it is exec'd)."""
    own = code / "bootstrap"
    if layers is not None and not os.path.lexists(own) and os.path.lexists(layers / "bootstrap"):
        return layers / "bootstrap"
    return own


def custom_command(bootstrap: Path) -> list[str]:
    """argv for a custom runtime's bootstrap: itself, or bash running it when it asks for /bin/sh
    and the host's /bin/sh is not bash."""
    if _host_sh_is_bash() or not os.path.exists(BASH):
        return [str(bootstrap)]
    try:
        if not os.stat(bootstrap).st_mode & 0o111:
            return [str(bootstrap)]  # not executable: exec says so, in AWS's words
        with open(bootstrap, "rb") as script:
            first_line = script.readline(128)
    except OSError:
        return [str(bootstrap)]  # missing or unreadable: exec reports it
    if first_line.rstrip(b"\r\n").split(b" -")[0].rstrip() in _SH_SHEBANGS:
        return [BASH, str(bootstrap)]
    return [str(bootstrap)]


@functools.cache
def _host_sh_is_bash() -> bool:
    return os.path.basename(os.path.realpath("/bin/sh")) == "bash"
