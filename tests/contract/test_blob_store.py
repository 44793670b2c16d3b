"""The BlobStore port (content-addressed, sealed, integrity-checked code blobs): the data directory's
files and the PostgreSQL table that several servers share, held to the same behaviour; and what only
the shared table has to get right (sealed in the database, collection's grace)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from lamina.store.blobs import FilesystemBlobStore
from lamina.store.ports import BlobIntegrityError, BlobStore
from lamina.store.postgres.blobs import PostgresBlobStore
from tests.support.postgres import PostgresServer

KEY = bytes(range(32))
DATA = b"PK\x03\x04 deployment package bytes " * 100
DIGEST = hashlib.sha256(DATA).hexdigest()
OTHER = b"another package"
OTHER_DIGEST = hashlib.sha256(OTHER).hexdigest()
# A store of the adapter under test over the same data, opened with `key`.
Opener = Callable[[bytes], BlobStore]


@pytest.fixture(params=["filesystem", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    opened: list[PostgresBlobStore] = []
    if request.param == "filesystem":
        yield lambda key: FilesystemBlobStore(tmp_path / "blobs", key)
        return
    url = request.getfixturevalue("postgres").new_database()

    def open_postgres(key: bytes) -> BlobStore:
        opened.append(PostgresBlobStore(url, key, grace_seconds=0))
        return opened[-1]

    yield open_postgres
    for store in opened:
        store.close()


@pytest.fixture
def store(opener: Opener) -> BlobStore:
    return opener(KEY)


def test_put_get_round_trip(store: BlobStore) -> None:
    assert not store.exists(DIGEST)
    store.put(DIGEST, DATA)
    assert store.exists(DIGEST)
    assert store.get(DIGEST) == DATA
    assert not store.exists(OTHER_DIGEST)
    empty = hashlib.sha256(b"").hexdigest()
    store.put(empty, b"")
    assert store.get(empty) == b""
    assert store.digests() == {DIGEST, empty}


def test_put_with_a_wrong_digest_is_refused_and_stores_nothing(store: BlobStore) -> None:
    with pytest.raises(BlobIntegrityError):
        store.put(OTHER_DIGEST, DATA)
    assert not store.exists(OTHER_DIGEST)
    assert store.digests() == set()


def test_missing_blob_is_a_key_error(store: BlobStore) -> None:
    with pytest.raises(KeyError):
        store.get(DIGEST)


@pytest.mark.parametrize(
    "digest",
    [
        "../x",
        "",
        "../" + "a" * 61,
        "a" * 63,
        "a" * 65,
        DIGEST.upper(),
        "g" * 64,
        DIGEST[:2] + "/" + DIGEST[3:],
    ],
    ids=["traversal", "empty", "traversal-64", "short", "long", "uppercase", "non-hex", "slash"],
)
def test_invalid_digests_are_key_errors(store: BlobStore, digest: str) -> None:
    store.put(DIGEST, DATA)
    for call in [store.get, store.exists]:
        with pytest.raises(KeyError):
            call(digest)


def test_delete_is_idempotent(store: BlobStore) -> None:
    store.put(DIGEST, DATA)
    store.put(OTHER_DIGEST, OTHER)
    store.delete(DIGEST)
    store.delete(DIGEST)
    assert not store.exists(DIGEST)
    with pytest.raises(KeyError):
        store.get(DIGEST)
    assert store.get(OTHER_DIGEST) == OTHER
    store.put(DIGEST, DATA)  # can be stored again
    assert store.get(DIGEST) == DATA


def test_concurrent_puts_of_the_same_new_blob_all_succeed(store: BlobStore) -> None:
    data = b"shared package" * 50_000
    digest = hashlib.sha256(data).hexdigest()
    with ThreadPoolExecutor(8) as executor:
        list(executor.map(lambda _: store.put(digest, data), range(32)))
    assert store.get(digest) == data


def test_a_store_with_another_key_cannot_read(opener: Opener) -> None:
    opener(KEY).put(DIGEST, DATA)
    intruder = opener(os.urandom(32))
    assert intruder.exists(DIGEST)
    with pytest.raises(BlobIntegrityError):
        intruder.get(DIGEST)
    assert opener(KEY).get(DIGEST) == DATA  # same key, new instance


# What only the shared table has to get right.


def test_the_database_holds_blobs_sealed_and_a_tampered_one_fails(postgres: PostgresServer) -> None:
    url = postgres.new_database()
    store = PostgresBlobStore(url, KEY)
    try:
        store.put(DIGEST, DATA)
        with psycopg.connect(url, autocommit=True) as connection:
            [(sealed,)] = connection.execute("SELECT sealed FROM code_blobs").fetchall()
            assert len(sealed) == 12 + len(DATA) + 16 and b"deployment package" not in bytes(sealed)
            flipped = bytearray(sealed)
            flipped[len(flipped) // 2] ^= 1
            connection.execute("UPDATE code_blobs SET sealed = %s", (bytes(flipped),))
        with pytest.raises(BlobIntegrityError):
            store.get(DIGEST)
    finally:
        store.close()


def test_collection_is_offered_only_blobs_past_their_grace(postgres: PostgresServer) -> None:
    """Another server may have stored a package and not yet written the function using it."""
    url = postgres.new_database()
    store = PostgresBlobStore(url, KEY, grace_seconds=3600)
    try:
        store.put(DIGEST, DATA)
        store.put(OTHER_DIGEST, OTHER)
        assert store.digests() == set()
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("UPDATE code_blobs SET stored_at = now() - interval '2 hours'")
        assert store.digests() == {DIGEST, OTHER_DIGEST}
        store.put(DIGEST, DATA)  # stored again: its grace starts over
        assert store.digests() == {OTHER_DIGEST}
    finally:
        store.close()
