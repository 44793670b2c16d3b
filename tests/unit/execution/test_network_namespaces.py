"""sandbox/network.py: a network namespace per environment, its listeners made inside by the server."""

from __future__ import annotations

import asyncio
import ctypes
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

import pytest

from lamina.execution.sandbox.network import (
    CLONE_NEWNET,
    EnvironmentNetwork,
    NetworkNamespaces,
    OutboundEngine,
    address_of,
    wait_for_ended_engines,
)

_T = TypeVar("_T")

if not sys.platform.startswith("linux") or os.geteuid() != 0:
    pytest.skip("network namespaces need Linux and root", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _inside(network: EnvironmentNetwork, work: Callable[[], _T]) -> _T:
    """Run `work` in a thread that joined the environment's namespace, as confine() joins it."""
    results: list[_T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fd = os.open(network.path, os.O_RDONLY)
            try:
                if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
            finally:
                os.close(fd)
            results.append(work())
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    if errors:
        raise errors[0]
    return results[0]


def _connect(port: int) -> str:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        return "connected"
    except OSError as error:
        return type(error).__name__


def test_an_isolated_namespace_has_its_listeners_and_nothing_of_the_host() -> None:
    async def scenario() -> None:
        runtime_port, api_port = _free_port(), _free_port()
        networks = NetworkNamespaces(
            None, api_address=lambda: ("127.0.0.1", api_port), runtime_api_port=runtime_port
        )
        network = await networks.acquire(network_on=True)
        try:
            assert not network.outbound  # no pasta: loopback only, even with the network on
            assert os.readlink(network.path) != os.readlink("/proc/self/ns/net")
            assert network.runtime_api_listener is not None and network.api_listener is not None
            assert network.runtime_api_listener.getsockname() == ("127.0.0.1", runtime_port)
            # Not on the host's loopback...
            assert _connect(runtime_port) == "ConnectionRefusedError"
            assert _connect(api_port) == "ConnectionRefusedError"
            # ...but inside, where the environment will be.
            assert _inside(network, lambda: _connect(runtime_port)) == "connected"
            assert _inside(network, lambda: _connect(api_port)) == "connected"
            assert _inside(network, lambda: sorted(name for _, name in socket.if_nameindex())) == ["lo"]
        finally:
            network.close()
            network.close()  # idempotent
            networks.close()
        assert network.runtime_api_listener is None and network.api_listener is None

    asyncio.run(scenario())


def test_an_api_address_the_namespace_lacks_leaves_that_listener_out() -> None:
    async def scenario() -> None:
        address = ("192.0.2.77", _free_port())
        networks = NetworkNamespaces(None, api_address=lambda: address, runtime_api_port=_free_port())
        network = await networks.acquire(network_on=True)
        try:
            assert network.runtime_api_listener is not None
            assert network.api_listener is None
        finally:
            network.close()
            networks.close()

    asyncio.run(scenario())


def test_namespaces_are_kept_ready_per_kind_once_asked_for() -> None:
    async def scenario() -> None:
        networks = NetworkNamespaces(None, runtime_api_port=_free_port(), standby=2)
        networks.warm_up()  # the network on: from the start
        await _until(lambda: networks.ready(network_on=True) == 2)
        assert networks.ready(network_on=False) == 0
        taken = [await networks.acquire(network_on=True), await networks.acquire(network_on=False)]
        await _until(lambda: networks.ready(network_on=True) == 2 and networks.ready(network_on=False) == 2)
        paths = {os.readlink(network.path) for network in taken}
        assert len(paths) == 2  # one namespace each, never shared
        for network in taken:
            network.close()
        networks.close()
        assert networks.ready(network_on=True) == networks.ready(network_on=False) == 0

    asyncio.run(scenario())


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(3000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in 30 s")


def test_taken_listeners_are_the_callers_to_close() -> None:
    async def scenario() -> None:
        networks = NetworkNamespaces(None, runtime_api_port=_free_port(), standby=0)
        network = await networks.acquire(network_on=False)
        taken = network.take_runtime_api_listener()
        network.close()
        assert taken is not None and taken.fileno() >= 0  # still open
        taken.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("engine", ["slirp4netns", "pasta"])
def test_an_engine_that_fails_leaves_environments_loopback_only(engine: str) -> None:
    async def scenario() -> None:
        failing = OutboundEngine(engine, "/bin/false")
        networks = NetworkNamespaces(failing, runtime_api_port=_free_port(), standby=0)
        assert networks.outbound
        network = await networks.acquire(network_on=True)
        try:
            assert not network.outbound
            assert not networks.outbound  # not tried again
        finally:
            network.close()
            networks.close()
        await wait_for_ended_engines()

    asyncio.run(scenario())


@pytest.mark.parametrize("engine", ["slirp4netns", "pasta"])
def test_an_outbound_namespace_has_an_interface_out_and_its_engine_ends_with_it(engine: str) -> None:
    path = shutil.which(engine)
    if path is None:
        pytest.skip(f"{engine} is not installed")

    async def scenario() -> None:
        networks = NetworkNamespaces(OutboundEngine(engine, path), runtime_api_port=_free_port(), standby=1)
        networks.warm_up()  # one kept ready
        network = await networks.acquire(network_on=True)
        process = network._process
        assert network.outbound and process is not None
        try:
            interfaces = _inside(network, lambda: sorted(name for _, name in socket.if_nameindex()))
            assert "lo" in interfaces and len(interfaces) > 1  # the engine's tap device
        finally:
            network.close()
            networks.close()
        # The socket that keeps it running is closed: it ends, and is reaped.
        await asyncio.wait_for(wait_for_ended_engines(), 30)
        assert process.returncode is not None

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1:5264", ("127.0.0.1", 5264)),
        ("http://[::1]:8080", ("::1", 8080)),
        ("https://lamina.example", ("lamina.example", 443)),
        ("", None),
        ("http://127.0.0.1:99999", None),
    ],
)
def test_the_api_listens_where_aws_endpoint_url_points(url: str, address: tuple[str, int] | None) -> None:
    assert address_of(url) == address


def _mount_points() -> list[str]:
    with open("/proc/self/mountinfo") as mounts:
        return sorted(line.split()[4] for line in mounts)


@pytest.mark.parametrize("engine", ["slirp4netns", "pasta"])
def test_an_engine_leaves_the_hosts_mounts_alone(engine: str) -> None:
    """slirp4netns's own sandbox (--enable-sandbox), run as root, once unmounted the host's shared
    mounts (`ip netns` namespaces under /run/netns): the engine must not touch them."""
    path = shutil.which(engine)
    if path is None or shutil.which("ip") is None:
        pytest.skip(f"needs {engine} and iproute2's ip")
    name = f"lamina-mounts-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)  # a shared mount
    try:
        before = _mount_points()

        async def scenario() -> None:
            networks = NetworkNamespaces(
                OutboundEngine(engine, path), runtime_api_port=_free_port(), standby=0
            )
            network = await networks.acquire(network_on=True)
            assert network.outbound
            network.close()
            networks.close()
            await wait_for_ended_engines()

        asyncio.run(scenario())
        assert _mount_points() == before
        subprocess.run(["ip", "netns", "exec", name, "true"], check=True, capture_output=True)
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
