"""What an environment holding GPUs is shown, and nothing more: the device nodes of its own devices
(`/dev/nvidia<minor>`), the driver's control nodes every CUDA process opens (`nvidiactl`,
`nvidia-uvm`, `nvidia-uvm-tools`, `nvidia-modeset`, where the host has them) and the folders of the
driver's user-space libraries that lie outside the system folders every environment sees anyway
(a container's `/usr/local/nvidia/lib64`, say), read-only. The variables name the devices by UUID.

The namespaces tier binds exactly these into its own /dev; other environments' /dev has no NVIDIA
node at all. The process tier cannot hide a device node, but on a cgroup v1 host the environment's
devices cgroup denies every NVIDIA node it was not given (`hidden_device_rules`), so opening one
fails whatever the variables say; on a cgroup v2 host only the variables steer it there (an
environment without a grant gets an empty CUDA_VISIBLE_DEVICES), which isolates nothing from code
that ignores them.
"""

from __future__ import annotations

import functools
import os
import re
import stat
import subprocess
from pathlib import Path

from lamina.execution.gpus.allocator import GpuGrant
from lamina.execution.gpus.discovery import GpuDevice

CONTROL_NODES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")
_SYSTEM_FOLDERS = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc")
_DRIVER_LIBRARY = re.compile(r"^\s*(lib(?:cuda|nvidia-[\w.-]+|nvcuvid)\.so[.\d]*) .*=> (\S+)$")


def gpu_variables(grant: GpuGrant | None) -> dict[str, str]:
    """CUDA_VISIBLE_DEVICES and NVIDIA_VISIBLE_DEVICES for an environment: its own devices, or none."""
    visible = grant.visible_devices if grant is not None else ""
    return {"CUDA_VISIBLE_DEVICES": visible, "NVIDIA_VISIBLE_DEVICES": visible or "void"}


def device_nodes(grant: GpuGrant, device_dir: Path) -> tuple[tuple[str, str, bool], ...]:
    """(name under /dev, host path, required) of every node the environment may open: its devices'
    (required: an environment without its device must not start) and the control nodes present."""
    nodes = [
        (f"nvidia{device.minor}", str(device_dir / f"nvidia{device.minor}"), True) for device in grant.devices
    ]
    nodes += [(name, str(device_dir / name), False) for name in CONTROL_NODES if (device_dir / name).exists()]
    return tuple(nodes)


def has_nvidia_nodes(device_dir: Path) -> bool:
    """Whether the host has the NVIDIA driver's device nodes (so there is something to deny)."""
    try:
        return stat.S_ISCHR(os.stat(device_dir / "nvidiactl").st_mode)
    except OSError:
        return False


def hidden_device_rules(
    devices: tuple[GpuDevice, ...], grant: GpuGrant | None, device_dir: Path
) -> tuple[str, ...]:
    """devices-cgroup rules ("c 195:1 rwm") for the NVIDIA nodes an environment must not open: the
    GPUs it was not granted, and without a grant the control nodes too. Nodes that are not
    character devices (a test's stand-ins) have no number to deny."""
    own = {device.uuid for device in grant.devices} if grant is not None else set()
    nodes = [device_dir / f"nvidia{device.minor}" for device in devices if device.uuid not in own]
    if grant is None:
        nodes += [device_dir / name for name in CONTROL_NODES]
    rules = []
    for node in nodes:
        try:
            status = os.stat(node)
        except OSError:
            continue
        if stat.S_ISCHR(status.st_mode):
            rules.append(f"c {os.major(status.st_rdev)}:{os.minor(status.st_rdev)} rwm")
    return tuple(rules)


@functools.cache
def driver_library_folders() -> tuple[str, ...]:
    """Folders of the NVIDIA driver's libraries (from the loader's cache) outside the system
    folders; empty where there are none or no ldconfig."""
    try:
        listed = subprocess.run(
            ["ldconfig", "-p"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    folders: set[str] = set()
    for line in listed.splitlines():
        match = _DRIVER_LIBRARY.match(line)
        if match is None:
            continue
        folder = os.path.dirname(os.path.realpath(match.group(2)))
        if not any(folder == system or folder.startswith(system + "/") for system in _SYSTEM_FOLDERS):
            folders.add(folder)
    return tuple(sorted(folders))
