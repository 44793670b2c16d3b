"""Event stream framing, read back with botocore's own decoder."""

from __future__ import annotations

from botocore.eventstream import EventStreamBuffer

from lamina.protocol import event_stream


def test_messages_decode_with_botocore() -> None:
    buffer = EventStreamBuffer()
    data = event_stream.event("sessionUpdate", b'{"a":1}') + event_stream.exception(
        "SessionTimeoutException", b"{}"
    )
    buffer.add_data(data[:7])  # partial prelude: nothing yet
    assert list(buffer) == []
    buffer.add_data(data[7:])
    first, second = list(buffer)
    assert first.headers == {
        ":message-type": "event",
        ":event-type": "sessionUpdate",
        ":content-type": "application/json",
    }
    assert first.payload == b'{"a":1}'
    assert second.headers[":exception-type"] == "SessionTimeoutException"


def test_unicode_headers_and_empty_payloads() -> None:
    buffer = EventStreamBuffer()
    buffer.add_data(event_stream.encode_message({"näme": "välue ✓"}, b""))
    (message,) = list(buffer)
    assert message.headers == {"näme": "välue ✓"} and message.payload == b""
