"""Update* operations of API Gateway take patch operations (`op` add / replace / remove, a `path`
such as `/name` or `/variables/stage`, a string `value`): each resource says which paths it takes
and as what type (scalar, map entry, list item), and `apply_patches` changes a copy of its document.
In a path, `~1` stands for `/` and `~0` for `~` (JSON Pointer)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from lamina.apigateway.errors import bad_request

__all__ = ["PatchSpec", "apply_patches", "unescape"]

Kind = Literal["str", "int", "float", "bool", "map", "list", "json"]
PatchSpec = Mapping[str, Kind]  # the first path segment → what it holds

# A stage's method settings: /{resource path}/{method}/{group}/{setting}.
_METHOD_SETTINGS: dict[str, tuple[str, Kind]] = {
    "throttling/rateLimit": ("throttlingRateLimit", "float"),
    "throttling/burstLimit": ("throttlingBurstLimit", "int"),
    "logging/loglevel": ("loggingLevel", "str"),
    "logging/dataTrace": ("dataTraceEnabled", "bool"),
    "metrics/enabled": ("metricsEnabled", "bool"),
    "caching/enabled": ("cachingEnabled", "bool"),
    "caching/ttlInSeconds": ("cacheTtlInSeconds", "int"),
    "caching/dataEncrypted": ("cacheDataEncrypted", "bool"),
    "caching/requireAuthorizationForCacheControl": ("requireAuthorizationForCacheControl", "bool"),
}
METHOD_SETTINGS = "methodSettings"
MAX_NUMBER = 2**31 - 1  # numbers patched in are counts, limits and rates: never negative


def unescape(segment: str) -> str:
    return segment.replace("~1", "/").replace("~0", "~")


def _typed(kind: Kind, value: Any, path: str) -> Any:
    if value is None:
        raise bad_request(f"Invalid null value for path {path}")
    text = str(value)
    try:
        if kind == "int":
            number = int(text)
            if not 0 <= number <= MAX_NUMBER:
                raise ValueError(text)
            return number
        if kind == "float":
            rate = float(text)
            if not 0 <= rate <= MAX_NUMBER:  # nan and inf too: no JSON number holds them
                raise ValueError(text)
            return rate
    except ValueError:
        raise bad_request(f"Invalid value '{text[:100]}' for path {path[:200]}") from None
    if kind == "bool":
        if text.lower() not in ("true", "false"):
            raise bad_request(f"Invalid value '{text}' for path {path}: must be true or false")
        return text.lower() == "true"
    return text


def _method_setting(document: dict[str, Any], op: str, segments: list[str], value: Any, path: str) -> None:
    setting = _METHOD_SETTINGS.get("/".join(segments[-2:]))
    if setting is None or len(segments) < 4:
        raise bad_request(f"Invalid method setting path: {path}")
    key = "/".join(unescape(segment) for segment in segments[:-2]).lstrip("/")
    name, kind = setting
    settings = document.setdefault(METHOD_SETTINGS, {})
    entry = settings.setdefault(key, {})
    if op == "remove":
        entry.pop(name, None)
    else:
        entry[name] = _typed(kind, value, path)


def apply_patches(
    document: dict[str, Any],
    operations: Sequence[dict[str, Any]],
    spec: PatchSpec,
    *,
    method_settings: bool = False,
) -> dict[str, Any]:
    """A changed copy of `document`; BadRequestException for a path or op the resource refuses."""
    changed = copy.deepcopy(document)
    allowed = sorted(f"/{name}" for name in spec)
    for operation in operations:
        op = operation.get("op")
        path = str(operation.get("path") or "")
        value = operation.get("value")
        if op not in ("add", "replace", "remove"):
            raise bad_request(
                f"Invalid patch operation specified. Must be one of: [add, remove, replace] (op: {op})"
            )
        segments = path.split("/")[1:] if path.startswith("/") else []
        if method_settings and len(segments) >= 4:
            _method_setting(changed, op, segments, value, path)
            continue
        kind = spec.get(segments[0]) if segments else None
        if kind is None:
            raise bad_request(
                f"Invalid patch path '{path}' specified for op '{op}'. Must be one of: [{', '.join(allowed)}]"
            )
        name = segments[0]
        rest = unescape("/".join(segments[1:])) if len(segments) > 1 else ""
        if kind == "map":
            if not rest:
                if op == "remove":
                    changed.pop(name, None)
                    continue
                raise bad_request(f"Invalid patch path '{path}': a key is needed")
            entries = changed.setdefault(name, {}) or {}
            changed[name] = entries
            if op == "remove":
                entries.pop(rest, None)
            else:
                entries[rest] = "" if value is None else str(value)
        elif kind == "list":
            items = list(changed.get(name) or [])
            item = rest or ("" if value is None else str(value))
            if op == "remove":
                items = [existing for existing in items if existing != item]
            elif item not in items:
                items.append(item)
            changed[name] = items
        elif rest:
            raise bad_request(f"Invalid patch path '{path}' specified for op '{op}'")
        elif op == "remove":
            changed.pop(name, None)
        else:
            changed[name] = value if kind == "json" else _typed(kind, value, path)
    return changed
