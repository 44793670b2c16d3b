"""Platform secrets kept in the data directory: root credentials and keys, created on first start.

Files are written 0600 inside a 0700 folder; function code never sees this folder.
"""

from __future__ import annotations

import json
import os
import secrets
import string
from dataclasses import dataclass, replace
from pathlib import Path

_ACCESS_KEY_ALPHABET = string.ascii_uppercase + "234567"
_ROOT_CREDENTIALS = "root-credentials.json"


@dataclass(frozen=True, slots=True)
class RootCredentials:
    access_key_id: str
    secret_access_key: str
    generated: bool  # True when this start created them (the server prints them once)


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    staging = path.with_suffix(".tmp")
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as sink:
        sink.write(data)
        sink.flush()
        os.fsync(sink.fileno())
    os.replace(staging, path)


def generate_access_key_id() -> str:
    """AWS-style key id (20 characters, upper-case base32 alphabet); `LKIA` marks Lamina's keys."""
    return "LKIA" + "".join(secrets.choice(_ACCESS_KEY_ALPHABET) for _ in range(16))


def generate_secret_access_key() -> str:
    return secrets.token_urlsafe(30)[:40]


def stored_root_credentials(secrets_dir: Path) -> RootCredentials | None:
    """The pair a server generated and stored, if any (CLI commands read it; they never make one)."""
    path = secrets_dir / _ROOT_CREDENTIALS
    if not path.exists():
        return None
    return root_credentials_from_document(path.read_bytes(), generated=False)


def load_root_credentials(
    secrets_dir: Path, access_key_id: str | None, secret: str | None
) -> RootCredentials:
    """Configured credentials win; otherwise the stored pair, or a new pair stored now."""
    if access_key_id and secret:
        return RootCredentials(access_key_id, secret, generated=False)
    stored = stored_root_credentials(secrets_dir)
    if stored is not None:
        return stored
    created = generate_root_credentials()
    keep_root_credentials(secrets_dir, created)
    return created


def generate_root_credentials() -> RootCredentials:
    return RootCredentials(generate_access_key_id(), generate_secret_access_key(), generated=True)


def root_credentials_document(credentials: RootCredentials) -> bytes:
    return json.dumps(
        {"AccessKeyId": credentials.access_key_id, "SecretAccessKey": credentials.secret_access_key}
    ).encode()


def root_credentials_from_document(document: bytes, *, generated: bool) -> RootCredentials:
    stored = json.loads(document)
    return RootCredentials(stored["AccessKeyId"], stored["SecretAccessKey"], generated=generated)


def keep_root_credentials(secrets_dir: Path, credentials: RootCredentials) -> None:
    """Store the pair in the data directory, where CLI commands look for it."""
    if stored_root_credentials(secrets_dir) != replace(credentials, generated=False):
        _write_private(secrets_dir / _ROOT_CREDENTIALS, root_credentials_document(credentials))


def load_or_create_key(secrets_dir: Path, name: str, size: int = 32) -> bytes:
    """A random key kept in the data directory (e.g. the code-encryption key)."""
    path = secrets_dir / f"{name}.key"
    if path.exists():
        key = path.read_bytes()
        if len(key) == size:
            return key
        raise ValueError(f"{path} is not a {size}-byte key")
    key = secrets.token_bytes(size)
    _write_private(path, key)
    return key
