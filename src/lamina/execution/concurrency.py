"""Concurrency accounting: the account limit, reserved concurrency per function, the unreserved rest.

As in Lambda ("Lambda function scaling", "Configuring reserved concurrency"): a function with
reserved concurrency R runs at most R invocations at once and those never count against the other
functions; every other function shares what the reservations leave of the account limit
(UnreservedConcurrentExecutions). A reservation of 0 disables the function. Provisioned
concurrency is counted apart, out of the reservation or the unreserved pool (set_provisioned).
In-memory counters only: this sits on the invocation hot path. With several workers
(`--workers`) the counts that limits are checked against (each reservation's and the unreserved
pool's) are shared by all of them (`cluster/shared_counts.py`); the configuration is each one's copy.
"""

from __future__ import annotations

from collections.abc import Mapping

from lamina.errors import AwsError, too_many_requests
from lamina.execution.counts import Counts, LocalCounts

RESERVED_LIMIT_REASON = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_LIMIT_REASON = "ConcurrentInvocationLimitExceeded"


# What `enter` hands back for `leave`: how the invocation was counted.
UNRESERVED = 0  # against the account's unreserved concurrency
RESERVED = 1  # against its function's reservation
PROVISIONED = 2  # by one of its version's provisioned environments


class ConcurrencyLimiter:
    def __init__(self, account_limit: int, counts: Counts | None = None, scope: str = "") -> None:
        """`counts`: where in-flight invocations are counted (shared by workers), under keys
        starting with `scope` (one account's Lambda in one region)."""
        self.account_limit = account_limit
        self._counts: Counts = counts if counts is not None else LocalCounts()
        self._unreserved_key = f"{scope}/unreserved"
        self._reserved_prefix = f"{scope}/reserved/"
        self._reserved: dict[str, int] = {}
        self._reserved_total = 0
        # function -> version -> provisioned concurrency (what PutProvisionedConcurrencyConfig asked)
        self._provisioned: dict[str, dict[str, int]] = {}
        self._provisioned_unreserved = 0  # of functions without a reservation
        self._running: dict[str, int] = {}  # function name -> on-demand invocations in flight
        self._provisioned_running: dict[tuple[str, str], int] = {}
        self._running_total = 0
        self._elsewhere: dict[str, int] = {}  # what other servers count, as last told

    @property
    def in_flight(self) -> int:
        return self._running_total

    @property
    def unreserved_limit(self) -> int:
        return self.account_limit - self._reserved_total

    def unreserved_in_flight(self) -> int:
        """In all workers together."""
        return self._counts.total(self._unreserved_key)

    def in_flight_here(self) -> dict[str, int]:
        """This server's counts, each limit's under its key (for servers sharing the limits)."""
        keys = [self._unreserved_key, *(self._reserved_prefix + name for name in self._reserved)]
        return {key: self._counts.here(key) for key in keys}

    def set_in_flight_elsewhere(self, counts: Mapping[str, int]) -> None:
        """What the other servers sharing the limits count under each key (`in_flight_here`'s,
        of any account and region: this one's are picked); a key left out counts none there."""
        mine = {
            key: value
            for key, value in counts.items()
            if value and (key == self._unreserved_key or key.startswith(self._reserved_prefix))
        }
        for key in set(self._elsewhere) | set(mine):
            self._counts.set_elsewhere(key, mine.get(key, 0))
        self._elsewhere = mine

    def reserved(self, name: str) -> int | None:
        return self._reserved.get(name)

    def reserved_names(self) -> list[str]:
        return list(self._reserved)

    def set_reserved(self, name: str, reserved: int | None) -> None:
        """Reserve `reserved` for `name` (None removes the reservation). Invocations already in
        flight finish under the rules they started with."""
        self._provisioned_unreserved -= self._unreserved_share(name)
        self._reserved_total -= self._reserved.pop(name, 0)
        if reserved is not None:
            self._reserved[name] = reserved
            self._reserved_total += reserved
        self._provisioned_unreserved += self._unreserved_share(name)

    def set_provisioned(self, name: str, per_version: dict[str, int]) -> None:
        """The provisioned concurrency of `name`'s versions. As on AWS it comes out of the
        function's reservation (on-demand calls get what is left of it: none when provisioned
        concurrency takes it all) or else out of the account's unreserved concurrency."""
        self._provisioned_unreserved -= self._unreserved_share(name)
        if per_version:
            self._provisioned[name] = dict(per_version)
        else:
            self._provisioned.pop(name, None)
        self._provisioned_unreserved += self._unreserved_share(name)

    def provisioned_total(self, name: str) -> int:
        return sum(self._provisioned.get(name, {}).values())

    def _unreserved_share(self, name: str) -> int:
        return 0 if name in self._reserved else self.provisioned_total(name)

    def enter(self, name: str, version: str = "$LATEST") -> int:
        """Count one invocation of `name` (of `version`) in, or raise TooManyRequestsException
        with AWS's Reason. Returns the token `leave` needs: how it was counted."""
        provisioned = self._provisioned.get(name)
        if provisioned is not None:
            key = (name, version)
            busy = self._provisioned_running.get(key, 0)
            if busy < provisioned.get(version, 0):
                self._provisioned_running[key] = busy + 1
                self._running_total += 1
                return PROVISIONED
        running = self._running.get(name, 0)
        reserved = self._reserved.get(name)
        if reserved is not None:
            on_demand = reserved - self.provisioned_total(name)
            if not self._counts.try_add(self._reserved_prefix + name, 1, on_demand):
                raise self._throttle(RESERVED_LIMIT_REASON)
        elif not self._counts.try_add(
            self._unreserved_key, 1, self.unreserved_limit - self._provisioned_unreserved
        ):
            raise self._throttle(ACCOUNT_LIMIT_REASON)
        self._running[name] = running + 1
        self._running_total += 1
        return UNRESERVED if reserved is None else RESERVED

    def leave(self, name: str, counted: int, version: str = "$LATEST") -> None:
        self._running_total -= 1
        if counted == PROVISIONED:
            key = (name, version)
            busy = self._provisioned_running.get(key, 0) - 1
            if busy > 0:
                self._provisioned_running[key] = busy
            else:
                self._provisioned_running.pop(key, None)
            return
        running = self._running.get(name, 0) - 1
        if running > 0:
            self._running[name] = running
        else:
            self._running.pop(name, None)
        if counted == UNRESERVED:
            self._counts.add(self._unreserved_key, -1)
        else:
            self._counts.add(self._reserved_prefix + name, -1)

    @staticmethod
    def _throttle(reason: str) -> AwsError:
        return too_many_requests("Rate Exceeded.", reason)
