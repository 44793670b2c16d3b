"""`lamina server --cluster`: functions run on the nodes of a real Ray cluster (several raylets on
this machine, Ray's own cluster_utils), driven through boto3: placement on every node, logs and
metrics back at the gateway, and a node or agent that dies mid-load (only the calls in flight on it
fail, with ServiceException; accepted async events all run; a replacement agent comes back).

Slow: Ray's processes take several cores' worth of CPU for seconds and listen on many ports of their
own choosing, which disturbs tests running beside them; `pytest -m slow` runs these apart.
"""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_workers import SLOW, STAGE, invoke_fresh, no_retry_client, prometheus
from tests.support.fake_gpus import fake_gpus
from tests.support.lambda_calls import (
    create_function,
    refused_create,
    report_line,
    wait_provisioned,
    wait_updated,
)
from tests.support.ray_cluster import ray_cluster
from tests.support.server import RunningServer, running_server

pytestmark = pytest.mark.slow


def wait_for_agents(server: RunningServer, count: int, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        cluster = server.health().get("cluster", {})
        ready = [agent for agent in cluster.get("agents", []) if agent.get("ready")]
        if len(ready) == count:
            return dict(cluster)
        assert time.monotonic() < deadline, f"never {count} agents: {cluster}"
        time.sleep(0.2)


def attempt(server: RunningServer, name: str, payload: dict[str, Any]) -> str:
    client = no_retry_client(server)
    try:
        response = client.invoke(FunctionName=name, Payload=json.dumps(payload).encode())
        body = json.loads(response["Payload"].read())
        return "done" if body == "done" else f"failed {body}"
    except Exception as error:
        code = getattr(error, "response", {}).get("Error", {}).get("Code")
        return str(code or type(error).__name__)
    finally:
        client.close()


def test_a_private_cluster_runs_functions_on_its_node(tmp_path: Path) -> None:
    with running_server(tmp_path / "data", "--cluster", "local") as server:
        cluster = wait_for_agents(server, 1)
        assert len(cluster["nodes"]) == 1 and cluster["agents"][0]["pid"] != server.process.pid
        client = server.client("lambda")
        create_function(client, "staged", STAGE, Environment={"Variables": {"STAGE": "one"}})
        assert {invoke_fresh(server, "staged") for _ in range(4)} == {"one"}
        client.update_function_configuration(
            FunctionName="staged", Environment={"Variables": {"STAGE": "two"}}
        )
        wait_updated(client, "staged")
        assert invoke_fresh(server, "staged") == "two"
        # The environments live on the agent's node, not in the gateway.
        agent = wait_for_agents(server, 1)["agents"][0]
        assert agent["environments"] >= 1 and server.health()["environments"] == 0
        logs = server.client("logs")
        reports = logs.filter_log_events(logGroupName="/aws/lambda/staged", filterPattern="REPORT")["events"]
        assert len(reports) == 5
        metrics = prometheus(server)
        assert metrics[f'lamina_node_environments{{node="{agent["nodeId"]}"}}'] >= 1
        assert metrics['lamina_invocations_total{outcome="success"}'] == 5
        # Provisioned environments are prepared on the gateway's host, and serve calls there.
        version = client.publish_version(FunctionName="staged")["Version"]
        client.put_provisioned_concurrency_config(
            FunctionName="staged", Qualifier=version, ProvisionedConcurrentExecutions=1
        )
        assert wait_provisioned(client, "staged", version)["Status"] == "READY"
        provisioned = client.invoke(FunctionName=f"staged:{version}", LogType="Tail")
        assert json.loads(provisioned["Payload"].read()) == "two"
        assert "Init Duration" not in report_line(provisioned)
        assert server.health()["environments"] == 1


def test_invocations_spread_over_nodes_and_survive_losing_one(tmp_path: Path) -> None:
    with (
        ray_cluster(nodes=2) as cluster,
        running_server(tmp_path / "data", "--cluster", cluster.address) as server,
    ):
        health = wait_for_agents(server, 2)
        assert {node["nodeId"] for node in health["nodes"]} == set(cluster.node_ids)
        create_function(server.client("lambda"), "slow", SLOW, Timeout=60)

        with ThreadPoolExecutor(4) as pool:  # four at once: both nodes start environments
            assert (
                list(pool.map(lambda n: attempt(server, "slow", {"n": n, "sleep": 2}), range(4)))
                == ["done"] * 4
            )
        agents = wait_for_agents(server, 2)["agents"]
        assert all(agent["environments"] >= 1 for agent in agents), agents

        # Kill one agent (not the head node's: the head holds the cluster's own state) while calls
        # run on both nodes: only the calls on it fail, with 500.
        victim = next(agent for agent in agents if agent["nodeId"] != cluster.node_ids[0])
        with ThreadPoolExecutor(4) as pool:
            running = [pool.submit(attempt, server, "slow", {"n": n, "sleep": 6}) for n in range(4)]
            deadline = time.monotonic() + 20
            while not all(a["busyEnvironments"] for a in wait_for_agents(server, 2)["agents"]):
                assert time.monotonic() < deadline, "calls never ran on both nodes"
                time.sleep(0.1)
            os.kill(victim["pid"], signal.SIGKILL)
            outcomes = [future.result(timeout=60) for future in running]
        assert outcomes.count("done") >= 1 and set(outcomes) <= {"done", "ServiceException"}, outcomes
        assert "ServiceException" in outcomes

        # New calls go to the other node at once; the killed agent's node gets a new one.
        assert {attempt(server, "slow", {"n": 10}) for _ in range(3)} == {"done"}
        replaced = wait_for_agents(server, 2, timeout=60)
        assert victim["pid"] not in {agent["pid"] for agent in replaced["agents"]}

        # Events accepted while a node goes away all run.
        client = server.client("lambda")
        for n in range(8):
            client.invoke(
                FunctionName="slow", InvocationType="Event", Payload=json.dumps({"n": 100 + n, "sleep": 1})
            )
        cluster.remove_node(victim["nodeId"])
        logs = server.client("logs")
        deadline = time.monotonic() + 120
        while True:
            ran = {
                event["message"].strip()
                for event in logs.filter_log_events(logGroupName="/aws/lambda/slow", filterPattern="RAN")[
                    "events"
                ]
            }
            if {f"RAN {100 + n}" for n in range(8)} <= ran:
                break
            assert time.monotonic() < deadline, sorted(ran)
            time.sleep(0.5)
        assert len(wait_for_agents(server, 1)["nodes"]) >= 1


GPU_SEES = """
import os, time

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return os.environ.get("CUDA_VISIBLE_DEVICES")
"""


def test_gpu_functions_are_placed_only_on_nodes_with_free_gpus(tmp_path: Path) -> None:
    gpus = fake_gpus(tmp_path / "gpus")
    gpu_node = {"LAMINA_NVIDIA_SMI": str(gpus.nvidia_smi), "LAMINA_GPU_DEVICES": str(gpus.device_dir)}
    with (
        ray_cluster(nodes=2, last_node_env=gpu_node) as cluster,
        running_server(tmp_path / "data", "--cluster", cluster.address) as server,
    ):
        agents = wait_for_agents(server, 2)["agents"]
        assert sorted(agent["gpus"]["count"] for agent in agents) == [0, 2], "only the last node has GPUs"
        client = server.client("lambda")
        refused = refused_create(
            client, "three", {"app.py": GPU_SEES}, Environment={"Variables": {"LAMINA_GPUS": "3"}}
        )
        assert refused[1] == (
            "LAMINA_GPUS=3 asks for 3 GPUs, and the most any node of the cluster has is 2 (see /_lamina/health)."
        )
        create_function(
            client,
            "on-gpu",
            {"app.py": GPU_SEES},
            Timeout=30,
            Environment={"Variables": {"LAMINA_GPUS": "1"}},
        )
        # Every call runs where the GPUs are (the other node could not run it at all), three at
        # once on two GPUs: two run, the third finds both held and is throttled.
        with ThreadPoolExecutor(3) as pool:
            outcomes = list(pool.map(lambda _: attempt_gpu(server, {"sleep": 3}), range(3)))
        assert sorted(outcome in gpus.uuids for outcome in outcomes) == [False, True, True], outcomes
        assert "TooManyRequestsException" in outcomes
        assert {attempt_gpu(server, {}) for _ in range(4)} <= set(gpus.uuids)


def attempt_gpu(server: RunningServer, event: dict[str, Any]) -> str:
    client = no_retry_client(server)
    try:
        return str(
            json.loads(
                client.invoke(FunctionName="on-gpu", Payload=json.dumps(event).encode())["Payload"].read()
            )
        )
    except ClientError as error:
        return str(error.response["Error"]["Code"])
    finally:
        client.close()
