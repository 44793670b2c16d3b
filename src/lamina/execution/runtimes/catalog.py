"""Which runtimes this host can offer (`pythonX.Y`, `nodejsNN.x`, the OS-only `provided`
ones), and the files each one needs.

Discovery runs once at server start. pyenv-style shims are resolved to the real interpreter,
because a shell shim adds tens of milliseconds to every cold start; the same goes for Node.js
version managers' wrappers.
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

from lamina.domain.runtimes import aws_runtimes, language_of
from lamina.execution.runtimes.java import MAIN_CLASS, JavaRuntime

BOOTSTRAP = Path(__file__).parent / "python" / "bootstrap.py"
NODE_BOOTSTRAP = Path(__file__).parent / "node" / "bootstrap.js"
_MINOR_VERSIONS = range(8, 16)
# AWS's Node.js runtimes that are not deprecated (botocore's Runtime enum: nodejs18.x to nodejs24.x).
NODE_MAJOR_VERSIONS = (18, 20, 22, 24)
# The AWS Python runtimes include the SDK; these are boto3's own packages and what it imports.
_SDK_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


# OS-only runtimes: the function's ZIP brings an executable `bootstrap` that speaks the Runtime API.
CUSTOM_RUNTIMES = ("provided.al2023", "provided.al2")


@dataclass(frozen=True, slots=True)
class RuntimeSpec:
    name: str  # e.g. "python3.11", "nodejs20.x" or "provided.al2023"
    interpreter: str | None  # the python or node executable; None for custom runtimes
    bootstrap: Path | None  # Lamina's runtime script; None for custom runtimes
    # The runtime that actually runs functions of this name (--runtime-fallback nearest), else None.
    runs_on: str | None = None
    classpath: tuple[str, ...] = ()  # Java: the runtime client's jar, then Jackson's
    # An operator's runtime of its own name (`--runtime python3.12-gpu=/opt/venv/bin/python`): its
    # interpreter's site-packages are what it is for, so they stay on the path (and its environments
    # start fresh rather than from a fork server, which runs without them).
    site_packages: bool = False

    @property
    def language(self) -> str:
        return language_of(self.name)

    @property
    def runtime_dir(self) -> Path | None:
        return self.bootstrap.parent if self.bootstrap is not None else None

    def command(self, task_root: Path, memory_mb: int = 128) -> list[str]:
        if self.interpreter is None or self.bootstrap is None:
            return [str(task_root / "bootstrap")]
        if self.language == "java":
            # As AWS's Java runtimes: C1 only and the serial collector (they start faster and use
            # less memory in a small environment), the heap sized below MemorySize.
            return [
                self.interpreter,
                "-XX:+TieredCompilation",
                "-XX:TieredStopAtLevel=1",
                "-XX:+UseSerialGC",
                "-Xshare:auto",
                f"-Xmx{max(16, memory_mb * 85 // 100)}m",
                "-cp",
                ":".join(self.classpath),
                MAIN_CLASS,
            ]
        if self.language == "nodejs":
            # As AWS's Node runtimes: V8's heap sized below MemorySize, so a growing heap ends in
            # Node's own "heap out of memory" (and a GC first) rather than in a kill by the limit.
            old_space = max(16, memory_mb * 9 // 10 - max(1, memory_mb // 64) * 3)
            return [self.interpreter, f"--max-old-space-size={old_space}", str(self.bootstrap)]
        # -I -S: nothing from the host's site-packages or PYTHON* variables reaches the function (the
        # SDK comes from LAMINA_RUNTIME_LIB, as AWS's runtime provides it); it also saves the ~30 ms
        # that site initialisation costs. -B: no .pyc writes into read-only code.
        if self.site_packages:
            return [self.interpreter, "-I", "-B", str(self.bootstrap)]
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


def _real_node(candidate: str) -> tuple[int, str] | None:
    """(major version, real executable) of a node, or None when it does not run."""
    try:
        output = subprocess.run(
            [candidate, "-e", "console.log(process.versions.node + '\\n' + process.execPath)"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        ).stdout.split("\n")
        major = int(output[0].split(".")[0])
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return (major, os.path.realpath(output[1])) if len(output) >= 2 and output[1] else None


def _candidate_nodes() -> list[str]:
    """Places a node may live: PATH (node, nodejs, nodeNN), the usual prefixes, nvm's versions."""
    names = ["node", "nodejs", *(f"node{major}" for major in NODE_MAJOR_VERSIONS)]
    candidates = [found for name in names if (found := shutil.which(name))]
    folders = [Path("/usr/bin"), Path("/usr/local/bin")]
    nvm_root = Path(os.environ.get("NVM_DIR", Path.home() / ".nvm"))
    with contextlib.suppress(OSError):
        folders.extend(sorted((nvm_root / "versions" / "node").glob("v*/bin"), reverse=True))
    for folder in folders:
        for name in names:
            with contextlib.suppress(OSError):
                if (folder / name).is_file():
                    candidates.append(str(folder / name))
    return list(dict.fromkeys(candidates))


