"""Deployment packages unpacked to files: the code cache's folders (one per SHA-256), read-only.

What a package may contain is the domain's (domain/code.py); this writes it out.
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
import zipfile
from pathlib import Path

from lamina.domain.code import MAX_UNZIPPED_BYTES, copy_entry, member_path, unreadable
from lamina.errors import AwsError


def extract_package(data: bytes, destination: Path, *, max_unzipped: int = MAX_UNZIPPED_BYTES) -> None:
    """Unpack into `destination` (which must not exist) atomically and read-only, keeping exec bits.

    Sizes in the ZIP directory can lie (zip bombs), so the bytes actually written are counted.
    Blocking: call from a worker thread.
    """
    staging = destination.with_name(destination.name + f".tmp{secrets.token_hex(8)}")
    _remove_tree(staging)
    staging.mkdir(parents=True)
    written = 0
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                relative = member_path(info)
                target = staging.joinpath(*relative.parts) if relative.parts else staging
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "wb") as sink:
                    written = copy_entry(archive, info, sink.write, written, max_unzipped)
                executable = (info.external_attr >> 16) & 0o111
                os.chmod(target, 0o555 if executable else 0o444)
        _make_directories_read_only(staging)
        os.replace(staging, destination)
    except AwsError:
        _remove_tree(staging)
        raise
    except Exception as exc:  # any reading failure: see domain.code.unreadable
        _remove_tree(staging)
        if isinstance(exc, OSError) and destination.exists():
            return  # another worker unpacked the same SHA first; identical content
        raise unreadable() from exc
    except BaseException:
        _remove_tree(staging)
        raise


def _make_directories_read_only(root: Path) -> None:
    for directory, _subdirs, _files in os.walk(root):
        os.chmod(directory, 0o555)


def _remove_tree(path: Path) -> None:
    """Remove a tree even when it was made read-only."""
    if not path.exists():
        return
    for directory, _subdirs, _files in os.walk(path):
        os.chmod(directory, 0o755)
    shutil.rmtree(path, ignore_errors=True)


def remove_tree(path: Path) -> None:
    _remove_tree(path)


def make_read_only(root: Path) -> None:
    """Every folder of `root` read-only (files are made so when written)."""
    _make_directories_read_only(root)
