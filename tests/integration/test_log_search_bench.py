"""`bench/log_search.py` runs end to end on a small data set and finds exactly the planted events."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.server import files_only

pytestmark = files_only

ROOT = Path(__file__).resolve().parents[2]


def test_log_search_benchmark_reports_its_searches_and_baseline() -> None:
    completed = subprocess.run(
        [sys.executable, "bench/log_search.py", "--events", "200000", "--repeat", "2", "--json-only"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    results = json.loads(completed.stdout)
    assert results["events"] == 200_000
    # One rare event per 100,000 and one 503 per 100,000: every search must find exactly those.
    assert results["selective_term"]["matches"] == 2
    assert results["naive_scan_baseline"]["matches"] == 2
    assert results["json_pattern"]["matches"] == 2  # the other two multiples of 50,000 are rare-term events
    for key in ("selective_term", "selective_term_in_time_window", "json_pattern", "naive_scan_baseline"):
        assert results[key]["median_ms"] > 0
    assert results["ratios"]["selective_vs_naive"] > 0
