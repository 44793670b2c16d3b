"""Which region names Lamina serves: those of AWS's commercial partition (`arn:aws:`), as the
endpoint data inside botocore lists them (a newer botocore brings newer regions). A request's
region comes from its SigV4 credential scope. Each region in use costs a set of stores and a folder
in the data directory, so the list is closed: a client cannot make up regions without end."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import botocore

from lamina.errors import AwsError

_PARTITION = "aws"
# What the aws partition's regionRegex said when this was written: the fallback should botocore's
# endpoint data move.
_FALLBACK_PATTERN = r"^(us|eu|ap|sa|ca|me|af|il|mx)\-\w+\-\d+$"
# The pattern's \w would let upper case and underscores through: a region names a folder.
_FOLDER_SAFE = re.compile(r"[a-z0-9-]+")


@functools.cache
def _partition() -> tuple[frozenset[str], re.Pattern[str]]:
    path = Path(botocore.__file__).parent / "data" / "endpoints.json"
    try:
        partitions = json.loads(path.read_text())["partitions"]
        partition = next(item for item in partitions if item["partition"] == _PARTITION)
        return frozenset(partition["regions"]), re.compile(partition["regionRegex"])
    except (OSError, ValueError, KeyError, StopIteration):
        return frozenset(), re.compile(_FALLBACK_PATTERN)


@functools.cache
def _descriptions() -> dict[str, str]:
    path = Path(botocore.__file__).parent / "data" / "endpoints.json"
    try:
        partitions = json.loads(path.read_text())["partitions"]
        partition = next(item for item in partitions if item["partition"] == _PARTITION)
        return {name: str(region.get("description", name)) for name, region in partition["regions"].items()}
    except (OSError, ValueError, KeyError, StopIteration):
        return {}


def region_description(name: str) -> str:
    """AWS's name for a region ("US East (N. Virginia)"), as alarm notifications spell it."""
    return _descriptions().get(name, name)


def is_region(name: str) -> bool:
    """A region of AWS's commercial partition."""
    known, pattern = _partition()
    if known:
        return name in known
    # botocore's endpoint data unreadable: its pattern, and only names that are safe as folders.
    return (
        len(name) <= 32 and _FOLDER_SAFE.fullmatch(name) is not None and pattern.fullmatch(name) is not None
    )


def known_regions() -> list[str]:
    """The partition's regions botocore knows by name, sorted."""
    return sorted(_partition()[0])


def invalid_region() -> AwsError:
    """What AWS answers a request signed for a region its endpoint does not serve."""
    return AwsError("InvalidSignatureException", "Credential should be scoped to a valid region. ", 403)
