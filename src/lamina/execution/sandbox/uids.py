"""Distinct unprivileged user ids for live environments.

Two environments never share a uid, so neither can signal nor ptrace the other (kill(2) and ptrace(2)
permission checks compare user ids), and neither can signal the server. The ids need no /etc/passwd
entry; they are chosen from a range no real user should own (100000+ by default).
"""

from __future__ import annotations

from dataclasses import dataclass


class UidsExhausted(Exception):
    """Every id of the range belongs to a live environment."""


@dataclass(frozen=True, slots=True)
class UidRange:
    first: int
    count: int

    def __post_init__(self) -> None:
        if self.first <= 0 or self.count <= 0:
            raise ValueError("a uid range starts above 0 and holds at least one id")


class UidPool:
    """Leases the lowest free id of the range. Not thread-safe: the event loop is its only caller."""

    def __init__(self, uids: UidRange) -> None:
        self._range = uids
        self._leased: set[int] = set()
        self._next = 0

    def lease(self) -> int:
        """A uid no live environment holds; release it once every process using it is dead."""
        for offset in range(self._range.count):
            slot = (self._next + offset) % self._range.count
            uid = self._range.first + slot
            if uid not in self._leased:
                self._leased.add(uid)
                # Round-robin rather than lowest-free: a just-released id is reused last.
                self._next = (slot + 1) % self._range.count
                return uid
        raise UidsExhausted(f"all {self._range.count} sandbox uids are in use")

    def release(self, uid: int) -> None:
        """Idempotent."""
        self._leased.discard(uid)

    @property
    def in_use(self) -> int:
        return len(self._leased)
