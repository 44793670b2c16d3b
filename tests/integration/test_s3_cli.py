"""The real `aws` CLI's S3 commands against a running server: `aws s3 mb/cp/sync/ls/rm/rb` (the
high-level commands, which upload large files in parts and download them in ranges, several at a
time) and `aws s3api`."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests.support.server import RunningServer

AWS = [sys.executable, "-m", "awscli"]


def _aws(server: RunningServer, *args: str, cwd: Path | None = None) -> str:
    completed = subprocess.run(
        [*AWS, *args, "--no-progress"] if args[0] == "s3" and args[1] in ("cp", "sync") else [*AWS, *args],
        env=server.cli_env(),
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cp_sync_ls_rm_rb(server: RunningServer, tmp_path: Path) -> None:
    bucket = f"cli-{uuid.uuid4().hex[:12]}"
    source = tmp_path / "source"
    (source / "nested" / "deeper").mkdir(parents=True)
    big = source / "big.bin"
    big.write_bytes(os.urandom(20 * 1024 * 1024))  # over the CLI's 8 MiB threshold: a multipart upload
    (source / "a.txt").write_text("alpha")
    (source / "nested" / "b file.txt").write_text("beta")
    (source / "nested" / "deeper" / "c.json").write_text('{"c": 1}')

    assert f"make_bucket: {bucket}" in _aws(server, "s3", "mb", f"s3://{bucket}")
    _aws(server, "s3", "cp", str(big), f"s3://{bucket}/single/big.bin")
    _aws(server, "s3", "sync", str(source), f"s3://{bucket}/tree")
    listing = _aws(server, "s3", "ls", f"s3://{bucket}", "--recursive")
    keys = sorted(line.split(maxsplit=3)[3] for line in listing.splitlines())
    assert keys == [
        "single/big.bin",
        "tree/a.txt",
        "tree/big.bin",
        "tree/nested/b file.txt",
        "tree/nested/deeper/c.json",
    ]
    # A second sync has nothing to do: sizes and times match what the listing says.
    assert _aws(server, "s3", "sync", str(source), f"s3://{bucket}/tree").strip() == ""

    copy = tmp_path / "copy"
    _aws(server, "s3", "sync", f"s3://{bucket}/tree", str(copy))
    for path in source.rglob("*"):
        if path.is_file():
            assert _digest(copy / path.relative_to(source)) == _digest(path), path
    downloaded = tmp_path / "down.bin"
    _aws(server, "s3", "cp", f"s3://{bucket}/single/big.bin", str(downloaded))
    assert _digest(downloaded) == _digest(big)

    head = json.loads(_aws(server, "s3api", "head-object", "--bucket", bucket, "--key", "single/big.bin"))
    assert head["ContentLength"] == big.stat().st_size
    assert head["ETag"].endswith('-3"')  # three 8 MiB parts (the last shorter), S3's multipart ETag

    _aws(server, "s3", "rm", f"s3://{bucket}", "--recursive")
    assert _aws(server, "s3", "ls", f"s3://{bucket}").strip() == ""
    assert f"remove_bucket: {bucket}" in _aws(server, "s3", "rb", f"s3://{bucket}")


def test_s3api_errors_surface_as_the_cli_prints_them(server: RunningServer) -> None:
    completed = subprocess.run(
        [*AWS, "s3api", "get-object", "--bucket", "no-such-bucket-here", "--key", "k", os.devnull],
        env=server.cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode != 0
    assert "NoSuchBucket" in completed.stderr
