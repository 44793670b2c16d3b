"""Identifiers Lamina hands out."""

from __future__ import annotations

import os

_VARIANTS = "89ab89ab89ab89ab"


def new_request_id() -> str:
    """A random (version 4) UUID in its usual text form, as AWS request ids are.

    Built from the hex of 16 random bytes: uuid.uuid4() does the same work through a UUID object at
    three times the cost, and every request needs one.
    """
    digits = os.urandom(16).hex()
    return (
        f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-"
        f"{_VARIANTS[int(digits[16], 16)]}{digits[17:20]}-{digits[20:]}"
    )
