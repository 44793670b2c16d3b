"""JSON values as AWS's JSON protocols carry them (rest-json bodies and the json protocol): shape-
driven conversion between decoded JSON and Python values (blobs base64, timestamps epoch seconds),
with the SerializationException messages botocore-style clients expect for mistyped members.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import email.utils
import json
import re
from collections.abc import Mapping
from typing import Any

from botocore.model import Shape

from lamina.errors import AwsError

_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
_NUMBER_TEXT = re.compile(r"[+-]?[0-9]+(\.[0-9]*)?")
_INT_RANGES = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


# --------------------------------------------------------------------------- decoding


def serialization_error(message: str) -> AwsError:
    return AwsError("SerializationException", message, 400)


def member_path(member_name: str, parent: str = "") -> str:
    name = member_name[:1].lower() + member_name[1:]
    return f"{parent}.{name}" if parent else name


def load_json(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise serialization_error("Could not parse request body into json: malformed JSON") from None
    if not isinstance(document, dict):
        raise serialization_error("Could not parse request body into json: expected a JSON object")
    if _SURROGATE_ESCAPE.search(body) and _has_lone_surrogate(document):
        raise serialization_error(
            "Could not parse request body into json: invalid Unicode (a lone surrogate)"
        )
    return document


# A \uD800-\uDFFF escape: the only way a UTF-8 body can carry a surrogate. Paired ones decode to
# one character; a lone one decodes to a str that no later step can encode (UTF-8, UTF-16 lengths,
# the stores), so the request is refused here rather than failing deep inside a service.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _has_lone_surrogate(document: Any) -> bool:
    pending = [document]  # iterative: the document may nest as deep as the parser allowed
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False


_JSON_KINDS = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
}


def _mismatch(path: str, expected: str, value: Any) -> AwsError:
    found = _JSON_KINDS.get(type(value), type(value).__name__)
    return serialization_error(f"Cannot deserialize '{path}': expected {expected}, found {found}")


def from_json(shape: Shape, value: Any, path: str) -> Any:
    """Convert a decoded JSON value to the Python value for `shape` (bytes, datetime, ...)."""
    type_name = shape.type_name
    if type_name == "structure":
        if shape.metadata.get("document"):
            return value
        if not isinstance(value, dict):
            raise _mismatch(path, "an object", value)
        result = {}
        for name, member_shape in shape.members.items():
            item = value.get(member_shape.serialization.get("name", name))
            if item is not None:
                result[name] = from_json(member_shape, item, member_path(name, path))
        return result
    if type_name == "list":
        if not isinstance(value, list):
            raise _mismatch(path, "an array", value)
        element = shape.member
        return [None if item is None else from_json(element, item, f"{path}.member") for item in value]
    if type_name == "map":
        if not isinstance(value, dict):
            raise _mismatch(path, "an object", value)
        value_shape = shape.value
        return {k: from_json(value_shape, v, f"{path}.{k}") for k, v in value.items() if v is not None}
    if type_name == "string":
        if not isinstance(value, str):
            raise _mismatch(path, "a string", value)
        return value
    if type_name == "boolean":
        if not isinstance(value, bool):
            raise _mismatch(path, "a boolean", value)
        return value
    if type_name in _INT_RANGES:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise _mismatch(path, "an integer", value)
        return _in_range(type_name, value, path)
    if type_name in ("float", "double"):
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _mismatch(path, "a number", value)
        return float(value)
    if type_name == "blob":
        if not isinstance(value, str):
            raise _mismatch(path, "a base64-encoded string", value)
        return _b64decode(value, path)
    if type_name == "timestamp":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise _mismatch(path, "a timestamp", value)
        return _parse_timestamp(value, path)
    return value


def from_text(shape: Shape, text: str, where: str) -> Any:
    """Convert a URI label, query parameter or header value to the Python value for `shape`."""
    type_name = shape.type_name
    if type_name == "string":
        return text
    if type_name in _INT_RANGES:
        if _INTEGER_TEXT.fullmatch(text) is None:
            raise serialization_error(f"Cannot deserialize '{where}': {text!r} is not an integer")
        return _in_range(type_name, int(text), where)
    if type_name == "boolean":
        lowered = text.lower()
        if lowered not in ("true", "false"):
            raise serialization_error(f"Cannot deserialize '{where}': {text!r} is not a boolean")
        return lowered == "true"
    if type_name in ("float", "double"):
        try:
            return float(text)
        except ValueError:
            raise serialization_error(f"Cannot deserialize '{where}': {text!r} is not a number") from None
    if type_name == "timestamp":
        return _parse_timestamp(text, where)
    if type_name == "blob":
        return _b64decode(text, where)
    return text


def from_header(shape: Shape, text: str, name: str) -> Any:
    if shape.serialization.get("jsonvalue"):
        # jsonvalue headers carry base64-encoded JSON (botocore: is_json_value_header).
        try:
            return json.loads(base64.b64decode(text, validate=True))
        except (ValueError, RecursionError):
            raise serialization_error(f"Header '{name}' is not base64-encoded JSON") from None
    if shape.type_name == "list":
        return [from_text(shape.member, item, name) for item in _split_header_list(text)]
    return from_text(shape, text.strip(), name)


def _split_header_list(text: str) -> list[str]:
    # RFC 9110 §5.6.1 lists; botocore quotes items containing '"' or ','.
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    items.append("".join(current).strip())
    return [item for item in items if item]


def _in_range(type_name: str, value: int, where: str) -> int:
    low, high = _INT_RANGES[type_name]
    if not low <= value <= high:
        raise serialization_error(f"Cannot deserialize '{where}': {value} is out of range for {type_name}")
    return value


def _b64decode(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise serialization_error(f"Cannot deserialize '{where}': not valid base64") from None


def _parse_timestamp(value: float | str, where: str) -> datetime.datetime:
    """Accept epoch seconds, ISO 8601 or RFC 822 (the three formats AWS models use)."""
    try:
        if isinstance(value, str):
            text = value.strip()
            if _NUMBER_TEXT.fullmatch(text):
                return datetime.datetime.fromtimestamp(float(text), datetime.UTC)
            try:
                return _as_utc(datetime.datetime.fromisoformat(text))
            except ValueError:
                return _as_utc(email.utils.parsedate_to_datetime(text))
        return datetime.datetime.fromtimestamp(value, datetime.UTC)
    except (ValueError, TypeError, OverflowError, OSError):
        raise serialization_error(f"Cannot deserialize '{where}': {value!r} is not a timestamp") from None


def _as_utc(moment: datetime.datetime) -> datetime.datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC)


# --------------------------------------------------------------------------- encoding


def dump_json(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def raw_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)


def to_json(shape: Shape, value: Any) -> Any:
    """Convert a Python value for `shape` to its JSON form (blobs base64, timestamps epoch)."""
    type_name = shape.type_name
    if type_name == "structure":
        if shape.metadata.get("document") or not isinstance(value, Mapping):
            return value
        result = {}
        for name, member_shape in shape.members.items():
            item = value.get(name)
            if item is not None:
                result[member_shape.serialization.get("name", name)] = to_json(member_shape, item)
        return result
    if type_name == "list":
        element = shape.member
        return [None if item is None else to_json(element, item) for item in value]
    if type_name == "map":
        value_shape = shape.value
        return {str(k): to_json(value_shape, v) for k, v in value.items() if v is not None}
    if type_name == "blob":
        return base64.b64encode(raw_bytes(value)).decode("ascii")
    if type_name == "timestamp":
        return format_timestamp(value, shape.serialization.get("timestampFormat", "unixTimestamp"))
    return value


def to_header(shape: Shape, value: Any) -> str:
    if shape.serialization.get("jsonvalue"):
        text = base64.b64encode(dump_json(value)).decode("ascii")
    elif shape.type_name == "timestamp":
        text = str(format_timestamp(value, shape.serialization.get("timestampFormat", "rfc822")))
    elif shape.type_name == "boolean":
        text = "true" if value else "false"
    elif shape.type_name == "blob":
        text = base64.b64encode(raw_bytes(value)).decode("ascii")
    elif shape.type_name == "list":
        text = ",".join(
            _quote_header_item(to_header(shape.member, item)) for item in value if item is not None
        )
    else:
        text = str(value)
    # Never let a value split the header block.
    return text.replace("\r", " ").replace("\n", " ")


def _quote_header_item(text: str) -> str:
    if '"' in text or "," in text:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def format_timestamp(value: Any, timestamp_format: str) -> float | str:
    if isinstance(value, datetime.datetime):
        moment = _as_utc(value)
    elif isinstance(value, int | float | str) and not isinstance(value, bool):
        moment = _parse_timestamp(value, "timestamp")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as a timestamp")
    if timestamp_format == "iso8601":
        text = moment.strftime("%Y-%m-%dT%H:%M:%S")
        if moment.microsecond:
            text += f".{moment.microsecond // 1000:03d}"
        return text + "Z"
    if timestamp_format == "rfc822":
        return email.utils.format_datetime(moment, usegmt=True)
    return round(moment.timestamp(), 3)
