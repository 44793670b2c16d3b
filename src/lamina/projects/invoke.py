"""A function invoked with an event file, as `lamina invoke` shows it: the result, then the tail
of its log (the START, END and REPORT lines and what the function printed)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from lamina.projects.connection import Connection

__all__ = ["Invocation", "function_name", "invoke"]


@dataclass(frozen=True)
class Invocation:
    function: str
    payload: bytes
    log_tail: str
    error: str | None  # FunctionError (Unhandled / Handled), None when the function succeeded

    def result_text(self) -> str:
        try:
            return json.dumps(json.loads(self.payload), indent=2)
        except ValueError:
            return self.payload.decode("utf-8", "replace")


def function_name(connection: Connection, name: str, stack_name: str | None) -> str:
    """The function `name` means: a logical id in the stack, else a function's own name or ARN."""
    if stack_name is None:
        return name
    cloudformation = connection.client("cloudformation")
    try:
        resource = cloudformation.describe_stack_resource(StackName=stack_name, LogicalResourceId=name)
    except cloudformation.exceptions.ClientError:
        return name
    return str(resource["StackResourceDetail"]["PhysicalResourceId"])


def invoke(connection: Connection, function: str, payload: bytes, qualifier: str | None = None) -> Invocation:
    params: dict[str, Any] = {"FunctionName": function, "Payload": payload, "LogType": "Tail"}
    if qualifier:
        params["Qualifier"] = qualifier
    answer = connection.client("lambda").invoke(**params)
    log_tail = base64.b64decode(answer.get("LogResult") or "").decode("utf-8", "replace")
    return Invocation(function, answer["Payload"].read(), log_tail, answer.get("FunctionError"))
