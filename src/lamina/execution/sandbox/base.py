"""The Sandbox interface: start a confined process for one execution environment."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SandboxSpec:
    """What to run and the limits to apply; the sandbox decides how to enforce them."""

    argv: list[str]
    environment: dict[str, str]
    working_directory: Path
    output_fd: int  # write end of the pipe that receives stdout and stderr, merged
    memory_mb: int


class Sandbox(Protocol):
    """Contract: `spawn` returns a started process in its own process group; `kill` is idempotent
    and kills the whole group; the process dies with the server even on SIGKILL of the server.
    """

    name: str

    async def spawn(self, spec: SandboxSpec) -> asyncio.subprocess.Process: ...
    def kill(self, process: asyncio.subprocess.Process) -> None: ...
