"""Which `pythonX.Y` runtimes this host can offer, and the files each one needs.

Discovery runs once at server start. pyenv-style shims are resolved to the real interpreter,
because a shell shim adds tens of milliseconds to every cold start.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

BOOTSTRAP = Path(__file__).parent / "python" / "bootstrap.py"
_MINOR_VERSIONS = range(8, 16)
# The AWS Python runtimes include the SDK; these are boto3's own packages and what it imports.
_SDK_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


# OS-only runtimes: the function's ZIP brings an executable `bootstrap` that speaks the Runtime API.
CUSTOM_RUNTIMES = ("provided.al2023", "provided.al2")


@dataclass(frozen=True, slots=True)
class RuntimeSpec:
    name: str  # e.g. "python3.11" or "provided.al2023"
    interpreter: str | None  # None for custom runtimes
    bootstrap: Path | None  # Lamina's runtime script; None for custom runtimes

    @property
    def runtime_dir(self) -> Path | None:
        return self.bootstrap.parent if self.bootstrap is not None else None

    def command(self, task_root: Path) -> list[str]:
        if self.interpreter is None or self.bootstrap is None:
            return [str(task_root / "bootstrap")]
        # -I -S: nothing from the host's site-packages or PYTHON* variables reaches the function (the
        # SDK comes from LAMINA_RUNTIME_LIB, as AWS's runtime provides it); it also saves the ~30 ms
        # that site initialisation costs. -B: no .pyc writes into read-only code.
        return [self.interpreter, "-I", "-S", "-B", str(self.bootstrap)]


def runtime_sort_key(name: str) -> tuple[str | int, ...]:
    """Orders runtime names by their version numbers, not as strings: python3.8 before
    python3.10, provided.al2 before provided.al2023."""
    parts = re.split(r"(\d+)", name)
    return tuple(int(part) if index % 2 else part for index, part in enumerate(parts))


def _real_interpreter(candidate: str) -> tuple[str, str] | None:
    """(version "3.X", real executable) for an interpreter, or None when it does not run."""
    try:
        output = subprocess.run(
            [
                candidate,
                "-I",
                "-S",
                "-c",
                "import sys;print('%d.%d' % sys.version_info[:2]);print(sys.executable)",
            ],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return None
    return (output[0], output[1]) if len(output) >= 2 and output[1] else None


def _candidate_interpreters(minor: int) -> list[str]:
    """Places a python3.X may live: PATH, the usual prefixes, and pyenv's versions folder."""
    name = f"python3.{minor}"
    candidates = [found] if (found := shutil.which(name)) else []
    folders = [Path("/usr/bin"), Path("/usr/local/bin")]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    # Folders this user may not read (another user's pyenv) are simply not candidates.
    with contextlib.suppress(OSError):
        folders.extend(sorted((pyenv_root / "versions").glob(f"3.{minor}.*/bin"), reverse=True))
    for folder in folders:
        with contextlib.suppress(OSError):
            if (folder / name).is_file():
                candidates.append(str(folder / name))
    return list(dict.fromkeys(candidates))


def discover_runtimes(overrides: dict[str, str] | None = None) -> dict[str, RuntimeSpec]:
    """Every python3.X found on this host plus the server's own interpreter; overrides win by name.
    In version order (`runtime_sort_key`): banners and error messages list them as they come."""
    found: dict[str, RuntimeSpec] = {}
    own = f"python{sys.version_info.major}.{sys.version_info.minor}"
    # The real interpreter, not a virtual environment's link to it: the runtime runs with -I -S (no
    # site-packages anyway), and a sandbox's private root shows the interpreter's own prefix only.
    found[own] = RuntimeSpec(own, os.path.realpath(sys.executable), BOOTSTRAP)
    wanted = [minor for minor in _MINOR_VERSIONS if f"python3.{minor}" not in found]
    candidates = [(minor, path) for minor in wanted for path in _candidate_interpreters(minor)]
    # Probing starts an interpreter per candidate: do it in parallel to keep server start fast.
    with ThreadPoolExecutor(max_workers=8) as executor:
        probes = list(executor.map(lambda item: _real_interpreter(item[1]), candidates))
    for (minor, _), resolved in zip(candidates, probes, strict=True):
        name = f"python3.{minor}"
        # A pyenv shim without a selected version fails its probe and is passed over.
        if name not in found and resolved is not None and resolved[0] == f"3.{minor}":
            found[name] = RuntimeSpec(name, resolved[1], BOOTSTRAP)
    for name in CUSTOM_RUNTIMES:
        found[name] = RuntimeSpec(name, None, None)
    for name, interpreter in (overrides or {}).items():
        found[name] = RuntimeSpec(name, interpreter, BOOTSTRAP)
    return dict(sorted(found.items(), key=lambda item: runtime_sort_key(item[0])))


def build_sdk_library(destination: Path) -> Path:
    """A folder of links to the server's boto3 and friends, appended last to functions' sys.path.

    The function's own packages come first on sys.path, so a bundled boto3 wins, as on AWS.
    """
    destination.mkdir(parents=True, exist_ok=True)
    for package in _SDK_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        link = destination / source.name
        if link.is_symlink() or link.exists():
            if link.is_symlink() and os.readlink(link) == str(source):
                continue
            link.unlink()
        link.symlink_to(source)
    return destination
