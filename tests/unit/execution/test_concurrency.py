"""ConcurrencyLimiter: reserved concurrency per function, the shared unreserved rest, AWS's Reasons."""

from __future__ import annotations

import pytest

from lamina.errors import AwsError
from lamina.execution.concurrency import (
    ACCOUNT_LIMIT_REASON,
    PROVISIONED,
    RESERVED,
    RESERVED_LIMIT_REASON,
    UNRESERVED,
    ConcurrencyLimiter,
)


def throttled(limiter: ConcurrencyLimiter, name: str, version: str = "$LATEST") -> str:
    with pytest.raises(AwsError) as raised:
        limiter.enter(name, version)
    assert (raised.value.code, raised.value.status, raised.value.message) == (
        "TooManyRequestsException",
        429,
        "Rate Exceeded.",
    )
    return str(raised.value.extra["Reason"])


def test_unreserved_functions_share_the_account_limit() -> None:
    limiter = ConcurrencyLimiter(3)
    tokens = [limiter.enter(name) for name in ("a", "b", "a")]
    assert tokens == [UNRESERVED] * 3
    assert throttled(limiter, "c") == ACCOUNT_LIMIT_REASON
    limiter.leave("a", UNRESERVED)
    assert limiter.enter("c") == UNRESERVED
    assert limiter.in_flight == 3


def test_a_reservation_is_a_ceiling_for_the_function_and_a_floor_against_the_others() -> None:
    limiter = ConcurrencyLimiter(5)
    limiter.set_reserved("r", 2)
    assert limiter.unreserved_limit == 3
    assert [limiter.enter("r"), limiter.enter("r")] == [RESERVED, RESERVED]
    assert throttled(limiter, "r") == RESERVED_LIMIT_REASON
    # The others have the remaining 3, whatever "r" does.
    for _ in range(3):
        limiter.enter("other")
    assert throttled(limiter, "other") == ACCOUNT_LIMIT_REASON
    assert limiter.unreserved_in_flight() == 3
    limiter.leave("r", RESERVED)
    assert limiter.enter("r") == RESERVED


def test_zero_disables_a_function_and_removing_the_reservation_restores_it() -> None:
    limiter = ConcurrencyLimiter(10)
    limiter.set_reserved("off", 0)
    assert throttled(limiter, "off") == RESERVED_LIMIT_REASON
    limiter.set_reserved("off", None)
    assert limiter.reserved("off") is None
    assert limiter.enter("off") == UNRESERVED
    assert limiter.unreserved_limit == 10


def test_an_invocation_leaves_under_the_rules_it_entered_with() -> None:
    limiter = ConcurrencyLimiter(2)
    token = limiter.enter("f")  # unreserved
    limiter.set_reserved("f", 1)  # reserved while it runs
    limiter.leave("f", token)
    assert limiter.unreserved_in_flight() == 0
    assert limiter.in_flight == 0
    assert limiter.enter("f") == RESERVED


def test_provisioned_concurrency_comes_out_of_the_reservation() -> None:
    limiter = ConcurrencyLimiter(1000)
    limiter.set_reserved("f", 2)
    limiter.set_provisioned("f", {"1": 2})
    # The whole reservation is provisioned: $LATEST (on demand) is throttled, as on AWS.
    assert throttled(limiter, "f") == RESERVED_LIMIT_REASON
    assert [limiter.enter("f", "1"), limiter.enter("f", "1")] == [PROVISIONED, PROVISIONED]
    assert throttled(limiter, "f", "1") == RESERVED_LIMIT_REASON  # spill-over has no room either
    limiter.leave("f", PROVISIONED, "1")
    assert limiter.enter("f", "1") == PROVISIONED
    limiter.set_provisioned("f", {"1": 1})
    assert limiter.enter("f") == RESERVED  # one left for on-demand calls


def test_provisioned_concurrency_of_unreserved_functions_comes_out_of_the_unreserved_pool() -> None:
    limiter = ConcurrencyLimiter(3)
    limiter.set_provisioned("p", {"1": 2})
    assert limiter.enter("other") == UNRESERVED
    assert throttled(limiter, "other") == ACCOUNT_LIMIT_REASON
    assert limiter.enter("p", "1") == PROVISIONED
    limiter.set_provisioned("p", {})
    assert limiter.enter("other") == UNRESERVED
