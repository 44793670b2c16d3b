"""Beyond AWS's limits on the operator's terms: `lamina server --max-timeout/--max-memory/
--max-ephemeral-storage/--max-payload` raise them for every account, `lamina admin limits` for one;
without them a server refuses exactly as AWS does. A long function keeps everything else working:
its remaining time, logs that stream while it runs, and a shutdown that answers its caller."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.cli import new_account, run_lamina
from tests.support.lambda_calls import create_function, error_of, printed_events, wait_active
from tests.support.packaging import make_zip
from tests.support.server import (
    ACCESS_KEY,
    EXECUTION_ROLE,
    LAMBDA_TRUST_POLICY,
    SECRET_KEY,
    RunningServer,
    start_server,
)

MB = 1024 * 1024
RAISED = (
    "--max-timeout",
    "3600",
    "--max-memory",
    "20480",
    "--max-ephemeral-storage",
    "20480",
    "--max-payload",
    "12",
)
LONG = """
import json, sys, time

def handler(event, context):
    if event.get("sleep"):
        print("started", context.get_remaining_time_in_millis(), flush=True)
        time.sleep(event["sleep"])
    if event.get("answer_mb"):
        return "x" * (event["answer_mb"] * 1024 * 1024)
    return {"remaining_ms": context.get_remaining_time_in_millis(), "received": len(json.dumps(event))}
