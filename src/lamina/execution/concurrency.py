"""Concurrency accounting: the account limit, reserved concurrency per function, the unreserved rest.

As in Lambda ("Lambda function scaling", "Configuring reserved concurrency"): a function with
reserved concurrency R runs at most R invocations at once and those never count against the other
functions; every other function shares what the reservations leave of the account limit
(UnreservedConcurrentExecutions). A reservation of 0 disables the function. In-memory counters
only: this sits on the invocation hot path.
"""

from __future__ import annotations

from lamina.errors import AwsError, too_many_requests

RESERVED_LIMIT_REASON = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_LIMIT_REASON = "ConcurrentInvocationLimitExceeded"


class ConcurrencyLimiter:
    def __init__(self, account_limit: int) -> None:
        self.account_limit = account_limit
        self._reserved: dict[str, int] = {}
        self._reserved_total = 0
        self._running: dict[str, int] = {}  # function name -> invocations in flight
        self._unreserved_running = 0  # in flight of functions without a reservation
        self._running_total = 0

    @property
    def in_flight(self) -> int:
        return self._running_total

    @property
    def unreserved_limit(self) -> int:
        return self.account_limit - self._reserved_total

    def unreserved_in_flight(self) -> int:
        return self._unreserved_running

    def reserved(self, name: str) -> int | None:
        return self._reserved.get(name)

    def set_reserved(self, name: str, reserved: int | None) -> None:
        """Reserve `reserved` for `name` (None removes the reservation). Invocations already in
        flight finish under the rules they started with."""
        self._reserved_total -= self._reserved.pop(name, 0)
        if reserved is not None:
            self._reserved[name] = reserved
            self._reserved_total += reserved

    def enter(self, name: str) -> bool:
        """Count one invocation of `name` in, or raise TooManyRequestsException with AWS's Reason.
        Returns the token `leave` needs: whether it ran under a reservation."""
        running = self._running.get(name, 0)
        reserved = self._reserved.get(name)
        if reserved is not None:
            if running >= reserved:
                raise self._throttle(RESERVED_LIMIT_REASON)
        elif self._unreserved_running >= self.account_limit - self._reserved_total:
            raise self._throttle(ACCOUNT_LIMIT_REASON)
        else:
            self._unreserved_running += 1
        self._running[name] = running + 1
        self._running_total += 1
        return reserved is not None

    def leave(self, name: str, under_reservation: bool) -> None:
        running = self._running.get(name, 0) - 1
        if running > 0:
            self._running[name] = running
        else:
            self._running.pop(name, None)
        if not under_reservation:
            self._unreserved_running -= 1
        self._running_total -= 1

    @staticmethod
    def _throttle(reason: str) -> AwsError:
        return too_many_requests("Rate Exceeded.", reason)
