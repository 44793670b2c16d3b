"""The embedded SQS: messages per second sent (one per SendMessage, and ten per SendMessageBatch),
and received and deleted (ReceiveMessage of ten, then DeleteMessageBatch), by boto3 clients on
threads, next to the same clients' rate against the cheapest signed call Lamina has
(GetCallerIdentity) measured in the same run: the client's own ceiling on this machine.

Prints a JSON document and a table. Run: `python bench/queues.py [--quick]`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.server import RunningServer, running_server

from bench.support.stats import ratio

THREADS = 4


def _rate(work: Callable[[int], int], calls: int, threads: int = THREADS) -> float:
    """Units per second over `calls` calls of `work(index)` (each returning its unit count)."""
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        units = sum(pool.map(work, range(calls)))
    return round(units / (time.perf_counter() - started), 1)


def measure(server: RunningServer, calls: int) -> dict[str, Any]:
    clients = [server.client("sqs") for _ in range(THREADS)]
    sts = [server.client("sts") for _ in range(THREADS)]
    url = clients[0].create_queue(QueueName="bench")["QueueUrl"]

    def identity(index: int) -> int:
        sts[index % THREADS].get_caller_identity()
        return 1

    def send(index: int) -> int:
        clients[index % THREADS].send_message(QueueUrl=url, MessageBody=f"message {index}")
        return 1

    def send_batch(index: int) -> int:
        entries = [{"Id": str(n), "MessageBody": f"batch {index}/{n}"} for n in range(10)]
        return len(clients[index % THREADS].send_message_batch(QueueUrl=url, Entries=entries)["Successful"])

    def receive_and_delete(index: int) -> int:
        client = clients[index % THREADS]
        messages = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if messages:
            client.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
            )
        return len(messages)

    baseline = _rate(identity, calls)
    results = {
        "baseline_signed_calls_per_second": baseline,
        "send_messages_per_second": _rate(send, calls),
        "send_batch_messages_per_second": _rate(send_batch, calls),
    }
    # Every message sent so far is received and deleted, ten at a time.
    total = calls + calls * 10
    results["receive_delete_messages_per_second"] = _rate(receive_and_delete, total // 10 + THREADS)
    results["ratios"] = {"send_vs_signed_call": ratio(results["send_messages_per_second"], baseline)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts (smoke test)")
    parser.add_argument("--json-only", action="store_true", help="print the JSON document only")
    options = parser.parse_args()
    calls = 200 if options.quick else 2000
    with (
        tempfile.TemporaryDirectory() as folder,
        running_server(Path(folder) / "data", "--workers", "1") as server,
    ):
        results = measure(server, calls)
    results["targets"] = [
        {
            "name": "messages sent per second (SendMessageBatch)",
            "value": results["send_batch_messages_per_second"],
            "goal": 2000,
            "met": results["send_batch_messages_per_second"] >= 2000,
        }
    ]
    print(json.dumps(results, indent=2))
    if options.json_only:
        return
    print()
    print(f"{'measure':<48}{'per second':>14}")
    for key in (
        "baseline_signed_calls_per_second",
        "send_messages_per_second",
        "send_batch_messages_per_second",
        "receive_delete_messages_per_second",
    ):
        print(f"{key:<48}{results[key]:>14}")
    print(f"SendMessage / GetCallerIdentity = {results['ratios']['send_vs_signed_call']}x")
    for target in results["targets"]:
        print(
            f"target: {target['name']}: {target['value']} (goal {target['goal']}) {'met' if target['met'] else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
