"""ZIP deployment packages: untrusted input, checked before anything is stored (unpacking them to
files is the store's: store/code_files.py).

Lambda quotas: 250 MB unzipped (including layers). A package is rejected whole when it is not a
readable ZIP, when an entry would land outside the code root (absolute paths, `..`, drive letters,
symlinks), or when it unpacks to more than the limit, so nothing is stored for a bad upload.
"""

from __future__ import annotations

import base64
import hashlib
import io
import stat
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from lamina.errors import AwsError, invalid_parameter

MAX_UNZIPPED_BYTES = 262_144_000
# A ZIP uploaded in the request itself (Code.ZipFile, Content.ZipFile): larger ones go through S3 on AWS.
MAX_ZIPPED_BYTES = 52_428_800
_CORRUPT_MESSAGE = "Could not unzip uploaded file. Please check your file, then try to upload again."
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class CodeDigest:
    """Identity of a deployment package: the hex digest names blobs, the base64 one is CodeSha256."""

    sha256_hex: str
    sha256_base64: str
    size: int

    def to_record(self) -> dict[str, Any]:
        return {"sha256_hex": self.sha256_hex, "sha256_base64": self.sha256_base64, "size": self.size}


@dataclass(frozen=True, slots=True)
class PackageSummary:
    digest: CodeDigest
    unzipped_size: int
    file_count: int


def digest_code(data: bytes) -> CodeDigest:
    raw = hashlib.sha256(data).digest()
    return CodeDigest(raw.hex(), base64.b64encode(raw).decode(), len(data))


def _safe_member_path(name: str) -> PurePosixPath:
    """The entry's path relative to the root, or InvalidParameterValueException if it escapes."""
    normalized = name.replace("\\", "/")
    path = PurePosixPath(normalized)
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        raise invalid_parameter(f"{_CORRUPT_MESSAGE} Entry has an absolute path: {name}")
    if any(part == ".." for part in path.parts):
        raise invalid_parameter(f"{_CORRUPT_MESSAGE} Entry escapes the package root: {name}")
    return path


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    return info.create_system == 3 and stat.S_ISLNK(mode)


def member_path(info: zipfile.ZipInfo) -> PurePosixPath:
    """Where an entry lands, relative to the code root; InvalidParameterValueException when it
    would escape it or is a symbolic link."""
    relative = _safe_member_path(info.filename)
    if _is_symlink(info):
        raise invalid_parameter(f"{_CORRUPT_MESSAGE} Symbolic links are not allowed: {info.filename}")
    return relative


def inspect_package(data: bytes, *, max_unzipped: int = MAX_UNZIPPED_BYTES) -> PackageSummary:
    """Check the archive's directory without unpacking; extraction re-checks the real sizes."""
    if len(data) > MAX_ZIPPED_BYTES:
        # AWS's answer carries no Type.
        raise AwsError(
            "RequestEntityTooLargeException",
            f"Zipped size must be smaller than {MAX_ZIPPED_BYTES} bytes",
            413,
            error_type=None,
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            total = 0
            files = 0
            for info in archive.infolist():
                _safe_member_path(info.filename)
                if _is_symlink(info):
                    raise invalid_parameter(
                        f"{_CORRUPT_MESSAGE} Symbolic links are not allowed: {info.filename}"
                    )
                total += info.file_size
                files += 0 if info.is_dir() else 1
    except AwsError:
        raise
    except Exception as exc:  # any reading failure: see unreadable
        raise unreadable() from exc
    if total > max_unzipped:
        raise invalid_parameter(f"Unzipped size must be smaller than {max_unzipped} bytes")
    return PackageSummary(digest_code(data), total, files)


def read_package(data: bytes, *, max_unzipped: int = MAX_UNZIPPED_BYTES) -> None:
    """Read every entry to its end without writing anything: the decompression, the CRCs and the
    real sizes are checked, so what unpacking would find wrong is found while the upload is still
    being answered, and the unpacking itself (writing the files) can come later. Blocking."""
    written = 0
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    written = copy_entry(archive, info, _discard, written, max_unzipped)
    except AwsError:
        raise
    except Exception as exc:  # any reading failure: see unreadable
        raise unreadable() from exc


def _discard(chunk: bytes) -> None:
    pass


def copy_entry(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, write: Any, written: int, max_unzipped: int
) -> int:
    """Hand one entry's bytes to `write`, counting them against the limit; the new total."""
    with archive.open(info) as source:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > max_unzipped:
                raise invalid_parameter(f"Unzipped size must be smaller than {max_unzipped} bytes")
            write(chunk)
    return written


def unreadable() -> AwsError:
    """Any failure to read an uploaded archive is the upload's fault: a flipped byte can surface as
    zlib.error, struct.error, NotImplementedError (unknown method), UnicodeDecodeError, ValueError
    or OverflowError as well as BadZipFile, and every one of them must be a 400, not a 500 that
    makes the SDK retry the upload."""
    return invalid_parameter(_CORRUPT_MESSAGE)
