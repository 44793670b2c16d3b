"""What S3 accepts as bucket names and object keys (Amazon S3 User Guide, "Bucket naming rules";
"Naming Amazon S3 objects": a key is at most 1,024 bytes of UTF-8)."""

from __future__ import annotations

import ipaddress
import re

from lamina.domain.buckets.errors import invalid_bucket_name, key_too_long
from lamina.errors import AwsError

_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
MAX_KEY_BYTES = 1024


def check_bucket_name(name: str) -> None:
    if not is_bucket_name(name):
        raise invalid_bucket_name(name)


def is_bucket_name(name: str) -> bool:
    if _BUCKET_NAME.fullmatch(name) is None or ".." in name:
        return False
    if name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES):
        return False
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return True
    return False


def check_key(key: str) -> None:
    if not key:
        raise AwsError("InvalidArgument", "A key must not be empty.", 400)
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        raise AwsError("InvalidArgument", "A key must be UTF-8 text.", 400) from None
    if len(encoded) > MAX_KEY_BYTES:
        raise key_too_long(key)
    if "\0" in key:
        # XML 1.0 cannot carry U+0000, so no listing could return such a key (docs/compatibility.md).
        raise AwsError("InvalidArgument", "A key must not contain the character U+0000.", 400)
