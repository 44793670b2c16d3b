"""Logs what the context object says about this invocation and returns it."""

import logging

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def lambda_handler(event, context):
    facts = {
        "request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "function_name": context.function_name,
        "remaining_time_in_millis": context.get_remaining_time_in_millis(),
    }
    for name, value in facts.items():
        logger.info("%s: %s", name, value)
    return facts
