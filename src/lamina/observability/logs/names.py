"""Log group ARNs and identifiers, and the opaque paging tokens the Logs API hands out."""

from __future__ import annotations

import base64
import binascii
import json
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


def decode_token(token: str | None) -> Any:
    if token is None:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error):
        raise invalid("The specified nextToken is invalid.") from None
