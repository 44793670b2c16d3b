"""A project's code folders as deployment packages: each function's CodeUri (and each layer's
ContentUri) that names a local folder is zipped, with the Python requirements its
requirements.txt lists installed into the package (pip install --target, as `sam build` does),
uploaded to an artifacts bucket in the server's S3, and the template pointed at the object."""

from __future__ import annotations

import copy
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CodeFolder", "code_folders", "package_folder", "packaged_template"]

_SKIPPED_PARTS = frozenset({"__pycache__", ".aws-sam", ".lamina", ".git", ".venv"})
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the same files make the same zip: unchanged code uploads nothing


@dataclass(frozen=True)
class CodeFolder:
    logical_id: str
    folder: Path
    kind: str  # "function" or "layer"


def _local(value: Any, root: Path) -> Path | None:
    if not isinstance(value, str) or value.startswith("s3://"):
        return None
    try:
        path = (root / value).resolve()
        return path if path.is_dir() else None
    except (OSError, ValueError):  # a NUL in the name, a loop of links
        raise RuntimeError(f"CodeUri {value[:200]!r} is not a folder this machine can read") from None


def code_folders(document: dict[str, Any], root: Path) -> list[CodeFolder]:
    """The local folders a template's functions and layers are built from."""
    global_function = (document.get("Globals") or {}).get("Function") or {}
    global_uri = global_function.get("CodeUri") if isinstance(global_function, dict) else None
    found = []
    for logical_id, resource in (document.get("Resources") or {}).items():
        kind = resource.get("Type")
        properties = resource.get("Properties") or {}
        if kind == "AWS::Serverless::Function" and properties.get("InlineCode") is None:
            folder = _local(properties.get("CodeUri", global_uri), root)
            if folder is not None:
                found.append(CodeFolder(logical_id, folder, "function"))
        elif kind == "AWS::Lambda::Function":
            folder = _local(properties.get("Code"), root)
            if folder is not None:
                found.append(CodeFolder(logical_id, folder, "function"))
        elif kind == "AWS::Serverless::LayerVersion":
            folder = _local(properties.get("ContentUri"), root)
            if folder is not None:
                found.append(CodeFolder(logical_id, folder, "layer"))
    return found


def _files(folder: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and not _SKIPPED_PARTS & set(relative.parts) and not path.name.endswith(".pyc"):
            yield relative.as_posix(), path


def _requirements(folder: Path) -> list[str]:
    listed = folder / "requirements.txt"
    if not listed.is_file():
        return []
    try:
        text = listed.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise RuntimeError(f"{listed} is not UTF-8 text") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def installed_requirements(folder: Path, cache: Path) -> Path | None:
    """The folder's requirements installed into `cache/<hash of requirements.txt>` (reused while
    requirements.txt is unchanged); None when it lists none."""
    if not _requirements(folder):
        return None
    cache = cache.resolve()  # pip runs in the code folder
    digest = hashlib.sha256((folder / "requirements.txt").read_bytes()).hexdigest()[:16]
    target = cache / digest
    if target.is_dir():
        return target
    staging = Path(tempfile.mkdtemp(prefix="requirements-", dir=cache))
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
            str(staging),
            "-r",
            "requirements.txt",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        said = [line.strip() for line in completed.stderr.splitlines() if line.strip()]
        reason = said[-1] if said else "no reason given"
        raise RuntimeError(f"pip could not install {folder / 'requirements.txt'}: {reason}")
    os.replace(staging, target)
    return target


def package_folder(code: CodeFolder, cache: Path) -> bytes:
    """The folder zipped, its requirements first (a file of the folder wins over a dependency's),
    under python/ for a layer with requirements (where a Python runtime looks)."""
    entries: dict[str, Path] = {}
    dependencies = installed_requirements(code.folder, cache)
    prefix = "python/" if code.kind == "layer" and dependencies is not None else ""
    if dependencies is not None:
        entries |= {prefix + name: path for name, path in _files(dependencies)}
    entries |= {name: path for name, path in _files(code.folder)}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(entries):
            path = entries[name]
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.external_attr = ((path.stat().st_mode & 0o777) | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def _upload(s3: Any, bucket: str, data: bytes) -> str:
    key = hashlib.sha256(data).hexdigest() + ".zip"
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError:
        s3.put_object(Bucket=bucket, Key=key, Body=data)
    return key


def packaged_template(
    document: dict[str, Any], root: Path, s3: Any, bucket: str, cache: Path
) -> tuple[dict[str, Any], list[CodeFolder]]:
    """The template with its local code folders replaced by the objects they were uploaded to."""
    packaged = copy.deepcopy(document)
    folders = code_folders(document, root)
    for code in folders:
        uri = f"s3://{bucket}/{_upload(s3, bucket, package_folder(code, cache))}"
        properties = packaged["Resources"][code.logical_id].setdefault("Properties", {})
        if code.kind == "layer":
            properties["ContentUri"] = uri
        elif packaged["Resources"][code.logical_id]["Type"] == "AWS::Lambda::Function":
            properties["Code"] = {"S3Bucket": bucket, "S3Key": uri.rsplit("/", 1)[1]}
        else:
            properties["CodeUri"] = uri
    return packaged, folders
