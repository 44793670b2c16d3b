"""`bench/soak.py --minutes 2 --check`: two minutes of steady mixed load leave the server flat.

What CI can see of a leak in two minutes: memory, descriptors, threads and child processes no more
than 10 % (plus a little slack) above their level after the warm-up, server CPU per operation
within 50 %, no failed operation, every accepted asynchronous invocation run, no zombie, and the
code folders and blobs back to their count once the functions created during the run are deleted.

The soak starts its own server, so it runs once: not again in the suite's second pass
(LAMINA_TEST_SANDBOX set), where it would repeat the same two minutes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import files_only

pytestmark = files_only

ROOT = Path(__file__).resolve().parents[2]
MINUTES = 2


@pytest.mark.skipif(bool(os.environ.get("LAMINA_TEST_SANDBOX")), reason="runs in the first pass only")
@pytest.mark.timeout(480)
def test_two_minutes_of_mixed_load_leave_the_server_flat() -> None:
    completed = subprocess.run(
        [sys.executable, "bench/soak.py", "--minutes", str(MINUTES), "--check", "--json-only"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=450,
    )
    assert completed.stdout, completed.stderr[-4000:]
    results = json.loads(completed.stdout)

    # The load really ran: every kind of operation, and enough samples to compare both ends.
    assert set(results["completed"]) == set(results["plan"]["mix"]), results["completed"]
    assert results["async"]["accepted"] > 0
    after_warmup = [
        sample for sample in results["samples"] if sample["elapsed_s"] >= results["plan"]["warmup_s"]
    ]
    assert len(after_warmup) >= 6
    assert results["end"]["code_folders"] is not None and results["end"]["code_blobs"] is not None

    failing = [verdict for verdict in results["criteria"] if not verdict["pass"]]
    assert failing == [], json.dumps(
        {"failing": failing, "errors": results["errors"], "descriptors": results["end"]["descriptors"]},
        indent=2,
    )
    assert results["flat"]
    assert completed.returncode == 0, completed.stderr[-4000:]
