"""What a shared PostgreSQL database (`lamina server --metadata postgresql://...`) costs and buys,
against the data directory's own files measured in the same run.

- warm: sequential warm invocations of one function on a server whose state is in the data
  directory (the baseline) and on one whose state is in PostgreSQL (a throwaway server made with
  initdb, as the tests make it). A synchronous invocation's log lines are stored before its
  response: a page-cache write with files, a database round trip with PostgreSQL.
- takeover: two servers on one database; Event invocations accepted by the first, which is then
  SIGKILLed; the time until the second has run every one of them (its beats must lapse first:
  store/postgres/database.py's LIVENESS_SECONDS, then claims every 2 s).

Prints a JSON document and a table. Run: `python bench/shared_state.py [--quick]`.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.packaging import make_zip
from tests.support.postgres import PostgresServer, postgres_server
from tests.support.server import ACCESS_KEY, SECRET_KEY, running_server

from bench.support.client import HELLO_SOURCE, SignedClient, create_functions
from bench.support.stats import ratio, summarize

EVENTS_SOURCE = (
    "import time\ndef handler(event, context):\n    time.sleep(0.2)\n    print('RAN', event['n'])\n"
)


def warm_latency(scratch: Path, name: str, args: list[str], count: int) -> dict[str, float]:
    with running_server(scratch / name, *args) as server:
        create_functions(
            server.port,
            (ACCESS_KEY, SECRET_KEY),
            ["warm"],
            make_zip({"app.py": HELLO_SOURCE}),
            deadline=time.monotonic() + 120,
        )
        client = SignedClient(server.port, ACCESS_KEY, SECRET_KEY)
        for _ in range(50):
            client.timed_invoke("warm")
        samples = [client.timed_invoke("warm") for _ in range(count)]
        client.close()
    return summarize(samples)


def takeover(scratch: Path, postgres: PostgresServer, events: int) -> dict[str, Any]:
    url = postgres.new_database()
    with (
        running_server(scratch / "first", "--metadata", url) as first,
        running_server(scratch / "second", "--metadata", url) as second,
    ):
        lambda_client, logs = first.client("lambda"), second.client("logs")
        create_functions(
            first.port,
            (ACCESS_KEY, SECRET_KEY),
            ["events"],
            make_zip({"app.py": EVENTS_SOURCE}),
            deadline=time.monotonic() + 120,
        )
        for n in range(events):
            lambda_client.invoke(FunctionName="events", InvocationType="Event", Payload=json.dumps({"n": n}))
        first.stop(signal.SIGKILL)
        killed = time.monotonic()
        ran: set[str] = set()
        while len(ran) < events:
            if time.monotonic() - killed > 120:
                raise RuntimeError(f"only {len(ran)} of {events} events ran after the kill")
            try:
                found = logs.filter_log_events(logGroupName="/aws/lambda/events", filterPattern="RAN")
                ran = {event["message"].strip() for event in found["events"]}
            except logs.exceptions.ResourceNotFoundException:
                pass
            time.sleep(0.1)
        return {"events": events, "all_delivered_after_kill_s": round(time.monotonic() - killed, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts (smoke test)")
    parser.add_argument("--json-only", action="store_true", help="print the JSON document only")
    options = parser.parse_args()
    count, events = (200, 10) if options.quick else (2000, 40)
    with tempfile.TemporaryDirectory() as folder, postgres_server() as postgres:
        scratch = Path(folder)
        files = warm_latency(scratch, "files", [], count)
        shared = warm_latency(scratch, "postgres", ["--metadata", postgres.new_database()], count)
        results: dict[str, Any] = {
            "warm_files": files,
            "warm_postgres": shared,
            "ratios": {"warm_postgres_vs_files": ratio(shared["median_ms"], files["median_ms"])},
            "takeover": takeover(scratch, postgres, events),
        }
    print(json.dumps(results, indent=2))
    if options.json_only:
        return
    print()
    print(f"{'measure':<28}{'median ms':>12}{'p99 ms':>12}{'n':>8}")
    for key in ("warm_files", "warm_postgres"):
        row = results[key]
        print(f"{key:<28}{row['median_ms']:>12.3f}{row['p99_ms']:>12.3f}{row['count']:>8}")
    print(f"warm postgres/files = {results['ratios']['warm_postgres_vs_files']}x")
    taken = results["takeover"]
    print(
        f"takeover: {taken['events']} events of a SIGKILLed server all run {taken['all_delivered_after_kill_s']} s later"
    )


if __name__ == "__main__":
    main()
