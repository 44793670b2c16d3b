"""Distinct unprivileged user ids for live environments.

Two environments never share a uid, so neither can signal nor ptrace the other (kill(2) and ptrace(2)
permission checks compare user ids), and neither can signal the server. The ids need no /etc/passwd
entry; they are chosen from a range no real user should own (100000+ by default), which the server
holds exclusively for its lifetime (uid_ranges.py). An id is leased again only once no process runs as
it: the sandbox releases it after a verified kill, and holds it back ("quarantine") when something of
it could not be killed.
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

    @property
    def last(self) -> int:
        return self.first + self.count - 1

    def overlaps(self, other: UidRange) -> bool:
        return self.first <= other.last and other.first <= self.last

    def __contains__(self, uid: object) -> bool:
        return isinstance(uid, int) and self.first <= uid <= self.last

    def __str__(self) -> str:
        """FIRST-LAST, as --sandbox-uids takes it."""
        return f"{self.first}-{self.last}"

    @classmethod
    def parse(cls, text: str) -> UidRange:
        """FIRST-LAST; ValueError when it is not one."""
        first, separator, last = text.partition("-")
        low, high = int(first), int(last)
        if not separator or high < low:
            raise ValueError(f"not a FIRST-LAST uid range: {text!r}")
        return cls(low, high - low + 1)


class UidPool:
    """Leases the lowest free id of the range. Not thread-safe: the event loop is its only caller."""

    def __init__(self, uids: UidRange) -> None:
        self._range = uids
        self._leased: set[int] = set()
        self._quarantined: set[int] = set()
        self._next = 0

    @property
    def range(self) -> UidRange:
        return self._range

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
        """Idempotent. Only once nothing runs as `uid` any more (see `quarantine` otherwise)."""
        self._leased.discard(uid)
        self._quarantined.discard(uid)

    def quarantine(self, uid: int) -> None:
        """Never lease `uid` again: a process of it survived every kill (or a start found one). It
        stays out of the pool until `release`d by a later kill that succeeds."""
        self._leased.add(uid)
        self._quarantined.add(uid)

    @property
    def in_use(self) -> int:
        return len(self._leased)

    @property
    def quarantined(self) -> int:
        return len(self._quarantined)
