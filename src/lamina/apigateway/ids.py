"""Identifiers API Gateway hands out: lower-case letters and digits, 10 for an API or a key, 6 for
what lives inside one (resources, deployments, authorizers, usage plans)."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_lowercase + string.digits


def new_id(length: int = 6) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_api_id() -> str:
    return new_id(10)
