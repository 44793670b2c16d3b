"""The embedded S3: object throughput next to a plain file copy on the same disk, and the time from
an upload to the start of the function its notification runs.

- small objects: PutObject and GetObject of 1 KB objects through boto3 (one client per thread),
  objects per second and MB/s;
- large objects: PutObject and GetObject of 64 MB objects, MB/s, next to `shutil.copyfile` of a
  64 MB file on the same disk measured in the same run (the baseline: the issue's goal is at least
  half the copy rate);
- event to function: PutObject on a bucket whose notification runs a warm function, to the
  function's first line (its clock, the same machine's), median and p99 over many uploads.

Prints a JSON document and a table. Run: `python bench/buckets.py [--quick]`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import botocore.awsrequest
from tests.support.packaging import make_zip
from tests.support.s3_signing import s3_signer
from tests.support.server import LAMBDA_TRUST_POLICY, RunningServer, running_server

from bench.support.stats import ratio, summarize

MB = 1024 * 1024
STARTED = """\
import time
import urllib.parse

import boto3

s3 = boto3.client("s3")


def handler(event, context):
    started = time.time()
    record = event["Records"][0]
    key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
    s3.put_object(Bucket="bench-started", Key=key, Body=repr(started).encode())
"""


def copy_rate(folder: Path, size: int, rounds: int) -> float:
    """MB/s of shutil.copyfile on this disk (the data directory's), best of `rounds`."""
    source, target = folder / "copy-source", folder / "copy-target"
    source.write_bytes(os.urandom(size))
    rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        shutil.copyfile(source, target)
        os.sync()
        rates.append(size / MB / (time.perf_counter() - started))
        target.unlink()
    source.unlink()
    return round(statistics.median(rates), 1)


def small_objects(server: RunningServer, count: int, threads: int) -> dict[str, Any]:
    body = os.urandom(1024)
    clients = [server.client("s3") for _ in range(threads)]
    clients[0].create_bucket(Bucket="bench-small")

    def put(index: int) -> None:
        clients[index % threads].put_object(Bucket="bench-small", Key=f"k{index}", Body=body)

    def get(index: int) -> None:
        clients[index % threads].get_object(Bucket="bench-small", Key=f"k{index}")["Body"].read()

    results: dict[str, Any] = {}
    for name, work in (("put", put), ("get", get)):
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(work, range(count)))
        elapsed = time.perf_counter() - started
        results[f"{name}_per_second"] = round(count / elapsed, 1)
        results[f"{name}_mb_per_second"] = round(count * len(body) / MB / elapsed, 2)
    return results


def large_objects(server: RunningServer, size: int, rounds: int) -> dict[str, Any]:
    s3 = server.client("s3")
    s3.create_bucket(Bucket="bench-large")
    body = os.urandom(size)
    puts, gets = [], []
    for index in range(rounds):
        started = time.perf_counter()
        s3.put_object(Bucket="bench-large", Key=f"k{index}", Body=body)
        puts.append(size / MB / (time.perf_counter() - started))
        started = time.perf_counter()
        stream = s3.get_object(Bucket="bench-large", Key=f"k{index}")["Body"]
        received = sum(len(chunk) for chunk in stream.iter_chunks(MB))
        gets.append(size / MB / (time.perf_counter() - started))
        assert received == size
    return {
        "put_mb_per_second": round(statistics.median(puts), 1),
        "get_mb_per_second": round(statistics.median(gets), 1),
    }


def raw_unsigned_puts(server: RunningServer, size: int, rounds: int) -> float:
    """MB/s of PutObject from a bare socket client sending UNSIGNED-PAYLOAD and no checksum: the
    server's own cost (receiving, the MD5 that is the ETag, writing), without boto3's hashing on
    the same two cores."""
    body = memoryview(os.urandom(size))
    rates = []
    for index in range(rounds):
        url = f"{server.endpoint}/bench-large/raw{index}"
        request: Any = botocore.awsrequest.AWSRequest(method="PUT", url=url, data=b"", headers={})
        s3_signer("UNSIGNED-PAYLOAD").add_auth(request)
        head = [
            f"PUT /bench-large/raw{index} HTTP/1.1",
            f"Host: 127.0.0.1:{server.port}",
            f"Content-Length: {size}",
        ]
        head += [f"{name}: {value}" for name, value in request.headers.items() if name.lower() != "host"]
        started = time.perf_counter()
        with socket.create_connection(("127.0.0.1", server.port)) as connection:
            connection.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            for at in range(0, size, MB):
                connection.sendall(body[at : at + MB])
            answer = connection.recv(65536)
        rates.append(size / MB / (time.perf_counter() - started))
        if not answer.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(answer[:300].decode(errors="replace"))
    return round(statistics.median(rates), 1)


