"""Shape values to and from the XML documents of the rest-xml protocol (S3).

Written and read as botocore's `RestXMLSerializer` and `RestXMLParser` do: a structure's members
are child elements named by their `locationName`; a list is a wrapper element holding one element
per item (named by the item shape's `locationName`, else `member`), or, when `flattened`, the items
repeated directly under the parent with the list's own name; maps are `entry`/`key`/`value`;
timestamps ISO 8601; booleans `true`/`false`; blobs base64. Element names are matched without
their namespace, as botocore does.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree

from botocore.model import Shape

from lamina.errors import AwsError
from lamina.protocol.json_values import format_timestamp

__all__ = ["MalformedXml", "decode_document", "encode_document", "escape"]

# Characters XML 1.0 does not allow at all, not even as a reference (§2.2 Char), and lone
# surrogates, which cannot be encoded. AWS writes some as `&#x1;`, which botocore's parser rejects;
# Lamina sends U+FFFD instead so the response stays readable (docs/compatibility.md).
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# A raw CR would reach the client as LF (XML end-of-line normalisation); a reference keeps it.
_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;", '"': "&quot;"})
# Request documents are small (a notification configuration, a delete list of 1,000 keys).
MAX_DOCUMENT_BYTES = 2 * 1024 * 1024
_MALFORMED = "The XML you provided was not well-formed or did not validate against our published schema"


class MalformedXml(AwsError):
    def __init__(self) -> None:
        super().__init__("MalformedXML", _MALFORMED, 400)


def escape(text: str) -> str:
    """`text` as XML character data (or an attribute value) that any XML 1.0 parser accepts."""
    return _XML_FORBIDDEN.sub("\ufffd", text).translate(_XML_ESCAPES)


# --------------------------------------------------------------------------- encoding


def encode_document(root: str, shape: Shape, value: Mapping[str, Any], namespace: str) -> bytes:
    """A whole document: `<root xmlns=namespace>members</root>` with an XML declaration."""
    attribute = f' xmlns="{escape(namespace)}"' if namespace else ""
    body = encode_members(shape, value)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root}{attribute}>{body}</{root}>'.encode()


_XSI = "http://www.w3.org/2001/XMLSchema-instance"


def encode_members(shape: Shape, value: Mapping[str, Any], *, whole_seconds: bool = False) -> str:
    """A structure's members as XML elements (no enclosing element). `whole_seconds`: timestamps
    without fractions (the query protocol's, as IAM and STS write them)."""
    return _Encoder(whole_seconds).members(shape, value)


def _attributes(shape: Shape, value: Any) -> str:
    """A structure's `xmlAttribute` members, written on its own element (S3's Grantee `xsi:type`)."""
    if shape.type_name != "structure" or not isinstance(value, Mapping):
        return ""
    written = ""
    for name, member in shape.members.items():
        if not member.serialization.get("xmlAttribute") or value.get(name) is None:
            continue
        attribute = member.serialization.get("name", name)
        if attribute.startswith("xsi:") and "xmlns:xsi" not in written:
            written += f' xmlns:xsi="{_XSI}"'
        written += f' {attribute}="{escape(str(value[name]))}"'
    return written


class _Encoder:
    def __init__(self, whole_seconds: bool) -> None:
        self._whole_seconds = whole_seconds

    def element(self, tag: str, shape: Shape, value: Any) -> str:
        return f"<{tag}{_attributes(shape, value)}>{self.value(shape, value)}</{tag}>"

    def members(self, shape: Shape, value: Mapping[str, Any]) -> str:
        parts: list[str] = []
        for name, member in shape.members.items():
            item = value.get(name)
            serialization = member.serialization
            if item is None or serialization.get("location") is not None or serialization.get("xmlAttribute"):
                continue
            tag = serialization.get("name", name)
            if member.type_name == "list" and serialization.get("flattened"):
                parts.extend(self.element(tag, member.member, element) for element in item)
            else:
                parts.append(self.element(tag, member, item))
        return "".join(parts)

    def value(self, shape: Shape, value: Any) -> str:
        kind = shape.type_name
        if kind == "structure":
            return self.members(shape, value)
        if kind == "list":
            tag = shape.member.serialization.get("name", "member")
            return "".join(self.element(tag, shape.member, element) for element in value)
        if kind == "map":
            key_tag = shape.key.serialization.get("name", "key")
            value_tag = shape.value.serialization.get("name", "value")
            return "".join(
                f"<entry><{key_tag}>{escape(str(key))}</{key_tag}>"
                f"<{value_tag}>{self.value(shape.value, item)}</{value_tag}></entry>"
                for key, item in value.items()
            )
        if kind == "boolean":
            return "true" if value else "false"
        if kind == "timestamp":
            if self._whole_seconds:
                moment = _as_moment(value)
                return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
            return str(format_timestamp(value, shape.serialization.get("timestampFormat", "iso8601")))
        if kind == "blob":
            raw = value if isinstance(value, bytes) else str(value).encode()
            return base64.b64encode(raw).decode()
        return escape(str(value))


def _as_moment(value: Any) -> datetime.datetime:
    moment = (
        value
        if isinstance(value, datetime.datetime)
        else datetime.datetime.fromtimestamp(float(value), datetime.UTC)
    )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC)


