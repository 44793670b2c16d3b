"""Runtime names without their interpreter: refused with the list and how to add one, or, with
`--runtime-fallback nearest`, run on the nearest version of the language with a warning in the
function's INIT_START line and in /_lamina/health."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.support.lambda_calls import error_of, wait_active
from tests.support.packaging import make_zip
from tests.support.server import EXECUTION_ROLE, RunningServer, running_server

HANDLER = "import sys\ndef handler(event, context):\n    return '%d.%d' % sys.version_info[:2]\n"


@pytest.fixture(scope="module")
def fallback_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(
        tmp_path_factory.mktemp("fallback") / "data", "--runtime-fallback", "nearest"
    ) as server:
        yield server


def _missing_python(server: RunningServer) -> str:
    """A Python runtime AWS offers that this host has no interpreter for."""
    health = server.health()
    fallbacks = health["runtimeFallbacks"]
    missing = [name for name in fallbacks if name.startswith("python")]
    if not missing:
        pytest.skip("this host has every Python runtime AWS offers")
    return missing[-1]


def test_a_missing_runtime_runs_on_the_nearest_version_and_says_so(fallback_server: RunningServer) -> None:
    name = _missing_python(fallback_server)
    runs_on = fallback_server.health()["runtimeFallbacks"][name]
    assert runs_on in fallback_server.health()["runtimes"] and runs_on.startswith("python3.")
    client, logs = fallback_server.client("lambda"), fallback_server.client("logs")
    client.create_function(
        FunctionName="fallback",
        Runtime=name,
        Role=EXECUTION_ROLE,
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": HANDLER})},
    )
    wait_active(client, "fallback")
    assert client.get_function_configuration(FunctionName="fallback")["Runtime"] == name
    response = client.invoke(FunctionName="fallback", Payload=b"{}")
    assert json.loads(response["Payload"].read()) == runs_on.removeprefix("python")
    stream = logs.describe_log_streams(logGroupName="/aws/lambda/fallback")["logStreams"][0]["logStreamName"]
    messages = [
        event["message"]
        for event in logs.get_log_events(logGroupName="/aws/lambda/fallback", logStreamName=stream)["events"]
    ]
    init = next(message for message in messages if message.startswith("INIT_START"))
    assert f"lamina:{name} (not on this host: runs on {runs_on}, --runtime-fallback nearest)" in init


def test_without_the_flag_the_error_names_the_runtimes_and_how_to_add_one(
    fallback_server: RunningServer, server: RunningServer, tmp_path: Path
) -> None:
    name = _missing_python(fallback_server)
    client = server.client("lambda")
    with pytest.raises(ClientError) as failure:
        client.create_function(
            FunctionName="no-fallback",
            Runtime=name,
            Role=EXECUTION_ROLE,
            Handler="app.handler",
            Code={"ZipFile": make_zip({"app.py": HANDLER})},
        )
    code, message, status = error_of(failure)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert (
        f"The runtime parameter of {name} is not supported by this Lamina server. Available runtimes: "
        in message
    )
    assert f"--runtime {name}=/path/to/its/interpreter" in message and "--runtime-fallback nearest" in message
    assert server.health()["runtimeFallbacks"] == {}
