"""A metric's identity: namespace, name and dimensions (order does not matter; at most 30)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MAX_DIMENSIONS = 30
Dimensions = tuple[tuple[str, str], ...]


def dimensions_of(items: Iterable[Mapping[str, str]] | None) -> Dimensions:
    """From the API's [{"Name", "Value"}] list, sorted by name."""
    return tuple(sorted((item["Name"], item["Value"]) for item in items or ()))


@dataclass(frozen=True, slots=True)
class MetricKey:
    namespace: str
    name: str
    dimensions: Dimensions = ()

    def dimension_list(self) -> list[dict[str, str]]:
        return [{"Name": name, "Value": value} for name, value in self.dimensions]


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """A stored series (ListMetrics): its key, unit and when it last had a datapoint."""

    key: MetricKey
    unit: str | None
    last_seen: int  # epoch seconds of its latest datapoint
