"""GPU functions on a server given fake GPUs (a fake nvidia-smi and stand-in device nodes): health
shows them, a request is checked when the function is created, an environment holds its devices
for its life and sees them by UUID, a busy GPU throttles a synchronous call and makes an Event one
wait, the REPORT line shows the GPU memory its processes hold, and in the namespaces tier /dev
holds its own device node only. A server without GPUs refuses such a function clearly."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.fake_gpus import FakeGpus, fake_gpus
from tests.support.lambda_calls import create_function, error_of, printed_events, refused_create, report_line
from tests.support.server import RunningServer, start_server

SEES = """
import json, os, time

def handler(event, context):
    if event.get("hold_mb"):
        with open(os.environ["APPS_FILE"], "a") as apps:
            apps.write(f"{os.getpid()},{event['hold_mb']}\\n")
    time.sleep(event.get("sleep", 0))
    print("ran", json.dumps(os.environ.get("CUDA_VISIBLE_DEVICES")), flush=True)
    nodes = sorted(name for name in os.listdir("/dev") if name.startswith("nvidia"))
    return {
        "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "nvidia": os.environ.get("NVIDIA_VISIBLE_DEVICES"),
        "nodes": nodes,
    }
"""


def gpu_server(tmp_path: Path, *args: str) -> tuple[RunningServer, FakeGpus]:
    gpus = fake_gpus(tmp_path / "gpus")
    return start_server(tmp_path / "data", *gpus.server_args, *args), gpus


@pytest.fixture(scope="module")
def with_gpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, FakeGpus]]:
    """The process tier: functions write where the fake nvidia-smi reads (the namespaces tier has a
    test of its own below)."""
    server, gpus = gpu_server(tmp_path_factory.mktemp("gpu-server"), "--sandbox", "process")
    yield server, gpus
    server.stop()


def invoke(client: Any, name: str, event: dict[str, Any] | None = None) -> tuple[Any, str]:
    answer = client.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode(), LogType="Tail")
    return json.loads(answer["Payload"].read()), report_line(answer)


def test_health_shows_the_gpus_found(with_gpus: tuple[RunningServer, FakeGpus]) -> None:
    server, gpus = with_gpus
    shown = server.health()["gpus"]
    assert shown["count"] == 2 and shown["source"] == "nvidia-smi"
    assert [device["uuid"] for device in shown["devices"]] == gpus.uuids
    assert shown["devices"][0]["name"] == "NVIDIA H200" and shown["devices"][0]["memoryMb"] == 143771


def test_a_server_without_gpus_refuses_a_gpu_function(lambda_client: Any, server: RunningServer) -> None:
    assert server.health()["gpus"]["count"] == 0
    refused = refused_create(
        lambda_client, "wants-a-gpu", {"app.py": SEES}, Environment={"Variables": {"LAMINA_GPUS": "1"}}
    )
    assert refused == (
        "InvalidParameterValueException",
        "LAMINA_GPUS=1 asks for a GPU, and this server has none (see /_lamina/health).",
        400,
    )


def test_awss_accelerator_config_is_refused_naming_laminas_way(lambda_client: Any, deploy: Any) -> None:
    """AcceleratorConfig belongs to Lambda Managed Instances: refused, not accepted and ignored."""
    message = (
        "AcceleratorConfig needs Lambda Managed Instances (CapacityProviderConfig), which Lamina does not "
        "offer; ask for GPUs with LAMINA_GPUS (whole devices) or LAMINA_GPU_MEMORY_MB (a share of one) in "
        "the function's environment variables."
    )
    created = refused_create(
        lambda_client, "accelerated", {"app.py": SEES}, AcceleratorConfig={"AcceleratorMemorySize": 24}
    )
    assert created == ("InvalidParameterValueException", message, 400)
    name = deploy({"app.py": SEES})
    with pytest.raises(ClientError) as updated:
        lambda_client.update_function_configuration(
            FunctionName=name, AcceleratorConfig={"AcceleratorMemorySize": 24}
        )
    assert error_of(updated) == ("InvalidParameterValueException", message, 400)


def test_requests_are_checked_against_the_gpus_there_are(with_gpus: tuple[RunningServer, FakeGpus]) -> None:
    server, _ = with_gpus
    client = server.client()
    create_function(client, "checked", {"app.py": SEES})
    for variables, message in (
        ({"LAMINA_GPUS": "3"}, "LAMINA_GPUS=3 asks for 3 GPUs, and this server has 2 (see /_lamina/health)."),
        ({"LAMINA_GPUS": "two"}, "LAMINA_GPUS must be a whole number from 1 to 64, not 'two'."),
        (
            {"LAMINA_GPU_MEMORY_MB": "200000"},
            "LAMINA_GPU_MEMORY_MB=200000 asks for more memory than any of this server's GPUs has "
            "(the largest: 143771 MB).",
        ),
    ):
        with pytest.raises(ClientError) as failure:
            client.update_function_configuration(FunctionName="checked", Environment={"Variables": variables})
        assert error_of(failure) == ("InvalidParameterValueException", message, 400)


def test_environments_see_their_own_devices_and_the_rest_see_none(
    with_gpus: tuple[RunningServer, FakeGpus],
) -> None:
    server, gpus = with_gpus
    client = server.client()
    create_function(client, "one-gpu", {"app.py": SEES}, Environment={"Variables": {"LAMINA_GPUS": "1"}})
    create_function(client, "no-gpu", {"app.py": SEES})
    seen, report = invoke(client, "one-gpu")
    assert seen["cuda"] in gpus.uuids and seen["nvidia"] == seen["cuda"]
    assert "GPU Memory Used: 0 MB" in report
    plain, plain_report = invoke(client, "no-gpu")
    assert (plain["cuda"], plain["nvidia"]) == ("", "void"), "a host with GPUs hides them from the rest"
    assert "GPU Memory" not in plain_report
    held = [device for device in server.health()["gpus"]["devices"] if device["inUse"] == "whole"]
    assert [device["uuid"] for device in held] == [seen["cuda"]], "the warm environment keeps its GPU"


def test_the_report_line_shows_the_gpu_memory_its_processes_hold(
    with_gpus: tuple[RunningServer, FakeGpus],
) -> None:
    server, gpus = with_gpus
    client = server.client()
    create_function(
        client,
        "holds-memory",
        {"app.py": SEES},
        Environment={"Variables": {"LAMINA_GPU_MEMORY_MB": "4096", "APPS_FILE": str(gpus.apps_file)}},
    )
    _, report = invoke(client, "holds-memory", {"hold_mb": 3072})
    assert "\tGPU Memory Used: 3072 MB\t" in report


def test_a_busy_gpu_throttles_a_call_and_an_event_waits_for_it(tmp_path: Path) -> None:
    server, _ = gpu_server(tmp_path)
    try:
        client = server.client(read_timeout=60)
        create_function(
            client, "both-gpus", {"app.py": SEES}, Environment={"Variables": {"LAMINA_GPUS": "2"}}
        )
        create_function(client, "one-more", {"app.py": SEES}, Environment={"Variables": {"LAMINA_GPUS": "1"}})
        invoke(client, "one-more")  # idle now, holding a GPU: made way for the next
        holder = threading.Thread(target=invoke, args=(client, "both-gpus", {"sleep": 4}))
        holder.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if sum(device["inUse"] == "whole" for device in server.health()["gpus"]["devices"]) == 2:
                break
            time.sleep(0.05)
        with pytest.raises(ClientError) as throttled:
            client.invoke(FunctionName="one-more", Payload=b"{}")
        code, message, status = error_of(throttled)
        assert (code, status) == ("TooManyRequestsException", 429)
        assert "LAMINA_GPUS=1; every GPU that could meet it is held by another environment" in message
        assert (
            client.invoke(FunctionName="one-more", InvocationType="Event", Payload=b"{}")["StatusCode"] == 202
        )
        holder.join(30)
        assert printed_events(server.client("logs"), "one-more", "ran", 2), (
            "the Event ran once a GPU was free"
        )
    finally:
        server.stop()


@pytest.mark.skipif(
    os.environ.get("LAMINA_TEST_SANDBOX") not in (None, "namespaces") or os.geteuid() != 0,
    reason="needs the namespaces tier (root)",
)
def test_in_the_namespaces_tier_dev_holds_only_its_own_gpu(tmp_path: Path) -> None:
    server, gpus = gpu_server(tmp_path, "--sandbox", "namespaces")
    try:
        if server.health()["sandbox"] != "namespaces":
            pytest.skip("the namespaces tier does not work here")
        client = server.client()
        create_function(client, "confined", {"app.py": SEES}, Environment={"Variables": {"LAMINA_GPUS": "1"}})
        create_function(client, "other", {"app.py": SEES})
        seen, _ = invoke(client, "confined")
        index = gpus.uuids.index(seen["cuda"])
        assert seen["nodes"] == sorted([f"nvidia{index}", "nvidia-uvm", "nvidiactl"])
        other, _ = invoke(client, "other")
        assert other["nodes"] == [], "an environment without a grant has no NVIDIA node at all"
        # Two at once: two environments (the second from a fork server's standby), each with the
        # one device it holds.
        with ThreadPoolExecutor(2) as pool:
            both = list(pool.map(lambda _: invoke(client, "confined", {"sleep": 1})[0], range(2)))
        assert sorted(answer["cuda"] for answer in both) == gpus.uuids
        for answer in both:
            own = f"nvidia{gpus.uuids.index(answer['cuda'])}"
            assert answer["nodes"] == sorted([own, "nvidia-uvm", "nvidiactl"])
    finally:
        server.stop()


FRAMEWORK = """
import fakeframework

