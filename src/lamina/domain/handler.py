"""Handler strings (`file.function`) as the Python runtime interprets them."""

from __future__ import annotations

import re

from lamina.errors import invalid_parameter

# Lambda API reference, Handler: max 128 chars, pattern [^\s]+.
_HANDLER = re.compile(r"^[^\s]{1,128}$")


def validate_handler(handler: str) -> str:
    """Reject handlers the API refuses; module/function resolution errors surface at init, as on AWS."""
    if not _HANDLER.fullmatch(handler):
        raise invalid_parameter(f"Invalid handler: {handler!r}")
    return handler


def split_handler(handler: str) -> tuple[str, str]:
    """Return (module path, function name): `pkg/app.main` -> (`pkg.app`, `main`)."""
    module, _, function = handler.rpartition(".")
    if not module or not function:
        raise ValueError(f"Bad handler '{handler}': not enough values to unpack (expected 2, got 1)")
    return module.replace("/", "."), function
