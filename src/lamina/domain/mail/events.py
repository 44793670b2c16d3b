"""What SES's receipt actions send (SES developer guide, "Lambda action", "SNS action" and
"Notification contents"): the `mail` object (envelope, headers, common headers), the `receipt`
object (recipients, verdicts, the action), the event a function receives and the notification a
topic receives.

Verdicts: Lamina scans for neither spam nor viruses and verifies neither SPF, DKIM nor DMARC;
spam and virus verdicts are DISABLED when the rule does not ask for scanning and GRAY when it
does, SPF, DKIM and DMARC verdicts are GRAY (no result), as compatibility.md records.
"""

from __future__ import annotations

import base64
import email.message
import email.policy
import secrets
import string
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "function_event",
    "mail_object",
    "new_message_id",
    "notification",
    "parse_message",
    "receipt_object",
]

MAX_HEADERS_BYTES = 10_240  # SES truncates the headers it reports past about 10 KB


def timestamp(moment: float) -> str:
    return (
        datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{int(moment * 1000) % 1000:03d}Z"
    )


def parse_message(raw: bytes) -> email.message.Message:
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def _addresses(message: email.message.Message, name: str) -> list[str]:
    values = message.get_all(name) or []
    return (
        [value.strip() for value in ",".join(str(v) for v in values).split(",") if value.strip()]
        if values
        else []
    )


def mail_object(
    message: email.message.Message, source: str, destination: Sequence[str], message_id: str, received: float
) -> dict[str, Any]:
    headers: list[dict[str, str]] = []
    size = 0
    truncated = False
    for name, value in message.items():
        size += len(name) + len(str(value)) + 4
        if size > MAX_HEADERS_BYTES:
            truncated = True
            break
        headers.append({"name": name, "value": str(value)})
    common: dict[str, Any] = {"returnPath": source}
    for key, header in (
        ("from", "From"),
        ("to", "To"),
        ("cc", "Cc"),
        ("bcc", "Bcc"),
        ("sender", "Sender"),
        ("replyTo", "Reply-To"),
    ):
        found = _addresses(message, header)
        if found:
            common[key] = found
    for key, header in (("date", "Date"), ("messageId", "Message-ID"), ("subject", "Subject")):
        text = message.get(header)
        if text is not None:
            common[key] = str(text)
    return {
        "timestamp": timestamp(received),
        "source": source,
        "messageId": message_id,
        "destination": list(destination),
        "headersTruncated": truncated,
        "headers": headers,
        "commonHeaders": common,
    }


def receipt_object(
    rule: dict[str, Any], recipients: Sequence[str], action: dict[str, Any], received: float, now: float
) -> dict[str, Any]:
    scanned = "GRAY" if rule.get("ScanEnabled") else "DISABLED"
    return {
        "timestamp": timestamp(received),
        "processingTimeMillis": max(0, int((now - received) * 1000)),
        "recipients": list(recipients),
        "spamVerdict": {"status": scanned},
        "virusVerdict": {"status": scanned},
        "spfVerdict": {"status": "GRAY"},
        "dkimVerdict": {"status": "GRAY"},
        "dmarcVerdict": {"status": "GRAY"},
        "action": action,
    }


def function_event(mail: dict[str, Any], receipt: dict[str, Any]) -> dict[str, Any]:
    """A Lambda action's event: the mail without its content."""
    return {
        "Records": [
            {"eventSource": "aws:ses", "eventVersion": "1.0", "ses": {"mail": mail, "receipt": receipt}}
        ]
    }


def notification(
    mail: dict[str, Any], receipt: dict[str, Any], raw: bytes | None, encoding: str = "UTF-8"
) -> dict[str, Any]:
    """What a topic receives: an SNS action's carries the content (UTF-8 or Base64); an S3 or
    Stop action's does not."""
    document: dict[str, Any] = {"notificationType": "Received", "mail": mail, "receipt": receipt}
    if raw is not None:
        document["content"] = (
            base64.b64encode(raw).decode() if encoding == "Base64" else raw.decode("utf-8", "replace")
        )
    return document


def new_message_id() -> str:
    """An SES-style message id: lowercase letters and digits."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(40))
