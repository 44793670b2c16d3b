"""`lamina server --log-limit NAME=VALUE`: sizes with units, names from LogLimits, mistakes refused."""

from __future__ import annotations

import pytest

from lamina.cli.log_limits import parse_log_limits, parse_size
from lamina.execution.log_budget import LogLimits


def test_log_limits_are_set_by_name_with_units() -> None:
    assert parse_size("64K") == 65536 and parse_size("2G") == 2 * 1024**3 and parse_size("10") == 10
    limits = parse_log_limits(["rate_bytes=1M", "account-quota-bytes=3G"])
    assert limits.rate_bytes == 1024**2 and limits.account_quota_bytes == 3 * 1024**3
    assert limits.burst_bytes == LogLimits().burst_bytes
    for wrong in (["rate=1"], ["rate_bytes"], ["rate_bytes=fast"], ["rate_bytes=0"], ["burst_bytes=100K"]):
        with pytest.raises(Exception, match="--log-limit"):
            parse_log_limits(wrong)
