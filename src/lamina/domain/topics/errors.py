"""SNS's errors, in its words (codes and statuses from botocore's `sns` model)."""

from __future__ import annotations

from lamina.errors import AwsError


def invalid(message: str) -> AwsError:
    """InvalidParameter: SNS words these "Invalid parameter: WHAT" (or "… Reason: WHY")."""
    return AwsError("InvalidParameter", message, 400)


def invalid_parameter(name: str, reason: str | None = None) -> AwsError:
    return invalid(f"Invalid parameter: {name}" + (f" Reason: {reason}" if reason else ""))


def topic_not_found() -> AwsError:
    return AwsError("NotFound", "Topic does not exist", 404)


def subscription_not_found() -> AwsError:
    return AwsError("NotFound", "Subscription does not exist", 404)


def resource_not_found() -> AwsError:
    return AwsError("ResourceNotFound", "Resource does not exist", 404)
