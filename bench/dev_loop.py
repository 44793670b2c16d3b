"""`lamina dev`: how long from saving a function's file to the first invocation that runs the new
code, next to the floor measured in the same run on the same server — the same new code sent by
hand with UpdateFunctionCode (an already-built zip) and invoked until it answers. The issue's goal
is "within a second of a save".

Each edit writes a new marker into the handler; the clock starts at the write and stops at the
first Invoke whose answer carries the marker (invokes are sent back to back, so the measurement
includes up to one invocation's time).

Prints a JSON document and a table. Run: `python bench/dev_loop.py [--quick]`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.server import RunningServer, running_server

from bench.support.stats import ratio, summarize

HANDLER = "def lambda_handler(event, context):\n    return 'MARKER'\n"


def _answer(lambda_client: Any, function: str) -> str:
    return str(json.loads(lambda_client.invoke(FunctionName=function)["Payload"].read()))


def _until(lambda_client: Any, function: str, marker: str, started: float, timeout: float = 30) -> float:
    while _answer(lambda_client, function) != marker:
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"{marker} never ran")
    return (time.perf_counter() - started) * 1000


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("lambda_function.py", source)
    return buffer.getvalue()


def _dev_edits(server: RunningServer, project: Path, edits: int) -> tuple[list[float], str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "LAMINA_"))}
    watcher = subprocess.Popen(
        [sys.executable, "-m", "lamina", "dev", "--stack-name", "bench-dev"],
        cwd=project,
        env=env | server.cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    samples: list[float] = []
    try:
        assert watcher.stdout is not None
        for line in watcher.stdout:
            if line.startswith("watching "):
                break
        cloudformation = server.client("cloudformation")
        function = cloudformation.describe_stack_resource(
            StackName="bench-dev", LogicalResourceId="Function"
        )["StackResourceDetail"]["PhysicalResourceId"]
        lambda_client = server.client("lambda")
        source = project / "src" / "lambda_function.py"
        for index in range(edits):
            marker = f"dev-{index}"
            started = time.perf_counter()
            source.write_text(HANDLER.replace("MARKER", marker))
            samples.append(_until(lambda_client, function, marker, started))
            time.sleep(0.2)  # the watcher's debounce: edits are a person's saves, not a burst
    finally:
        watcher.terminate()
        watcher.wait(timeout=30)
        if watcher.stdout is not None:
            watcher.stdout.close()
    return samples, function


def _by_hand(server: RunningServer, function: str, edits: int) -> list[float]:
    lambda_client = server.client("lambda")
    samples = []
    for index in range(edits):
        marker = f"hand-{index}"
        package = _zip(HANDLER.replace("MARKER", marker))
        started = time.perf_counter()
        lambda_client.update_function_code(FunctionName=function, ZipFile=package)
        samples.append(_until(lambda_client, function, marker, started))
        time.sleep(0.2)
    return samples


def run(edits: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch, running_server(Path(scratch) / "data") as server:
        project = Path(scratch) / "project"
        subprocess.run(
            [sys.executable, "-m", "lamina", "init", "--blueprint", "hello-world-python", str(project)],
            check=True,
            capture_output=True,
        )
        dev, function = _dev_edits(server, project, edits)
        by_hand = _by_hand(server, function, edits)
    dev_summary, hand_summary = summarize(dev), summarize(by_hand)
    return {
        "edits": edits,
        "save_to_new_code_ms": {"lamina_dev": dev_summary, "update_function_code_by_hand": hand_summary},
        "ratios": {
            "lamina_dev_vs_by_hand_median": ratio(dev_summary["median_ms"], hand_summary["median_ms"])
        },
        "under_one_second": sum(sample < 1000 for sample in dev) / len(dev),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 edits instead of 20")
    parser.add_argument("--json-only", action="store_true", help="print the JSON document only")
    arguments = parser.parse_args()
    results = run(5 if arguments.quick else 20)
    print(json.dumps(results, indent=2))
    if arguments.json_only:
        return
    print()
    print(f"{'path':<34}{'median ms':>12}{'p99 ms':>10}{'max ms':>10}")
    for name, summary in results["save_to_new_code_ms"].items():
        print(f"{name:<34}{summary['median_ms']:>12}{summary['p99_ms']:>10}{summary['max_ms']:>10}")
    print()
    print(f"lamina dev vs by hand (median)     {results['ratios']['lamina_dev_vs_by_hand_median']}x")
    print(f"edits live within a second         {results['under_one_second']:.0%}")


if __name__ == "__main__":
    main()
