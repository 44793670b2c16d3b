"""SES's errors for receipt rules (codes and statuses from botocore's `ses` model; SES words them
"Rule set does not exist: NAME" and the like)."""

from __future__ import annotations

from lamina.errors import AwsError


def rule_set_not_found(name: str) -> AwsError:
    return AwsError("RuleSetDoesNotExist", f"Rule set does not exist: {name}", 400)


def rule_not_found(name: str) -> AwsError:
    return AwsError("RuleDoesNotExist", f"Rule does not exist: {name}", 400)


def already_exists(name: str) -> AwsError:
    return AwsError("AlreadyExists", f"{name} already exists.", 400)


def cannot_delete(name: str) -> AwsError:
    return AwsError("CannotDelete", f"Cannot delete active rule set: {name}", 400)


def invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterValue", message, 400)


def invalid_function(arn: str) -> AwsError:
    return AwsError("InvalidLambdaFunction", f"Could not invoke Lambda function: {arn}", 400)


def invalid_bucket(bucket: str) -> AwsError:
    return AwsError("InvalidS3Configuration", f"Could not write to bucket: {bucket}", 400)


def invalid_topic(arn: str) -> AwsError:
    return AwsError("InvalidSnsTopic", f"Could not publish to SNS topic: {arn}", 400)
