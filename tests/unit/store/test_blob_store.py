"""FilesystemBlobStore on disk: files sealed and private, and tampering with them found (the port's
contract, which every adapter passes, is tests/contract/test_blob_store.py)."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from lamina.store.blobs import FilesystemBlobStore
from lamina.store.ports import BlobIntegrityError

KEY = bytes(range(32))
DATA = b"PK\x03\x04 deployment package bytes " * 100
DIGEST = hashlib.sha256(DATA).hexdigest()
OTHER = b"another package"
OTHER_DIGEST = hashlib.sha256(OTHER).hexdigest()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "blobs"


@pytest.fixture
def store(root: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(root, KEY)


def stored_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def blob_file(root: Path, digest: str) -> Path:
    [path] = [path for path in stored_files(root) if path.name.startswith(digest)]
    return path


def test_bytes_on_disk_are_encrypted(store: FilesystemBlobStore, root: Path) -> None:
    store.put(DIGEST, DATA)
    [path] = stored_files(root)
    sealed = path.read_bytes()
    assert len(sealed) == 12 + len(DATA) + 16  # nonce + ciphertext + GCM tag
    assert b"deployment package" not in sealed
    assert DATA[:32] not in sealed
    assert stat_mode(root) == 0o700


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_the_same_plaintext_is_sealed_with_a_fresh_nonce(tmp_path: Path) -> None:
    first, second = FilesystemBlobStore(tmp_path / "a", KEY), FilesystemBlobStore(tmp_path / "b", KEY)
    first.put(DIGEST, DATA)
    second.put(DIGEST, DATA)
    assert stored_files(tmp_path / "a")[0].read_bytes() != stored_files(tmp_path / "b")[0].read_bytes()


def test_put_with_a_wrong_digest_is_refused_and_stores_nothing(
    store: FilesystemBlobStore, root: Path
) -> None:
    with pytest.raises(BlobIntegrityError):
        store.put(OTHER_DIGEST, DATA)
    assert not store.exists(OTHER_DIGEST)
    assert stored_files(root) == []


def test_put_is_idempotent_and_leaves_no_staging(store: FilesystemBlobStore, root: Path) -> None:
    store.put(DIGEST, DATA)
    before = blob_file(root, DIGEST).read_bytes()
    store.put(DIGEST, DATA)
    assert blob_file(root, DIGEST).read_bytes() == before  # not rewritten
    assert [path.name for path in stored_files(root)] == [f"{DIGEST}.blob"]
    assert store.get(DIGEST) == DATA


@pytest.mark.parametrize(
    "position", [0, 11, 12, len(DATA) // 2, -1], ids=["nonce", "nonce-end", "ciphertext", "middle", "tag"]
)
def test_a_flipped_byte_fails_integrity(store: FilesystemBlobStore, root: Path, position: int) -> None:
    store.put(DIGEST, DATA)
    path = blob_file(root, DIGEST)
    sealed = bytearray(path.read_bytes())
    sealed[position] ^= 0x01
    path.write_bytes(bytes(sealed))
    with pytest.raises(BlobIntegrityError):
        store.get(DIGEST)


def test_a_blob_copied_under_another_digest_fails_integrity(store: FilesystemBlobStore, root: Path) -> None:
    store.put(DIGEST, DATA)
    store.put(OTHER_DIGEST, OTHER)
    shutil.copyfile(blob_file(root, DIGEST), blob_file(root, OTHER_DIGEST))
    with pytest.raises(BlobIntegrityError):
        store.get(OTHER_DIGEST)
    assert store.get(DIGEST) == DATA


def test_a_blob_copied_to_a_new_name_fails_integrity(store: FilesystemBlobStore, root: Path) -> None:
    store.put(DIGEST, DATA)
    target = root / OTHER_DIGEST[:2] / f"{OTHER_DIGEST}.blob"
    target.parent.mkdir(exist_ok=True)
    shutil.copyfile(blob_file(root, DIGEST), target)
    with pytest.raises(BlobIntegrityError):
        store.get(OTHER_DIGEST)


def test_a_truncated_blob_fails_integrity(store: FilesystemBlobStore, root: Path) -> None:
    store.put(DIGEST, DATA)
    path = blob_file(root, DIGEST)
    path.write_bytes(path.read_bytes()[:5])
    with pytest.raises(BlobIntegrityError):
        store.get(DIGEST)


@pytest.mark.parametrize("length", [8, 12, 20, 12 + len(DATA)])
def test_a_blob_truncated_after_the_nonce_fails_integrity(
    store: FilesystemBlobStore, root: Path, length: int
) -> None:
    store.put(DIGEST, DATA)
    path = blob_file(root, DIGEST)
    path.write_bytes(path.read_bytes()[:length])
    with pytest.raises(BlobIntegrityError):
        store.get(DIGEST)


def test_a_store_with_another_key_cannot_read(store: FilesystemBlobStore, root: Path) -> None:
    store.put(DIGEST, DATA)
    intruder = FilesystemBlobStore(root, os.urandom(32))
    assert intruder.exists(DIGEST)
    with pytest.raises(BlobIntegrityError):
        intruder.get(DIGEST)
    assert FilesystemBlobStore(root, KEY).get(DIGEST) == DATA  # same key, new instance


def test_digests_lists_stored_blobs_only(store: FilesystemBlobStore, root: Path) -> None:
    """What the code collector sweeps: stored blobs, not another writer's staging file."""
    assert store.digests() == set()
    store.put(DIGEST, DATA)
    store.put(OTHER_DIGEST, OTHER)
    (root / DIGEST[:2] / f"{DIGEST}.tmp0123456789abcdef").write_bytes(b"half written")
    (root / "stray.txt").write_bytes(b"not a blob")
    assert store.digests() == {DIGEST, OTHER_DIGEST}
    store.delete(DIGEST)
    assert store.digests() == {OTHER_DIGEST}
