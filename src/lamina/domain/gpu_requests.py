"""What GPU a function asks for, from its environment variables (so every deployment tool can set
them): `LAMINA_GPUS=N` for N whole devices, or `LAMINA_GPU_MEMORY_MB=M` for a share of one device
with M MB of its memory. Either is held by one environment for its whole life, alone (whole
devices) or beside other shares of the same device (a share).

A server checks a request against the GPUs it has when a function is created or changed, so a
function that could never run is refused then, with the reason, rather than at its first call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lamina.errors import invalid_parameter

GPUS_VARIABLE = "LAMINA_GPUS"
GPU_MEMORY_VARIABLE = "LAMINA_GPU_MEMORY_MB"
MAX_GPUS_PER_FUNCTION = 64


@dataclass(frozen=True, slots=True)
class GpuRequest:
    """Exactly one of `devices` (whole devices) and `memory_mb` (a share of one device) is set."""

    devices: int = 0
    memory_mb: int = 0

    @property
    def whole(self) -> bool:
        return self.devices > 0

    def describe(self) -> str:
        if self.whole:
            return f"{GPUS_VARIABLE}={self.devices}"
        return f"{GPU_MEMORY_VARIABLE}={self.memory_mb}"


def gpu_request(variables: dict[str, str]) -> GpuRequest | None:
    """The request an accepted configuration makes (validated when it was written); None: no GPU."""
    devices = variables.get(GPUS_VARIABLE)
    if devices is not None:
        return GpuRequest(devices=int(devices))
    memory = variables.get(GPU_MEMORY_VARIABLE)
    if memory is not None:
        return GpuRequest(memory_mb=int(memory))
    return None


def fits_on(request: GpuRequest, device_memory_mb: Sequence[int]) -> bool:
    """Whether one host with GPUs of this much memory (MB each) could ever meet `request`."""
    if request.whole:
        return request.devices <= len(device_memory_mb)
    return any(request.memory_mb <= total for total in device_memory_mb)


def check_gpu_request(
    variables: dict[str, str], gpu_hosts: Callable[[], Sequence[Sequence[int]]]
) -> GpuRequest | None:
    """The request `variables` make, refused when malformed or when no host (`gpu_hosts()`: this
    server, or each node of its cluster: the memory of each of its GPUs, in MB) could ever meet it."""
    devices, memory = variables.get(GPUS_VARIABLE), variables.get(GPU_MEMORY_VARIABLE)
    if devices is None and memory is None:
        return None
    if devices is not None and memory is not None:
        raise invalid_parameter(
            f"Set {GPUS_VARIABLE} (whole devices) or {GPU_MEMORY_VARIABLE} (a share of one), not both."
        )
    if devices is not None:
        request = GpuRequest(devices=_whole_number(GPUS_VARIABLE, devices, MAX_GPUS_PER_FUNCTION))
    else:
        assert memory is not None
        request = GpuRequest(memory_mb=_whole_number(GPU_MEMORY_VARIABLE, memory, 16 * 1024 * 1024))
    hosts = gpu_hosts()
    if not any(fits_on(request, host) for host in hosts):
        raise invalid_parameter(no_gpu_message(request, hosts))
    return request


def no_gpu_message(request: GpuRequest, hosts: Sequence[Sequence[int]]) -> str:
    devices = [memory for host in hosts for memory in host]
    if not devices:
        return f"{request.describe()} asks for a GPU, and this server has none (see /_lamina/health)."
    if request.whole:
        most = max(len(host) for host in hosts)
        where = "this server has" if len(hosts) == 1 else "the most any node of the cluster has is"
        return (
            f"{request.describe()} asks for {request.devices} GPUs, and {where} {most} (see /_lamina/health)."
        )
    return (
        f"{request.describe()} asks for more memory than any of this server's GPUs has "
        f"(the largest: {max(devices)} MB)."
    )


def _whole_number(name: str, value: str, maximum: int) -> int:
    text = value.strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= maximum:
        raise invalid_parameter(f"{name} must be a whole number from 1 to {maximum}, not '{value}'.")
    return int(text)
