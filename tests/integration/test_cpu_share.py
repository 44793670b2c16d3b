"""CPU apart from memory: a function's `LAMINA_CPUS` gives its environment a hard quota of that many
CPUs (cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us`) instead of AWS's memory-proportional share, up to
the operator's maximum (the host's cores by default), and its REPORT lines say so."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.lambda_calls import error_of, report_line, wait_updated

# What the function's own cgroup says about its CPU: (quota microseconds or -1, period), or None
# where the sandbox shows no cgroup file system (the namespaces tier).
CGROUP_CPU = """
import os

def handler(event, context):
    for line in open("/proc/self/cgroup").read().splitlines():
        number, controllers, path = line.split(":", 2)
        if "cpu" in controllers.split(","):  # cgroup v1
            folder = next(
                (f"/sys/fs/cgroup/{name}{path}" for name in ("cpu", "cpu,cpuacct", "cpuacct,cpu")
                 if os.path.exists(f"/sys/fs/cgroup/{name}{path}/cpu.cfs_quota_us")),
                None,
            )
            if folder is None:
                return None
            quota = int(open(folder + "/cpu.cfs_quota_us").read())
            return [quota, int(open(folder + "/cpu.cfs_period_us").read())]
        if number == "0" and os.path.exists(f"/sys/fs/cgroup{path}/cpu.max"):  # cgroup v2
            quota, period = open(f"/sys/fs/cgroup{path}/cpu.max").read().split()
            return [-1 if quota == "max" else int(quota), int(period)]
    return None
"""


def cpu_of(lambda_client: Any, name: str) -> tuple[Any, str]:
    answer = lambda_client.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    return json.loads(answer["Payload"].read()), report_line(answer)


def test_lamina_cpus_sets_a_hard_cpu_quota_and_shows_in_report(lambda_client: Any, deploy: Any) -> None:
    name = deploy({"app.py": CGROUP_CPU}, Environment={"Variables": {"LAMINA_CPUS": "0.5"}})
    quota, report = cpu_of(lambda_client, name)
    assert "\tCPUs: 0.5\t" in report
    if quota is None:
        pytest.skip("this sandbox shows the function no cgroup file system")
    assert quota == [50_000, 100_000]

    lambda_client.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"LAMINA_CPUS": "1.25"}}
    )
    wait_updated(lambda_client, name)
    quota, report = cpu_of(lambda_client, name)
    assert quota == [125_000, 100_000] and "\tCPUs: 1.25\t" in report

    lambda_client.update_function_configuration(FunctionName=name, Environment={"Variables": {}})
    wait_updated(lambda_client, name)
    quota, report = cpu_of(lambda_client, name)
    assert quota[0] == -1, "without LAMINA_CPUS the share follows memory, with no quota"
    assert "CPUs:" not in report


@pytest.mark.parametrize("value", ["lots", "0", "-2", "4096"])
def test_lamina_cpus_out_of_range_is_refused(lambda_client: Any, deploy: Any, value: str) -> None:
    name = deploy({"app.py": CGROUP_CPU})
    with pytest.raises(ClientError) as failure:
        lambda_client.update_function_configuration(
            FunctionName=name, Environment={"Variables": {"LAMINA_CPUS": value}}
        )
    code, message, status = error_of(failure)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message.startswith("LAMINA_CPUS must be a number of CPUs from 0.01 to ")
    assert message.endswith(f"(this server's maximum), not '{value}'.")
