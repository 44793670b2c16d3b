"""`lamina server --http-limit NAME=VALUE`: any of the public port's HTTP limits, by its field name.

One repeatable option rather than a flag per limit: the limits are a record (`HttpLimits`) that grows
with the transport, and the names in `--help` come from it, so a new limit is configurable the day
it exists.
"""

from __future__ import annotations

import dataclasses

import typer

from lamina.config import HttpLimits

_OFF = ("off", "none", "0")


def limit_names() -> str:
    """Every NAME with its default, for `--help`."""
    return ", ".join(f"{field.name} ({field.default})" for field in dataclasses.fields(HttpLimits))


def parse_http_limits(values: list[str]) -> HttpLimits:
    """The defaults with each NAME=VALUE applied; a timeout or the connection cap set to 0/off is off."""
    fields = {field.name: field for field in dataclasses.fields(HttpLimits)}
    overrides: dict[str, int | float | None] = {}
    for value in values:
        name, separator, text = value.partition("=")
        name = name.strip().replace("-", "_")
        field = fields.get(name)
        if not separator or field is None:
            raise typer.BadParameter(f"--http-limit takes NAME=VALUE, NAME one of: {', '.join(fields)}")
        optional = "None" in str(field.type)
        if optional and text.strip().lower() in _OFF:
            overrides[name] = None
            continue
        try:
            number: int | float = float(text) if "float" in str(field.type) else int(text)
        except ValueError:
            raise typer.BadParameter(f"--http-limit {name} needs a number, not {text!r}") from None
        if number <= 0:
            raise typer.BadParameter(
                f"--http-limit {name} must be positive" + (" or off" if optional else "")
            )
        overrides[name] = number
    return dataclasses.replace(HttpLimits(), **overrides)  # type: ignore[arg-type]
