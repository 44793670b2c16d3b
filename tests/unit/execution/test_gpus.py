"""GPUs without a GPU: discovery through a fake nvidia-smi, the allocator's whole devices and
shares, the nodes and variables an environment is given, the usage its REPORT shows, and the
pool's scheduling (a grant for the environment's life, idle holders stopped for a new one, a
throttle or a wait when every GPU is busy, a refusal where none could ever do)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from tests.support.fake_backend import FakeBackend, function, settle
from tests.support.fake_gpus import DEVICES, FakeGpus, fake_gpus

from lamina.domain.functions import FunctionConfig
from lamina.domain.gpu_requests import GpuRequest, check_gpu_request
from lamina.errors import AwsError
from lamina.execution.environment import EnvironmentState
from lamina.execution.gpus import discovery
from lamina.execution.gpus.allocator import GpuAllocator
from lamina.execution.gpus.discovery import GpuDevice, GpuInventory, discover_gpus
from lamina.execution.gpus.exposure import device_nodes, gpu_variables, has_nvidia_nodes, hidden_device_rules
from lamina.execution.gpus.usage import gpu_memory_used_mb, process_tree
from lamina.execution.pool import EnvironmentPool, FixedKeepAlive, MemoryBudget, warm_pool
from lamina.execution.pool.budget import GpusExhausted
from lamina.execution.sandbox.limits import CgroupLimits

T = TypeVar("T")
H200 = DEVICES[0][2]


@pytest.fixture
def gpus(tmp_path: Path) -> FakeGpus:
    return fake_gpus(tmp_path / "gpus")


def inventory(*memory_mb: int) -> GpuInventory:
    devices = tuple(
        GpuDevice(index, f"GPU-{index:08d}", "Test GPU", memory, index)
        for index, memory in enumerate(memory_mb)
    )
    return GpuInventory(devices, "test")


# discovery ------------------------------------------------------------------------------------
def test_nvidia_smi_lists_the_devices(gpus: FakeGpus) -> None:
    found = discover_gpus(nvidia_smi=str(gpus.nvidia_smi))
    assert found.source == "nvidia-smi" and found.reason == ""
    assert [(device.index, device.uuid, device.name, device.memory_mb) for device in found.devices] == [
        (index, uuid, name, memory) for index, (uuid, name, memory) in enumerate(DEVICES)
    ]
    assert [device.minor for device in found.devices] == [0, 1]  # no /proc entry: the index


def test_no_gpus_is_a_normal_state_that_says_why(tmp_path: Path) -> None:
    assert discover_gpus(enabled=False).devices == ()
    assert discover_gpus(enabled=False).reason == "GPUs are turned off (--gpus off)"
    missing = discover_gpus(nvidia_smi=str(tmp_path / "no-such-program"))
    assert missing.devices == () and "failed" in missing.reason
    broken = tmp_path / "broken-smi"
    broken.write_text(
        "#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate' >&2\nexit 9\n"
    )
    broken.chmod(0o755)
    failed = discover_gpus(nvidia_smi=str(broken))
    assert failed.devices == () and "could not communicate" in failed.reason


# requests -------------------------------------------------------------------------------------
def refusal(variables: dict[str, str], memory: list[int], *others: list[int]) -> str:
    with pytest.raises(AwsError) as failure:
        check_gpu_request(variables, lambda: [memory, *others])
    assert failure.value.code == "InvalidParameterValueException"
    return failure.value.message


def test_a_request_is_checked_against_the_servers_gpus() -> None:
    assert check_gpu_request({}, list) is None
    assert check_gpu_request({"LAMINA_GPUS": "2"}, lambda: [[H200, H200]]) == GpuRequest(devices=2)
    assert check_gpu_request({"LAMINA_GPU_MEMORY_MB": "8192"}, lambda: [[H200]]) == GpuRequest(memory_mb=8192)
    # A cluster: some node must have them all itself.
    assert check_gpu_request({"LAMINA_GPUS": "2"}, lambda: [[], [H200], [H200, H200]]) == GpuRequest(
        devices=2
    )
    assert refusal({"LAMINA_GPUS": "2"}, [H200], [H200]) == (
        "LAMINA_GPUS=2 asks for 2 GPUs, and the most any node of the cluster has is 1 (see /_lamina/health)."
    )
    assert refusal({"LAMINA_GPUS": "1"}, []) == (
        "LAMINA_GPUS=1 asks for a GPU, and this server has none (see /_lamina/health)."
    )
    assert refusal({"LAMINA_GPUS": "3"}, [H200, H200]) == (
        "LAMINA_GPUS=3 asks for 3 GPUs, and this server has 2 (see /_lamina/health)."
    )
    assert refusal({"LAMINA_GPU_MEMORY_MB": "200000"}, [H200]) == (
        "LAMINA_GPU_MEMORY_MB=200000 asks for more memory than any of this server's GPUs has "
        f"(the largest: {H200} MB)."
    )
    for value in ("0", "-1", "1.5", "one", "", "٣"):
        assert refusal({"LAMINA_GPUS": value}, [H200]) == (
            f"LAMINA_GPUS must be a whole number from 1 to 64, not '{value}'."
        )
    assert refusal({"LAMINA_GPUS": "1", "LAMINA_GPU_MEMORY_MB": "10"}, [H200]).startswith("Set LAMINA_GPUS")


# the allocator --------------------------------------------------------------------------------
def test_whole_devices_are_held_alone_until_released() -> None:
    allocator = GpuAllocator(inventory(1000, 1000))
    first = allocator.try_grant(GpuRequest(devices=1))
    second = allocator.try_grant(GpuRequest(devices=1))
    assert first is not None and second is not None and first.devices != second.devices
    assert allocator.try_grant(GpuRequest(devices=1)) is None
    assert allocator.try_grant(GpuRequest(memory_mb=1)) is None  # a whole device takes no share
    allocator.release(first)
    allocator.release(first)  # idempotent
    again = allocator.try_grant(GpuRequest(devices=1))
    assert again is not None and again.devices == first.devices
    assert allocator.never_fits(GpuRequest(devices=3)) and not allocator.never_fits(GpuRequest(devices=2))


def test_shares_fill_the_fullest_device_that_fits_first() -> None:
    allocator = GpuAllocator(inventory(1000, 1000))
    a = allocator.try_grant(GpuRequest(memory_mb=600))
    b = allocator.try_grant(GpuRequest(memory_mb=300))
    assert a is not None and b is not None and a.devices == b.devices  # best fit: beside a
    assert allocator.try_grant(GpuRequest(devices=2)) is None  # one device holds shares
    whole = allocator.try_grant(GpuRequest(devices=1))
    assert whole is not None and whole.devices != a.devices
    assert allocator.try_grant(GpuRequest(memory_mb=200)) is None  # 100 MB left beside the shares
    assert allocator.health()["devices"][a.devices[0].index]["inUse"] == "900 MB shared"  # type: ignore[index]
    assert allocator.health()["devices"][whole.devices[0].index]["inUse"] == "whole"  # type: ignore[index]
    assert allocator.never_fits(GpuRequest(memory_mb=1001))


def test_an_environment_is_shown_its_own_devices_only(gpus: FakeGpus) -> None:
    allocator = GpuAllocator(discover_gpus(nvidia_smi=str(gpus.nvidia_smi)))
    grant = allocator.try_grant(GpuRequest(devices=1))
    assert grant is not None
    nodes = device_nodes(grant, gpus.device_dir)
    assert nodes == (
        ("nvidia0", str(gpus.device_dir / "nvidia0"), True),
        ("nvidiactl", str(gpus.device_dir / "nvidiactl"), False),
        ("nvidia-uvm", str(gpus.device_dir / "nvidia-uvm"), False),
    )
    assert gpu_variables(grant) == {
        "CUDA_VISIBLE_DEVICES": gpus.uuids[0],
        "NVIDIA_VISIBLE_DEVICES": gpus.uuids[0],
    }
    assert gpu_variables(None) == {"CUDA_VISIBLE_DEVICES": "", "NVIDIA_VISIBLE_DEVICES": "void"}


def test_the_gpu_memory_an_environments_processes_hold(gpus: FakeGpus) -> None:
    found = discover_gpus(nvidia_smi=str(gpus.nvidia_smi))
    tree = process_tree(os.getpid())
    assert os.getpid() in tree
    assert gpu_memory_used_mb(found, found.devices[:1], tree) == 0
    gpus.apps_file.write_text(f"{os.getpid()},1234\n999999999,5000\n")
    assert gpu_memory_used_mb(found, found.devices[:1], tree) == 1234  # another process's is not counted
    assert gpu_memory_used_mb(found, (), tree) is None


# the pool -------------------------------------------------------------------------------------
def run(
    scenario: Callable[[EnvironmentPool, FakeBackend, GpuAllocator], Awaitable[T]],
    allocator: GpuAllocator | None = None,
) -> T:
    async def main() -> T:
        backend = FakeBackend()
        gpus = allocator if allocator is not None else GpuAllocator(inventory(1000, 1000))
        pool = EnvironmentPool(backend, FixedKeepAlive(600), MemoryBudget(4096), gpus=gpus)  # type: ignore[arg-type]
        try:
            return await scenario(pool, backend, gpus)
        finally:
            await pool.close()

    return asyncio.run(main())


def gpu_function(name: str, **variables: str) -> FunctionConfig:
    return dataclasses.replace(function(name), environment=variables)


def test_an_environment_holds_its_grant_for_its_life() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend, gpus: GpuAllocator) -> None:
        environment = await pool.acquire(gpu_function("trainer", LAMINA_GPUS="2"))
        assert environment.gpu_grant is not None and len(environment.gpu_grant.devices) == 2
        pool.release(environment, environment.config)
        again = await pool.acquire(environment.config)
        assert again is environment, "a warm environment keeps its GPUs"
        plain = await pool.acquire(function("plain"))
        assert plain.gpu_grant is None
        pool.release(again, None)  # the function went: its environment stops
        await settle()
        assert gpus.can_grant(GpuRequest(devices=2)), "its devices came back once it stopped"

    run(scenario)


def test_idle_holders_are_stopped_for_a_new_grant_and_busy_ones_throttle() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend, gpus: GpuAllocator) -> None:
        big = await pool.acquire(gpu_function("big", LAMINA_GPUS="2"))
        pool.release(big, big.config)  # idle, still holding both devices
        small = await pool.acquire(gpu_function("small", LAMINA_GPUS="1"))
        await settle()
        assert big.state is EnvironmentState.STOPPED, "the idle holder made way"
        with pytest.raises(GpusExhausted) as busy:
            await pool.acquire(gpu_function("big", LAMINA_GPUS="2"))
        assert not busy.value.never_fits
        assert str(busy.value) == (
            "needs LAMINA_GPUS=2; every GPU that could meet it is held by another environment"
        )
        waiting = asyncio.ensure_future(pool.acquire(gpu_function("big", LAMINA_GPUS="2"), wait=True))
        await asyncio.sleep(0.05)
        assert not waiting.done(), "an Event invocation waits for the GPUs"
        pool.release(small, None)
        environment = await asyncio.wait_for(waiting, 5)
        assert environment.gpu_grant is not None and len(environment.gpu_grant.devices) == 2

    run(scenario)


def test_a_request_no_gpu_here_could_meet_is_refused_at_once() -> None:
    async def scenario(pool: EnvironmentPool, backend: FakeBackend, gpus: GpuAllocator) -> None:
        for config in (
            gpu_function("huge", LAMINA_GPUS="3"),
            gpu_function("share", LAMINA_GPU_MEMORY_MB="5000"),
        ):
            with pytest.raises(GpusExhausted) as never:
                await pool.acquire(config, wait=True)
            assert never.value.never_fits
        assert backend.started == []

    run(scenario)
    run(scenario, GpuAllocator(GpuInventory()))


# NVML, through a stand-in library -------------------------------------------------------------
@pytest.fixture
def fake_nvml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the stand-in NVML")
    library = tmp_path / "libnvidia-ml.so.1"
    source = Path(__file__).resolve().parents[2] / "support" / "fake_nvml.c"
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(library), str(source)], check=True, timeout=120)
    monkeypatch.setattr(discovery, "NVML_LIBRARY", str(library))
    return library


def test_nvml_lists_the_devices_with_their_minor_numbers(fake_nvml: Path) -> None:
    found = discover_gpus()
    assert found.source == "nvml" and found.nvml
    assert [(device.index, device.name, device.memory_mb, device.minor) for device in found.devices] == [
        (0, "Fake NVML GPU", 81559, 7),
        (1, "Fake NVML GPU", 81559, 8),
    ]
    assert found.devices[1].uuid == "GPU-fa4e0000-0000-0000-0000-000000000002"
    grant = GpuAllocator(found).try_grant(GpuRequest(devices=1))
    assert grant is not None
    assert device_nodes(grant, Path("/dev"))[0] == ("nvidia7", "/dev/nvidia7", True)


def test_nvml_reports_what_the_environments_processes_hold(
    fake_nvml: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = discover_gpus()
    monkeypatch.setenv("FAKE_NVML_PID", str(os.getpid()))
    assert gpu_memory_used_mb(found, found.devices[:1], {os.getpid()}) == 2048  # "not available" skipped
    assert gpu_memory_used_mb(found, found.devices, {os.getpid()}) == 4096
    assert gpu_memory_used_mb(found, found.devices, {1}) == 0


def test_a_caller_waiting_for_a_gpu_is_woken_when_a_holder_becomes_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by an attack: waiters woke only when a grant was released (or a second later), so
    queued Event invocations of a GPU function ran one per second."""
    monkeypatch.setattr(warm_pool, "_GPU_RECHECK_SECONDS", 600.0)  # no timeout to hide behind

    async def scenario(pool: EnvironmentPool, backend: FakeBackend, gpus: GpuAllocator) -> None:
        config = gpu_function("queued", LAMINA_GPUS="2")
        busy = await pool.acquire(config)
        same = asyncio.ensure_future(pool.acquire(config, wait=True))
        other = asyncio.ensure_future(pool.acquire(gpu_function("other", LAMINA_GPUS="1"), wait=True))
        await asyncio.sleep(0.05)
        assert not same.done() and not other.done()
        pool.release(busy, config)
        assert await asyncio.wait_for(same, 5) is busy, "the same function's caller took the idle one"
        pool.release(busy, config)
        other_environment = await asyncio.wait_for(other, 5)  # the idle holder was stopped for it
        assert other_environment.gpu_grant is not None and busy.state is EnvironmentState.STOPPED

    run(scenario)


