"""Messages survive a killed server: every message a send acknowledged before a SIGKILL is there
after the restart, messages in flight come back once their visibility ends, and sends racing the
kill are either acknowledged and kept, or failed for the client and free to retry."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from tests.support.server import running_server


def _drain(sqs: Any, url: str, expected: int, timeout: float = 30) -> list[str]:
    bodies: list[str] = []
    deadline = time.monotonic() + timeout
    while len(bodies) < expected and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


@pytest.mark.parametrize("round_", range(2))
def test_acknowledged_messages_survive_a_kill(tmp_path: Path, round_: int) -> None:
    data_dir = tmp_path / "data"
    acknowledged: list[str] = []
    with running_server(data_dir, "--workers", "1") as server:
        sqs = server.client("sqs")
        url = sqs.create_queue(QueueName="durable")["QueueUrl"]
        for index in range(20):
            sqs.send_message(QueueUrl=url, MessageBody=f"before-{index}")
            acknowledged.append(f"before-{index}")
        in_flight = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=5, VisibilityTimeout=2)["Messages"]
        assert len(in_flight) == 5
        stop = threading.Event()
        sender = server.client("sqs")

        def keep_sending() -> None:
            index = 0
            while not stop.is_set():
                body = f"racing-{index}"
                try:
                    sender.send_message(QueueUrl=url, MessageBody=body)
                    acknowledged.append(body)
                except (BotoCoreError, ClientError):
                    return  # the server died under this send: not acknowledged
                index += 1

        thread = threading.Thread(target=keep_sending)
        thread.start()
        time.sleep(0.3 + 0.2 * round_)
        server.stop(signal.SIGKILL)
        stop.set()
        thread.join(30)
    with running_server(data_dir, "--workers", "1") as restarted:
        sqs = restarted.client("sqs")
        url = sqs.get_queue_url(QueueName="durable")["QueueUrl"]
        bodies = _drain(sqs, url, len(acknowledged))
    assert set(acknowledged) <= set(bodies)  # the in-flight five came back too
    assert all(body.startswith(("before-", "racing-")) for body in bodies)
