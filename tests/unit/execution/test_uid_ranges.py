"""Each server's uid range is its own: claims in a host-wide folder (here a temporary one)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lamina.execution.sandbox.uid_ranges import (
    DEFAULT_COUNT,
    DEFAULT_FIRST,
    UidRangeTaken,
    claim_uid_range,
)
from lamina.execution.sandbox.uids import UidRange

OWNER = {"dataDir": "/srv/one", "endpoint": "http://127.0.0.1:5264"}


def test_an_overlapping_claim_is_refused_naming_the_holder(tmp_path: Path) -> None:
    held = claim_uid_range(UidRange(200_000, 1000), OWNER, tmp_path)
    with pytest.raises(UidRangeTaken) as refused:
        claim_uid_range(UidRange(200_999, 10), {"dataDir": "/srv/two", "endpoint": "x"}, tmp_path)
    message = str(refused.value)
    assert "200000-200999" in message and "/srv/one" in message and f"pid {os.getpid()}" in message
    assert "--sandbox-uids" in message
    held.release()
    again = claim_uid_range(UidRange(200_999, 10), OWNER, tmp_path)  # released: free again
    assert again.range == UidRange(200_999, 10)
    again.release()


def test_disjoint_claims_coexist_and_say_who_holds_them(tmp_path: Path) -> None:
    one = claim_uid_range(UidRange(200_000, 1000), OWNER, tmp_path)
    two = claim_uid_range(UidRange(201_000, 1000), OWNER, tmp_path)
    assert json.loads((tmp_path / "200000-200999").read_text()) == {"pid": os.getpid(), **OWNER}
    assert sorted(path.name for path in tmp_path.iterdir() if not path.name.startswith(".")) == [
        "200000-200999",
        "201000-201999",
    ]
    one.release()
    two.release()
    one.release()  # idempotent
    assert [path.name for path in tmp_path.iterdir() if not path.name.startswith(".")] == []


def test_no_range_asked_takes_the_first_free_default_block(tmp_path: Path) -> None:
    first = claim_uid_range(None, OWNER, tmp_path)
    second = claim_uid_range(None, OWNER, tmp_path)
    assert first.range == UidRange(DEFAULT_FIRST, DEFAULT_COUNT)
    assert second.range == UidRange(DEFAULT_FIRST + DEFAULT_COUNT, DEFAULT_COUNT)
    first.release()
    second.release()


def test_a_dead_servers_claim_is_taken_over(tmp_path: Path) -> None:
    # A claim whose holder died: another process takes it and exits without releasing it.
    code = (
        "import sys; from pathlib import Path; from lamina.execution.sandbox.uid_ranges import claim_uid_range;"
        "from lamina.execution.sandbox.uids import UidRange;"
        "claim_uid_range(UidRange(300_000, 10), {'dataDir': 'gone', 'endpoint': 'x'}, Path(sys.argv[1]))"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
    assert (tmp_path / "300000-300009").exists()
    claim = claim_uid_range(UidRange(300_005, 10), OWNER, tmp_path)
    assert claim.taken_over == [UidRange(300_000, 10)]
    assert not (tmp_path / "300000-300009").exists()
    claim.release()


def test_ranges_parse_and_print_as_the_option_takes_them() -> None:
    assert UidRange.parse("100000-165535") == UidRange(100_000, 65_536)
    assert str(UidRange(100_000, 65_536)) == "100000-165535"
    assert 165_535 in UidRange(100_000, 65_536) and 165_536 not in UidRange(100_000, 65_536)
    for text in ("100000", "5-4", "a-b"):
        with pytest.raises(ValueError):
            UidRange.parse(text)
