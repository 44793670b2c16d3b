"""A deployment package as the Code tab shows it: the files of a ZIP, which of them can be edited
in the browser, and the ZIP rebuilt with an edited file. Pure functions over bytes (the caller
runs them on a thread: zips of tens of MB take a while).

AWS's console edits packages up to 3 MB; Lamina shows the file list of any package, opens text
files up to MAX_EDITABLE_BYTES in the editor, and keeps everything else read-only."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "MAX_EDITABLE_BYTES",
    "MAX_EDITABLE_PACKAGE_BYTES",
    "PackageFile",
    "files_of",
    "new_package",
    "read_text",
    "with_file",
]

MAX_EDITABLE_BYTES = 256 * 1024  # one file in the editor
MAX_EDITABLE_PACKAGE_BYTES = (
    3 * 1024 * 1024
)  # AWS: "the deployment package is too large to enable inline code editing"
MAX_LISTED_FILES = 2000


@dataclass(frozen=True, slots=True)
class PackageFile:
    path: str
    size: int
    editable: bool


def _is_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# What the editor opens without reading it first (a list of 10,000 files must not decompress
# them all): source, configuration and text by their suffix, and files without one (a custom
# runtime's bootstrap). read_text still refuses one whose bytes are not UTF-8 text.
_TEXT_SUFFIXES = frozenset(
    [
        ".py",
        ".pyi",
        ".js",
        ".mjs",
        ".cjs",
        ".ts",
        ".json",
        ".txt",
        ".md",
        ".rst",
        ".yaml",
        ".yml",
        ".toml",
        ".ini",
        ".cfg",
        ".conf",
        ".env",
        ".sh",
        ".bash",
        ".rb",
        ".java",
        ".kt",
        ".go",
        ".rs",
        ".php",
        ".pl",
        ".lua",
        ".sql",
        ".html",
        ".htm",
        ".css",
        ".xml",
        ".csv",
        ".tsv",
        ".properties",
        ".gradle",
    ]
)


def _looks_editable(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    suffix = name[name.rfind(".") :].lower() if "." in name.lstrip(".") else ""
    return suffix in _TEXT_SUFFIXES or suffix == ""


def files_of(package: bytes) -> list[PackageFile]:
    """The package's files (not folders), at most MAX_LISTED_FILES, read from its directory only;
    editable ones are small, in a small package, and named as text."""
    small_package = len(package) <= MAX_EDITABLE_PACKAGE_BYTES
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        found = [
            PackageFile(
                info.filename,
                info.file_size,
                small_package and info.file_size <= MAX_EDITABLE_BYTES and _looks_editable(info.filename),
            )
            for info in archive.infolist()[:MAX_LISTED_FILES]
            if not info.is_dir()
        ]
    return sorted(found, key=lambda item: item.path)


def read_text(package: bytes, path: str) -> str | None:
    """The text of an editable file; None when it is not in the package, not editable, or not
    UTF-8 text."""
    if len(package) > MAX_EDITABLE_PACKAGE_BYTES:
        return None
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        try:
            info = archive.getinfo(path)
        except KeyError:
            return None
        if info.is_dir() or info.file_size > MAX_EDITABLE_BYTES or not _looks_editable(path):
            return None
        with archive.open(info) as opened:
            data = opened.read(MAX_EDITABLE_BYTES + 1)  # the size in the directory may lie
    if len(data) > MAX_EDITABLE_BYTES or not _is_text(data):
        return None
    return data.decode("utf-8")


def with_file(package: bytes, path: str, text: str) -> bytes:
    """The package with `path`'s content replaced by (or, new, added as) `text`; every other
    entry, its permissions included, copied as it was."""
    output = io.BytesIO()
    replaced = False
    with (
        zipfile.ZipFile(io.BytesIO(package)) as source,
        zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            if info.filename == path:
                target.writestr(info, text.encode("utf-8"))
                replaced = True
            else:
                target.writestr(info, source.read(info))
        if not replaced:
            entry = zipfile.ZipInfo(path, date_time=(2026, 1, 1, 0, 0, 0))
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(entry, text.encode("utf-8"))
    return output.getvalue()


def new_package(files: Mapping[str, str | bytes], executable: frozenset[str] = frozenset()) -> bytes:
    """A ZIP of {path: content}; `executable` paths get mode 0755 (a custom runtime's bootstrap)."""
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in sorted(files.items()):
            entry = zipfile.ZipInfo(path, date_time=(2026, 1, 1, 0, 0, 0))
            entry.external_attr = (0o755 if path in executable else 0o644) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, text.encode("utf-8") if isinstance(text, str) else text)
    return output.getvalue()
