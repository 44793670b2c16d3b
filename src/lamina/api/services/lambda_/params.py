"""Request parameters every Lambda handler reads the same way: function names and qualifiers,
and Marker/MaxItems paging."""

from __future__ import annotations

import base64
from typing import Any, TypeVar

from lamina.domain.arns import parse_function_ref, resolve_qualifier
from lamina.errors import invalid_parameter
from lamina.functions.manager import Placement

T = TypeVar("T")
# List operations return up to 50 items per call unless MaxItems says otherwise.
_DEFAULT_PAGE_SIZE = 50


def function_ref(params: dict[str, Any], placement: Placement) -> tuple[str, str | None]:
    """(name, qualifier) from FunctionName (a name, partial or full ARN) and Qualifier."""
    ref = parse_function_ref(params["FunctionName"], region=placement.region, account_id=placement.account_id)
    return ref.name, resolve_qualifier(ref, params.get("Qualifier"))


def unqualified_name(params: dict[str, Any], placement: Placement) -> str:
    """Operations on the function itself: the name may be an ARN but must carry no qualifier."""
    name, qualifier = function_ref(params, placement)
    if qualifier is not None:
        raise invalid_parameter("Qualifier is not supported for this operation.")
    return name


def page_of(items: list[T], params: dict[str, Any]) -> tuple[list[T], dict[str, Any]]:
    """One page of `items` per the request's Marker and MaxItems, and the NextMarker output."""
    start = _decode_marker(params.get("Marker"), len(items))
    size = params.get("MaxItems") or _DEFAULT_PAGE_SIZE
    output = {"NextMarker": _encode_marker(start + size)} if start + size < len(items) else {}
    return items[start : start + size], output


def _encode_marker(index: int) -> str:
    return base64.urlsafe_b64encode(f"lamina:{index}".encode()).decode()


def _decode_marker(marker: str | None, total: int) -> int:
    if not marker:
        return 0
    try:
        prefix, _, index = base64.urlsafe_b64decode(marker.encode()).decode().partition(":")
        value = int(index)
    except (ValueError, UnicodeDecodeError):
        raise invalid_parameter("Invalid marker.") from None
    if prefix != "lamina" or not 0 <= value <= total:
        raise invalid_parameter("Invalid marker.")
    return value
