"""The one error family every layer raises; the protocol layer renders it in AWS's shape.

Codes and messages follow the AWS API references: botocore maps the code (sent in
`X-Amzn-ErrorType`) to the modelled exception class, so clients see e.g.
`ResourceNotFoundException` exactly as against AWS.
"""

from __future__ import annotations

from typing import Any


class AwsError(Exception):
    """An AWS-shaped error: code, message, HTTP status and optional extra body fields."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 400,
        *,
        error_type: str | None = "User",
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.error_type = error_type
        self.extra = extra or {}
        self.headers = headers or {}

    def __repr__(self) -> str:
        return f"AwsError({self.code!r}, {self.message!r}, {self.status})"


def not_found(message: str) -> AwsError:
    return AwsError("ResourceNotFoundException", message, 404)


def invalid_parameter(message: str) -> AwsError:
    return AwsError("InvalidParameterValueException", message, 400)


def conflict(message: str) -> AwsError:
    return AwsError("ResourceConflictException", message, 409)


def validation(message: str) -> AwsError:
    return AwsError("ValidationException", message, 400)


def request_too_large(message: str) -> AwsError:
    return AwsError("RequestTooLargeException", message, 413)


def precondition_failed(message: str) -> AwsError:
    return AwsError("PreconditionFailedException", message, 412)


def provisioned_concurrency_config_not_found(message: str) -> AwsError:
    return AwsError("ProvisionedConcurrencyConfigNotFoundException", message, 404)


def too_many_requests(message: str, reason: str) -> AwsError:
    return AwsError("TooManyRequestsException", message, 429, extra={"Reason": reason})


def service_error(message: str) -> AwsError:
    return AwsError("ServiceException", message, 500, error_type="Service")
