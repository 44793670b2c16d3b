"""How S3 lists keys: in UTF-8 byte order (which is code point order), with a prefix, after a
marker, rolled up into common prefixes at a delimiter (Amazon S3 API Reference, ListObjectsV2)."""

from __future__ import annotations

import base64
import binascii

from lamina.domain.buckets.errors import invalid_argument

_LAST_CODE_POINT = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)


def prefix_end(prefix: str) -> str | None:
    """The least string above every string that starts with `prefix` (None: there is none, or
    `prefix` is empty): stores list a prefix as the range [prefix, prefix_end)."""
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if code in _SURROGATES:
            code = 0xE000
        if code <= _LAST_CODE_POINT:
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return None


def after_common_prefix(common_prefix: str) -> str:
    """A marker past every key that starts with `common_prefix` (what listing resumes from once a
    common prefix is rolled up)."""
    end = prefix_end(common_prefix)
    # No string is above a prefix of only U+10FFFF: the listing is then complete.
    return end if end is not None else common_prefix + chr(_LAST_CODE_POINT) * 4


def common_prefix_of(key: str, prefix: str, delimiter: str | None) -> str | None:
    """The common prefix `key` rolls up into, or None when it is listed on its own."""
    if not delimiter:
        return None
    at = key.find(delimiter, len(prefix))
    return key[: at + len(delimiter)] if at >= 0 else None


def continuation_token(marker: str) -> str:
    """An opaque ListObjectsV2 token for resuming after `marker`."""
    return base64.urlsafe_b64encode(marker.encode("utf-8")).decode("ascii")


def marker_of_token(token: str) -> str:
    try:
        return base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise invalid_argument(
            "The continuation token provided is incorrect", "continuation-token", token
        ) from None
