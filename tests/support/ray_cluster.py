"""A real multi-node Ray cluster on this machine for tests (Ray's own `cluster_utils.Cluster`: a head
and more raylets, each a node with an id of its own), run in a helper process so the test process
never imports Ray.

    with ray_cluster(nodes=2) as cluster:
        running_server(..., "--cluster", cluster.address)
        cluster.remove_node(node_id)   # a node leaves (its raylet and everything on it stop)
        cluster.add_node()
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

START_SECONDS = 120.0


@dataclass
class RayTestCluster:
    process: subprocess.Popen[str]
    address: str
    node_ids: list[str]

    def _ask(self, command: str) -> dict[str, object]:
        stdin: IO[str] | None = self.process.stdin
        stdout: IO[str] | None = self.process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(command + "\n")
        stdin.flush()
        answer: dict[str, object] = json.loads(stdout.readline())
        return answer

    def remove_node(self, node_id: str) -> None:
        self._ask(f"remove {node_id}")
        self.node_ids.remove(node_id)

    def add_node(self) -> str:
        node_id = str(self._ask("add")["node"])
        self.node_ids.append(node_id)
        return node_id


@contextlib.contextmanager
def ray_cluster(nodes: int = 2, last_node_env: dict[str, str] | None = None) -> Iterator[RayTestCluster]:
    """`last_node_env`: variables of the last node added at start alone (its raylet and so its
    agent see them), e.g. a fake nvidia-smi that gives that node GPUs."""
    # Not `python this_file`: its folder would come first on sys.path, and tests/support/packaging.py
    # would hide the `packaging` distribution Ray imports.
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from tests.support.ray_cluster import serve; serve({nodes}, {json.dumps(last_node_env or {})!r})",
        ],
        cwd=Path(__file__).resolve().parents[2],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + START_SECONDS
        line = process.stdout.readline()
        if not line or time.monotonic() > deadline:
            raise RuntimeError("the Ray test cluster did not start")
        started = json.loads(line)
        yield RayTestCluster(process, started["address"], list(started["nodes"]))
    finally:
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def serve(nodes: int, last_node_env: str = "{}") -> None:
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    for number in range(nodes - 1):
        extra = (
            {"env_vars": json.loads(last_node_env)} if number == nodes - 2 and last_node_env != "{}" else {}
        )
        cluster.add_node(num_cpus=1, **extra)
    cluster.wait_for_nodes()
    ids = {node.node_id: node for node in cluster.list_all_nodes()}
    print(json.dumps({"address": cluster.address, "nodes": list(ids)}), flush=True)
    try:
        for line in sys.stdin:
            command, _, argument = line.strip().partition(" ")
            if command == "remove":
                cluster.remove_node(ids.pop(argument))
                print(json.dumps({"removed": argument}), flush=True)
            elif command == "add":
                node = cluster.add_node(num_cpus=1)
                cluster.wait_for_nodes()
                ids[node.node_id] = node
                print(json.dumps({"node": node.node_id}), flush=True)
    finally:
        cluster.shutdown()
