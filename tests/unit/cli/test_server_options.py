"""`lamina server` options parsed before the server starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from lamina.cli.main import _check_pids_budget, _parse_memory_budget, _parse_uid_range
from lamina.execution.sandbox import uid_ranges


def test_memory_budget_in_megabytes_or_as_a_share_of_ram() -> None:
    assert _parse_memory_budget(None) == {}
    assert _parse_memory_budget("4096") == {"memory_budget_mb": 4096}
    assert _parse_memory_budget("25%") == {"memory_budget_share": 0.25}
    assert _parse_memory_budget("100%") == {"memory_budget_share": 1.0}


@pytest.mark.parametrize("value", ["0", "-5", "0%", "150%", "lots", "12.5", "%"])
def test_invalid_memory_budgets_are_refused(value: str) -> None:
    with pytest.raises(typer.BadParameter, match="expected megabytes"):
        _parse_memory_budget(value)


def test_a_pids_budget_past_the_hosts_pid_max_is_refused(tmp_path: Path) -> None:
    pid_max = tmp_path / "pid_max"
    pid_max.write_text("32768\n")
    _check_pids_budget(32768, pid_max)
    with pytest.raises(
        typer.BadParameter, match=r"at most the host's pid_max \(32768\), got 99999999999999999999"
    ):
        _check_pids_budget(99999999999999999999, pid_max)
    with pytest.raises(typer.BadParameter, match="4194304"):  # unreadable: the kernel's own ceiling
        _check_pids_budget(5_000_000, tmp_path / "missing")


@pytest.fixture
def host_users(monkeypatch: pytest.MonkeyPatch) -> None:
    reserved = uid_ranges.parse_reserved_uids(
        "alice:x:1000:1000::/home/alice:/bin/sh\n", "bob:300000:65536\n"
    )
    monkeypatch.setattr(uid_ranges, "host_reserved_uids", lambda: reserved)


@pytest.mark.usefixtures("host_users")
def test_sandbox_uids_parse_as_first_and_count() -> None:
    assert _parse_uid_range("3000000-3000999") == (3_000_000, 1000)
    assert _parse_uid_range("4294967294-4294967294") == (4_294_967_294, 1)


@pytest.mark.usefixtures("host_users")
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0-10", "expected FIRST-LAST"),
        ("20-10", "expected FIRST-LAST"),
        ("5000000000-5000000010", "go past 4294967294"),
        ("4294967295-4294967295", "go past 4294967294"),
        ("4294967290-4294967299", "go past 4294967294"),
        ("1000-1000", "uid 1000, user alice in /etc/passwd"),
        ("350000-350009", "uids 300000-365535, subordinate uids of bob in /etc/subuid"),
    ],
)
def test_unusable_sandbox_uids_are_refused(value: str, message: str) -> None:
    with pytest.raises(typer.BadParameter, match=message):
        _parse_uid_range(value)
