"""Where a refused form's message goes: next to the field it is about.

The API says which member was wrong in its message ("Value '0' at 'timeout' failed to satisfy
constraint…", "The role defined for the function cannot be assumed by Lambda.", botocore's
"Invalid type for parameter MemorySize…"); the first field whose words appear in the message gets
it, and a message naming no field is shown at the top of the form."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from lamina.errors import AwsError

__all__ = ["FORM", "place_error"]

FORM = "_form"  # the key of a message that names no field


def place_error(error: AwsError, fields: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """{field: "Code: message"} for the one field `error` is about (FORM when none).

    `fields`: each form field and the words (API member names, lower-case) that mean it."""
    text = error.message.lower()
    words = set(re.findall(r"[a-z0-9]+", text))
    for field, names in fields.items():
        if any(name.lower() in words or f"'{name.lower()}'" in text for name in names):
            return {field: f"{error.code}: {error.message}"}
    return {FORM: f"{error.code}: {error.message}"}
