"""Metric math (GetMetricData Expression, alarms on expressions): arithmetic on time series.

Supported: query ids (`m1`), numbers, `+ - * /`, parentheses, `SUM`/`AVG`/`MIN`/`MAX` over
`[a, b, …]` or `METRICS()` (every MetricStat query), and `FILL(series, value)`. A series is
{timestamp: value}; arithmetic between two series keeps the timestamps both have (FILL supplies
the missing ones), between a series and a number applies to every point, and division by zero
drops the point, as CloudWatch does.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

Series = dict[int, float]
Value = Series | float
_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d*)?|\.\d+)|([A-Za-z_][A-Za-z0-9_]*)|(.))")
_AGGREGATES: dict[str, Callable[[list[float]], float]] = {
    "SUM": sum,
    "AVG": lambda values: sum(values) / len(values),
    "MIN": min,
    "MAX": max,
}


class ExpressionError(ValueError):
    """The expression cannot be parsed or refers to unknown ids."""


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # number | name | symbol
    text: str


def _tokens(text: str) -> list[_Token]:
    tokens = []
    for number, name, symbol in _TOKEN.findall(text):
        if number:
            tokens.append(_Token("number", number))
        elif name:
            tokens.append(_Token("name", name))
        elif symbol.strip():
            tokens.append(_Token("symbol", symbol))
    return tokens


def evaluate(
    expression: str, series: Mapping[str, Series], stat_ids: list[str], timestamps: list[int] | None = None
) -> Series:
    """The time series `expression` computes from the named `series`; `stat_ids` are what
    METRICS() stands for; `timestamps` are every period of the queried range (what FILL fills)."""
    parser = _Parser(_tokens(expression), series, stat_ids, timestamps or [])
    value = parser.expression()
    if not parser.done():
        raise ExpressionError(f"Unexpected text in expression: {expression}")
    if isinstance(value, float):
        raise ExpressionError("The expression must produce a time series")
    return value


class _Parser:
    def __init__(
        self, tokens: list[_Token], series: Mapping[str, Series], stat_ids: list[str], timestamps: list[int]
    ) -> None:
        self._timestamps = timestamps
        self._tokens = tokens
        self._position = 0
        self._series = series
        self._stat_ids = stat_ids

    def done(self) -> bool:
        return self._position == len(self._tokens)

    def _peek(self) -> _Token | None:
        return self._tokens[self._position] if self._position < len(self._tokens) else None

    def _take(self, text: str | None = None) -> _Token:
        token = self._peek()
        if token is None or (text is not None and token.text != text):
            raise ExpressionError(f"Expected {text or 'more'} in expression")
        self._position += 1
        return token

    def expression(self) -> Value:
        value = self._term()
        while (token := self._peek()) is not None and token.text in ("+", "-"):
            self._take()
            value = _combine(value, self._term(), operator.add if token.text == "+" else operator.sub)
        return value

    def _term(self) -> Value:
        value = self._factor()
        while (token := self._peek()) is not None and token.text in ("*", "/"):
            self._take()
            value = _combine(value, self._factor(), operator.mul if token.text == "*" else _divide)
        return value

    def _factor(self) -> Value:
        token = self._take()
        if token.text == "-":
            return _combine(-1.0, self._factor(), operator.mul)
        if token.text == "(":
            value = self.expression()
            self._take(")")
            return value
        if token.kind == "number":
            return float(token.text)
        if token.kind != "name":
            raise ExpressionError(f"Unexpected '{token.text}' in expression")
        function = token.text.upper()
        if function in _AGGREGATES and (following := self._peek()) is not None and following.text == "(":
            self._take("(")
            members = self._series_list()
            self._take(")")
            return _aggregate(members, _AGGREGATES[function])
        if function == "FILL":
            self._take("(")
            target = self.expression()
            self._take(",")
            filler = self.expression()
            self._take(")")
            return _fill(target, filler, self._timestamps)
        if token.text not in self._series:
            raise ExpressionError(f"Unknown metric id in expression: {token.text}")
        return dict(self._series[token.text])

    def _series_list(self) -> list[Series]:
        token = self._peek()
        if token is not None and token.text.upper() == "METRICS":
            self._take()
            self._take("(")
            self._take(")")
            return [self._series[item] for item in self._stat_ids if item in self._series]
        self._take("[")
        members: list[Series] = []
        while True:
            value = self.expression()
            if isinstance(value, float):
                raise ExpressionError("Aggregate functions take time series")
            members.append(value)
            if self._take().text == "]":
                return members


def _divide(left: float, right: float) -> float:
    return left / right


def _combine(left: Value, right: Value, apply: Callable[[float, float], float]) -> Value:
    if isinstance(left, float) and isinstance(right, float):
        return apply(left, right)
    if isinstance(left, float):
        return _pointwise({stamp: (left, value) for stamp, value in right.items()}, apply)  # type: ignore[union-attr]
    if isinstance(right, float):
        return _pointwise({stamp: (value, right) for stamp, value in left.items()}, apply)
    return _pointwise({stamp: (left[stamp], right[stamp]) for stamp in left.keys() & right.keys()}, apply)


def _pointwise(pairs: dict[int, tuple[float, float]], apply: Callable[[float, float], float]) -> Series:
    result: Series = {}
    for stamp, (left, right) in pairs.items():
        try:
            result[stamp] = apply(left, right)
        except ZeroDivisionError:
            continue
    return result


def _aggregate(members: list[Series], combine: Callable[[list[float]], float]) -> Series:
    stamps = sorted({stamp for member in members for stamp in member})
    return {stamp: combine([member[stamp] for member in members if stamp in member]) for stamp in stamps}


def _fill(target: Value, filler: Value, timestamps: list[int]) -> Value:
    if isinstance(target, float):
        return target
    if isinstance(filler, float):
        return {stamp: target.get(stamp, filler) for stamp in target.keys() | set(timestamps)}
    return {stamp: target.get(stamp, filler[stamp]) for stamp in target.keys() | filler.keys()}
