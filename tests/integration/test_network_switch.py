"""The per-function network switch (`LAMINA_NETWORK=off`): loopback only in the namespaces tier,
refused (fail closed) in the process tier, validated by the API."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.server import RunningServer

PROBE = """
import json, os, socket

def connect(host, port):
    try:
        socket.create_connection((host, port), timeout=2).close()
        return "connected"
    except OSError as error:
        return type(error).__name__

def handler(event, context):
    return {
        "server": connect("127.0.0.1", event["port"]),
        "outside": connect(event["outside"], 53),
        "interfaces": sorted(name for _, name in socket.if_nameindex()),
    }
"""


def probe(lambda_client: Any, name: str, server: RunningServer) -> dict[str, Any]:
    response = lambda_client.invoke(
        FunctionName=name, Payload=json.dumps({"port": server.port, "outside": "192.0.2.1"})
    )
    body = json.loads(response["Payload"].read())
    return {"error": response.get("FunctionError"), **body}


def test_network_off_leaves_loopback_only_in_the_namespaces_tier(
    server: RunningServer, lambda_client: Any, deploy: Callable[..., str]
) -> None:
    if server.health()["sandbox"] != "namespaces":
        pytest.skip("the namespaces tier is not in use")
    connected = deploy({"app.py": PROBE}, Timeout=10)
    isolated = deploy({"app.py": PROBE}, Timeout=10, Environment={"Variables": {"LAMINA_NETWORK": "off"}})

    on = probe(lambda_client, connected, server)
    off = probe(lambda_client, isolated, server)

    assert on["error"] is None and on["server"] == "connected"  # the host's loopback: Lamina's own port
    assert off["error"] is None, off
    assert off["server"] == "ConnectionRefusedError"  # a loopback of its own, with nothing listening
    assert off["outside"] != "connected"
    assert off["interfaces"] == ["lo"]


def test_network_off_fails_closed_in_the_process_tier(
    server: RunningServer, lambda_client: Any, deploy: Callable[..., str]
) -> None:
    if server.health()["sandbox"] != "process":
        pytest.skip("the process tier is not in use")
    isolated = deploy({"app.py": PROBE}, Environment={"Variables": {"LAMINA_NETWORK": "off"}})
    response = lambda_client.invoke(FunctionName=isolated, Payload=b"{}")
    body = json.loads(response["Payload"].read())
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.IsolationUnavailable"
    assert "namespaces sandbox tier" in body["errorMessage"]


@pytest.mark.parametrize(
    ("runtime", "value", "message"),
    [
        ("python3.11", "maybe", "LAMINA_NETWORK must be 'on' or 'off', not 'maybe'."),
        ("provided.al2023", "off", "LAMINA_NETWORK=off is supported for the python runtimes only"),
    ],
)
def test_invalid_network_settings_are_refused(
    lambda_client: Any, deploy: Callable[..., str], runtime: str, value: str, message: str
) -> None:
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as raised:
        deploy(
            {"app.py": PROBE, "bootstrap": "#!/bin/sh\n"},
            Runtime=runtime,
            Environment={"Variables": {"LAMINA_NETWORK": value}},
        )
    assert message in raised.value.response["Error"]["Message"]
    name = deploy({"app.py": PROBE})
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.update_function_configuration(
            FunctionName=name, Environment={"Variables": {"LAMINA_NETWORK": "sometimes"}}
        )
