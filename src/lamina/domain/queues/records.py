"""A queue as it is stored: its key (account, region, name), its settable attributes, tags and
the time of its last purge."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["QueueKey", "QueueRecord"]

QueueKey = tuple[str, str, str]  # account, region, name


@dataclass(frozen=True, slots=True)
class QueueRecord:
    account_id: str
    region: str
    name: str
    attributes: Mapping[str, str] = field(default_factory=dict)  # settable attributes, as stored
    created: int = 0  # epoch seconds
    modified: int = 0
    tags: Mapping[str, str] = field(default_factory=dict)
    purged_at: float = 0.0  # epoch seconds of the last PurgeQueue

    @property
    def key(self) -> QueueKey:
        return (self.account_id, self.region, self.name)

    @property
    def fifo(self) -> bool:
        return self.attributes.get("FifoQueue") == "true"

    def to_record(self) -> dict[str, Any]:
        return {
            "attributes": dict(self.attributes),
            "created": self.created,
            "modified": self.modified,
            "tags": dict(self.tags),
            "purged": self.purged_at,
        }

    @classmethod
    def from_record(cls, account_id: str, region: str, name: str, record: Mapping[str, Any]) -> QueueRecord:
        return cls(
            account_id,
            region,
            name,
            dict(record.get("attributes") or {}),
            int(record.get("created") or 0),
            int(record.get("modified") or 0),
            dict(record.get("tags") or {}),
            float(record.get("purged") or 0.0),
        )
