"""Events of a modelled event stream, encoded as AWS sends them: each event is one member of the
stream's union shape. A member marked `eventpayload` (a blob) travels as the raw message payload;
otherwise the event's members are a JSON object. Exceptions (members marked `exception`) go out as
exception messages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from botocore.model import Shape

from lamina.protocol import event_stream
from lamina.protocol.json_values import dump_json, raw_bytes, to_json

Events = AsyncIterator[tuple[str, Mapping[str, Any]]]


def encode_event(union: Shape, event_type: str, members: Mapping[str, Any]) -> bytes:
    shape = union.members[event_type]
    if shape.metadata.get("exception"):
        return event_stream.exception(event_type, dump_json(to_json(shape, members)))
    for name, member in shape.members.items():
        if member.serialization.get("eventpayload") and member.type_name in ("blob", "string"):
            return event_stream.event(
                event_type, raw_bytes(members.get(name) or b""), "application/octet-stream"
            )
    return event_stream.event(event_type, dump_json(to_json(shape, members)))


async def encode_events(union: Shape, events: Events, first: bytes | None = None) -> AsyncIterator[bytes]:
    """The encoded stream, after `first` (the json protocol's initial-response); closes `events`
    when the client goes away."""
    try:
        if first is not None:
            yield first
        async for event_type, members in events:
            yield encode_event(union, event_type, members)
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()
