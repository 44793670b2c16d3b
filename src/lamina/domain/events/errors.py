"""EventBridge's errors, in its words (botocore's `events` model names the codes; the messages are
what the service answers). Every one is a 400."""

from __future__ import annotations

from lamina.errors import AwsError


def validation(message: str) -> AwsError:
    return AwsError("ValidationException", message, 400)


def rule_not_found(name: str, bus: str) -> AwsError:
    return AwsError("ResourceNotFoundException", f"Rule {name} does not exist on EventBus {bus}.", 400)


def bus_not_found(name: str) -> AwsError:
    return AwsError("ResourceNotFoundException", f"Event bus {name} does not exist.", 400)


def bus_exists(name: str) -> AwsError:
    return AwsError("ResourceAlreadyExistsException", f"Event bus {name} already exists.", 400)


def invalid_pattern(reason: str) -> AwsError:
    return AwsError("InvalidEventPatternException", f"Event pattern is not valid. Reason: {reason}", 400)


def limit_exceeded(message: str) -> AwsError:
    return AwsError("LimitExceededException", message, 400)


def invalid_schedule() -> AwsError:
    return validation("Parameter ScheduleExpression is not valid.")


def resource_not_found(arn: str) -> AwsError:
    return AwsError("ResourceNotFoundException", f"Resource {arn} not found.", 400)
