"""Which environment holds which GPU. A grant lasts an environment's whole life: whole devices
are held alone; a share (`LAMINA_GPU_MEMORY_MB`) is counted against one device's memory beside
other shares of it, best fit first, so that large requests still find a whole device.

Shares are accounted, not enforced: CUDA gives a process no hard memory ceiling without MIG or MPS,
so a function that uses more than it asked for is seen in its REPORT line (GPU Memory Used), not
stopped. One allocator serves every account's pool; the primary process owns it (workers pass GPU
functions to the primary).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from lamina.domain.gpu_requests import GpuRequest
from lamina.execution.gpus.discovery import GpuDevice, GpuInventory

_grant_ids = itertools.count(1)


@dataclass(eq=False, slots=True)
class GpuGrant:
    devices: tuple[GpuDevice, ...]
    share_mb: int  # 0: the devices are held whole
    id: int = field(default_factory=lambda: next(_grant_ids))
    released: bool = False

    @property
    def visible_devices(self) -> str:
        """CUDA_VISIBLE_DEVICES / NVIDIA_VISIBLE_DEVICES: by UUID, which no renumbering changes."""
        return ",".join(device.uuid for device in self.devices)


class GpuAllocator:
    def __init__(self, inventory: GpuInventory) -> None:
        self.inventory = inventory
        self._whole: dict[str, GpuGrant] = {}  # device uuid -> the grant holding it whole
        self._shares: dict[str, dict[int, int]] = {}  # device uuid -> grant id -> MB
        self._waiters: list[asyncio.Future[None]] = []
        # What can stop an idle environment holding GPUs (one per pool); each returns its stop
        # task, or None when it has none.
        self._evictors: list[Callable[[], asyncio.Task[None] | None]] = []

    @property
    def devices(self) -> tuple[GpuDevice, ...]:
        return self.inventory.devices

    def can_grant(self, request: GpuRequest) -> bool:
        return self._choose(request) is not None

    def try_grant(self, request: GpuRequest) -> GpuGrant | None:
        """Held until `release`; None when the devices that could meet it are held now."""
        chosen = self._choose(request)
        if chosen is None:
            return None
        grant = GpuGrant(chosen, 0 if request.whole else request.memory_mb)
        for device in chosen:
            if request.whole:
                self._whole[device.uuid] = grant
            else:
                self._shares.setdefault(device.uuid, {})[grant.id] = request.memory_mb
        return grant

    def _choose(self, request: GpuRequest) -> tuple[GpuDevice, ...] | None:
        if request.whole:
            free = [device for device in self.devices if self._is_free(device)]
            return tuple(free[: request.devices]) if len(free) >= request.devices else None
        fitting = [
            device
            for device in self.devices
            if device.uuid not in self._whole and self._free_mb(device) >= request.memory_mb
        ]
        if not fitting:
            return None
        return (min(fitting, key=lambda candidate: (self._free_mb(candidate), candidate.index)),)

    def release(self, grant: GpuGrant) -> None:
        """Idempotent: the environment holding `grant` stopped."""
        if grant.released:
            return
        grant.released = True
        for device in grant.devices:
            if self._whole.get(device.uuid) is grant:
                del self._whole[device.uuid]
            shares = self._shares.get(device.uuid)
            if shares is not None:
                shares.pop(grant.id, None)
                if not shares:
                    del self._shares[device.uuid]
        self.notify()

    def notify(self) -> None:
        """Wake whoever waits for a GPU: a grant was released, or an environment holding one became
        idle (a caller of its function takes it; another's may stop it)."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def never_fits(self, request: GpuRequest) -> bool:
        if request.whole:
            return request.devices > len(self.devices)
        return not any(device.memory_mb >= request.memory_mb for device in self.devices)

    def add_evictor(self, evictor: Callable[[], asyncio.Task[None] | None]) -> None:
        self._evictors.append(evictor)

    def evict_idle_holder(self) -> asyncio.Task[None] | None:
        """Stop one idle environment that holds GPUs, in any pool; None when none is idle."""
        for evictor in self._evictors:
            task = evictor()
            if task is not None:
                return task
        return None

    async def released(self, timeout: float) -> None:
        """Until `notify` (or `timeout` seconds)."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await asyncio.wait([waiter], timeout=timeout)

    def health(self) -> dict[str, object]:
        inventory = self.inventory
        devices = []
        for device in self.devices:
            entry = device.to_health()
            shared = sum(self._shares.get(device.uuid, {}).values())
            entry["inUse"] = (
                "whole" if device.uuid in self._whole else f"{shared} MB shared" if shared else "free"
            )
            devices.append(entry)
        answer: dict[str, object] = {"count": len(devices), "source": inventory.source, "devices": devices}
        if inventory.reason:
            answer["reason"] = inventory.reason
        return answer

    def _is_free(self, device: GpuDevice) -> bool:
        return device.uuid not in self._whole and not self._shares.get(device.uuid)

    def _free_mb(self, device: GpuDevice) -> int:
        return device.memory_mb - sum(self._shares.get(device.uuid, {}).values())
