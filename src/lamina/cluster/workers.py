"""The primary's side of `lamina server --workers N`: starting, watching and asking its workers.

The primary is a whole Lamina server; each worker is too, started in follower mode
(`cluster/follower.py`, started as the hidden command `lamina _worker`) on the same port (SO_REUSEPORT: the kernel spreads new connections among
all of them). A worker that dies is started again; the primary's exit ends them all (their control
link closes, and they stop as on SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import pickle
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina.cluster.control import ChannelClosed, ControlChannel, Handler, RemoteError
from lamina.cluster.shared_counts import SharedCounts
from lamina.config import Settings

_log = logging.getLogger(__name__)
# A worker must be serving this soon after it was started.
READY_SECONDS = 120.0
# Workers must have applied a change within this long; one that has not is restarted.
APPLY_SECONDS = 10.0
# Each serving worker is asked this often whether it still answers; one that does not within
# HEARTBEAT_TIMEOUT_SECONDS (stopped, or stuck) is killed and started again.
HEARTBEAT_SECONDS = 2.0
HEARTBEAT_TIMEOUT_SECONDS = 5.0
# A worker that keeps dying is started again at most this often.
RESTART_SECONDS = 1.0
STOP_SECONDS = 20.0


# AF_UNIX paths are limited to 107 bytes; a data directory deep in a tree would pass it.
_MAX_SOCKET_PATH = 100


def runtime_dir_for(data_dir: Path) -> Path:
    """Where the worker group's sockets go: the data directory's `workers` folder, or a private
    folder under /tmp when that path is too long for a Unix socket."""
    preferred = data_dir / "workers"
    if len(str(inbox_path(preferred, 999))) <= _MAX_SOCKET_PATH:
        return preferred
    return Path(tempfile.mkdtemp(prefix="lamina-workers-", dir="/tmp"))


def inbox_path(runtime_dir: Path, index: int) -> Path:
    """Where worker `index` (0: the primary) receives the connections others hand it."""
    return runtime_dir / f"inbox-{index}.sock"


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What a worker process is started with (pickled on its standard input)."""

    settings: Settings
    index: int
    control_path: Path
    runtime_dir: Path  # where each process's inbox for handed-over connections is (inbox_path)
    token: bytes
    counts_path: Path  # the counts all workers share (cluster/shared_counts.py)
    workers: int  # the primary and its workers: the columns of the counts


@dataclass(slots=True)
class Worker:
    index: int
    process: asyncio.subprocess.Process | None = None
    channel: ControlChannel | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    started: float = 0.0
    restarts: int = 0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None


