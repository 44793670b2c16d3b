"""The runtime catalog: Node.js discovery, `--runtime NAME=PATH` overrides and the nearest-version
fallback for runtime names this host lacks."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from lamina.domain.runtimes import language_of
from lamina.execution.runtimes.catalog import (
    BOOTSTRAP,
    NODE_BOOTSTRAP,
    RuntimeSpec,
    build_node_sdk_library,
    discover_runtimes,
    override_runtime,
    with_nearest_fallbacks,
)

NODE = shutil.which("node")


def _spec(name: str) -> RuntimeSpec:
    language = language_of(name)
    return RuntimeSpec(name, f"/opt/{name}/bin/run", NODE_BOOTSTRAP if language == "nodejs" else BOOTSTRAP)


def test_languages_come_from_runtime_names() -> None:
    assert [language_of(name) for name in ("python3.12", "nodejs22.x", "java21", "provided.al2023")] == [
        "python",
        "nodejs",
        "java",
        "provided",
    ]


@pytest.mark.skipif(NODE is None, reason="no node on PATH")
def test_the_hosts_node_is_offered_under_its_major_version() -> None:
    assert NODE is not None
    major = subprocess.run(
        [NODE, "-p", "process.versions.node.split('.')[0]"], capture_output=True, text=True
    )
    name = f"nodejs{major.stdout.strip()}.x"
    spec = discover_runtimes()[name]
    assert spec.interpreter == os.path.realpath(NODE)
    assert spec.bootstrap == NODE_BOOTSTRAP
    command = spec.command(Path("/code"), memory_mb=1024)
    assert command[0] == spec.interpreter and command[-1] == str(NODE_BOOTSTRAP)
    assert command[1].startswith("--max-old-space-size=") and 0 < int(command[1].split("=")[1]) < 1024


def test_an_override_runs_the_runtime_program_of_its_language() -> None:
    assert override_runtime("nodejs22.x", "/opt/node22/bin/node").bootstrap == NODE_BOOTSTRAP
    assert override_runtime("python3.14", "/opt/py/bin/python3.14").bootstrap == BOOTSTRAP
    with pytest.raises(ValueError, match="only python and nodejs"):
        override_runtime("java21", "/usr/bin/java")


def test_the_nearest_version_of_the_same_language_is_chosen() -> None:
    available = {
        name: _spec(name) for name in ("python3.8", "python3.11", "python3.13", "nodejs18.x", "nodejs22.x")
    }
    wanted = ["python3.9", "python3.12", "python3.14", "nodejs20.x", "nodejs24.x", "java21", "python3.11"]
    result = with_nearest_fallbacks(available, wanted)
    assert {name: spec.runs_on for name, spec in result.items() if spec.runs_on} == {
        "python3.9": "python3.8",
        "python3.12": "python3.13",  # a tie goes to the newer version
        "python3.14": "python3.13",
        "nodejs20.x": "nodejs22.x",
        "nodejs24.x": "nodejs22.x",
    }
    assert result["python3.14"].interpreter == available["python3.13"].interpreter
    assert result["python3.11"] is available["python3.11"]  # present: no fallback
    assert "java21" not in result  # no Java runtime to fall back on


def test_no_fallback_without_a_runtime_of_the_language() -> None:
    assert "nodejs22.x" not in with_nearest_fallbacks({"python3.11": _spec("python3.11")}, ["nodejs22.x"])


def test_the_node_sdk_is_found_in_a_nodes_global_packages(tmp_path: Path) -> None:
    prefix = tmp_path / "node-prefix"
    node = prefix / "bin" / "node"
    node.parent.mkdir(parents=True)
    node.write_text("#!/bin/sh\n")
    node.chmod(node.stat().st_mode | stat.S_IXUSR)
    runtimes = {"nodejs22.x": RuntimeSpec("nodejs22.x", str(node), NODE_BOOTSTRAP)}
    destination = tmp_path / "node-sdk"
    (prefix / "lib" / "node_modules" / "@aws-sdk" / "client-s3").mkdir(parents=True)
    assert build_node_sdk_library(destination, runtimes) == destination
    assert (destination / "node_modules").resolve() == (prefix / "lib" / "node_modules").resolve()
    assert (destination / "node_modules" / "@aws-sdk" / "client-s3").is_dir()


def _java_home(root: Path, name: str, version: str, *, javac: bool = True) -> Path:
    home = root / name
    (home / "bin").mkdir(parents=True)
    (home / "release").write_text(f'IMPLEMENTOR="Test"\nJAVA_VERSION="{version}"\n')
    for tool in ("java", "javac") if javac else ("java",):
        (home / "bin" / tool).write_text("#!/bin/sh\n")
        (home / "bin" / tool).chmod(0o755)
    return home


def test_java_homes_are_found_by_their_release_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lamina.execution.runtimes import java

    _java_home(tmp_path, "jdk-17", "17.0.9")
    _java_home(tmp_path, "jre-21", "21.0.1", javac=False)
    _java_home(tmp_path, "jdk-8", "1.8.0_392")  # AWS's java8 is deprecated: not offered
    _java_home(tmp_path, "broken", "garbage")
    monkeypatch.setattr(java, "_JVM_FOLDERS", (tmp_path,))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(java.shutil, "which", lambda name: None)
    found = java.discover_javas()
    assert sorted(found) == [17, 21]
    assert found[17].javac is not None and found[21].javac is None
    assert found[21].java == str((tmp_path / "jre-21" / "bin" / "java").resolve())


def test_a_java_runtime_starts_the_client_with_awss_jvm_settings() -> None:
    from lamina.execution.runtimes.java import MAIN_CLASS

    spec = RuntimeSpec(
        "java17", "/jdk/bin/java", Path("/rt/lamina-java-runtime.jar"), classpath=("/rt/a.jar", "/j/b.jar")
    )
    command = spec.command(Path("/code"), memory_mb=512)
    assert command[0] == "/jdk/bin/java" and command[-1] == MAIN_CLASS
    assert command[command.index("-cp") + 1] == "/rt/a.jar:/j/b.jar"
    assert "-XX:TieredStopAtLevel=1" in command and "-XX:+UseSerialGC" in command
    assert "-Xmx435m" in command  # 85 % of MemorySize
