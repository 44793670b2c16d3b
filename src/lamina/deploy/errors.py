"""CloudFormation's errors (query protocol: `<Error><Code>…`)."""

from __future__ import annotations

from lamina.errors import AwsError


def validation_error(message: str) -> AwsError:
    return AwsError("ValidationError", message, 400)


def template_error(message: str) -> AwsError:
    return AwsError("ValidationError", f"Template format error: {message}", 400)


def already_exists(stack: str) -> AwsError:
    return AwsError("AlreadyExistsException", f"Stack [{stack}] already exists", 400)


def no_such_stack(stack: str) -> AwsError:
    return AwsError("ValidationError", f"Stack with id {stack} does not exist", 400)


def insufficient_capabilities(capability: str) -> AwsError:
    return AwsError("InsufficientCapabilitiesException", f"Requires capabilities : [{capability}]", 400)


class ResourceFailed(Exception):
    """A resource could not be created, updated or deleted: the reason its event gives."""
