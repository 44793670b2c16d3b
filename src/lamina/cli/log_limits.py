"""`lamina server --log-limit NAME=VALUE`: what functions may log (execution/log_budget.LogLimits).

One repeatable option, like `--http-limit`: the names in `--help` come from the record, so a new
limit is configurable the day it exists. Values are bytes, with an optional K, M or G (powers of
1024): `--log-limit rate_bytes=1M --log-limit account_quota_bytes=2G`.
"""

from __future__ import annotations

import dataclasses

import typer

from lamina.config import EVENT_OVERHEAD_BYTES, LogLimits

# CloudWatch Logs caps an event at 256 KB; the bucket must hold one.
MAX_EVENT_COST = 256 * 1024 + EVENT_OVERHEAD_BYTES

_UNITS = {"k": 1024, "m": 1024**2, "g": 1024**3}


def limit_names() -> str:
    """Every NAME with its default, for `--help`."""
    return ", ".join(f"{field.name} ({field.default})" for field in dataclasses.fields(LogLimits))


def parse_size(text: str) -> int:
    """Bytes from `123`, `64K`, `4M` or `2G`; ValueError otherwise."""
    text = text.strip().lower().removesuffix("b")
    scale = _UNITS.get(text[-1:], 1)
    if scale != 1:
        text = text[:-1]
    return int(float(text) * scale)


def parse_log_limits(values: list[str]) -> LogLimits:
    """The defaults with each NAME=VALUE applied; every limit must be positive."""
    names = [field.name for field in dataclasses.fields(LogLimits)]
    overrides: dict[str, int] = {}
    for value in values:
        name, separator, text = value.partition("=")
        name = name.strip().replace("-", "_")
        if not separator or name not in names:
            raise typer.BadParameter(f"--log-limit takes NAME=VALUE, NAME one of: {', '.join(names)}")
        try:
            size = parse_size(text)
        except ValueError:
            raise typer.BadParameter(f"--log-limit {name} needs a size in bytes, not {text!r}") from None
        if size <= 0:
            raise typer.BadParameter(f"--log-limit {name} must be positive")
        overrides[name] = size
    limits = dataclasses.replace(LogLimits(), **overrides)
    if limits.burst_bytes < MAX_EVENT_COST:
        # A line the bucket can never hold would be dropped however slowly the function logs.
        raise typer.BadParameter(
            f"--log-limit burst_bytes must be at least {MAX_EVENT_COST} (one 256 KB event)"
        )
    return limits
