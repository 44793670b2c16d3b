"""SQS's errors (Amazon SQS API Reference, "Common Errors" and each action's errors).

SQS speaks the json protocol now and keeps its query-era codes for compatibility: an error's
`__type` is the modelled name (QueueDoesNotExist) and `x-amzn-query-error` carries the old code
(`AWS.SimpleQueueService.NonExistentQueue;Sender`), which botocore reports as the error's Code, as
against AWS. The query protocol sends the old code itself.
"""

from __future__ import annotations

from lamina.errors import AwsError

QUERY_ERROR = "x-amzn-query-error"


def sqs_error(name: str, query_code: str, message: str, status: int = 400) -> AwsError:
    kind = "Sender" if status < 500 else "Receiver"
    return AwsError(name, message, status, headers={QUERY_ERROR: f"{query_code};{kind}"})


def no_such_queue() -> AwsError:
    return sqs_error(
        "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist."
    )


def queue_exists(attribute: str) -> AwsError:
    return sqs_error(
        "QueueNameExists",
        "QueueAlreadyExists",
        f"A queue already exists with the same name and a different value for attribute {attribute}",
    )


def invalid_parameter(message: str) -> AwsError:
    return sqs_error("InvalidParameterValue", "InvalidParameterValue", message)


def invalid_value(parameter: str, value: object, reason: str) -> AwsError:
    return invalid_parameter(f"Value {value} for parameter {parameter} is invalid. Reason: {reason}")


def missing_parameter(name: str) -> AwsError:
    return sqs_error(
        "MissingParameter", "MissingParameter", f"The request must contain the parameter {name}."
    )


def invalid_attribute_name(name: str) -> AwsError:
    return sqs_error("InvalidAttributeName", "InvalidAttributeName", f"Unknown Attribute {name}.")


def invalid_attribute_value(name: str, reason: str) -> AwsError:
    return sqs_error(
        "InvalidAttributeValue",
        "InvalidAttributeValue",
        f"Invalid value for the parameter {name}. Reason: {reason}",
    )


def receipt_handle_invalid(handle: str) -> AwsError:
    return sqs_error(
        "ReceiptHandleIsInvalid",
        "ReceiptHandleIsInvalid",
        f'The input receipt handle "{handle}" is not a valid receipt handle.',
    )


def message_not_inflight() -> AwsError:
    return sqs_error(
        "MessageNotInflight",
        "AWS.SimpleQueueService.MessageNotInflight",
        "Message does not exist or is not available for visibility timeout change.",
    )


def purge_in_progress(name: str) -> AwsError:
    return sqs_error(
        "PurgeQueueInProgress",
        "AWS.SimpleQueueService.PurgeQueueInProgress",
        f"Only one PurgeQueue operation on {name} is allowed every 60 seconds.",
        403,
    )


def queue_deleted_recently() -> AwsError:
    return sqs_error(
        "QueueDeletedRecently",
        "AWS.SimpleQueueService.QueueDeletedRecently",
        "You must wait 60 seconds after deleting a queue before you can create another with the same name.",
    )


def too_many_entries(count: int) -> AwsError:
    return sqs_error(
        "TooManyEntriesInBatchRequest",
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        f"Maximum number of entries per request are 10. You have sent {count}.",
    )


def empty_batch(entry_type: str) -> AwsError:
    return sqs_error(
        "EmptyBatchRequest",
        "AWS.SimpleQueueService.EmptyBatchRequest",
        f"There should be at least one {entry_type} in the request.",
    )


def ids_not_distinct(entry_id: str) -> AwsError:
    return sqs_error(
        "BatchEntryIdsNotDistinct",
        "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
        f"Id {entry_id} repeated.",
    )


def invalid_batch_entry_id() -> AwsError:
    return sqs_error(
        "InvalidBatchEntryId",
        "AWS.SimpleQueueService.InvalidBatchEntryId",
        "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most "
        "80 letters long.",
    )


def batch_too_long(size: int) -> AwsError:
    return sqs_error(
        "BatchRequestTooLong",
        "AWS.SimpleQueueService.BatchRequestTooLong",
        f"Batch requests cannot be longer than 262144 bytes. You have sent {size} bytes.",
    )


def invalid_message_contents() -> AwsError:
    return sqs_error(
        "InvalidMessageContents",
        "InvalidMessageContents",
        "Invalid characters found. Valid characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF",
    )
