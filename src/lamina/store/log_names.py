"""File names for log group and stream names.

Names may hold '/', '[', '$' and any Unicode, up to 512 characters (CloudWatch Logs API:
logGroupName and logStreamName), while a file name is at most 255 bytes. A name is percent-encoded
into one safe file name (dots too, so `..` cannot address another folder); a name whose encoding
would be too long is stored under a digest of it instead, with the name itself in a hidden sidecar
file (`.name` inside a group's folder, `.<file>.name` beside a stream's file) that listings read.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from pathlib import Path

# Room for the ".jsonl" suffix and the sidecar's dots within the 255 bytes file systems allow.
_MAX_ENCODED = 200
# quote() of UTF-8 text never yields %FF (0xFF is no UTF-8 byte), so no short name looks like this.
_DIGEST_PREFIX = "%FF"
GROUP_NAME_FILE = ".name"


def file_name(name: str) -> str:
    encoded = urllib.parse.quote(name, safe="").replace(".", "%2E") or "%00"
    if len(encoded) <= _MAX_ENCODED:
        return encoded
    return _DIGEST_PREFIX + hashlib.sha256(name.encode()).hexdigest()


def is_digest(file_stem: str) -> bool:
    return file_stem.startswith(_DIGEST_PREFIX)


def stream_name_file(group_dir: Path, file_stem: str) -> Path:
    """The sidecar holding a digest-named stream's name."""
    return group_dir / f".{file_stem}.name"


def remember_name(sidecar: Path, name: str) -> None:
    """Blocking; only for digest-named entries (rare: names longer than ~70 to 200 characters)."""
    sidecar.write_text(name, encoding="utf-8")


def group_name(root: Path, file_stem: str) -> str | None:
    """The group a folder of `root` holds; None when a digest-named folder lost its sidecar."""
    if not is_digest(file_stem):
        return urllib.parse.unquote(file_stem)
    return _read_name(root / file_stem / GROUP_NAME_FILE)


def stream_name(group_dir: Path, file_stem: str) -> str | None:
    """The stream a `.jsonl` file of `group_dir` holds; None when its sidecar is gone."""
    if not is_digest(file_stem):
        return urllib.parse.unquote(file_stem)
    return _read_name(stream_name_file(group_dir, file_stem))


def _read_name(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return None
