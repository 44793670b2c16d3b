"""The JSONPath expressions mapping templates use (`$input.json('$.a.b[0]')`): the root `$`, member
names after `.` or in `['…']`, array indexes, and `[*]` / `.*` wildcards (which give a list).

A path that selects nothing gives None, as API Gateway renders an empty value."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["InvalidPath", "select"]

_STEP = re.compile(r"""\.(\*|[^.\[]+)|\[\s*(\*|-?\d+|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\s*\]""")


class InvalidPath(ValueError):
    pass


def _steps(path: str) -> list[str | int]:
    text = path.strip()
    if not text.startswith("$"):
        raise InvalidPath(f"{path!r} does not start at the root ($)")
    steps: list[str | int] = []
    position = 1
    while position < len(text):
        match = _STEP.match(text, position)
        if match is None:
            raise InvalidPath(f"{path!r} is not a JSONPath API Gateway reads")
        name, bracket = match.group(1), match.group(2)
        if name is not None:
            steps.append(name)
        elif bracket[0] in "'\"":
            steps.append(bracket[1:-1].replace("\\" + bracket[0], bracket[0]))
        elif bracket == "*":
            steps.append("*")
        else:
            steps.append(int(bracket))
        position = match.end()
    return steps


def _step(values: list[Any], step: str | int) -> list[Any]:
    selected: list[Any] = []
    for value in values:
        if step == "*":
            if isinstance(value, dict):
                selected.extend(value.values())
            elif isinstance(value, list):
                selected.extend(value)
        elif isinstance(step, int):
            if isinstance(value, list) and -len(value) <= step < len(value):
                selected.append(value[step])
        elif isinstance(value, dict) and step in value:
            selected.append(value[step])
    return selected


def select(document: Any, path: str) -> Any:
    """What `path` selects in `document`: one value, a list for a wildcard path, None for none."""
    steps = _steps(path)
    values = [document]
    for step in steps:
        values = _step(values, step)
    if "*" in steps:
        return values
    return values[0] if values else None
