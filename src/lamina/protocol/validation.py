"""Model-driven input validation with AWS's aggregated ValidationException message.

AWS services check every request against the constraints in their model (required,
min/max, length, pattern, enum) and report all failures at once, e.g.::

    2 validation errors detected: Value null at 'role' failed to satisfy constraint:
    Member must not be null; Value '20000' at 'memorySize' failed to satisfy constraint:
    Member must have value less than or equal to 10240

Paths are the member names with the first letter lower-cased ('environment.variables');
list elements are 'layers.1.member' (1-based). Values of shapes marked `sensitive` are
left out of the message ("Value at 'environment.variables' failed ..."), as AWS does.
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.model import Shape

from lamina.errors import AwsError

__all__ = ["validate"]

_NUMERIC_TYPES = frozenset({"integer", "long", "float", "double"})
_SIZED_TYPES = frozenset({"string", "blob", "list", "map"})


def validate(
    shape: Shape | None, params: Mapping[str, Any], enum_overrides: Mapping[str, Sequence[str]] | None = None
) -> None:
    """Check `params` (keyed by member names of structure `shape`) against the model.

    Raises `AwsError("ValidationException", ..., 400)` listing every violation; returns
    None when the params are valid. Values of an unexpected Python type are not checked
    here (decoding rejects those first).
    """
    if shape is None:
        return
    errors: list[str] = []
    _Validator(enum_overrides or {})._check_structure(shape, params, "", errors)
    if errors:
        noun = "error" if len(errors) == 1 else "errors"
        raise AwsError(
            "ValidationException", f"{len(errors)} validation {noun} detected: " + "; ".join(errors)
        )


class _Validator:
    """One validation pass; `enums` replaces the model's enum values for the named shapes (an empty
    sequence: not checked here; for a numeric shape, its maximum is not checked here)."""

    def __init__(self, enums: Mapping[str, Sequence[str]]) -> None:
        self._enums = enums

    def _check_structure(self, shape: Shape, value: Mapping[str, Any], path: str, errors: list[str]) -> None:
        if shape.metadata.get("document"):
            return
        members = shape.members
        for name in shape.required_members:
            if value.get(name) is None and name in members:
                errors.append(
                    f"Value null at '{_join(path, name)}' failed to satisfy constraint: Member must not be null"
                )
        for name, item in value.items():
            member_shape = members.get(name)
            if member_shape is not None and item is not None:
                self._check_value(member_shape, item, _join(path, name), errors)

    def _check_value(self, shape: Shape, value: Any, path: str, errors: list[str]) -> None:
        failures = self._constraint_failures(shape, value)
        if failures:
            subject = "Value" if shape.metadata.get("sensitive") else f"Value {_render(value)}"
            errors.extend(
                f"{subject} at '{path}' failed to satisfy constraint: {failure}" for failure in failures
            )
        type_name = shape.type_name
        if type_name == "structure" and isinstance(value, Mapping):
            self._check_structure(shape, value, path, errors)
        elif type_name == "list" and isinstance(value, list):
            element = shape.member
            sparse = shape.metadata.get("sparse", False)
            for index, item in enumerate(value, start=1):
                if item is not None:
                    self._check_value(element, item, f"{path}.{index}.member", errors)
                elif not sparse:  # a JSON null in a dense list: services must never see one
                    errors.append(
                        f"Value null at '{path}.{index}.member' failed to satisfy constraint: Member must not be null"
                    )
        elif type_name == "map" and isinstance(value, Mapping):
            self._check_map_entries(shape, value, path, errors)

    def _check_map_entries(
        self, shape: Shape, value: Mapping[Any, Any], path: str, errors: list[str]
    ) -> None:
        # AWS reports scalar key/value violations once for the whole map:
        # "Map keys must satisfy constraint: [Member must have length ...]".
        key_failures: list[str] = []
        value_failures: list[str] = []
        value_shape = shape.value
        nested = value_shape.type_name in ("structure", "list", "map")
        for key, item in value.items():
            for failure in self._constraint_failures(shape.key, key):
                if failure not in key_failures:
                    key_failures.append(failure)
            if item is None:
                continue
            if nested:
                self._check_value(value_shape, item, f"{path}.{key}", errors)
            else:
                for failure in self._constraint_failures(value_shape, item):
                    if failure not in value_failures:
                        value_failures.append(failure)
        subject = "Value" if shape.metadata.get("sensitive") else f"Value {_render(value)}"
        if key_failures:
            errors.append(
                f"{subject} at '{path}' failed to satisfy constraint: "
                f"Map keys must satisfy constraint: [{', '.join(key_failures)}]"
            )
        if value_failures:
            errors.append(
                f"{subject} at '{path}' failed to satisfy constraint: "
                f"Map value must satisfy constraint: [{', '.join(value_failures)}]"
            )

    def _constraint_failures(self, shape: Shape, value: Any) -> list[str]:
        """The constraint messages `value` violates on `shape` itself (not its children)."""
        metadata = shape.metadata
        type_name = shape.type_name
        failures: list[str] = []
        if type_name in _NUMERIC_TYPES:
            if isinstance(value, int | float) and not isinstance(value, bool):
                minimum = metadata.get("min")
                maximum = metadata.get("max")
                if minimum is not None and value < minimum:
                    failures.append(
                        f"Member must have value greater than or equal to {_render_bound(minimum)}"
                    )
                # A numeric shape named with no values: its ceiling is the service's (an operator's).
                checked = maximum is not None and not (
                    shape.name in self._enums and not self._enums[shape.name]
                )
                if checked and value > maximum:
                    failures.append(f"Member must have value less than or equal to {_render_bound(maximum)}")
            return failures
        if type_name not in _SIZED_TYPES:
            return failures
        length = _length(type_name, value)
        if length is None:
            return failures
        minimum = metadata.get("min")
        maximum = metadata.get("max")
        if minimum is not None and length < minimum:
            failures.append(f"Member must have length greater than or equal to {_render_bound(minimum)}")
        if maximum is not None and length > maximum:
            failures.append(f"Member must have length less than or equal to {_render_bound(maximum)}")
        if type_name == "string":
            pattern = metadata.get("pattern")
            if pattern is not None:
                compiled = _compile(pattern)
                if compiled is not None and compiled.fullmatch(value) is None:
                    failures.append(f"Member must satisfy regular expression pattern: {pattern}")
            # An override replaces the model's values; an empty one leaves the check to the service.
            enum = self._enums[shape.name] if shape.name in self._enums else metadata.get("enum")
            if enum and value not in enum:
                failures.append(f"Member must satisfy enum value set: [{', '.join(enum)}]")
        return failures


def _length(type_name: str, value: Any) -> int | None:
    if type_name == "string":
        if not isinstance(value, str):
            return None
        # Java counts UTF-16 code units; characters outside the BMP count twice.
        # surrogatepass: a lone surrogate (which the protocols refuse earlier) counts as one unit
        # rather than failing the request with a 500.
        return len(value) if value.isascii() else len(value.encode("utf-16-le", "surrogatepass")) // 2
    if type_name == "blob":
        return len(value) if isinstance(value, bytes | bytearray | memoryview) else None
    if type_name == "list":
        return len(value) if isinstance(value, list) else None
    return len(value) if isinstance(value, Mapping) else None


@functools.lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str] | None:
    # Model patterns are Java regexes; the few Python's `re` rejects are skipped rather
    # than turned into false validation errors.
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _join(path: str, member_name: str) -> str:
    name = member_name[:1].lower() + member_name[1:]
    return f"{path}.{name}" if path else name


def _render_bound(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def _render(value: Any) -> str:
    """Quote a value the way AWS's (Java) messages print it."""
    return f"'{_java_string(value)}'"


def _java_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        size = len(value)
        return f"java.nio.HeapByteBuffer[pos=0 lim={size} cap={size}]"
    if isinstance(value, list):
        return "[" + ", ".join(_java_string(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_java_string(k)}={_java_string(v)}" for k, v in value.items()) + "}"
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if value is None:
        return "null"
    return str(value)
