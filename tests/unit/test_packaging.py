"""What a non-editable install gets: every runtime file the server starts environments with is in
the package data (a file missing there works from a checkout and fails once installed)."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "lamina"
# Files a server hands to environments or compiles, not imported as Python modules.
RUNTIME_FILES = ("*.js", "*.java")


def _declared_patterns() -> list[str]:
    document = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(document["tool"]["setuptools"]["package-data"]["lamina"])


def _covered(relative: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(relative, pattern.replace("**/", "*")) for pattern in patterns)


def test_every_runtime_file_is_package_data() -> None:
    patterns = _declared_patterns()
    files = [path.relative_to(PACKAGE).as_posix() for kind in RUNTIME_FILES for path in PACKAGE.rglob(kind)]
    assert files, "no runtime files found"
    assert [name for name in files if not _covered(name, patterns)] == []
    # The Python runtime's scripts run under interpreters that do not import Lamina.
    assert _covered("execution/runtimes/python/bootstrap.py", patterns)
