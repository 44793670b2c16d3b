"""GPU memory an environment's processes hold now, for its REPORT line: NVML's list of compute
processes per device (or `nvidia-smi --query-compute-apps`), summed over the environment's process
tree. Asked once per invocation of a GPU function, never for others.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import io
import subprocess
from collections.abc import Iterable
from pathlib import Path

from lamina.execution.gpus.discovery import GpuDevice, GpuInventory, NvmlError, load_nvml

_SMI_TIMEOUT_SECONDS = 10.0
_MAX_PROCESSES = 256
_NOT_AVAILABLE = 2**64 - 1  # NVML_VALUE_NOT_AVAILABLE: a process whose usage the driver hides


def process_tree(root: int) -> set[int]:
    """`root` and every descendant still alive (the kernel's children lists, per thread)."""
    found, pending = set(), [root]
    while pending:
        pid = pending.pop()
        if pid in found:
            continue
        found.add(pid)
        with contextlib.suppress(OSError, ValueError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                children = (task / "children").read_text().split()
                pending.extend(int(child) for child in children)
    return found


def gpu_memory_used_mb(inventory: GpuInventory, devices: Iterable[GpuDevice], pids: set[int]) -> int | None:
    """MB of GPU memory `pids` hold on `devices`; None when it cannot be measured here."""
    wanted = {device.uuid: device for device in devices}
    if not wanted:
        return None
    try:
        if inventory.nvml:
            return _nvml_used(wanted.values(), pids)
        if inventory.nvidia_smi is not None:
            return _smi_used(inventory.nvidia_smi, set(wanted), pids)
    except (OSError, NvmlError, subprocess.SubprocessError, ValueError):
        return None
    return None


class _ProcessInfo(ctypes.Structure):
    _fields_ = [
        ("pid", ctypes.c_uint),
        ("usedGpuMemory", ctypes.c_ulonglong),
        ("gpuInstanceId", ctypes.c_uint),
        ("computeInstanceId", ctypes.c_uint),
    ]


def _nvml_used(devices: Iterable[GpuDevice], pids: set[int]) -> int:
    library = load_nvml()
    try:
        used = 0
        for device in devices:
            handle = ctypes.c_void_p()
            if library.nvmlDeviceGetHandleByUUID(device.uuid.encode(), ctypes.byref(handle)):
                raise NvmlError(f"no handle for {device.uuid}")
            count = ctypes.c_uint(_MAX_PROCESSES)
            infos = (_ProcessInfo * _MAX_PROCESSES)()
            if library.nvmlDeviceGetComputeRunningProcesses_v3(handle, ctypes.byref(count), infos):
                raise NvmlError("listing compute processes failed")
            used += sum(
                info.usedGpuMemory
                for info in infos[: count.value]
                if info.pid in pids and info.usedGpuMemory != _NOT_AVAILABLE
            )
        return used // (1024 * 1024)
    finally:
        library.nvmlShutdown()


def _smi_used(nvidia_smi: str, uuids: set[str], pids: set[int]) -> int:
    completed = subprocess.run(
        [nvidia_smi, "--query-compute-apps=gpu_uuid,pid,used_memory", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        timeout=_SMI_TIMEOUT_SECONDS,
        check=True,
    )
    used = 0
    for row in csv.reader(io.StringIO(completed.stdout), skipinitialspace=True):
        if len(row) >= 3 and row[0].strip() in uuids and row[1].strip().isdigit() and int(row[1]) in pids:
            with contextlib.suppress(ValueError):
                used += int(float(row[2]))
    return used