"""


@pytest.fixture(scope="module")
def raised(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(tmp_path_factory.mktemp("raised") / "data", *RAISED)
    yield server
    server.stop()


def refused(call: Any, **params: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as failure:
        call(**params)
    return error_of(failure)


def creation(name: str, **options: Any) -> dict[str, Any]:
    return {
        "FunctionName": name,
        "Runtime": "python3.11",
        "Role": EXECUTION_ROLE,
        "Handler": "app.handler",
        "Code": {"ZipFile": make_zip({"app.py": LONG})},
    } | options


def test_without_flags_the_server_refuses_as_aws_does(lambda_client: Any) -> None:
    for options, member, value, ceiling in (
        ({"Timeout": 901}, "timeout", 901, 900),
        ({"MemorySize": 10241}, "memorySize", 10241, 10240),
        ({"MemorySize": 40000}, "memorySize", 40000, 10240),
        ({"EphemeralStorage": {"Size": 10241}}, "ephemeralStorage.size", 10241, 10240),
    ):
        minimum = {"timeout": 1, "memorySize": 128}.get(member, 512)
        assert refused(lambda_client.create_function, **creation("over-aws", **options)) == (
            "InvalidParameterValueException",
            f"'{value}' at '{member}' failed to satisfy constraint: "
            f"Member must have value between {minimum} and {ceiling}",
            400,
        )


def test_raised_limits_accept_more_and_refuse_past_them(raised: RunningServer) -> None:
    client = raised.client()
    created = client.create_function(
        **creation("big", Timeout=3600, MemorySize=20480, EphemeralStorage={"Size": 20480})
    )
    assert (created["Timeout"], created["MemorySize"], created["EphemeralStorage"]) == (
        3600,
        20480,
        {"Size": 20480},
    )
    wait_active(client, "big")
    stored = client.get_function_configuration(FunctionName="big")
    assert (stored["Timeout"], stored["MemorySize"]) == (3600, 20480)
    assert refused(client.update_function_configuration, FunctionName="big", Timeout=3601) == (
        "InvalidParameterValueException",
        "'3601' at 'timeout' failed to satisfy constraint: Member must have value between 1 and 3600",
        400,
    )
    assert refused(client.update_function_configuration, FunctionName="big", MemorySize=20481)[0] == (
        "InvalidParameterValueException"
    )


def test_a_long_function_knows_its_time_and_its_logs_stream_while_it_runs(raised: RunningServer) -> None:
    client = raised.client(read_timeout=300)
    logs = raised.client("logs")
    create_function(client, "long", {"app.py": LONG}, Timeout=3600)
    answer = json.loads(client.invoke(FunctionName="long", Payload=b"{}")["Payload"].read())
    assert 3_590_000 < answer["remaining_ms"] <= 3_600_000

    finished = threading.Event()

    def run() -> None:
        client.invoke(FunctionName="long", Payload=json.dumps({"sleep": 6}).encode())
        finished.set()

    caller = threading.Thread(target=run)
    caller.start()
    try:
        seen = printed_events(logs, "long", "started", 1)
        assert seen, "the line printed before the sleep never reached the log group"
        assert not finished.is_set(), "the line arrived only once the invocation had ended"
        assert 3_590_000 < seen[0] <= 3_600_000
    finally:
        caller.join(60)
    # The async path runs it with the same deadline.
    client.invoke(FunctionName="long", InvocationType="Event", Payload=json.dumps({"sleep": 0.1}).encode())
    both = printed_events(logs, "long", "started", 2)
    assert len(both) == 2 and 3_590_000 < both[1] <= 3_600_000


def test_the_payload_limit_follows_max_payload(raised: RunningServer) -> None:
    client = raised.client(read_timeout=120)
    create_function(client, "payloads", {"app.py": LONG}, MemorySize=1024, Timeout=60)
    event = json.dumps({"blob": "y" * (8 * MB)}).encode()  # past AWS's 6 MB, within 12
    answer = json.loads(client.invoke(FunctionName="payloads", Payload=event)["Payload"].read())
    assert answer["received"] == len(event)
    big = client.invoke(FunctionName="payloads", Payload=json.dumps({"answer_mb": 10}).encode())
    assert "FunctionError" not in big and len(big["Payload"].read()) == 10 * MB + 2
    assert refused(client.invoke, FunctionName="payloads", Payload=b'"' + b"z" * (12 * MB) + b'"') == (
        "RequestTooLargeException",
        f"Request must be smaller than {12 * MB} bytes for the InvokeFunction operation",
        413,
    )
    oversized = client.invoke(FunctionName="payloads", Payload=json.dumps({"answer_mb": 13}).encode())
    assert oversized["FunctionError"] == "Unhandled"
    assert json.loads(oversized["Payload"].read()) == {
        "errorType": "Function.ResponseSizeTooLarge",
        "errorMessage": "Response payload size exceeded maximum allowed payload size "
        f"({12 * MB + 100} bytes).",
    }


def test_the_default_payload_limit_is_awss(lambda_client: Any, deploy: Any) -> None:
    name = deploy({"app.py": LONG})
    assert refused(lambda_client.invoke, FunctionName=name, Payload=b"a" * (6 * MB + 1)) == (
        "RequestTooLargeException",
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation",
        413,
    )


def admin_limits(server: RunningServer, *args: str) -> Any:
    completed = run_lamina(
        "admin",
        "limits",
        "--data-dir",
        str(server.data_dir),
        "--port",
        str(server.port),
        *args,
        env=server.root_env(),
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_an_account_gets_its_own_limits_from_lamina_admin(raised: RunningServer) -> None:
    team_client = new_account(raised, "210987654321")
    team_role = team_client("iam").create_role(RoleName="team", AssumeRolePolicyDocument=LAMBDA_TRUST_POLICY)
    team = team_client("lambda")
    others = raised.client()
    shown = admin_limits(raised, "--account-id", "210987654321")
    assert shown["Own"] == {} and shown["Limits"]["MaxTimeout"] == 3600
    given = admin_limits(
        raised, "--account-id", "210987654321", "--max-timeout", "7200", "--max-payload", "2"
    )
    assert given["Own"] == {"MaxTimeout": 7200, "MaxPayload": 2}
    assert given["Limits"]["MaxTimeout"] == 7200 and given["Limits"]["MaxMemory"] == 20480

    team_function = creation("team-long", Timeout=7200, Role=team_role["Role"]["Arn"])
    assert team.create_function(**team_function)["Timeout"] == 7200
    wait_active(team, "team-long")
    assert refused(others.create_function, **creation("not-for-others", Timeout=7200))[0] == (
        "InvalidParameterValueException"
    )
    assert refused(team.invoke, FunctionName="team-long", Payload=b"1" * (2 * MB + 1))[0] == (
        "RequestTooLargeException"
    )

    reset = admin_limits(raised, "--account-id", "210987654321", "--reset")
    assert reset["Own"] == {} and reset["Limits"]["MaxTimeout"] == 3600
    assert refused(team.update_function_configuration, FunctionName="team-long", Timeout=7200)[1].endswith(
        "between 1 and 3600"
    )
    team.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-timeout", "0"], "MaxTimeout must be from 1 to 604800 seconds."),
        (["--max-memory", "64"], "MaxMemory must be from 128 to 4194304 MB."),
        (["--max-payload", "100000"], "MaxPayload must be from 1 to 1024 MB."),
        (["--max-payload", "100"], "MaxPayload cannot pass what this server's port accepts (65 MB)"),
    ],
)
def test_lamina_admin_refuses_limits_out_of_range(
    raised: RunningServer, args: list[str], message: str
) -> None:
    completed = run_lamina(
        "admin",
        "limits",
        "--data-dir",
        str(raised.data_dir),
        "--port",
        str(raised.port),
        "--account-id",
        "000000000000",
        *args,
        env=raised.root_env(),
    )
    assert completed.returncode != 0 and message in completed.stderr, completed.stderr


def test_a_shutdown_answers_the_caller_of_a_long_invocation(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--max-timeout", "3600")
    try:
        client = server.client(read_timeout=120)
        create_function(client, "hours", {"app.py": LONG}, Timeout=3600)
        answers: list[Any] = []

        def run() -> None:
            try:
                answers.append(
                    client.invoke(FunctionName="hours", Payload=json.dumps({"sleep": 3000}).encode())
                )
            except Exception as error:
                answers.append(error)

        caller = threading.Thread(target=run)
        caller.start()
        assert printed_events(server.client("logs"), "hours", "started", 1)
        stopped_at = time.monotonic()
        assert server.stop(signal.SIGTERM, timeout=60) == 0
        caller.join(30)
        assert not caller.is_alive() and time.monotonic() - stopped_at < 60
        answer = answers[0]
        assert not isinstance(answer, dict) or answer.get("FunctionError"), answer
    finally:
        server.stop()


def signed_admin(server: RunningServer, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """A request to the admin API signed with the root keys, as `lamina admin` signs it."""
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = f"{server.endpoint}/_lamina/admin/{path}"
    request = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "lamina", "us-east-1").add_auth(request)
    prepared = urllib.request.Request(url, data=body, headers=dict(request.headers.items()), method=method)
    try:
        with urllib.request.urlopen(prepared, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        (
            "PUT",
            "accounts/000000000000/limits",
            b'{"MaxTimeout": Infinity}',
            "MaxTimeout must be a whole number",
        ),
        (
            "PUT",
            "accounts/000000000000/limits",
            b'{"MaxTimeout": 1e400}',
            "MaxTimeout must be a whole number",
        ),
        ("PUT", "accounts/000000000000/limits", b'{"MaxCpus": 1' + b"0" * 400 + b"}", "MaxCpus must be from"),
        ("PUT", "accounts/000000000000/limits", b'{"MaxPayload": 66}', "port accepts (65 MB)"),
        ("PUT", "accounts/000000000000/limits", b"[" * 100_000, "The body must be a JSON object."),
        ("POST", "accounts", b'{"AccountId": 5}', "An account id is 12 digits."),
    ],
)
def test_the_admin_api_answers_what_is_not_a_limit_with_a_400(
    raised: RunningServer, method: str, path: str, body: bytes, message: str
) -> None:
    """Found by an attack: infinite and oversized numbers and a numeric account id were 500s."""
    status, answer = signed_admin(raised, method, path, body)
    assert status == 400 and message in answer["message"], answer
    assert raised.health()["status"] == "ok"
