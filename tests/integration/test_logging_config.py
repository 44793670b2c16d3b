"""LoggingConfig against a real server: JSON log format with application and system log levels, the
Text format's refusal of levels, and a custom log group."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.lambda_calls import error_of, log_lines, wait_updated
from tests.support.server import RunningServer

NOISY = """
import logging
logger = logging.getLogger("orders")

def handler(event, context):
    logger.debug("debug detail")
    logger.info("info detail")
    logger.warning("stock low: %s", 3)
    try:
        raise KeyError("sku")
    except KeyError:
        logger.exception("lookup failed")
    print("plain print")
    return "ok"
"""


def _json_lines(lines: list[str]) -> list[dict[str, Any]]:
    documents = []
    for line in lines:
        try:
            documents.append(json.loads(line))
        except ValueError:
            continue
    return documents


def test_json_format_filters_application_logs_by_level_and_formats_platform_lines(
    server: RunningServer, deploy: Callable[..., str], lambda_client: Any
) -> None:
    name = deploy(
        {"app.py": NOISY},
        LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "WARN", "SystemLogLevel": "INFO"},
    )
    response = lambda_client.invoke(FunctionName=name, LogType="Tail")
    lines = log_lines(response)
    documents = _json_lines(lines)
    platform = [document["type"] for document in documents if "type" in document]
    assert platform == ["platform.start", "platform.runtimeDone", "platform.report"]
    report = next(document for document in documents if document.get("type") == "platform.report")["record"]
    assert report["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert report["status"] == "success"
    assert {"durationMs", "billedDurationMs", "memorySizeMB", "maxMemoryUsedMB", "initDurationMs"} <= set(
        report["metrics"]
    )
    application = [document for document in documents if "level" in document]
    assert [(document["level"], document["message"]) for document in application] == [
        ("WARNING", "stock low: 3"),
        ("ERROR", "lookup failed"),
    ]
    assert all(document["logger"] == "orders" for document in application)
    assert all(document["requestId"] == report["requestId"] for document in application)
    assert application[1]["errorType"] == "KeyError"
    assert any(line.strip() == "plain print" for line in lines)
    assert not any(line.startswith(("START", "END", "REPORT")) for line in lines)
    # In the log group, with the init line written before the invocation, found with a JSON pattern.
    logs = server.client("logs")
    deadline = time.monotonic() + 10
    while True:
        found = logs.filter_log_events(
            logGroupName=f"/aws/lambda/{name}", filterPattern='{ $.type = "platform.init*" }'
        )["events"]
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [json.loads(event["message"])["record"]["phase"] for event in found] == ["init"]


def test_a_system_log_level_above_info_drops_platform_lines(
    deploy: Callable[..., str], lambda_client: Any
) -> None:
    name = deploy({"app.py": NOISY}, LoggingConfig={"LogFormat": "JSON", "SystemLogLevel": "WARN"})
    documents = _json_lines(log_lines(lambda_client.invoke(FunctionName=name, LogType="Tail")))
    assert [document for document in documents if "type" in document] == []
    levels = [document["level"] for document in documents if "level" in document]
    assert levels == ["INFO", "WARNING", "ERROR"]  # the application level defaults to INFO


def test_levels_need_the_json_format(deploy: Callable[..., str], lambda_client: Any) -> None:
    with pytest.raises(ClientError) as refused:
        deploy({"app.py": NOISY}, LoggingConfig={"LogFormat": "Text", "ApplicationLogLevel": "INFO"})
    assert error_of(refused) == (
        "InvalidParameterValueException",
        'LogLevel is not supported when LogFormat is set to "Text". Remove LogLevel from your request or '
        'change the LogFormat to "Json" and try again.',
        400,
    )
    name = deploy({"app.py": NOISY}, LoggingConfig={"LogFormat": "JSON"})
    assert lambda_client.get_function_configuration(FunctionName=name)["LoggingConfig"] == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "INFO",
        "LogGroup": f"/aws/lambda/{name}",
    }
    lambda_client.update_function_configuration(FunctionName=name, LoggingConfig={"LogFormat": "Text"})
    wait_updated(lambda_client, name)
    with pytest.raises(ClientError) as text_level:
        lambda_client.update_function_configuration(
            FunctionName=name, LoggingConfig={"ApplicationLogLevel": "DEBUG"}
        )
    assert error_of(text_level)[0] == "InvalidParameterValueException"
    assert lambda_client.get_function_configuration(FunctionName=name)["LoggingConfig"] == {
        "LogFormat": "Text",
        "LogGroup": f"/aws/lambda/{name}",
    }
    lines = log_lines(lambda_client.invoke(FunctionName=name, LogType="Tail"))
    assert any(line.startswith("REPORT RequestId:") for line in lines)
    assert any(line.startswith("[WARNING]") and line.endswith("stock low: 3") for line in lines)


def test_a_custom_log_group_receives_the_functions_logs(
    server: RunningServer, deploy: Callable[..., str], lambda_client: Any
) -> None:
    group = f"/custom/{uuid.uuid4().hex[:8]}"
    name = deploy({"app.py": NOISY}, LoggingConfig={"LogFormat": "Text", "LogGroup": group})
    lambda_client.invoke(FunctionName=name)
    logs = server.client("logs")
    deadline = time.monotonic() + 10
    while True:
        try:
            reports = logs.filter_log_events(logGroupName=group, filterPattern="REPORT")["events"]
        except logs.exceptions.ResourceNotFoundException:
            reports = []
        if reports or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(reports) == 1
    assert logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{name}")["logGroups"] == []


def test_an_unhandled_error_is_a_json_record_in_json_format(
    deploy: Callable[..., str], lambda_client: Any
) -> None:
    name = deploy(
        {"app.py": "def handler(event, context):\n    raise KeyError('missing sku')\n"},
        LoggingConfig={"LogFormat": "JSON"},
    )
    response = lambda_client.invoke(FunctionName=name, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    errors = [document for document in _json_lines(log_lines(response)) if document.get("level") == "ERROR"]
    assert len(errors) == 1
    assert errors[0]["errorType"] == "KeyError" and "missing sku" in errors[0]["errorMessage"]
    assert errors[0]["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert any("raise KeyError" in frame for frame in errors[0]["stackTrace"])
    assert not any(line.startswith("[ERROR]") for line in log_lines(response))
