"""Where in-flight invocations and reserved memory are counted: this process (`LocalCounts`), or
every worker of one server together (`cluster/shared_counts.py`, same interface)."""

from __future__ import annotations

from typing import Protocol


class Counts(Protocol):
    def try_add(self, key: str, amount: int, limit: int) -> bool:
        """Add `amount` to this worker's count of `key` if the total stays within `limit`."""

    def add(self, key: str, amount: int) -> None: ...

    def set_own(self, key: str, value: int) -> None:
        """This worker's count of `key`, set (what it holds now: its idle memory, say)."""

    def total(self, key: str) -> int: ...

    def others(self, key: str) -> list[tuple[int, int]]:
        """(worker, count) of every other worker with a non-zero count of `key`."""


class LocalCounts:
    """One process: a dictionary."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def try_add(self, key: str, amount: int, limit: int) -> bool:
        current = self._counts.get(key, 0)
        if current + amount > limit:
            return False
        self._counts[key] = current + amount
        return True

    def add(self, key: str, amount: int) -> None:
        self._counts[key] = self._counts.get(key, 0) + amount

    def set_own(self, key: str, value: int) -> None:
        self._counts[key] = value

    def total(self, key: str) -> int:
        return self._counts.get(key, 0)

    def others(self, key: str) -> list[tuple[int, int]]:
        return []
