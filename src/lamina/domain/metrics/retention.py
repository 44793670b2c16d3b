"""CloudWatch's metric resolutions and how long it keeps each: one minute for 15 days, five minutes
for 63 days, one hour for 455 days. A query reads the finest resolution its start still has."""

from __future__ import annotations

DAY = 86_400
# (period seconds, kept for seconds)
RESOLUTIONS = ((60, 15 * DAY), (300, 63 * DAY), (3600, 455 * DAY))


def resolution_for(start: float, now: float) -> int:
    """The finest resolution that still holds data from `start`."""
    for period, kept in RESOLUTIONS:
        if start >= now - kept:
            return period
    return RESOLUTIONS[-1][0]
