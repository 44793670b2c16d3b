"""Log group ARNs and identifiers, and the opaque paging tokens the Logs API hands out."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from lamina.errors import AwsError


def invalid(message: str) -> AwsError:
    """CloudWatch Logs reports bad input as InvalidParameterException, status 400."""
    return AwsError("InvalidParameterException", message, 400)


def group_arn(region: str, account_id: str, group: str) -> str:
    """The form DescribeLogGroups calls `arn` (ending in `:*`, covering the streams)."""
    return f"arn:aws:logs:{region}:{account_id}:log-group:{group}:*"


def stream_arn(region: str, account_id: str, group: str, stream: str) -> str:
    return f"arn:aws:logs:{region}:{account_id}:log-group:{group}:log-stream:{stream}"


def group_of(params: dict[str, Any], account_id: str) -> str:
    """The group a call names by `logGroupName` or `logGroupIdentifier` (a name or an ARN); one of
    them, not both."""
    name, identifier = params.get("logGroupName"), params.get("logGroupIdentifier")
    if name is not None and identifier is not None:
        raise invalid("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
    if name is not None:
        return str(name)
    if identifier is None:
        raise invalid("Either LogGroupName or LogGroupIdentifier must be specified.")
    text = str(identifier)
    if not text.startswith("arn:"):
        return text
    parts = text.split(":")
    if len(parts) < 7 or parts[2] != "logs" or parts[5] != "log-group":
        raise invalid(f"Invalid log group identifier: {text}")
    if parts[4] != account_id:
        raise AwsError("ResourceNotFoundException", "The specified log group does not exist.", 400)
    return parts[6]


def encode_token(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode()


def bad_token() -> AwsError:
    return invalid("The specified nextToken is invalid.")


def decode_token(token: str | None, error: Callable[[], AwsError] = bad_token) -> Any:
    if token is None:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error):
        raise error() from None


def token_offset(token: str | None, error: Callable[[], AwsError] = bad_token) -> int:
    """A page token that holds a position (0 without a token)."""
    value = decode_token(token, error)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise error()
    return value


def token_name(token: str | None, error: Callable[[], AwsError] = bad_token) -> str | None:
    """A page token that holds the last name returned."""
    value = decode_token(token, error)
    if value is not None and not isinstance(value, str):
        raise error()
    return value


def token_event_key(token: str | None) -> tuple[int, str, int] | None:
    """FilterLogEvents' token: the (timestamp, stream, offset) of the last event returned."""
    value = decode_token(token)
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not isinstance(value[0], int)
        or not isinstance(value[1], str)
        or not isinstance(value[2], int)
        or "\x00" in value[1]  # no stream is named so (and a database could not compare it)
        or not -(2**63) <= value[0] < 2**63
        or not -(2**63) <= value[2] < 2**63
    ):
        raise bad_token()
    return value[0], value[1], value[2]
