"""The server's side of the fork server's reports: a child's pid and its hand-over of the PID
namespace's init can arrive in one read, and the hand-over must not be lost (it was, and the
memory watchdog then read a dead process: "Max Memory Used: 0 MB", no limit enforced)."""

from __future__ import annotations

import asyncio
import socket

from lamina.execution.zygote.process import ForkedProcess, ZygoteProcess
from lamina.runtime_api.channel import encode_frame


def frame(message: dict[str, object]) -> bytes:
    return encode_frame(message)


def test_a_hand_over_in_the_same_read_as_the_fork_reaches_the_child() -> None:
    async def scenario() -> None:
        zygote = ZygoteProcess("/usr/bin/python3", preload="", sdk_library=None)
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        zygote._control = ours
        future: asyncio.Future[ForkedProcess] = asyncio.get_running_loop().create_future()
        zygote._pending[1] = future
        theirs.sendall(
            frame({"type": "spawned", "id": 1, "pid": 4001})
            + frame({"type": "moved", "pid": 4001, "to": 4002})
        )
        await asyncio.sleep(0.01)
        zygote._on_readable()  # both reports, one read, before the forking coroutine resumes
        child = await future
        assert child._init == 4002  # the runtime is looked up below the namespace's init
        zygote._children.pop(4002)
        ours.close()
        theirs.close()

    asyncio.run(scenario())
