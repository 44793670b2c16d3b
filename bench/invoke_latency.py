"""Cold-start and warm-invocation latency through the HTTP Invoke API, with in-run baselines.

Starts a real `lamina server`, deploys hello-world functions and measures, with the lean signed
client of `bench/support/` (botocore's SigV4 signer, one keep-alive connection, signing done
before the clock starts):
- cold start: first invocation of each new function, next to spawning `python3 -I -S -c pass`;
- warm invocation: sequential invocations of one function, next to an unauthenticated round
  trip to `/_lamina/health` on the same server stack (the transport floor).
Prints a JSON document and a table. Run: `python bench/invoke_latency.py [--functions 30 --warm 1000]`.
`bench/engine.py` measures these and more (throughput, density, bursts, scaling) against targets.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.packaging import make_zip
from tests.support.server import ACCESS_KEY, SECRET_KEY, running_server

from bench.support.client import HELLO_SOURCE, SignedClient, create_functions
from bench.support.stats import summarize, time_spawn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--functions", type=int, default=30)
    parser.add_argument("--warm", type=int, default=1000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, running_server(Path(scratch) / "data") as server:
        client = SignedClient(server.port, ACCESS_KEY, SECRET_KEY)
        names = [f"bench-cold-{index}" for index in range(options.functions)]
        create_functions(
            server.port,
            (ACCESS_KEY, SECRET_KEY),
            names,
            make_zip({"app.py": HELLO_SOURCE}),
            deadline=time.monotonic() + 300,
        )
        cold = [client.timed_invoke(name) for name in names]
        spawn = [time_spawn() for _ in range(options.functions)]
        for _ in range(50):
            client.timed_invoke(names[0])
        warm = [client.timed_invoke(names[0]) for _ in range(options.warm)]
        echo = [client.timed_echo() for _ in range(options.warm)]
        client.close()
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
