"""Random values that fit a botocore shape, for the API fuzzer.

Valid-looking input has to get past the first checks of an operation (required members, enums,
lengths) so that the fuzzer reaches the code behind them; a fuzzer that only sends rubbish tests
nothing but the validator. Patterns are honoured loosely: a few random candidates are tried
against the model's regex (Java syntax, which Python mostly accepts) before giving up on it.
"""

from __future__ import annotations

import datetime
import random
import re
import string
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StringShape, StructureShape

_NAME_CHARACTERS = string.ascii_letters + string.digits + "-_"
_TEXT_CHARACTERS = _NAME_CHARACTERS + " ./:=+@,"
_DEFAULT_INTEGER_RANGE = (0, 1000)
_PATTERN_TRIES = 5
# Strings longer than this are cut: enough for the server's checks, without megabyte requests.
_LONGEST_VALID_STRING = 40
_MAX_DEPTH = 6


def _bounds(shape: Shape) -> tuple[int | None, int | None]:
    metadata = shape.metadata
    low, high = metadata.get("min"), metadata.get("max")
    return (int(low) if low is not None else None, int(high) if high is not None else None)


class ValueGenerator:
    """Builds parameter dictionaries botocore's serializers accept, from one seeded `random.Random`."""

    def __init__(
        self,
        rng: random.Random,
        known: Mapping[str, Sequence[str]] | None = None,
        *,
        optional_probability: float = 0.5,
        known_probability: float = 0.7,
    ) -> None:
        """`known`: member name -> values of resources that exist (FunctionName -> a deployed
        function), used most of the time so that requests reach past "not found"."""
        self._rng = rng
        self._known = dict(known or {})
        self._optional = optional_probability
        self._known_probability = known_probability

    def structure(self, shape: StructureShape, depth: int = 0) -> dict[str, Any]:
        required = set(shape.required_members)
        values: dict[str, Any] = {}
        for name, member in shape.members.items():
            if name in required or (depth < _MAX_DEPTH and self._rng.random() < self._optional):
                if member.type_name == "structure" and depth >= _MAX_DEPTH and name not in required:
                    continue
                known = self._known.get(name)
                if known and member.type_name == "string" and self._rng.random() < self._known_probability:
                    values[name] = self._rng.choice(known)
                else:
                    values[name] = self.value(member, depth + 1)
        if shape.metadata.get("union") and values:
            chosen = self._rng.choice(sorted(values))  # a union carries exactly one member
            values = {chosen: values[chosen]}
        return values

    def value(self, shape: Shape, depth: int = 0) -> Any:
        kind = shape.type_name
        if kind == "structure":
            assert isinstance(shape, StructureShape)
            return self.structure(shape, depth)
        if kind == "list":
            assert isinstance(shape, ListShape)
            low, high = _bounds(shape)
            count = self._rng.randint(low or 0, min(high if high is not None else 3, max(low or 0, 3)))
            return [self.value(shape.member, depth + 1) for _ in range(count)]
        if kind == "map":
            assert isinstance(shape, MapShape)
            count = self._rng.randint(0, 2)
            return {
                self.value(shape.key, depth + 1): self.value(shape.value, depth + 1) for _ in range(count)
            }
        if kind == "string":
            assert isinstance(shape, StringShape)
            return self.string(shape)
        if kind in ("integer", "long"):
            low, high = _bounds(shape)
            low = low if low is not None else _DEFAULT_INTEGER_RANGE[0]
            high = high if high is not None else max(low, _DEFAULT_INTEGER_RANGE[1])
            return self._rng.randint(low, min(high, low + 100_000))
        if kind in ("float", "double"):
            return round(self._rng.uniform(0, 1000), 3)
        if kind == "boolean":
            return self._rng.random() < 0.5
        if kind == "timestamp":
            moment = 1_700_000_000 + self._rng.randint(0, 50_000_000)
            return datetime.datetime.fromtimestamp(moment, datetime.UTC)
        if kind == "blob":
            return self._rng.randbytes(self._rng.randint(0, 64))
        return None

    def string(self, shape: StringShape) -> str:
        if shape.enum:
            return str(self._rng.choice(shape.enum))
        low, high = _bounds(shape)
        low = low or 1
        high = min(high if high is not None else _LONGEST_VALID_STRING, _LONGEST_VALID_STRING)
        high = max(high, low)
        pattern = shape.metadata.get("pattern")
        candidate = self._text(low, high, _NAME_CHARACTERS)
        if pattern:
            try:
                compiled = re.compile(pattern)
            except re.error:
                return candidate
            for _ in range(_PATTERN_TRIES):
                if compiled.fullmatch(candidate):
                    return candidate
                candidate = self._text(
                    low, high, _NAME_CHARACTERS if self._rng.random() < 0.7 else _TEXT_CHARACTERS
                )
        return candidate

    def _text(self, low: int, high: int, alphabet: str) -> str:
        length = self._rng.randint(low, high)
        return "".join(self._rng.choice(alphabet) for _ in range(length))
