"""The javaNN runtimes: which JDKs and JREs this host has, and Lamina's Java runtime client built
from its sources (java/src: the runtime plus its copy of aws-lambda-java-core's interfaces).

The client is compiled once per machine with the host's javac (about a second) into a cache folder,
then copied into the data directory, where every sandbox tier can read it. Events are mapped to
handlers' types with Jackson, from the host's jars (Debian: libjackson2-databind-java); without
Jackson or without a javac, Java runtimes are not offered.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SOURCES = Path(__file__).parent / "java" / "src"
RUNTIME_JAR = "lamina-java-runtime.jar"
CORE_JAR = "aws-lambda-java-core.jar"  # only the interfaces: what users compile against
MAIN_CLASS = "lamina.runtime.Bootstrap"
# AWS's Java runtimes that are not deprecated (botocore's Runtime enum), by major version.
JAVA_MAJOR_VERSIONS = (11, 17, 21, 25)
_JACKSON_JARS = ("jackson-databind.jar", "jackson-core.jar", "jackson-annotations.jar")
_JACKSON_FOLDERS = (Path("/usr/share/java"), Path("/usr/local/share/java"))
_JVM_FOLDERS = (Path("/usr/lib/jvm"), Path("/usr/local/lib/jvm"), Path("/opt/java"))
_CORE_PACKAGE = "com/amazonaws/"

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JavaInstallation:
    major: int
    java: str  # bin/java, resolved
    javac: str | None  # bin/javac when it is a JDK


@dataclass(frozen=True, slots=True)
class JavaRuntime:
    """Lamina's built Java runtime client: run `java -cp <classpath> lamina.runtime.Bootstrap`."""

    runtime_jar: Path
    core_jar: Path
    classpath: tuple[str, ...]  # the runtime jar, then Jackson's jars
    installations: dict[int, JavaInstallation]


def discover_javas() -> dict[int, JavaInstallation]:
    """Every Java home of a major version AWS offers (its `release` file says which), by version;
    JAVA_HOME and the `java` on PATH first, then the usual JVM folders."""
    homes: list[Path] = []
    if java_home := os.environ.get("JAVA_HOME"):
        homes.append(Path(java_home))
    if on_path := shutil.which("java"):
        homes.append(Path(os.path.realpath(on_path)).parent.parent)
    for folder in _JVM_FOLDERS:
        with contextlib.suppress(OSError):
            homes.extend(sorted(path for path in folder.iterdir() if path.is_dir()))
    found: dict[int, JavaInstallation] = {}
    for home in dict.fromkeys(Path(os.path.realpath(candidate)) for candidate in homes):
        major = _major_version(home)
        java = home / "bin" / "java"
        if (
            major is None
            or major not in JAVA_MAJOR_VERSIONS
            or major in found
            or not os.access(java, os.X_OK)
        ):
            continue
        javac = home / "bin" / "javac"
        found[major] = JavaInstallation(major, str(java), str(javac) if os.access(javac, os.X_OK) else None)
    return found


def _major_version(home: Path) -> int | None:
    try:
        for line in (home / "release").read_text().splitlines():
            if line.startswith("JAVA_VERSION="):
                version = line.split("=", 1)[1].strip().strip('"')
                first = version.split(".")[0]
                return int(version.split(".")[1]) if first == "1" else int(first)
    except (OSError, ValueError, IndexError):
        return None
    return None


def jackson_classpath() -> tuple[str, ...] | None:
    for folder in _JACKSON_FOLDERS:
        jars = tuple(str(folder / name) for name in _JACKSON_JARS)
        if all(os.path.isfile(jar) for jar in jars):
            return jars
    return None


def prepare_java_runtime(destination: Path, cache: Path | None = None) -> JavaRuntime | None:
    """Lamina's Java runtime client in `destination` (built, or copied from `cache` where an
    earlier build of the same sources lies), or None when this host cannot run Java functions."""
    installations = discover_javas()
    jackson = jackson_classpath()
    compilers = [
        installation.javac for _, installation in sorted(installations.items()) if installation.javac
    ]
    if not installations or jackson is None or not compilers:
        return None
    digest = _sources_digest()
    built = (cache or destination / "build") / digest
    try:
        if not (built / RUNTIME_JAR).is_file():
            _build(compilers[0], jackson, built)
        destination.mkdir(parents=True, exist_ok=True)
        for name in (RUNTIME_JAR, CORE_JAR):
            _copy_if_changed(built / name, destination / name)
    except (OSError, subprocess.SubprocessError) as error:
        _log.warning("Java runtimes are not offered: the Java runtime client did not build: %s", error)
        return None
    runtime_jar = destination / RUNTIME_JAR
    return JavaRuntime(runtime_jar, destination / CORE_JAR, (str(runtime_jar), *jackson), installations)


def _sources_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(SOURCES.rglob("*.java")):
        digest.update(path.relative_to(SOURCES).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _build(javac: str, jackson: tuple[str, ...], built: Path) -> None:
    """Compile the sources for Java 11 and up, then write both jars; atomic (a folder renamed in)."""
    built.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=built.parent) as scratch:
        classes = Path(scratch) / "classes"
        sources = [str(path) for path in sorted(SOURCES.rglob("*.java"))]
        subprocess.run(
            [
                javac,
                "--release",
                "11",
                "-Xlint:-options",
                "-nowarn",
                "-d",
                str(classes),
                "-cp",
                ":".join(jackson),
                *sources,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        output = Path(scratch) / "jars"
        output.mkdir()
        _jar(classes, output / RUNTIME_JAR, lambda name: True)
        _jar(classes, output / CORE_JAR, lambda name: name.startswith(_CORE_PACKAGE))
        for jar in output.iterdir():
            jar.chmod(0o644)
        output.chmod(0o755)
        with contextlib.suppress(OSError):  # another server built the same sources meanwhile
            output.rename(built)


def _jar(classes: Path, jar: Path, included: Callable[[str], bool]) -> None:
    with zipfile.ZipFile(jar, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nCreated-By: Lamina\r\n\r\n")
        for path in sorted(classes.rglob("*.class")):
            name = path.relative_to(classes).as_posix()
            if included(name):
                archive.write(path, name)


def _copy_if_changed(source: Path, target: Path) -> None:
    if target.is_file() and target.read_bytes() == source.read_bytes():
        return
    staging = target.with_name(target.name + ".new")
    shutil.copyfile(source, staging)
    staging.chmod(0o644)
    staging.replace(target)


def default_cache() -> Path:
    """Where built clients are kept for every data directory of this machine's user."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lamina" / "java-runtime"