def event_to_function(server: RunningServer, uploads: int) -> dict[str, float]:
    iam, lambda_client, s3 = server.client("iam"), server.client("lambda"), server.client("s3")
    role = iam.create_role(RoleName="bench-s3", AssumeRolePolicyDocument=LAMBDA_TRUST_POLICY)["Role"]["Arn"]
    iam.attach_role_policy(RoleName="bench-s3", PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    lambda_client.create_function(
        FunctionName="started",
        Runtime="python3.11",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": STARTED})},
        Timeout=30,
    )
    while lambda_client.get_function(FunctionName="started")["Configuration"]["State"] != "Active":
        time.sleep(0.05)
    lambda_client.add_permission(
        FunctionName="started",
        StatementId="s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::bench-events",
    )
    arn = lambda_client.get_function(FunctionName="started")["Configuration"]["FunctionArn"]
    for bucket in ("bench-events", "bench-started"):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(
        Bucket="bench-events",
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    samples = []
    for index in range(uploads + 5):  # the first few warm the function
        key = f"upload-{index}"
        sent = time.time()
        s3.put_object(Bucket="bench-events", Key=key, Body=b"x")
        deadline = time.monotonic() + 30
        while True:
            try:
                started = float(s3.get_object(Bucket="bench-started", Key=key)["Body"].read())
                break
            except s3.exceptions.NoSuchKey:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{key} never ran the function") from None
                time.sleep(0.002)
        if index >= 5:
            samples.append((started - sent) * 1000)
    return summarize(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts (smoke test)")
    parser.add_argument("--json-only", action="store_true", help="print the JSON document only")
    options = parser.parse_args()
    small, large_size, rounds, uploads = (200, 16 * MB, 2, 10) if options.quick else (3000, 64 * MB, 5, 200)
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        with running_server(scratch / "data", "--workers", "1") as server:
            results: dict[str, Any] = {
                "disk_copy_mb_per_second": copy_rate(scratch, large_size, rounds),
                "small_objects_1kb": small_objects(server, small, threads=4),
                "large_objects": {
                    "size_mb": large_size // MB,
                    **large_objects(server, large_size, rounds),
                    "raw_unsigned_put_mb_per_second": raw_unsigned_puts(server, large_size, rounds),
                },
                "event_to_function": event_to_function(server, uploads),
            }
    large = results["large_objects"]
    results["ratios"] = {
        "large_put_vs_disk_copy": ratio(large["put_mb_per_second"], results["disk_copy_mb_per_second"]),
        "large_raw_put_vs_disk_copy": ratio(
            large["raw_unsigned_put_mb_per_second"], results["disk_copy_mb_per_second"]
        ),
        "large_get_vs_disk_copy": ratio(large["get_mb_per_second"], results["disk_copy_mb_per_second"]),
    }
    results["targets"] = [
        {
            "name": "large PutObject (boto3, signed payload) at least half the disk copy rate",
            "value": results["ratios"]["large_put_vs_disk_copy"],
            "goal": 0.5,
            "met": (results["ratios"]["large_put_vs_disk_copy"] or 0) >= 0.5,
        },
        {
            "name": "large PutObject (unsigned payload) at least half the disk copy rate",
            "value": results["ratios"]["large_raw_put_vs_disk_copy"],
            "goal": 0.5,
            "met": (results["ratios"]["large_raw_put_vs_disk_copy"] or 0) >= 0.5,
        },
        {
            "name": "PutObject to function start, median ms",
            "value": results["event_to_function"]["median_ms"],
            "goal": 20,
            "met": results["event_to_function"]["median_ms"] <= 20,
        },
    ]
    print(json.dumps(results, indent=2))
    if options.json_only:
        return
    print()
    print(f"{'measure':<44}{'value':>14}")
    print(f"{'disk copy (MB/s)':<44}{results['disk_copy_mb_per_second']:>14}")
    for key, value in results["small_objects_1kb"].items():
        print(f"{'1 KB objects: ' + key:<44}{value:>14}")
    for key in ("put_mb_per_second", "raw_unsigned_put_mb_per_second", "get_mb_per_second"):
        print(f"{f'{large_size // MB} MB objects: ' + key:<44}{large[key]:>14}")
    event = results["event_to_function"]
    print(f"{'PutObject to function start, median ms':<44}{event['median_ms']:>14}")
    print(f"{'PutObject to function start, p99 ms':<44}{event['p99_ms']:>14}")
    for target in results["targets"]:
        print(
            f"target: {target['name']}: {target['value']} (goal {target['goal']}) {'met' if target['met'] else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
