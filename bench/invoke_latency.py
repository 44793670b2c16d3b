"""Cold-start and warm-invocation latency through the HTTP Invoke API, with in-run baselines.

Starts a real `lamina server`, deploys hello-world functions and measures, with a lean signed
HTTP client (botocore's signer over one keep-alive connection, no boto3 client overhead):
- cold start: first invocation of each new function, next to spawning `python3 -I -S -c pass`;
- warm invocation: sequential invocations of one function, next to an unauthenticated round
  trip to `/_lamina/health` on the same server stack (the transport floor).
Prints a JSON document and a table. Run: `python bench/invoke_latency.py [--functions 30 --warm 1000]`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.packaging import make_zip
from tests.support.server import ACCESS_KEY, SECRET_KEY, running_server

HELLO = {"app.py": "def handler(event, context):\n    return {'hello': 'world'}\n"}
ROLE = "arn:aws:iam::000000000000:role/bench"


class SignedClient:
    """One keep-alive connection; each request signed with SigV4 like an SDK would."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._connection = http.client.HTTPConnection("127.0.0.1", port)
        self._signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "lambda", "us-east-1")

    def request(self, method: str, path: str, body: bytes = b"", *, sign: bool = True) -> tuple[int, bytes]:
        headers: dict[str, str] = {}
        if sign:
            request = AWSRequest(method=method, url=f"http://127.0.0.1:{self._port}{path}", data=body)
            self._signer.add_auth(request)
            headers = dict(request.headers.items())
        self._connection.request(method, path, body=body, headers=headers)
        response = self._connection.getresponse()
        return response.status, response.read()

    def create_function(self, name: str) -> None:
        import base64

        document = {
            "FunctionName": name,
            "Runtime": "python3.11",
            "Role": ROLE,
            "Handler": "app.handler",
            "Code": {"ZipFile": base64.b64encode(make_zip(HELLO)).decode()},
        }
        status, body = self.request("POST", "/2015-03-31/functions", json.dumps(document).encode())
        if status != 201:
            raise RuntimeError(f"create failed: {status} {body!r}")

    def invoke(self, name: str) -> float:
        started = time.perf_counter()
        status, body = self.request("POST", f"/2015-03-31/functions/{name}/invocations", b"{}")
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200 or b"hello" not in body:
            raise RuntimeError(f"invoke failed: {status} {body!r}")
        return elapsed


def summarize(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered), 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3),
        "count": len(ordered),
    }


def spawn_baseline(count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-S", "-c", "pass"], check=True)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--functions", type=int, default=30)
    parser.add_argument("--warm", type=int, default=1000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, running_server(Path(scratch) / "data") as server:
        client = SignedClient(server.port)
        names = [f"bench-cold-{index}" for index in range(options.functions)]
        for name in names:
            client.create_function(name)
        cold = [client.invoke(name) for name in names]
        spawn = spawn_baseline(options.functions)
        for _ in range(50):
            client.invoke(names[0])
        warm = [client.invoke(names[0]) for _ in range(options.warm)]
        echo = []
        for _ in range(options.warm):
            started = time.perf_counter()
            client.request("GET", "/_lamina/health", sign=False)
            echo.append((time.perf_counter() - started) * 1000)
    results: dict[str, Any] = {
        "cold_start": summarize(cold),
        "spawn_python_baseline": summarize(spawn),
        "warm_invoke": summarize(warm),
        "echo_baseline": summarize(echo),
    }
    results["ratios"] = {
        "cold_vs_spawn": round(
            results["cold_start"]["median_ms"] / results["spawn_python_baseline"]["median_ms"], 2
        ),
        "warm_vs_echo": round(results["warm_invoke"]["median_ms"] / results["echo_baseline"]["median_ms"], 2),
    }
    print(json.dumps(results, indent=2))
    print()
    print(f"{'measure':<24}{'median ms':>12}{'p99 ms':>12}{'n':>8}")
    for key in ("cold_start", "spawn_python_baseline", "warm_invoke", "echo_baseline"):
        row = results[key]
        print(f"{key:<24}{row['median_ms']:>12.3f}{row['p99_ms']:>12.3f}{row['count']:>8}")
    print(
        f"cold/spawn = {results['ratios']['cold_vs_spawn']}x, warm/echo = {results['ratios']['warm_vs_echo']}x"
    )


if __name__ == "__main__":
    main()
