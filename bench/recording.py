"""What recording invocations (LAMINA_RECORD_EVENTS=on, the console's Replay) costs a warm
invocation, against the same function without it, measured in the same server run.

Starts a real `lamina server`, deploys two hello-world functions that differ only in the
recording variable, warms both, then times rounds of sequential invocations alternating between
them (so drift in the machine's load hits both), with a 1 KB event. Prints JSON and a table:
medians, p99s and the ratio. Run: `python bench/recording.py [--rounds 20 --per-round 100] [--quick] [--json-only]`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.lambda_calls import create_function
from tests.support.server import ACCESS_KEY, SECRET_KEY, running_server

from bench.support.client import HELLO_SOURCE, SignedClient
from bench.support.stats import summarize

EVENT = json.dumps({"padding": "x" * 1000}).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--per-round", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 20: a smoke run")
    parser.add_argument("--json-only", action="store_true", help="print the JSON document only")
    options = parser.parse_args()
    if options.quick:
        options.rounds, options.per_round = 2, 20
    with tempfile.TemporaryDirectory() as scratch, running_server(Path(scratch) / "data") as server:
        lambda_client = server.client("lambda")
        create_function(lambda_client, "plain", {"app.py": HELLO_SOURCE}, Handler="app.handler")
        create_function(
            lambda_client,
            "recorded",
            {"app.py": HELLO_SOURCE},
            Handler="app.handler",
            Environment={"Variables": {"LAMINA_RECORD_EVENTS": "on"}},
        )
        client = SignedClient(server.port, ACCESS_KEY, SECRET_KEY)
        samples: dict[str, list[float]] = {"plain": [], "recorded": []}
        for name in samples:
            for _ in range(50):
                client.timed_invoke(name, EVENT)
        for _ in range(options.rounds):
            for name in samples:
                samples[name] += [client.timed_invoke(name, EVENT) for _ in range(options.per_round)]
        client.close()
    results: dict[str, Any] = {name: summarize(values) for name, values in samples.items()}
    results["ratio_recorded_vs_plain"] = round(
        results["recorded"]["median_ms"] / results["plain"]["median_ms"], 3
    )
    print(json.dumps(results, indent=2))
    if options.json_only:
        return
    print()
    print(f"{'function':<12}{'median ms':>12}{'p99 ms':>12}{'n':>8}")
    for name in samples:
        row = results[name]
        print(f"{name:<12}{row['median_ms']:>12.3f}{row['p99_ms']:>12.3f}{row['count']:>8}")
    print(f"recorded/plain = {results['ratio_recorded_vs_plain']}x (warm, 1 KB events)")


if __name__ == "__main__":
    main()
