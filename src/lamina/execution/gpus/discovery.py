"""The host's NVIDIA GPUs, found once at start: through NVML (the driver's own library, no process
to start) or, where it cannot be loaded, `nvidia-smi`. A host without any is a normal state: the
inventory is empty and says why.

`nvidia-smi` may be named explicitly (`--nvidia-smi PATH`): then it alone is asked, which is also
how tests give a server GPUs it does not have.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import io
import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_log = logging.getLogger(__name__)
NVML_LIBRARY = "libnvidia-ml.so.1"
_QUERY = "index,uuid,name,memory.total,pci.bus_id"
_SMI_TIMEOUT_SECONDS = 20.0
_PROC_GPUS = Path("/proc/driver/nvidia/gpus")


@dataclass(frozen=True, slots=True)
class GpuDevice:
    index: int
    uuid: str  # GPU-xxxxxxxx-...: what CUDA_VISIBLE_DEVICES names, stable across renumbering
    name: str
    memory_mb: int
    minor: int  # /dev/nvidia<minor>

    def to_health(self) -> dict[str, object]:
        return {"index": self.index, "uuid": self.uuid, "name": self.name, "memoryMb": self.memory_mb}


@dataclass(frozen=True, slots=True)
class GpuInventory:
    devices: tuple[GpuDevice, ...] = ()
    source: str | None = None  # "nvml", "nvidia-smi", or None: none found
    reason: str = ""  # why there are none
    nvidia_smi: str | None = None  # the nvidia-smi asked, for usage queries
    nvml: bool = False

    @property
    def memory_mb(self) -> list[int]:
        return [device.memory_mb for device in self.devices]


def discover_gpus(*, enabled: bool = True, nvidia_smi: str | None = None) -> GpuInventory:
    """What this host has. `nvidia_smi`: ask only that program (no NVML); `enabled=False`: none."""
    if not enabled:
        return GpuInventory(reason="GPUs are turned off (--gpus off)")
    if nvidia_smi is None:
        try:
            return GpuInventory(_nvml_devices(), "nvml", nvml=True)
        except (OSError, NvmlError) as error:
            _log.debug("NVML gave no GPUs: %s", error)
        nvidia_smi = shutil.which("nvidia-smi")
        if nvidia_smi is None:
            return GpuInventory(reason="no NVIDIA driver here (neither NVML nor nvidia-smi)")
    try:
        devices = _smi_devices(nvidia_smi)
    except (OSError, subprocess.SubprocessError, ValueError) as error:
        return GpuInventory(reason=f"{nvidia_smi} failed: {error}", nvidia_smi=nvidia_smi)
    return GpuInventory(
        devices, "nvidia-smi" if devices else None, "" if devices else "nvidia-smi lists none", nvidia_smi
    )


def _smi_devices(nvidia_smi: str) -> tuple[GpuDevice, ...]:
    completed = subprocess.run(
        [nvidia_smi, f"--query-gpu={_QUERY}", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        timeout=_SMI_TIMEOUT_SECONDS,
        check=False,
    )
    if completed.returncode != 0:
        raise ValueError(
            (completed.stderr or completed.stdout).strip()[:200] or f"exit {completed.returncode}"
        )
    devices = []
    for row in csv.reader(io.StringIO(completed.stdout), skipinitialspace=True):
        if not row:
            continue
        if len(row) < 4:
            raise ValueError(f"unexpected line {','.join(row)!r}")
        index, uuid, name, memory = (value.strip() for value in row[:4])
        bus = row[4].strip() if len(row) > 4 else ""
        devices.append(GpuDevice(int(index), uuid, name, int(float(memory)), _minor(bus, int(index))))
    return tuple(devices)


def _minor(bus_id: str, index: int) -> int:
    """The device node's minor number from the driver's /proc entry; the index where there is none."""
    if bus_id:
        for candidate in (bus_id.lower(), bus_id.lower()[4:] if bus_id.count(":") == 2 else bus_id.lower()):
            information = _PROC_GPUS / candidate / "information"
            with contextlib.suppress(OSError, ValueError):
                for line in information.read_text().splitlines():
                    if line.startswith("Device Minor:"):
                        return int(line.split(":", 1)[1])
    return index


# NVML ----------------------------------------------------------------------------------------------
class NvmlError(RuntimeError):
    pass


class _Memory(ctypes.Structure):
    _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong), ("used", ctypes.c_ulonglong)]


def load_nvml() -> ctypes.CDLL:
    library = ctypes.CDLL(NVML_LIBRARY)
    _check(library.nvmlInit_v2())
    return library


def _check(status: int) -> None:
    if status != 0:
        raise NvmlError(f"NVML error {status}")


def _nvml_devices() -> tuple[GpuDevice, ...]:
    library = load_nvml()
    try:
        count = ctypes.c_uint()
        _check(library.nvmlDeviceGetCount_v2(ctypes.byref(count)))
        devices = []
        for index in range(count.value):
            handle = ctypes.c_void_p()
            _check(library.nvmlDeviceGetHandleByIndex_v2(index, ctypes.byref(handle)))
            name, uuid = ctypes.create_string_buffer(96), ctypes.create_string_buffer(96)
            _check(library.nvmlDeviceGetName(handle, name, 96))
            _check(library.nvmlDeviceGetUUID(handle, uuid, 96))
            memory, minor = _Memory(), ctypes.c_uint()
            _check(library.nvmlDeviceGetMemoryInfo(handle, ctypes.byref(memory)))
            minor_number = (
                index if library.nvmlDeviceGetMinorNumber(handle, ctypes.byref(minor)) else minor.value
            )
            devices.append(
                GpuDevice(
                    index,
                    uuid.value.decode(),
                    name.value.decode(),
                    memory.total // (1024 * 1024),
                    minor_number,
                )
            )
        return tuple(devices)
    finally:
        library.nvmlShutdown()
