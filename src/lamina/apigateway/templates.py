"""Mapping templates: Velocity (Apache VTL, through airspeed) with the variables API Gateway gives
them — `$input`, `$util`, `$context`, `$stageVariables` (API Gateway developer guide, "Mapping
template and access logging variable reference").

A template is compiled once and kept; rendering is pure. A body that a template reads as JSON but
is not JSON raises InvalidBody (API Gateway's 400 "Could not parse request body into json"); any
other failure raises TemplateError (its 500 "Internal server error")."""

from __future__ import annotations

import base64
import binascii
import json
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import airspeed

from lamina.apigateway.json_paths import InvalidPath, select

__all__ = ["InputVariable", "InvalidBody", "TemplateError", "UtilVariable", "render"]

_TEMPLATE_CACHE = 512
_JS_ESCAPES = {'"': '\\"', "'": "\\'", "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n"}
_JS_ESCAPES |= {"\r": "\\r", "\t": "\\t"}


class TemplateError(Exception):
    """A template that cannot be evaluated: a configuration error of the API."""


class InvalidBody(Exception):
    """The request's body is not the JSON a template reads it as."""


class InputVariable:
    """`$input`: the request's (or integration response's) body and parameters."""

    def __init__(
        self, body: str, path: dict[str, str], query: dict[str, str], headers: dict[str, str]
    ) -> None:
        self.body = body
        self._params = {"path": path, "querystring": query, "header": headers}
        self._headers_lower = {name.lower(): value for name, value in headers.items()}
        self._parsed: Any = None
        self._was_parsed = False

    def params(self, name: str | None = None) -> Any:
        """All parameters by location, or one by name: path first, then query string, then header
        (case-insensitively); "" when there is none."""
        if name is None:
            return self._params
        for location in ("path", "querystring"):
            value = self._params[location].get(name)
            if value is not None:
                return value
        return self._headers_lower.get(str(name).lower(), "")

    def _document(self) -> Any:
        if not self._was_parsed:
            text = self.body.strip()
            try:
                self._parsed = json.loads(text) if text else {}
            except ValueError as error:
                raise InvalidBody(f"Could not parse request body into json: {error}") from None
            except RecursionError:
                raise InvalidBody("Could not parse request body into json: nested too deeply") from None
            self._was_parsed = True
        return self._parsed

    def path(self, path: str) -> Any:
        """The value at a JSONPath, as an object the template can walk."""
        try:
            return select(self._document(), path)
        except InvalidPath as error:
            raise TemplateError(str(error)) from None

    def json(self, path: str) -> str:
        """The value at a JSONPath as JSON text."""
        try:
            return json.dumps(self.path(path), separators=(",", ":"), ensure_ascii=False)
        except RecursionError:
            raise InvalidBody("Could not parse request body into json: nested too deeply") from None


class UtilVariable:
    """`$util`: the escaping and encoding helpers."""

    @staticmethod
    def escapeJavaScript(text: Any) -> str:
        """Java's StringEscapeUtils.escapeJavaScript: quotes (single ones too), backslash, slash
        and control characters escaped; characters outside ASCII as \\uXXXX."""
        out: list[str] = []
        for char in str(text):
            escaped = _JS_ESCAPES.get(char)
            if escaped is not None:
                out.append(escaped)
            elif ord(char) < 32 or ord(char) > 0x7E:
                out.append("".join(f"\\u{unit:04X}" for unit in _utf16_units(char)))
            else:
                out.append(char)
        return "".join(out)

    @staticmethod
    def parseJson(text: Any) -> Any:
        try:
            return json.loads(str(text))
        except (ValueError, RecursionError) as error:
            raise TemplateError(f"$util.parseJson: {error}") from None

    @staticmethod
    def urlEncode(text: Any) -> str:
        """Java's URLEncoder (UTF-8): spaces as `+`, only letters, digits and `.-*_` kept."""
        return quote_plus(str(text), safe="*").replace("~", "%7E")

    @staticmethod
    def urlDecode(text: Any) -> str:
        return unquote_plus(str(text))

    @staticmethod
    def base64Encode(text: Any) -> str:
        return base64.b64encode(str(text).encode()).decode()

    @staticmethod
    def base64Decode(text: Any) -> str:
        try:
            return base64.b64decode(str(text)).decode("utf-8", "replace")
        except (binascii.Error, ValueError) as error:
            raise TemplateError(f"$util.base64Decode: {error}") from None


def _utf16_units(char: str) -> list[int]:
    data = char.encode("utf-16-be", "surrogatepass")  # a lone surrogate is one unit, as in Java
    return [int.from_bytes(data[index : index + 2], "big") for index in range(0, len(data), 2)]


@lru_cache(maxsize=_TEMPLATE_CACHE)
def _compiled(template: str) -> airspeed.Template:
    return airspeed.Template(template)


UTIL = UtilVariable()


def render(template: str, variables: dict[str, Any]) -> str:
    """`template` evaluated with `variables` (input, context, stageVariables; util is added)."""
    try:
        return str(_compiled(template).merge({"util": UTIL, **variables}))
    except InvalidBody:
        raise
    except TemplateError:
        raise
    except Exception as error:  # airspeed's syntax and execution errors, and what a call raised
        cause = error.__cause__ or error.__context__
        if isinstance(cause, InvalidBody):
            raise cause from None
        raise TemplateError(f"{type(error).__name__}: {error}") from None
