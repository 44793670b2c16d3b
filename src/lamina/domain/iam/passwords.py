"""Console passwords: the account password policy IAM applies when none is set, and how a
password is kept (scrypt, a random salt per password; only the hash is stored, and the identity
store encrypts it at rest like a secret key).

IAM's default policy ("Set an account password policy for IAM users"): at least 8 characters,
at least three of uppercase letters, lowercase letters, numbers and the symbols
! @ # $ % ^ & * ( ) _ + - = [ ] { } | ', and not the account's name or email."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["POLICY_VIOLATION", "hash_password", "meets_default_policy", "verify_password"]

POLICY_VIOLATION = "Password does not conform to the account password policy."
MIN_LENGTH, MAX_LENGTH = 8, 128
SYMBOLS = frozenset("!@#$%^&*()_+-=[]{}|'")
# scrypt's cost: about 40 ms and 16 MB per check on one core, run off the event loop.
_N, _R, _P = 2**14, 8, 1


def meets_default_policy(password: str) -> bool:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        return False
    kinds = (
        any(character.isascii() and character.isupper() for character in password),
        any(character.isascii() and character.islower() for character in password),
        any(character.isdigit() for character in password),
        any(character in SYMBOLS for character in password),
    )
    return sum(kinds) >= 3


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` is the one `stored` was made from; False for a malformed hash."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        found = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(found, expected)