# --------------------------------------------------------------------------- decoding


def decode_document(shape: Shape, body: bytes) -> dict[str, Any]:
    """The structure `shape` from a request document (its root element's name is not checked, as
    S3 does not for most documents). Raises MalformedXml for anything that is not plain,
    well-formed XML of that shape: a DOCTYPE (entity tricks) is refused outright."""
    if len(body) > MAX_DOCUMENT_BYTES:
        raise MalformedXml()
    # Read as UTF-8 text only (what S3 accepts), so the DOCTYPE check below sees every byte: in
    # another encoding a declaration would slip past a byte search.
    try:
        text = body.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise MalformedXml() from None
    upper = text.upper()
    if "<!DOCTYPE" in upper or "<!ENTITY" in upper:
        raise MalformedXml()
    try:
        root = ElementTree.fromstring(_without_declaration(text))
    except (ElementTree.ParseError, ValueError):
        raise MalformedXml() from None
    return _decode_structure(shape, root)


def _without_declaration(text: str) -> str:
    """ElementTree refuses a str that declares an encoding; the text is decoded already."""
    stripped = text.lstrip()
    if stripped.startswith("<?xml"):
        end = stripped.find("?>")
        return stripped[end + 2 :] if end >= 0 else stripped
    return text


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _decode_structure(shape: Shape, element: ElementTree.Element) -> dict[str, Any]:
    children: dict[str, list[ElementTree.Element]] = {}
    for child in element:
        children.setdefault(_local(child.tag), []).append(child)
    result: dict[str, Any] = {}
    for name, member in shape.members.items():
        if member.serialization.get("location") is not None:
            continue
        tag = member.serialization.get("name", name)
        if member.serialization.get("xmlAttribute"):
            for attribute, text in element.attrib.items():
                if _local(attribute) == tag.rpartition(":")[2]:
                    result[name] = text
            continue
        found = children.get(tag)
        if not found:
            continue
        if member.type_name == "list" and member.serialization.get("flattened"):
            result[name] = [_decode(member.member, child) for child in found]
        else:
            result[name] = _decode(member, found[0])
    return result


def _decode(shape: Shape, element: ElementTree.Element) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return _decode_structure(shape, element)
    if kind == "list":
        tag = shape.member.serialization.get("name", "member")
        return [_decode(shape.member, child) for child in element if _local(child.tag) == tag]
    if kind == "map":
        key_tag = shape.key.serialization.get("name", "key")
        value_tag = shape.value.serialization.get("name", "value")
        mapping: dict[str, Any] = {}
        for entry in element:
            key = entry.find(f"{{*}}{key_tag}")
            if key is None:
                key = entry.find(key_tag)
            item = entry.find(f"{{*}}{value_tag}")
            if item is None:
                item = entry.find(value_tag)
            if key is not None and item is not None:
                mapping[key.text or ""] = _decode(shape.value, item)
        return mapping
    text = element.text or ""
    try:
        if kind in ("integer", "long"):
            return int(text.strip())
        if kind in ("float", "double"):
            return float(text.strip())
        if kind == "boolean":
            lowered = text.strip().lower()
            if lowered not in ("true", "false"):
                raise MalformedXml()
            return lowered == "true"
        if kind == "timestamp":
            moment = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)
        if kind == "blob":
            return base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise MalformedXml() from None
    return text
