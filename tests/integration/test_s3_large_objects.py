"""Large objects stream through the server, never whole in its memory: a 1 GB PutObject and
GetObject leave the server's peak memory where it was; uploads larger than the edge would ever
buffer reach the primary from a worker's connection; and a server killed in the middle of an upload
loses nothing it had acknowledged, keeps no half-written object, and frees the unfinished bytes."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import botocore.awsrequest
import pytest

from tests.integration.test_workers import wait_for_workers
from tests.support.s3_signing import s3_signer
from tests.support.server import running_server

MIB = 1024 * 1024
pytestmark = pytest.mark.slow


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def _sparse_file(path: Path, size: int) -> str:
    """A file of `size` bytes with a pattern (not zeros) every MiB; returns its SHA-256."""
    digest = hashlib.sha256()
    block = bytearray(MIB)
    with path.open("wb") as handle:
        for index in range(size // MIB):
            block[:8] = index.to_bytes(8, "big")
            handle.write(block)
            digest.update(block)
    return digest.hexdigest()


def test_a_1gb_object_streams_in_bounded_memory(tmp_path: Path) -> None:
    size = 1024 * MIB
    source = tmp_path / "one-gigabyte.bin"
    expected = _sparse_file(source, size)
    with running_server(tmp_path / "data", "--workers", "1") as server:
        s3 = server.client("s3")
        s3.create_bucket(Bucket="large")
        s3.put_object(Bucket="large", Key="warm", Body=b"x" * MIB)
        s3.get_object(Bucket="large", Key="warm")["Body"].read()
        before = _peak_rss_mib(server.process.pid)
        with source.open("rb") as body:
            s3.put_object(Bucket="large", Key="big", Body=body)
        after_upload = _peak_rss_mib(server.process.pid)
        got = s3.get_object(Bucket="large", Key="big")
        assert got["ContentLength"] == size
        digest = hashlib.sha256()
        for chunk in got["Body"].iter_chunks(MIB):
            digest.update(chunk)
        assert digest.hexdigest() == expected
        after_download = _peak_rss_mib(server.process.pid)
    # A gigabyte went through each way; the server's peak grew by a small buffer's worth at most.
    assert after_upload - before < 100, (before, after_upload)
    assert after_download - before < 100, (before, after_download)


def test_uploads_too_large_to_buffer_reach_the_primary_from_any_worker(tmp_path: Path) -> None:
    """The edge buffers at most 70 MB of a request: a worker moves an upload to the primary at its
    head, and the body follows straight from the socket."""
    data = os.urandom(80 * MIB)
    with running_server(tmp_path / "data", "--workers", "2") as server:
        wait_for_workers(server, 2)
        s3 = server.client("s3")
        s3.create_bucket(Bucket="spread")
        for attempt in range(6):  # a new connection each time: the kernel spreads them
            client = server.client("s3")
            client.put_object(Bucket="spread", Key=f"k{attempt}", Body=data)
            assert client.get_object(Bucket="spread", Key=f"k{attempt}")["Body"].read() == data
            client.close()


def test_a_kill_mid_upload_keeps_what_was_acknowledged(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with running_server(data_dir, "--workers", "1") as server:
        s3 = server.client("s3")
        s3.create_bucket(Bucket="durable")
        s3.put_object(Bucket="durable", Key="kept", Body=b"acknowledged")
        upload_id = s3.create_multipart_upload(Bucket="durable", Key="parts")["UploadId"]
        part = s3.upload_part(
            Bucket="durable", Key="parts", UploadId=upload_id, PartNumber=1, Body=b"p" * 6 * MIB
        )
        sent = threading.Event()

        def upload_forever() -> None:
            # Announces 500 MB, sends 30 MB, then waits: the server holds a half-written object.
            with socket.create_connection(("127.0.0.1", server.port)) as connection:
                connection.sendall(_unsigned_head(server.port, "durable", "half", 500 * MIB))
                for _ in range(30):
                    connection.sendall(b"h" * MIB)
                sent.set()
                time.sleep(30)

        uploader = threading.Thread(target=upload_forever, daemon=True)
        uploader.start()
        assert sent.wait(30)
        time.sleep(0.5)
        half_written = _object_files(data_dir)
        assert half_written["tmp"] >= 1  # the unfinished upload is on disk, outside any object
        server.stop(signal.SIGKILL)
    with running_server(data_dir, "--workers", "1") as restarted:
        s3 = restarted.client("s3")
        assert s3.get_object(Bucket="durable", Key="kept")["Body"].read() == b"acknowledged"
        assert [item["Key"] for item in s3.list_objects_v2(Bucket="durable")["Contents"]] == ["kept"]
        parts = s3.list_parts(Bucket="durable", Key="parts", UploadId=upload_id)["Parts"]
        assert [(p["PartNumber"], p["ETag"]) for p in parts] == [(1, part["ETag"])]
        assert _object_files(data_dir)["tmp"] == 0  # the half-written bytes were freed at start
        s3.complete_multipart_upload(
            Bucket="durable",
            Key="parts",
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
        )
        assert s3.get_object(Bucket="durable", Key="parts")["ContentLength"] == 6 * MIB


def _object_files(data_dir: Path) -> dict[str, int]:
    root = data_dir / "objects"
    temporary = len(list((root / "tmp").iterdir())) if (root / "tmp").exists() else 0
    stored = sum(1 for path in root.glob("??/*"))
    return {"tmp": temporary, "stored": stored}


def _unsigned_head(port: int, bucket: str, key: str, length: int) -> bytes:
    """A PutObject head signed by botocore, announcing `length` bytes of unsigned payload."""
    url = f"http://127.0.0.1:{port}/{bucket}/{key}"
    request: Any = botocore.awsrequest.AWSRequest(method="PUT", url=url, data=b"", headers={})
    s3_signer("UNSIGNED-PAYLOAD").add_auth(request)
    lines = [f"PUT /{bucket}/{key} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {length}"]
    lines += [f"{name}: {value}" for name, value in request.headers.items() if name.lower() != "host"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