class WorkerGroup:
    def __init__(
        self,
        settings: Settings,
        count: int,
        runtime_dir: Path,
        handlers: Mapping[str, Handler],
        counts: SharedCounts,
    ) -> None:
        """`count` workers besides the primary; `handlers` answer their calls."""
        self._settings = settings
        self._counts = counts
        self.token = secrets.token_bytes(32)
        runtime_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.runtime_dir = runtime_dir
        self.control_path = runtime_dir / "control.sock"
        self.inbox_path = inbox_path(runtime_dir, 0)
        self._handlers = {**handlers, "ready": self._ready}
        self.workers = [Worker(index) for index in range(1, count + 1)]
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False

    async def start(self) -> None:
        """Start every worker; returns once all serve the port."""
        with contextlib.suppress(FileNotFoundError):
            self.control_path.unlink()
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._connected, path=str(self.control_path))
        finally:
            os.umask(old)
        for worker in self.workers:
            self._watch(worker)
        await asyncio.wait_for(
            asyncio.gather(*(worker.ready.wait() for worker in self.workers)), READY_SECONDS
        )
        heartbeat = asyncio.get_running_loop().create_task(self._heartbeat())
        self._tasks.add(heartbeat)
        heartbeat.add_done_callback(self._tasks.discard)

    async def _heartbeat(self) -> None:
        """A stopped or stuck worker still takes connections from the kernel: find it, replace it."""
        while not self._stopping:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            await self.broadcast("ping", timeout=HEARTBEAT_TIMEOUT_SECONDS)

    def _watch(self, worker: Worker) -> None:
        task = asyncio.get_running_loop().create_task(self._run(worker))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, worker: Worker) -> None:
        """Keep `worker` running until the group stops."""
        while not self._stopping:
            worker.ready.clear()
            worker.started = time.monotonic()
            spec = WorkerSpec(
                self._settings,
                worker.index,
                self.control_path,
                self.runtime_dir,
                self.token,
                self._counts.path,
                len(self.workers) + 1,
            )
            worker.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "lamina", "_worker", stdin=asyncio.subprocess.PIPE
            )
            assert worker.process.stdin is not None
            worker.process.stdin.write(pickle.dumps(spec))
            worker.process.stdin.close()
            status = await worker.process.wait()
            worker.channel = None
            # Its invocations and environments went with it: what it counted goes too.
            self._counts.clear_column(worker.index)
            if self._stopping:
                return
            _log.warning(
                "worker %d (pid %d) exited with status %d: starting it again",
                worker.index,
                worker.process.pid,
                status,
            )
            worker.restarts += 1
            await asyncio.sleep(max(0.0, RESTART_SECONDS - (time.monotonic() - worker.started)))

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A worker's control link: its first frame says who it is, with the token it was given."""
        channel: ControlChannel | None = None
        try:
            hello = await asyncio.wait_for(reader.readexactly(4 + 2 + 64 + 8), 10)
            index = int.from_bytes(hello[4:6], "big")
            token = bytes.fromhex(hello[6:70].decode("ascii"))
            pid = int.from_bytes(hello[70:78], "big")
            worker = next((w for w in self.workers if w.index == index), None)
            if worker is None or not hmac.compare_digest(token, self.token) or worker.pid != pid:
                writer.close()
                return
            channel = ControlChannel(reader, writer, self._handlers)
            worker.channel = channel
            await channel.serve()
        except (OSError, ValueError, asyncio.IncompleteReadError, TimeoutError):
            writer.close()

    async def _ready(self, args: dict[str, Any]) -> None:
        for worker in self.workers:
            if worker.index == args.get("index"):
                worker.ready.set()

    def linked(self) -> list[Worker]:
        return [worker for worker in self.workers if worker.channel is not None and worker.ready.is_set()]

    async def broadcast(
        self, op: str, timeout: float = APPLY_SECONDS, **args: Any
    ) -> list[tuple[Worker, Any]]:
        """Ask every serving worker; a worker that fails to answer in time is restarted (it could
        otherwise serve from a stale view). Returns the answers of those that did."""
        workers = self.linked()
        answers = await asyncio.gather(
            *(self._ask(worker, op, timeout, args) for worker in workers), return_exceptions=True
        )
        answered: list[tuple[Worker, Any]] = []
        for worker, answer in zip(workers, answers, strict=True):
            if isinstance(answer, BaseException):
                _log.error("worker %d did not answer %s (%s): restarting it", worker.index, op, answer)
                self._kill(worker)
            else:
                answered.append((worker, answer))
        return answered

    def notify_all(self, op: str, **args: Any) -> None:
        """Tell every serving worker, waiting for no answer."""
        for worker in self.linked():
            if worker.channel is not None:
                worker.channel.notify(op, **args)

    async def ask(self, index: int, op: str, timeout: float = APPLY_SECONDS, **args: Any) -> Any:
        """Ask one worker; None when it is not serving (or went meanwhile)."""
        worker = next((w for w in self.linked() if w.index == index), None)
        if worker is None:
            return None
        try:
            return await self._ask(worker, op, timeout, args)
        except (ChannelClosed, RemoteError, TimeoutError):
            return None

    @staticmethod
    async def _ask(worker: Worker, op: str, timeout: float, args: dict[str, Any]) -> Any:
        channel = worker.channel
        if channel is None:
            raise ChannelClosed("no link")
        try:
            return await channel.call(op, timeout, **args)
        except RemoteError:
            raise
        except ChannelClosed:
            if worker.channel is None:  # it exited meanwhile: its replacement loads everything anew
                return None
            raise

    @staticmethod
    def _kill(worker: Worker) -> None:
        if worker.process is not None and worker.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                worker.process.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        """Stop every worker as SIGTERM stops a server (environments first), killing stragglers."""
        self._stopping = True
        for worker in self.workers:
            if worker.process is not None and worker.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(signal.SIGTERM)
        processes = [w.process for w in self.workers if w.process is not None]
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in processes)), STOP_SECONDS)
        except TimeoutError:
            for worker in self.workers:
                self._kill(worker)
            await asyncio.gather(*(p.wait() for p in processes))
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.close()
        with contextlib.suppress(FileNotFoundError):
            self.control_path.unlink()
        if self.runtime_dir.name.startswith("lamina-workers-"):  # made under /tmp for us alone
            shutil.rmtree(self.runtime_dir, ignore_errors=True)
