"""Where in-flight invocations and reserved memory are counted: this process (`LocalCounts`), or
every worker of one server together (`cluster/shared_counts.py`, same interface). Servers sharing
one database also see what the others count (`set_elsewhere`, cluster/in_flight_exchange.py)."""

from __future__ import annotations

from typing import Protocol


class Counts(Protocol):
    def try_add(self, key: str, amount: int, limit: int) -> bool:
        """Add `amount` to this worker's count of `key` if the total stays within `limit`."""

    def add(self, key: str, amount: int) -> None: ...

    def set_own(self, key: str, value: int) -> None:
        """This worker's count of `key`, set (what it holds now: its idle memory, say)."""

    def total(self, key: str) -> int:
        """Everywhere: this server's processes and, for a shared limit, the other servers."""

    def here(self, key: str) -> int:
        """In this server's processes only."""

    def set_elsewhere(self, key: str, value: int) -> None:
        """What the other servers sharing a limit count of `key` (checked by `try_add` and `total`)."""

    def others(self, key: str) -> list[tuple[int, int]]:
        """(worker, count) of every other worker with a non-zero count of `key`."""


class LocalCounts:
    """One process: a dictionary."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._elsewhere: dict[str, int] = {}

    def try_add(self, key: str, amount: int, limit: int) -> bool:
        current = self._counts.get(key, 0)
        if current + self._elsewhere.get(key, 0) + amount > limit:
            return False
        self._counts[key] = current + amount
        return True

    def add(self, key: str, amount: int) -> None:
        self._counts[key] = self._counts.get(key, 0) + amount

    def set_own(self, key: str, value: int) -> None:
        self._counts[key] = value

    def total(self, key: str) -> int:
        return self._counts.get(key, 0) + self._elsewhere.get(key, 0)

    def here(self, key: str) -> int:
        return self._counts.get(key, 0)

    def set_elsewhere(self, key: str, value: int) -> None:
        if value:
            self._elsewhere[key] = value
        else:
            self._elsewhere.pop(key, None)

    def others(self, key: str) -> list[tuple[int, int]]:
        return []
