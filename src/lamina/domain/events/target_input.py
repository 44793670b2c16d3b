"""What a target receives for an event (EventBridge user guide, "Transforming target input"):
the whole event; `Input`, a constant JSON text; `InputPath`, the part of the event a JSONPath
selects; or `InputTransformer`, values picked by `InputPathsMap` and placed into `InputTemplate`.

In a template, `<name>` inside a quoted string becomes the value's text (escaped for the string);
outside quotes it becomes the value as JSON. A path that selects nothing gives an empty text inside
quotes and `null` outside. The predefined names `<aws.events.rule-arn>`, `<aws.events.rule-name>`,
`<aws.events.event>` / `<aws.events.event.json>` (the whole event) and
`<aws.events.event.ingestion-time>` need no entry in the map.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MISSING", "check_target_input", "render_input", "select"]

_STEP = re.compile(r"\.([A-Za-z0-9_\-$@]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")
_VARIABLE = re.compile(r"<([A-Za-z0-9_\-.]+)>")
MISSING = object()  # what `select` gives for a path that selects nothing
MAX_PATHS = 100  # InputPathsMap: "up to 100" variables


def select(event: Any, path: str) -> Any:
    """The value at a JSONPath of the simple form EventBridge uses ($, $.a.b, $.a[0], $['a b']);
    `MISSING` when it selects nothing."""
    if not path.startswith("$"):
        raise ValueError(f"{path!r} is not a JSONPath")
    value: Any = event
    position = 1
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            raise ValueError(f"{path!r} is not a JSONPath EventBridge accepts")
        name, index = match.group(1) or match.group(3) or match.group(4), match.group(2)
        if index is not None:
            value = value[int(index)] if isinstance(value, list) and int(index) < len(value) else MISSING
        else:
            value = value.get(name, MISSING) if isinstance(value, dict) else MISSING
        if value is MISSING:
            return MISSING
        position = match.end()
    return value


def check_target_input(target: dict[str, Any]) -> str | None:
    """Why PutTargets refuses this entry's input settings, or None."""
    given = [
        member for member in ("Input", "InputPath", "InputTransformer") if target.get(member) is not None
    ]
    if len(given) > 1:
        return "Only one of Input, InputPath, or InputTransformer must be provided."
    if "Input" in given:
        try:
            json.loads(target["Input"])
        except ValueError:
            return "Parameter Input is not valid."
    if "InputPath" in given:
        try:
            select({}, target["InputPath"])
        except ValueError:
            return "Parameter InputPath is not valid."
    if "InputTransformer" in given:
        paths = target["InputTransformer"].get("InputPathsMap") or {}
        if len(paths) > MAX_PATHS:
            return f"InputPathsMap has more than {MAX_PATHS} entries."
        for name, path in paths.items():
            if name.startswith("aws."):
                return f"Parameter InputPathsMap is not valid. Reason: {name} is a reserved name."
            try:
                select({}, path)
            except ValueError:
                return f"Parameter InputPathsMap is not valid. Reason: {path} is not a valid JSONPath."
    return None


def render_input(
    target: dict[str, Any], event: dict[str, Any], rule_arn: str, rule_name: str, ingested: str
) -> bytes:
    """The bytes the target is invoked (or the message sent) with."""
    if target.get("Input") is not None:
        return str(target["Input"]).encode()
    if target.get("InputPath") is not None:
        value = select(event, target["InputPath"])
        return _json(None if value is MISSING else value).encode()
    transformer = target.get("InputTransformer")
    if transformer is None:
        return _json(event).encode()
    values: dict[str, Any] = {
        "aws.events.rule-arn": rule_arn,
        "aws.events.rule-name": rule_name,
        "aws.events.event.ingestion-time": ingested,
        "aws.events.event": event,
        "aws.events.event.json": event,
    }
    for name, path in (transformer.get("InputPathsMap") or {}).items():
        values[name] = select(event, path)
    return _fill(str(transformer["InputTemplate"]), values).encode()


def _fill(template: str, values: dict[str, Any]) -> str:
    """Substitute each `<name>` with its value, as text inside a quoted string and as JSON outside."""
    parts: list[str] = []
    in_string = escaped = False
    position = 0
    while position < len(template):
        character = template[position]
        if character == "<" and (match := _VARIABLE.match(template, position)) and match.group(1) in values:
            value = values[match.group(1)]
            if in_string:
                text = "" if value is MISSING else value if isinstance(value, str) else _json(value)
                parts.append(json.dumps(text)[1:-1])
            else:
                parts.append(_json(None if value is MISSING else value))
            position = match.end()
            continue
        if in_string and escaped:
            escaped = False
        elif in_string and character == "\\":
            escaped = True
        elif character == '"':
            in_string = not in_string
        parts.append(character)
        position += 1
    return "".join(parts)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
