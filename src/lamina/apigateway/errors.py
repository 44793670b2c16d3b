"""API Gateway's control-plane errors, with its codes and messages (rest-json: `{"message": …}`
and the code in X-Amzn-ErrorType)."""

from __future__ import annotations

from lamina.errors import AwsError


def not_found(message: str) -> AwsError:
    return AwsError("NotFoundException", message, 404)


def bad_request(message: str) -> AwsError:
    return AwsError("BadRequestException", message, 400)


def conflict(message: str) -> AwsError:
    return AwsError("ConflictException", message, 409)


def limit_exceeded(message: str) -> AwsError:
    return AwsError("LimitExceededException", message, 429)