def handler(event, context):
    return {"framework": fakeframework.NAME, "loaded": fakeframework.loaded()}
"""


@pytest.mark.parametrize("sandbox", ["process", "namespaces"])
def test_a_runtime_of_the_operators_own_name_brings_its_interpreters_packages(
    tmp_path: Path, sandbox: str, request: pytest.FixtureRequest
) -> None:
    """`--runtime python3.11-gpu=/opt/venv/bin/python`: a function of that runtime imports what the
    virtual environment has installed (a framework too large for a layer), warm between calls;
    a function of an AWS runtime name still sees nothing of the host's packages."""
    if sandbox == "namespaces" and os.geteuid() != 0:
        pytest.skip("the namespaces tier needs root here")
    # Outside /tmp: the namespaces tier mounts a /tmp of the environment's own over the host's.
    holder = Path(tempfile.mkdtemp(prefix="lamina-test-venv-", dir="/var/tmp"))
    request.addfinalizer(lambda: shutil.rmtree(holder, ignore_errors=True))
    venv = holder / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = next((venv / "lib").glob("python3.*")) / "site-packages"
    (site / "fakeframework.py").write_text(
        "NAME = 'fake torch'\n_calls = []\n\ndef loaded():\n    _calls.append(1)\n    return len(_calls)\n"
    )
    for folder in (holder, *venv.rglob("*")):
        if folder.is_dir():
            folder.chmod(0o755)
    server = start_server(
        tmp_path / "data", "--sandbox", sandbox, "--runtime", f"python3.11-gpu={venv / 'bin' / 'python'}"
    )
    try:
        if server.health()["sandbox"] != sandbox:
            pytest.skip(f"the {sandbox} tier does not work here")
        client = server.client()
        create_function(client, "framework", {"app.py": FRAMEWORK}, Runtime="python3.11-gpu")
        assert client.get_function_configuration(FunctionName="framework")["Runtime"] == "python3.11-gpu"
        first, _ = invoke(client, "framework")
        second, _ = invoke(client, "framework")
        assert first == {"framework": "fake torch", "loaded": 1}
        assert second["loaded"] == 2, "the warm environment kept its framework loaded"
        create_function(client, "plain-runtime", {"app.py": FRAMEWORK})
        failed = client.invoke(FunctionName="plain-runtime", Payload=b"{}")
        assert failed["FunctionError"] == "Unhandled"
        assert json.loads(failed["Payload"].read())["errorType"] == "Runtime.ImportModuleError"
    finally:
        server.stop()


def test_with_workers_gpu_functions_run_where_the_gpus_are_held(tmp_path: Path) -> None:
    """--workers: whichever process receives the call, the primary (which holds the allocator) runs
    a GPU function, so one GPU is never granted twice."""
    server, gpus = gpu_server(tmp_path, "--workers", "2")
    try:
        client = server.client()
        create_function(client, "served", {"app.py": SEES}, Environment={"Variables": {"LAMINA_GPUS": "2"}})
        seen = set()
        for _ in range(6):
            fresh = server.client()  # a new connection: the kernel spreads them over the processes
            seen.add(invoke(fresh, "served")[0]["cuda"])
            fresh.close()
        assert seen == {",".join(gpus.uuids)}
        streams = server.client("logs").describe_log_streams(logGroupName="/aws/lambda/served")["logStreams"]
        assert len(streams) == 1, "every call ran in the one environment holding both GPUs"
        held = [device["inUse"] for device in server.health()["gpus"]["devices"]]
        assert held == ["whole", "whole"]
    finally:
        server.stop()
