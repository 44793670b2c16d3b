"""Copies of appended log events that the server takes from a log store, whatever its adapter: the
events of tapped groups (subscription filters, metric filters, live tail) and those holding a mark
(the Embedded Metric Format's `"_aws"`). Taken on the appending thread, drained by the server's
periodic flush; nothing here is stored."""

from __future__ import annotations

from collections.abc import Sequence

Appended = tuple[str, str, list[tuple[int, str]]]  # group, stream, (timestamp, message) events


class AppendTaps:
    """A base of every log store adapter: `saw` is called by its `append`."""

    def __init__(self) -> None:
        self._tapped_groups: frozenset[str] = frozenset()
        self._tapped: list[Appended] = []
        self._mark: str | None = None
        self._marked: list[tuple[int, str]] = []

    def saw(self, group: str, stream: str, events: Sequence[tuple[int, str]]) -> None:
        """Events just appended to `stream` of `group`."""
        if group in self._tapped_groups:
            self._tapped.append((group, stream, list(events)))
        mark = self._mark
        if mark is not None:
            self._marked.extend(event for event in events if mark in event[1])

    def tap(self, groups: frozenset[str]) -> None:
        """Keep a copy of what is appended to `groups` until `drain_tapped`."""
        self._tapped_groups = groups
        self._tapped = [entry for entry in self._tapped if entry[0] in groups]

    def drain_tapped(self) -> list[Appended]:
        tapped, self._tapped = self._tapped, []
        return tapped

    def watch_for(self, mark: str) -> None:
        """Keep a copy of every appended event whose message contains `mark` until `drain_marked`."""
        self._mark = mark

    def drain_marked(self) -> list[tuple[int, str]]:
        marked, self._marked = self._marked, []
        return marked
