"""Platform log lines, byte for byte (Lambda developer guide, "Lambda function logs")."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from lamina.domain.reports import (
    Report,
    billed_duration_ms,
    end_line,
    log_stream_name,
    start_line,
    timeout_message,
)

REQUEST_ID = "8f507cfc-example-4697-b07a-ac58fc914c95"


def test_start_and_end_lines() -> None:
    assert start_line(REQUEST_ID, "$LATEST") == f"START RequestId: {REQUEST_ID} Version: $LATEST"
    assert start_line(REQUEST_ID, "3") == f"START RequestId: {REQUEST_ID} Version: 3"
    assert end_line(REQUEST_ID) == f"END RequestId: {REQUEST_ID}"


def test_report_line_of_a_warm_success() -> None:
    report = Report(REQUEST_ID, duration_ms=12.3456, memory_size_mb=128, max_memory_used_mb=40)
    assert report.line() == (
        f"REPORT RequestId: {REQUEST_ID}\tDuration: 12.35 ms\tBilled Duration: 13 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 40 MB\t"
    )


def test_report_line_of_a_cold_start_includes_init_duration_and_bills_it() -> None:
    report = Report(REQUEST_ID, 2.5, 256, 51, init_duration_ms=100.254)
    assert report.billed_duration_ms == 103
    assert report.line() == (
        f"REPORT RequestId: {REQUEST_ID}\tDuration: 2.50 ms\tBilled Duration: 103 ms\t"
        "Memory Size: 256 MB\tMax Memory Used: 51 MB\tInit Duration: 100.25 ms\t"
    )


def test_report_line_of_a_failure_appends_status_and_error_type() -> None:
    report = Report(
        REQUEST_ID, 3000.0, 128, 128, init_duration_ms=0.5, status="timeout", error_type="Sandbox.Timedout"
    )
    assert report.line() == (
        f"REPORT RequestId: {REQUEST_ID}\tDuration: 3000.00 ms\tBilled Duration: 3001 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 128 MB\tInit Duration: 0.50 ms\t"
        "Status: timeout\tError Type: Sandbox.Timedout\t"
    )


def test_report_line_with_status_only() -> None:
    report = Report(REQUEST_ID, 1.0, 128, 30, status="error")
    assert report.line().endswith("\tMax Memory Used: 30 MB\tStatus: error\t")
    assert "Error Type" not in report.line()


@pytest.mark.parametrize(
    ("duration", "init", "billed"),
    [
        (0.0, None, 1),
        (0.01, None, 1),
        (1.0, None, 1),
        (1.0001, None, 2),
        (99.2, None, 100),
        (0.4, 0.4, 1),
        (0.6, 0.6, 2),
        (10.0, 250.0, 260),
        (10.2, 250.3, 261),
        (0.0, 0.0, 1),
    ],
)
def test_billed_duration_is_ceiling_of_duration_plus_init_at_least_one(
    duration: float, init: float | None, billed: int
) -> None:
    assert billed_duration_ms(duration, init) == billed
    assert Report("r", duration, 128, 1, init_duration_ms=init).billed_duration_ms == billed


def test_log_stream_name_format() -> None:
    name = log_stream_name("$LATEST", datetime(2024, 1, 31, 23, 59, 59, tzinfo=UTC))
    assert re.fullmatch(r"2024/01/31/\[\$LATEST\][0-9a-f]{32}", name)
    assert re.fullmatch(
        r"2024/02/01/\[12\][0-9a-f]{32}", log_stream_name("12", datetime(2024, 2, 1, tzinfo=UTC))
    )


def test_log_stream_name_uses_the_utc_date() -> None:
    late_in_new_york = datetime(2024, 3, 9, 22, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert log_stream_name("$LATEST", late_in_new_york).startswith("2024/03/10/[$LATEST]")


def test_log_stream_names_are_unique_and_default_to_today() -> None:
    first, second = log_stream_name("$LATEST"), log_stream_name("$LATEST")
    assert first != second
    today = datetime.now(UTC).strftime("%Y/%m/%d")
    assert first.startswith(f"{today}/[$LATEST]") and len(first) == len(today) + len("/[$LATEST]") + 32


def test_timeout_message() -> None:
    assert (
        timeout_message(REQUEST_ID, 3) == f"RequestId: {REQUEST_ID} Error: Task timed out after 3.00 seconds"
    )
    assert timeout_message("r", 0.5) == "RequestId: r Error: Task timed out after 0.50 seconds"
    assert timeout_message("r", 900) == "RequestId: r Error: Task timed out after 900.00 seconds"
