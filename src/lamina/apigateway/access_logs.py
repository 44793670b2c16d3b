"""Access logs of API stages: the stage's `format` with its `$context.…` variables filled in for
one request ("Customize HTTP API access logs", "Set up CloudWatch logging for REST APIs"); a
variable the request has no value for renders as `-`, as API Gateway's do."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["log_group_of", "render_access_line"]

_VARIABLE = re.compile(r"\$context\.([A-Za-z0-9_.]+)")


def render_access_line(template: str, context: dict[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        current: Any = context
        for part in match.group(1).split("."):
            current = current.get(part) if isinstance(current, dict) else None
        return "-" if current is None or current == "" else str(current)

    return _VARIABLE.sub(value, template)


def log_group_of(destination_arn: str) -> str | None:
    """The log group an access log destination ARN names (`arn:aws:logs:…:log-group:NAME[:*]`)."""
    marker = ":log-group:"
    if marker not in destination_arn:
        return None
    name = destination_arn.split(marker, 1)[1]
    return name[:-2] if name.endswith(":*") else name