def discover_runtimes(
    overrides: dict[str, str] | None = None, java: JavaRuntime | None = None
) -> dict[str, RuntimeSpec]:
    """Every python3.X and Node.js major version found on this host plus the server's own
    interpreter, and the Java versions `java` (Lamina's built Java client) found; overrides
    (NAME=PATH, a python or a node) win by name. In version order (`runtime_sort_key`): banners and
    error messages list them as they come."""
    found: dict[str, RuntimeSpec] = {}
    own = f"python{sys.version_info.major}.{sys.version_info.minor}"
    # The real interpreter, not a virtual environment's link to it: the runtime runs with -I -S (no
    # site-packages anyway), and a sandbox's private root shows the interpreter's own prefix only.
    found[own] = RuntimeSpec(own, os.path.realpath(sys.executable), BOOTSTRAP)
    wanted = [minor for minor in _MINOR_VERSIONS if f"python3.{minor}" not in found]
    candidates = [(minor, path) for minor in wanted for path in _candidate_interpreters(minor)]
    nodes = _candidate_nodes()
    # Probing starts an interpreter per candidate: do it in parallel to keep server start fast.
    with ThreadPoolExecutor(max_workers=8) as executor:
        probes = list(executor.map(lambda item: _real_interpreter(item[1]), candidates))
        node_probes = list(executor.map(_real_node, nodes))
    for (minor, _), resolved in zip(candidates, probes, strict=True):
        name = f"python3.{minor}"
        # A pyenv shim without a selected version fails its probe and is passed over.
        if name not in found and resolved is not None and resolved[0] == f"3.{minor}":
            found[name] = RuntimeSpec(name, resolved[1], BOOTSTRAP)
    for node in node_probes:
        if node is not None and node[0] in NODE_MAJOR_VERSIONS:
            found.setdefault(f"nodejs{node[0]}.x", RuntimeSpec(f"nodejs{node[0]}.x", node[1], NODE_BOOTSTRAP))
    if java is not None:
        for major, installation in java.installations.items():
            name = f"java{major}"
            found[name] = RuntimeSpec(name, installation.java, java.runtime_jar, classpath=java.classpath)
    for name in CUSTOM_RUNTIMES:
        found[name] = RuntimeSpec(name, None, None)
    for name, interpreter in (overrides or {}).items():
        found[name] = override_runtime(name, interpreter)
    return dict(sorted(found.items(), key=lambda item: runtime_sort_key(item[0])))


def override_runtime(name: str, interpreter: str) -> RuntimeSpec:
    """`--runtime NAME=PATH`: the runtime program of NAME's language run by the given executable."""
    language = language_of(name)
    own_name = name not in aws_runtimes()
    if language == "nodejs":
        return RuntimeSpec(name, interpreter, NODE_BOOTSTRAP, site_packages=own_name)
    if language == "python":
        return RuntimeSpec(name, interpreter, BOOTSTRAP, site_packages=own_name)
    raise ValueError(f"--runtime {name}={interpreter}: only python and nodejs runtimes take an interpreter")


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


def build_node_sdk_library(destination: Path, runtimes: dict[str, RuntimeSpec]) -> Path | None:
    """A folder whose `node_modules` links to the host's global node_modules when that holds the
    AWS SDK for JavaScript v3 (@aws-sdk), shown to Node functions as /var/runtime/node_modules, as
    AWS's Node runtimes ship it; None when no Node runtime's installation has it."""
    nodes = [spec.interpreter for spec in runtimes.values() if spec.language == "nodejs" and spec.interpreter]
    # A node's global packages live in <prefix>/lib/node_modules (npm install -g); Debian's
    # packaged JavaScript modules in /usr/share/nodejs are another place.
    candidates = [Path(node).resolve().parent.parent / "lib" / "node_modules" for node in nodes]
    candidates += [Path("/usr/local/lib/node_modules"), Path("/usr/lib/node_modules")]
    for folder in dict.fromkeys(candidates):
        if (folder / "@aws-sdk").is_dir():
            destination.mkdir(parents=True, exist_ok=True)
            link = destination / "node_modules"
            if link.is_symlink() and os.readlink(link) != str(folder):
                link.unlink()
            if not link.is_symlink():
                link.symlink_to(folder)
            return destination
    return None


def with_nearest_fallbacks(runtimes: dict[str, RuntimeSpec], wanted: list[str]) -> dict[str, RuntimeSpec]:
    """`runtimes` plus, for each name of `wanted` (AWS's runtime names) this host lacks, the nearest
    available runtime of the same language: the closest version, the newer one on a tie (code
    written for python3.14 more likely runs on 3.13 than on 3.8). Java and custom runtimes have none."""
    result = dict(runtimes)
    for name in wanted:
        language = language_of(name)
        if name in result or language not in ("python", "nodejs"):
            continue
        version = _version_of(name)
        candidates = [
            spec for spec in runtimes.values() if spec.language == language and spec.runs_on is None
        ]
        if not candidates:
            continue
        nearest = min(candidates, key=lambda spec: _distance(_version_of(spec.name), version))
        result[name] = RuntimeSpec(name, nearest.interpreter, nearest.bootstrap, runs_on=nearest.name)
    return dict(sorted(result.items(), key=lambda item: runtime_sort_key(item[0])))


def _version_of(name: str) -> tuple[int, ...]:
    """python3.12 -> (3, 12), nodejs20.x -> (20,)."""
    return tuple(int(part) for part in re.findall(r"\d+", name))


def _distance(candidate: tuple[int, ...], wanted: tuple[int, ...]) -> tuple[int, int]:
    """How far apart two versions are (their last numbers; other majors are farther than any
    minor), the newer first on a tie."""
    if candidate[:-1] != wanted[:-1]:
        return (10_000, -candidate[-1])
    return (abs(candidate[-1] - wanted[-1]), -candidate[-1])
