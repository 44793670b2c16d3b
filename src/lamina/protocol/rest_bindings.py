"""Where the REST protocols (rest-json, rest-xml) put each member: URI labels, query parameters,
headers, the status code, a payload member, or the body document.

Both protocols bind members to the HTTP message the same way (botocore's `BaseRestSerializer`);
they differ only in how the body document is written. So the plan of an operation's input or
output and the decoding and encoding of everything outside the body live here, once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.model import Shape

from lamina.protocol.http import HttpRequest
from lamina.protocol.json_values import from_header, from_text, to_header

__all__ = ["Member", "Plan", "decode_bindings", "encode_headers", "plan_for"]


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    wire_name: str  # locationName, or the member name; header names lower-cased on input
    shape: Shape


@dataclass(frozen=True, slots=True)
class Plan:
    """Where every member of one operation's input or output shape travels."""

    shape: Shape | None
    uri: tuple[Member, ...] = ()
    query: tuple[Member, ...] = ()
    query_map: Member | None = None
    header: tuple[Member, ...] = ()
    header_maps: tuple[Member, ...] = ()
    status: Member | None = None
    payload: Member | None = None
    payload_required: bool = False
    body: tuple[Member, ...] = ()


def plan_for(shape: Shape | None, *, lower_headers: bool) -> Plan:
    if shape is None:
        return Plan(None)
    groups: dict[str, list[Member]] = {"uri": [], "querystring": [], "header": [], "headers": [], "body": []}
    query_map = status = payload = None
    payload_name = shape.serialization.get("payload")
    for name, member_shape in shape.members.items():
        location = member_shape.serialization.get("location")
        wire_name = member_shape.serialization.get("name", name)
        if location in ("header", "headers") and lower_headers:
            wire_name = wire_name.lower()
        member = Member(name, wire_name, member_shape)
        if name == payload_name:
            payload = member
        elif location == "statusCode":
            status = member
        elif location == "querystring" and member_shape.type_name == "map":
            query_map = member
        else:
            groups[location if location in groups else "body"].append(member)
    return Plan(
        shape,
        uri=tuple(groups["uri"]),
        query=tuple(groups["querystring"]),
        query_map=query_map,
        header=tuple(groups["header"]),
        header_maps=tuple(groups["headers"]),
        status=status,
        payload=payload,
        payload_required=payload_name in shape.required_members,
        body=tuple(groups["body"]),
    )


def decode_bindings(plan: Plan, labels: Mapping[str, str], request: HttpRequest) -> dict[str, Any]:
    """The members bound to URI labels, query parameters and headers (not the body or payload)."""
    params: dict[str, Any] = {}
    for member in plan.uri:
        if member.wire_name in labels:
            params[member.name] = from_text(member.shape, labels[member.wire_name], member.wire_name)
    if plan.query or plan.query_map:
        _decode_query(plan, request.query, params)
    headers = request.headers
    for member in plan.header:
        text = headers.get(member.wire_name)
        if text is not None:
            params[member.name] = from_header(member.shape, text, member.wire_name)
    for member in plan.header_maps:
        prefix = member.wire_name
        found = {k[len(prefix) :]: v for k, v in headers.items() if k.startswith(prefix)}
        if found:
            value_shape = member.shape.value
            params[member.name] = {k: from_header(value_shape, v, prefix + k) for k, v in found.items()}
    return params


def _decode_query(plan: Plan, query: list[tuple[str, str]], params: dict[str, Any]) -> None:
    bound = set()
    for member in plan.query:
        bound.add(member.wire_name)
        values = [value for key, value in query if key == member.wire_name]
        if not values:
            continue
        if member.shape.type_name == "list":
            element = member.shape.member
            params[member.name] = [from_text(element, value, member.wire_name) for value in values]
        else:
            params[member.name] = from_text(member.shape, values[0], member.wire_name)
    if plan.query_map is not None:
        # A map-typed querystring member collects every parameter no other member claims
        # (AWS rest protocols: "query params" map).
        map_shape = plan.query_map.shape
        multi = map_shape.value.type_name == "list"
        collected: dict[str, Any] = {}
        for key, value in query:
            if key in bound:
                continue
            if multi:
                collected.setdefault(key, []).append(from_text(map_shape.value.member, value, key))
            elif key not in collected:
                collected[key] = from_text(map_shape.value, value, key)
        if collected:
            params[plan.query_map.name] = collected


def encode_headers(plan: Plan, output: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The output members bound to headers, as (name, value) pairs."""
    headers: list[tuple[str, str]] = []
    for member in plan.header:
        value = output.get(member.name)
        if value is not None:
            headers.append((member.wire_name, to_header(member.shape, value)))
    for member in plan.header_maps:
        for key, value in (output.get(member.name) or {}).items():
            if value is not None:
                headers.append((member.wire_name + key, to_header(member.shape.value, value)))
    return headers
