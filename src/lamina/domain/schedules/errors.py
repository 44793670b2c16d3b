"""EventBridge Scheduler's errors (botocore's `scheduler` model gives the codes and statuses; the
messages are the service's where known, else ours, listed in compatibility.md)."""

from __future__ import annotations

from lamina.errors import AwsError


def validation(message: str) -> AwsError:
    return AwsError("ValidationException", message, 400)


def schedule_not_found(name: str) -> AwsError:
    return AwsError("ResourceNotFoundException", f"Schedule {name} does not exist.", 404)


def group_not_found(name: str) -> AwsError:
    return AwsError("ResourceNotFoundException", f"Schedule group {name} does not exist.", 404)


def schedule_exists(name: str) -> AwsError:
    return AwsError("ConflictException", f"Schedule {name} already exists.", 409)


def group_exists(name: str) -> AwsError:
    return AwsError("ConflictException", f"Schedule group {name} already exists.", 409)


def default_group() -> AwsError:
    return validation("This operation cannot be performed on schedule group default.")


def resource_not_found(arn: str) -> AwsError:
    return AwsError("ResourceNotFoundException", f"Resource {arn} does not exist.", 404)
