"""`lamina server --metadata postgresql://...`: functions, IAM, async queue, metrics and alarms in a
real PostgreSQL database instead of the data directory's SQLite files, driven through boto3 and
kept across a restart."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.support.cli import run_lamina
from tests.support.lambda_calls import wait_active
from tests.support.packaging import make_zip
from tests.support.postgres import PostgresServer
from tests.support.server import EXECUTION_ROLE, running_server

HANDLER = "def handler(event, context):\n    return {'echo': event}\n"


def test_a_server_on_postgresql_keeps_its_state_there(postgres: PostgresServer, tmp_path: Path) -> None:
    url = postgres.new_database()
    data = tmp_path / "data"
    with running_server(data, "--metadata", url) as server:
        assert server.health()["stores"] == "postgresql"
        lambda_client, cloudwatch = server.client("lambda"), server.client("cloudwatch")
        lambda_client.create_function(
            FunctionName="pg",
            Runtime="python3.11",
            Role=EXECUTION_ROLE,
            Handler="app.handler",
            Code={"ZipFile": make_zip({"app.py": HANDLER})},
            Tags={"team": "db"},
        )
        wait_active(lambda_client, "pg")
        lambda_client.publish_version(FunctionName="pg")
        lambda_client.create_alias(FunctionName="pg", Name="live", FunctionVersion="1")
        response = lambda_client.invoke(FunctionName="pg:live", Payload=b'{"n": 1}')
        assert json.loads(response["Payload"].read()) == {"echo": {"n": 1}}
        cloudwatch.put_metric_alarm(
            AlarmName="errors",
            MetricName="Errors",
            Namespace="AWS/Lambda",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
    assert not (data / "lamina.db").exists() and not (data / "identity.db").exists()

    with running_server(data, "--metadata", url) as restarted:
        lambda_client = restarted.client("lambda")
        configuration = lambda_client.get_function(FunctionName="pg")
        assert configuration["Tags"] == {"team": "db"}
        assert lambda_client.get_alias(FunctionName="pg", Name="live")["FunctionVersion"] == "1"
        assert [
            alarm["AlarmName"] for alarm in restarted.client("cloudwatch").describe_alarms()["MetricAlarms"]
        ] == ["errors"]
        response = lambda_client.invoke(FunctionName="pg", Payload=b'{"n": 2}')
        assert json.loads(response["Payload"].read()) == {"echo": {"n": 2}}
        # IAM lives there too: the execution role made at the first start is still known.
        assert restarted.client("iam").get_role(RoleName="lambda-role")["Role"]["RoleName"] == "lambda-role"


def test_an_unreachable_database_stops_the_server_with_one_line(tmp_path: Path) -> None:
    result = run_lamina(
        "server",
        "--data-dir",
        str(tmp_path / "data"),
        "--port",
        str(_free_port()),
        "--metadata",
        f"postgresql://nobody@/nowhere?host={tmp_path}&port=1&connect_timeout=1",
        timeout=60,
    )
    assert result.returncode != 0
    assert "cannot connect to the --metadata database" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("url", ["mysql://x/y", "sqlite:///tmp/x"])
def test_only_postgresql_urls_are_taken(url: str, tmp_path: Path) -> None:
    result = run_lamina("server", "--data-dir", str(tmp_path / "data"), "--metadata", url)
    assert result.returncode == 2 and "--metadata takes a postgresql:// URL" in result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