# the process tier: a devices cgroup denies the nodes an environment was not given ---------------
def stand_in_nodes(folder: Path) -> Path:
    """Character devices standing in for NVIDIA's: nvidia0 -> /dev/null (1:3), nvidia1 -> /dev/zero
    (1:5), nvidiactl -> /dev/full (1:7)."""
    folder.mkdir()
    for name, target in (("nvidia0", "/dev/null"), ("nvidia1", "/dev/zero"), ("nvidiactl", "/dev/full")):
        (folder / name).symlink_to(target)
    return folder


def test_the_rules_deny_every_nvidia_node_but_an_environments_own(tmp_path: Path) -> None:
    nodes = stand_in_nodes(tmp_path / "dev")
    devices = inventory(1000, 1000).devices
    grant = GpuAllocator(inventory(1000, 1000)).try_grant(GpuRequest(devices=1))
    assert grant is not None and grant.devices[0].minor == 0
    assert hidden_device_rules(devices, grant, nodes) == ("c 1:5 rwm",)
    assert hidden_device_rules(devices, None, nodes) == ("c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm")
    assert has_nvidia_nodes(nodes) and not has_nvidia_nodes(tmp_path)
    assert hidden_device_rules(devices, None, fake_gpus(tmp_path / "fake").device_dir) == ()  # plain files


def test_the_kernel_refuses_a_denied_node_to_the_environments_processes() -> None:
    limits = CgroupLimits.detect(devices=True)
    if limits is None or "devices" not in limits.kinds:
        pytest.skip("no writable v1 devices cgroup here")
    environment = limits.create("gpu-test", max_processes=64, memory_mb=128, denied_devices=("c 1:5 rwm",))
    try:
        [procs] = [path for path in environment.procs_files if "/devices/" in path]

        def reads(node: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                ["sh", "-c", f"echo $$ > {procs} && head -c 1 {node} > /dev/stderr"],
                capture_output=True,
                text=True,
                timeout=30,
            )

        assert reads("/dev/full").returncode == 0, "what was not denied opens"
        denied = reads("/dev/zero")
        assert denied.returncode != 0 and "Operation not permitted" in denied.stderr, denied
        environment.deny_devices(("c 1:7 rwm",))  # a standby narrowed when it is assigned
        narrowed = reads("/dev/full")
        assert narrowed.returncode != 0 and "Operation not permitted" in narrowed.stderr, narrowed
    finally:
        environment.kill_all()
        environment.remove()
        limits.close()
