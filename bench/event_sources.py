"""Event sources II: how fast events travel through EventBridge, SNS and the schedules, next to a
baseline measured in the same run on the same server.

- Latency to a queue: PutEvents → matching rule → SQS target, and Publish → topic → SQS
  subscription, from the call to the message's arrival (a long poll waiting on the queue), against
  SendMessage → the same long poll (the baseline: what a queue alone costs).
- Publish throughput: SNS Publish calls per second (each fanned out to one queue) from boto3
  clients on threads, against the same clients' SendMessage rate.
- Schedule firing: 50 rate(1 minute) schedule rules with a queue target each; the fake clock moves
  an hour and the server fires the 3,000 times before it answers: fires per second.

Prints a JSON document and a table. Run: `python bench/event_sources.py [--quick]`.
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

from tests.support.fake_clock import advance
from tests.support.queues import queue_allowing
from tests.support.server import RunningServer, running_server

from bench.support.stats import ratio, summarize

THREADS = 4
SCHEDULE_RULES = 50


def _latencies(send: Callable[[int], None], sqs: Any, url: str, count: int) -> list[float]:
    """Milliseconds from each `send(index)` to its message's arrival, one at a time."""
    samples = []
    for index in range(count):
        started = time.perf_counter()
        send(index)
        while True:
            messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5, MaxNumberOfMessages=1).get(
                "Messages", []
            )
            if messages:
                samples.append((time.perf_counter() - started) * 1000)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
                break
    return samples


def _rate(work: Callable[[int], None], calls: int) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(work, range(calls)))
    return round(calls / (time.perf_counter() - started), 1)


def measure(server: RunningServer, count: int, calls: int) -> dict[str, Any]:
    sqs, events, sns = server.client("sqs"), server.client("events"), server.client("sns")
    plain_url, _ = queue_allowing(sqs)
    rule_url, rule_queue = queue_allowing(sqs, "events.amazonaws.com")
    topic_url, topic_queue = queue_allowing(sqs, "sns.amazonaws.com")
    events.put_rule(Name="bench", EventPattern=json.dumps({"source": ["bench"]}))
    events.put_targets(Rule="bench", Targets=[{"Id": "q", "Arn": rule_queue}])
    topic = sns.create_topic(Name="bench")["TopicArn"]
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=topic_queue, Attributes={"RawMessageDelivery": "true"}
    )

    baseline = summarize(
        _latencies(lambda i: sqs.send_message(QueueUrl=plain_url, MessageBody=str(i)), sqs, plain_url, count)
    )
    rule = summarize(
        _latencies(
            lambda i: events.put_events(
                Entries=[{"Source": "bench", "DetailType": "t", "Detail": json.dumps({"i": i})}]
            ),
            sqs,
            rule_url,
            count,
        )
    )
    topic_latency = summarize(
        _latencies(lambda i: sns.publish(TopicArn=topic, Message=str(i)), sqs, topic_url, count)
    )

    senders = [server.client("sqs") for _ in range(THREADS)]
    publishers = [server.client("sns") for _ in range(THREADS)]
    send_rate = _rate(
        lambda i: senders[i % THREADS].send_message(QueueUrl=plain_url, MessageBody=str(i)), calls
    )
    publish_rate = _rate(lambda i: publishers[i % THREADS].publish(TopicArn=topic, Message=str(i)), calls)

    fires_queue_url, fires_queue = queue_allowing(sqs, "events.amazonaws.com")
    for number in range(SCHEDULE_RULES):
        events.put_rule(Name=f"tick-{number}", ScheduleExpression="rate(1 minute)")
        events.put_targets(Rule=f"tick-{number}", Targets=[{"Id": "q", "Arn": fires_queue}])
    started = time.perf_counter()
    advance(server, 3600)
    firing_s = time.perf_counter() - started
    fired = int(
        sqs.get_queue_attributes(QueueUrl=fires_queue_url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]["ApproximateNumberOfMessages"]
    )
    return {
        "latency_to_queue": {
            "send_message_baseline": baseline,
            "put_events_rule_target": rule,
            "publish_topic_subscription": topic_latency,
        },
        "throughput": {"send_message_per_second": send_rate, "publish_per_second": publish_rate},
        "schedule_firing": {
            "rules": SCHEDULE_RULES,
            "fire_times": fired,
            "seconds": round(firing_s, 3),
            "fires_per_second": round(fired / firing_s, 1),
        },
        "ratios": {
            "put_events_vs_send_message_latency": ratio(rule["median_ms"], baseline["median_ms"]),
            "publish_vs_send_message_latency": ratio(topic_latency["median_ms"], baseline["median_ms"]),
            "publish_vs_send_message_rate": ratio(publish_rate, send_rate),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts (smoke test)")
    parser.add_argument("--json-only", action="store_true", help="print the JSON document only")
    options = parser.parse_args()
    count, calls = (20, 100) if options.quick else (200, 1000)
    with (
        tempfile.TemporaryDirectory() as folder,
        running_server(Path(folder) / "data", "--fake-clock") as server,
    ):
        results = measure(server, count, calls)
    print(json.dumps(results, indent=2))
    if options.json_only:
        return
    print()
    print(f"{'latency to a queue':<36}{'median ms':>12}{'p99 ms':>10}")
    for key, summary in results["latency_to_queue"].items():
        print(f"{key:<36}{summary['median_ms']:>12}{summary['p99_ms']:>10}")
    print()
    for key, value in results["throughput"].items():
        print(f"{key:<36}{value:>12}")
    firing = results["schedule_firing"]
    print(
        f"{'schedule fires per second':<36}{firing['fires_per_second']:>12}  ({firing['fire_times']} in {firing['seconds']} s)"
    )
    print()
    for key, value in results["ratios"].items():
        print(f"{key:<44}{value}x")


if __name__ == "__main__":
    main()
