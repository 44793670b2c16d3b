"""The per-function network switch (`LAMINA_NETWORK=off`): loopback only in the namespaces tier,
refused (fail closed) in the process tier, validated by the API."""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.conftest import ROLE
from tests.support.lambda_calls import wait_active
from tests.support.packaging import make_zip
from tests.support.server import RunningServer

# What a function sees of the network: "connected", or the error's class name.
CONNECT = """
import socket

def connect(host, port):
    try:
        socket.create_connection((host, port), timeout=2).close()
        return "connected"
    except OSError as error:
        return type(error).__name__
"""

PROBE = (
    CONNECT
    + """
def handler(event, context):
    return {
        "server": connect("127.0.0.1", event["port"]),
        "outside": connect(event["outside"], 53),
        "interfaces": sorted(name for _, name in socket.if_nameindex()),
    }
"""
)


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

    assert on["error"] is None, on
    # A namespace of its own either way: the host's loopback (Lamina's public port) is out of reach.
    assert on["server"] == "ConnectionRefusedError"
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


def test_invalid_network_settings_are_refused(lambda_client: Any, deploy: Callable[..., str]) -> None:
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as raised:
        deploy({"app.py": PROBE}, Environment={"Variables": {"LAMINA_NETWORK": "maybe"}})
    assert "LAMINA_NETWORK must be 'on' or 'off', not 'maybe'." in raised.value.response["Error"]["Message"]
    name = deploy({"app.py": PROBE})
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.update_function_configuration(
            FunctionName=name, Environment={"Variables": {"LAMINA_NETWORK": "sometimes"}}
        )


# A custom runtime in plain Python: the Runtime API over HTTP (urllib), as any custom runtime does.
CUSTOM_BOOTSTRAP = (
    f"#!{os.path.realpath(sys.executable)} -I\n"
    + CONNECT
    + """
import json, os, urllib.request

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"

while True:
    with urllib.request.urlopen(API + "next") as response:
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(response.read())
    result = {
        "runtimeApi": os.environ["AWS_LAMBDA_RUNTIME_API"],
        "server": connect("127.0.0.1", event["port"]),
        "interfaces": sorted(name for _, name in socket.if_nameindex()),
    }
    urllib.request.urlopen(urllib.request.Request(
        API + request_id + "/response", data=json.dumps(result).encode(), method="POST"
    )).close()
"""
)


def test_a_custom_runtime_without_network_reaches_its_runtime_api_inside(
    server: RunningServer, lambda_client: Any, deploy: Callable[..., str]
) -> None:
    if server.health()["sandbox"] != "namespaces":
        pytest.skip("the namespaces tier is not in use")
    name = f"custom-{uuid.uuid4().hex[:10]}"
    lambda_client.create_function(
        FunctionName=name,
        Runtime="provided.al2023",
        Role=ROLE,
        Handler="unused.handler",
        Code={"ZipFile": make_zip({"bootstrap": CUSTOM_BOOTSTRAP}, modes={"bootstrap": 0o755})},
        Environment={"Variables": {"LAMINA_NETWORK": "off"}},
    )
    wait_active(lambda_client, name)
    for _ in range(2):  # a cold and a warm invocation
        response = lambda_client.invoke(FunctionName=name, Payload=json.dumps({"port": server.port}))
        body = json.loads(response["Payload"].read())
        assert response.get("FunctionError") is None, body
        assert body == {
            "runtimeApi": "127.0.0.1:9001",
            "server": "ConnectionRefusedError",
            "interfaces": ["lo"],
        }
    lambda_client.delete_function(FunctionName=name)
