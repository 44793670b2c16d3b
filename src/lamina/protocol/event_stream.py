"""AWS event stream messages (`application/vnd.amazon.eventstream`), the framing of streaming
responses such as StartLiveTail's:

    total length (4) | headers length (4) | prelude CRC32 (4) | headers | payload | message CRC32 (4)

Headers are name-length (1), name, type 7 (string), value-length (2), value; all integers big-endian.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping

CONTENT_TYPE = "application/vnd.amazon.eventstream"
_STRING = 7


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return (
        struct.pack(">B", len(raw_name)) + raw_name + struct.pack(">BH", _STRING, len(raw_value)) + raw_value
    )


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    encoded_headers = b"".join(_header(name, value) for name, value in headers.items())
    total = 12 + len(encoded_headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded_headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + encoded_headers + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event(event_type: str, payload: bytes, content_type: str = "application/json") -> bytes:
    return encode_message(
        {":message-type": "event", ":event-type": event_type, ":content-type": content_type}, payload
    )


def exception(exception_type: str, payload: bytes) -> bytes:
    return encode_message(
        {
            ":message-type": "exception",
            ":exception-type": exception_type,
            ":content-type": "application/json",
        },
        payload,
    )
