"""The background half of CreateFunction and of an update, as AWS runs them: the call answers
with the function Pending (or its update InProgress) and the package, with its layers, is
unpacked and checked afterwards, in the code cache the first environment starts from. Then the
function becomes Active (the update Successful) or Failed, with AWS's reason codes.

Work left by a server that stopped is taken up again at the next start (`resume`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from lamina.domain import lifecycle
from lamina.domain.functions import LATEST, FunctionConfig
from lamina.errors import AwsError
from lamina.execution.code_cache import CodeCache
from lamina.functions.registry import FunctionRegistry

_log = logging.getLogger(__name__)

_INTERNAL = "An internal error occurred while the function's code was being prepared."


class Settler:
    def __init__(
        self, registry: FunctionRegistry, code: CodeCache, lock: Callable[[str], asyncio.Lock]
    ) -> None:
        """`lock(name)`: the manager's lock of a function, held while a settled state is written."""
        self._registry = registry
        self._code = code
        self._lock = lock
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, config: FunctionConfig) -> None:
        """Settle `config` (just written, Pending or InProgress) in the background."""
        task = asyncio.get_running_loop().create_task(self._settle(config))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def resume(self) -> int:
        """Settle what the last run left unsettled; how many configurations that is."""
        unsettled = [config for config in self._registry.all_configs() if lifecycle.is_settling(config)]
        settling_latest = {config.name for config in unsettled if config.version == LATEST}
        for config in unsettled:
            if config.version == LATEST or config.name not in settling_latest:
                self.start(config)  # a Pending version goes with its $LATEST (see _settle)
        return len(unsettled)

    async def wait(self) -> None:
        """Until everything started so far is settled (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def _settle(self, config: FunctionConfig) -> None:
        try:
            await self._code.ensure(config.code.sha256_hex)
            await self._code.layers([layer.content.sha256_hex for layer in config.layers])
            outcome: tuple[str, str] | None = None
        except AwsError as error:  # unpacking words every fault of the archive as AWS does
            outcome = ("InvalidZipFileException", error.message)
        except Exception:
            _log.exception("preparing the code of %s:%s failed", config.name, config.version)
            outcome = ("InternalError", _INTERNAL)
        async with self._lock(config.name):
            current = self._registry.version(config.name, config.version)
            if current is None or current.revision_id != config.revision_id:
                return  # deleted meanwhile
            targets = [current]
            if current.version == LATEST:
                # Publish=True published a Pending version of this very configuration: it settles
                # with $LATEST, and first, so that a caller who saw $LATEST settle finds it settled.
                targets[:0] = [
                    version
                    for version in self._registry.versions(current.name)
                    if version.state == lifecycle.PENDING and _same_work(version, current)
                ]
            for target in targets:
                done = lifecycle.settled(target) if outcome is None else lifecycle.failed(target, *outcome)
                await self._registry.put_state(done)


def _same_work(first: FunctionConfig, second: FunctionConfig) -> bool:
    """Whether settling one prepares what the other runs: the same package and layers."""
    return first.code == second.code and first.layers == second.layers
