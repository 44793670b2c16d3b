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
    LAST_UID,
    UidRangeTaken,
    claim_uid_range,
    host_reserved_uids,
    parse_reserved_uids,
    refusal,
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
    first = claim_uid_range(None, OWNER, tmp_path, reserved=[])  # a host that gave out no uids
    second = claim_uid_range(None, OWNER, tmp_path, reserved=[])
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


PASSWD = """root:x:0:0:root:/root:/bin/bash
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
alice:x:1000:1000::/home/alice:/bin/bash
broken line
"""
SUBUID = """alice:100000:65536
1001:231072:65536
bob:not-a-number:5
"""


def test_the_hosts_users_and_subordinate_uids_are_reserved() -> None:
    reserved = parse_reserved_uids(PASSWD, SUBUID)
    assert [entry.range for entry in reserved] == [
        UidRange(65_534, 1),
        UidRange(1000, 1),
        UidRange(100_000, 65_536),
        UidRange(231_072, 65_536),
    ]
    assert "user alice in /etc/passwd" in reserved[1].owner
    assert "1001 in /etc/subuid" in reserved[3].owner


def test_reserved_uids_are_read_from_the_files_a_missing_one_gives_none(tmp_path: Path) -> None:
    (tmp_path / "passwd").write_text(PASSWD)
    assert len(host_reserved_uids(tmp_path / "passwd", tmp_path / "subuid")) == 2


def test_a_range_with_a_users_uid_or_past_the_last_uid_is_refused() -> None:
    reserved = parse_reserved_uids(PASSWD, SUBUID)
    assert refusal(UidRange(3_000_000, 1000), reserved) is None
    problem = refusal(UidRange(1000, 1), reserved)
    assert problem is not None and "uid 1000, user alice in /etc/passwd" in problem
    problem = refusal(UidRange(150_000, 10), reserved)
    assert problem is not None and "uids 100000-165535, subordinate uids of alice" in problem
    for wanted in (UidRange(LAST_UID + 1, 1), UidRange(5_000_000_000, 11), UidRange(LAST_UID - 5, 10)):
        problem = refusal(wanted, [])
        assert problem is not None and "4294967294" in problem
    assert refusal(UidRange(LAST_UID, 1), []) is None


def test_a_reserved_range_is_never_claimed(tmp_path: Path) -> None:
    reserved = parse_reserved_uids(PASSWD, SUBUID)
    with pytest.raises(UidRangeTaken, match="subordinate uids of 1001"):
        claim_uid_range(UidRange(231_000, 100), OWNER, tmp_path, reserved)
    assert list(tmp_path.glob("[0-9]*")) == []


def test_the_default_block_skips_users_and_their_subordinate_uids(tmp_path: Path) -> None:
    # The first block is alice's subordinate uids; the second (165536-231071) ends just below 1001's.
    reserved = parse_reserved_uids(PASSWD, SUBUID)
    first = claim_uid_range(None, OWNER, tmp_path, reserved)
    assert first.range == UidRange(DEFAULT_FIRST + DEFAULT_COUNT, DEFAULT_COUNT)
    # The next skips 1001's subuids (231072-296607), which overlap the third block.
    second = claim_uid_range(None, OWNER, tmp_path, reserved)
    assert second.range == UidRange(DEFAULT_FIRST + 3 * DEFAULT_COUNT, DEFAULT_COUNT)
    first.release()
    second.release()
