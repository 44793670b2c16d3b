"""CloudWatch Logs filter patterns ("Filter pattern syntax for metric filters, subscription filters,
and filter log events"): which log events a pattern matches, and the values metric filters read.

Three forms:
- terms: `ERROR` (case-sensitive substring), `"a phrase"`, all must occur; `-term` must not occur;
  `?a ?b` at least one of the `?` terms occurs; `%regex%` a regular expression search. An empty
  pattern matches every event.
- JSON: `{ $.level = "ERROR" && ($.latency > 100 || $.retry IS TRUE) }` on events whose message is a
  JSON object: `=`/`!=` on strings (with `*` wildcards, or `%regex%`), numeric `= != < > <= >=`,
  `IS TRUE|FALSE|NULL`, `NOT EXISTS`, selectors `$.a.b[0]`.
- space-delimited: `[ip, user, ..., status = 4*, bytes > 1000]` splits the message on spaces (text
  in "" or [] is one field) and names the fields; `...` stands for any number of fields; a field's
  conditions use the same operators, joined by `&&` and `||`.

Pure and compiled once: a pattern is parsed when a filter is stored or a search starts, then run
against every event.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["FilterPattern", "PatternError", "compile_pattern"]

_MISSING = object()


class PatternError(ValueError):
    """The pattern is not valid syntax (the API answers InvalidParameterException)."""


@dataclass(frozen=True, slots=True)
class FilterPattern:
    text: str
    test: Callable[[str], bool]
    required: tuple[str, ...] = ()  # substrings every matching message contains (a cheap pre-check)
    value_of: Callable[[str, str], Any] = lambda message, selector: None
    json_only: bool = False  # matches only messages that are JSON objects (another cheap pre-check)

    def matches(self, message: str) -> bool:
        return self.test(message)

    def value(self, message: str, selector: str) -> Any:
        """What `selector` ($.latency, $bytes) reads from a matching message: a metric filter's
        metricValue. None when absent."""
        return self.value_of(message, selector)


def compile_pattern(text: str | None) -> FilterPattern:
    source = (text or "").strip()
    if source in ("", '""'):
        return FilterPattern(source, lambda message: True)
    if source.startswith("{"):
        return _compile_json(source)
    if source.startswith("["):
        return _compile_delimited(source)
    return _compile_terms(source)


# --------------------------------------------------------------------------- terms

_TERM = re.compile(r'([-?]?)(?:"((?:[^"\\]|\\.)*)"|%((?:[^%\\]|\\.)+)%|(\S+))')


def _compile_terms(source: str) -> FilterPattern:
    required: list[str] = []
    excluded: list[str] = []
    optional: list[Callable[[str], bool]] = []
    mandatory: list[Callable[[str], bool]] = []
    position = 0
    while position < len(source):
        if source[position].isspace():
            position += 1
            continue
        found = _TERM.match(source, position)
        if found is None:
            raise PatternError(f"Invalid filter pattern: {source}")
        position = found.end()
        prefix, quoted, regex, bare = found.groups()
        if regex is not None:
            check = _search(_regex(regex))
        else:
            term = _unescape(quoted) if quoted is not None else bare
            if bare is not None and '"' in bare:
                raise PatternError(f"Invalid character(s) in term '{bare}'")
            check = _contains(term)
            if prefix == "":
                required.append(term)
            elif prefix == "-":
                excluded.append(term)
        if prefix == "-":
            mandatory.append(_negate(check))
        elif prefix == "?":
            optional.append(check)
        else:
            mandatory.append(check)

    def test(message: str) -> bool:
        if not all(check(message) for check in mandatory):
            return False
        return not optional or any(check(message) for check in optional)

    return FilterPattern(source, test, tuple(required))


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _contains(term: str) -> Callable[[str], bool]:
    return lambda message: term in message


def _search(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda message: pattern.search(message) is not None


def _negate(check: Callable[[str], bool]) -> Callable[[str], bool]:
    return lambda message: not check(message)


# A quantified group that itself contains a quantifier, such as (a+)+ or (x*)*: the shape of
# expressions that backtrack exponentially, refused as CloudWatch refuses most regex constructs.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)(?:[+*]|\{\d)")
MAX_REGEX_LENGTH = 256


def _regex(text: str) -> re.Pattern[str]:
    source = text.replace("\\%", "%")
    if len(source) > MAX_REGEX_LENGTH:
        raise PatternError(
            f"Regular expressions in filter patterns are limited to {MAX_REGEX_LENGTH} characters"
        )
    if _NESTED_QUANTIFIER.search(source) or re.search(r"\\[1-9]|\(\?<?[=!]", source):
        raise PatternError(
            "Nested quantifiers, backreferences and lookarounds are not supported in filter patterns"
        )
    try:
        return re.compile(source)
    except re.error as error:
        raise PatternError(f"Invalid regular expression in filter pattern: {error}") from None


# --------------------------------------------------------------------------- shared comparisons

_COMPARISON_TOKEN = re.compile(
    r"""\s*(?:
        (?P<and>&&)|(?P<or>\|\|)|(?P<open>\()|(?P<close>\))|
        (?P<op>!=|<=|>=|=|<|>)|
        (?P<string>"(?:[^"\\]|\\.)*")|
        (?P<regex>%(?:[^%\\]|\\.)+%)|
        (?P<word>[^\s()=!<>&|"]+)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str


def _tokens(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(source):
        if source[position:].strip() == "":
            break
        found = _COMPARISON_TOKEN.match(source, position)
        if found is None or found.end() == position:
            raise PatternError(f"Invalid filter pattern near: {source[position:].strip()[:40]}")
        kind = found.lastgroup or ""
        tokens.append(_Token(kind, found.group(kind)))
        position = found.end()
    return tokens


Lookup = Callable[[Any, str], Any]  # (parsed event, selector) -> the value, or _MISSING
Condition = Callable[[Any], bool]


class _ConditionParser:
    """Recursive descent over `a OP b`, `a IS TRUE`, `a NOT EXISTS`, &&, || and parentheses."""

    def __init__(
        self,
        tokens: Sequence[_Token],
        lookup: Lookup,
        default_selector: str | None = None,
        check_selector: Callable[[str], object] | None = None,
    ) -> None:
        self._check_selector = check_selector
        self._tokens = list(tokens)
        self._position = 0
        self._lookup = lookup
        self._default_selector = default_selector  # space-delimited fields: `= 4*` on their own field

    def parse(self) -> Condition:
        condition = self._or()
        if self._position != len(self._tokens):
            raise PatternError(f"Unexpected '{self._tokens[self._position].text}' in filter pattern")
        return condition

    def _peek(self) -> _Token | None:
        return self._tokens[self._position] if self._position < len(self._tokens) else None

    def _take(self, kind: str | None = None) -> _Token:
        token = self._peek()
        if token is None or (kind is not None and token.kind != kind):
            raise PatternError("Incomplete filter pattern")
        self._position += 1
        return token

    def _or(self) -> Condition:
        parts = [self._and()]
        while (token := self._peek()) is not None and token.kind == "or":
            self._take()
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda event: any(part(event) for part in parts))

    def _and(self) -> Condition:
        parts = [self._unit()]
        while (token := self._peek()) is not None and token.kind == "and":
            self._take()
            parts.append(self._unit())
        return parts[0] if len(parts) == 1 else (lambda event: all(part(event) for part in parts))

    def _unit(self) -> Condition:
        token = self._peek()
        if token is not None and token.kind == "open":
            self._take()
            inner = self._or()
            self._take("close")
            return inner
        if token is not None and token.kind == "op" and self._default_selector is not None:
            selector = self._default_selector
        else:
            selector = self._take("word").text
            if self._check_selector is not None:
                self._check_selector(selector)
        follower = self._peek()
        if follower is not None and follower.kind == "word" and follower.text.upper() in ("IS", "NOT"):
            return self._keyword_test(selector)
        operator = self._take("op").text
        return self._comparison(selector, operator, self._take())

    def _keyword_test(self, selector: str) -> Condition:
        first = self._take("word").text.upper()
        second = self._take("word").text.upper()
        lookup = self._lookup
        if first == "NOT" and second == "EXISTS":
            return lambda event: lookup(event, selector) is _MISSING
        if first == "IS" and second in ("TRUE", "FALSE"):
            expected = second == "TRUE"
            return lambda event: lookup(event, selector) is expected
        if first == "IS" and second == "NULL":
            return lambda event: lookup(event, selector) is None
        raise PatternError(f"Unknown test '{first} {second}' in filter pattern")

    def _comparison(self, selector: str, operator: str, operand: _Token) -> Condition:
        lookup = self._lookup
        if operand.kind == "regex":
            if operator not in ("=", "!="):
                raise PatternError("Regular expressions compare with = or != only")
            pattern = _regex(operand.text[1:-1])
            wanted = operator == "="
            return lambda event: (
                _text_of(lookup(event, selector), lambda text: pattern.search(text) is not None) is wanted
            )
        number = _number(operand.text) if operand.kind == "word" else None
        if number is not None:
            compare = _NUMERIC[operator]
            return lambda event: _numeric_test(lookup(event, selector), number, compare)
        if operator not in ("=", "!="):
            raise PatternError(f"Operator {operator} needs a number")
        text = _string_literal(operand.text) if operand.kind == "string" else operand.text
        matcher = _wildcard(text)
        wanted = operator == "="
        return lambda event: _text_of(lookup(event, selector), matcher) is wanted


_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
}


def _string_literal(token: str) -> str:
    """A quoted value, JSON's escapes understood; a control character stands for itself."""
    try:
        return str(json.loads(token, strict=False))
    except ValueError:
        raise PatternError(f"Invalid string {token}") from None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _numeric_test(value: Any, number: float, compare: Callable[[float, float], bool]) -> bool:
    if isinstance(value, bool) or value is _MISSING or value is None:
        return False
    if isinstance(value, str):
        converted = _number(value)
        if converted is None:
            return False
        value = converted
    if not isinstance(value, int | float):
        return False
    return compare(float(value), number)


def _text_of(value: Any, matcher: Callable[[str], bool]) -> bool:
    """Whether a string comparison holds; numbers compare as their text, absent values never do."""
    if value is _MISSING or value is None or isinstance(value, dict | list):
        return False
    if isinstance(value, bool):
        return matcher("true" if value else "false")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return matcher(str(value))


def _wildcard(text: str) -> Callable[[str], bool]:
    if "*" not in text:
        return lambda value: value == text
    pattern = re.compile(".*".join(re.escape(part) for part in text.split("*")), re.DOTALL)
    return lambda value: pattern.fullmatch(value) is not None


# --------------------------------------------------------------------------- JSON

_SELECTOR_PART = re.compile(r"\.([^.\[\]]+)|\[(\d+|\*)\]")


@functools.lru_cache(maxsize=1024)  # the same few selectors, once per event of a search
def _selector_path(selector: str) -> tuple[str | int, ...]:
    if not selector.startswith("$"):
        raise PatternError(f"JSON selectors start with $: {selector}")
    path: list[str | int] = []
    position = 1
    while position < len(selector):
        found = _SELECTOR_PART.match(selector, position)
        if found is None:
            raise PatternError(f"Invalid JSON selector: {selector}")
        key, index = found.groups()
        path.append(key if key is not None else (-1 if index == "*" else int(index)))
        position = found.end()
    return tuple(path)


def _json_lookup(document: Any, selector: str) -> Any:
    value = document
    for step in _selector_path(selector):
        if isinstance(step, str):
            if not isinstance(value, dict) or step not in value:
                return _MISSING
            value = value[step]
        else:
            if not isinstance(value, list) or step >= len(value) or step < 0:
                return _MISSING
            value = value[step]
    return value


def _parse_document(message: str) -> Any:
    text = message.strip(" \t\n\r")  # JSON's whitespace (the search pre-check relies on this)
    if not text.startswith("{"):
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _compile_json(source: str) -> FilterPattern:
    if not source.endswith("}"):
        raise PatternError("A JSON filter pattern must end with }")
    condition = _ConditionParser(_tokens(source[1:-1]), _json_lookup, check_selector=_selector_path).parse()

    def test(message: str) -> bool:
        document = _parse_document(message)
        return document is not None and condition(document)

    def value_of(message: str, selector: str) -> Any:
        document = _parse_document(message)
        if document is None:
            return None
        value = _json_lookup(document, selector)
        return None if value is _MISSING else value

    return FilterPattern(source, test, (), value_of, json_only=True)


# --------------------------------------------------------------------------- space-delimited

_FIELD = re.compile(r'"[^"]*"|\[[^\]]*\]|\S+')
_ELLIPSIS = "..."


def _split_fields(message: str) -> list[str]:
    """A message's fields: runs of non-space text, with "…" and […] kept whole (their brackets
    and quotes removed, as CloudWatch compares their contents)."""
    fields = []
    for found in _FIELD.finditer(message):
        text = found.group()
        if len(text) >= 2 and (text[0], text[-1]) in (('"', '"'), ("[", "]")):
            text = text[1:-1]
        fields.append(text)
    return fields


def _split_pattern_fields(body: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in body:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    if any(part == "" for part in parts):
        raise PatternError("Empty field in space-delimited filter pattern")
    return parts


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    condition: Condition | None  # applied to {name: text}


def _compile_delimited(source: str) -> FilterPattern:
    if not source.endswith("]"):
        raise PatternError("A space-delimited filter pattern must end with ]")
    fields: list[_Field] = []
    for part in _split_pattern_fields(source[1:-1]):
        if part == _ELLIPSIS:
            fields.append(_Field(_ELLIPSIS, None))
            continue
        tokens = _tokens(part)
        if not tokens or tokens[0].kind != "word":
            raise PatternError(f"Invalid field in filter pattern: {part}")
        name = tokens[0].text
        condition = (
            _ConditionParser(tokens[1:], _field_lookup, default_selector=name).parse()
            if len(tokens) > 1
            else None
        )
        if len(tokens) > 1 and tokens[1].kind not in ("op", "word"):
            raise PatternError(f"Invalid field in filter pattern: {part}")
        fields.append(_Field(name, condition))
    if sum(field.name == _ELLIPSIS for field in fields) > 1:
        raise PatternError("A space-delimited filter pattern may use ... once")

    def bind(message: str) -> dict[str, str] | None:
        return _bind_fields(fields, _split_fields(message))

    def test(message: str) -> bool:
        bound = bind(message)
        if bound is None:
            return False
        return all(field.condition is None or field.condition(bound) for field in fields)

    def value_of(message: str, selector: str) -> Any:
        bound = bind(message)
        if bound is None:
            return None
        return bound.get(selector.removeprefix("$"))

    return FilterPattern(source, test, (), value_of)


def _bind_fields(fields: Sequence[_Field], values: Sequence[str]) -> dict[str, str] | None:
    names = [field.name for field in fields]
    if _ELLIPSIS not in names:
        if len(values) != len(names):
            return None
        return dict(zip(names, values, strict=True))
    split = names.index(_ELLIPSIS)
    before, after = names[:split], names[split + 1 :]
    if len(values) < len(before) + len(after):
        return None
    bound = dict(zip(before, values[: len(before)], strict=True))
    if after:
        bound.update(zip(after, values[len(values) - len(after) :], strict=True))
    return bound


def _field_lookup(bound: dict[str, str], selector: str) -> Any:
    return bound.get(selector.removeprefix("$"), _MISSING)
