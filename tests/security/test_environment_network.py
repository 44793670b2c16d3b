"""Issue 12, attack 9's network part: with the network on, a function could bind ports on every host
interface, reach every service on the host's loopback and read other environments' sockets in
/proc/net/tcp, because environments shared the host's network namespace.

Now (namespaces tier) each environment has a network namespace of its own: outbound access goes
through pasta (user-mode networking), and the only listeners on its loopback are the ones the server
made there, its Runtime API and Lamina's API at the address it is told (sandbox/network.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator

import pytest

from tests.security.conftest import (
    assert_still_serving,
    create_custom_runtime,
    create_function,
    invoke,
    server_in_tier,
)
from tests.support.server import EXECUTION_ROLE_NAME, RunningServer

PROBE = """
import json, os, socket, urllib.request

HELD = []


def connect(host, port, send=None):
    try:
        with socket.create_connection((host, port), timeout=3) as connection:
            if send is None:
                return "connected"
            connection.sendall(send.encode())
            return connection.recv(100).decode()
    except OSError as error:
        return type(error).__name__


def local_ports():
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as lines:
                next(lines)
                for line in lines:
                    ports.add(int(line.split()[1].rsplit(":", 1)[1], 16))
        except OSError:
            pass
    return sorted(ports)


def handler(event, context):
    action = event["action"]
    if action == "bind":
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("0.0.0.0", event["port"]))
        listener.listen(16)
        HELD.append(listener)  # kept while the environment lives
        return {"itself": connect("127.0.0.1", event["port"])}
    if action == "connect":
        return {"result": connect(event["host"], event["port"], event.get("send"))}
    if action == "ports":
        return {"ports": local_ports()}
    if action == "gateway":  # the default route's gateway, from /proc/net/route
        with open("/proc/net/route") as routes:
            for line in list(routes)[1:]:
                fields = line.split()
                if fields[1] == "00000000":
                    return {"gateway": socket.inet_ntoa(bytes.fromhex(fields[2])[::-1])}
        return {"gateway": None}
    if action == "apis":
        import boto3

        groups = boto3.client("logs").describe_log_groups(limit=1)
        runtime_api = os.environ["AWS_LAMBDA_RUNTIME_API"]
        host, port = runtime_api.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=3) as connection:
            connection.sendall(b"GET /2018-06-01/unknown HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
            status_line = connection.recv(100).split(b"\\r\\n")[0].decode()
        return {
            "endpoint": os.environ["AWS_ENDPOINT_URL"],
            "logGroupsListed": "logGroups" in groups,
            "runtimeApi": runtime_api,
            "runtimeApiAnswer": status_line,
        }
    raise ValueError(action)
"""

# A custom runtime with the network on: its whole Runtime API conversation over HTTP.
CUSTOM_BOOTSTRAP = (
    f"#!{os.path.realpath(sys.executable)} -I\n"
    + """
import json, os, urllib.request

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"

while True:
    with urllib.request.urlopen(API + "next") as response:
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(response.read())
    result = {"echo": event, "runtimeApi": os.environ["AWS_LAMBDA_RUNTIME_API"]}
    urllib.request.urlopen(urllib.request.Request(
        API + request_id + "/response", data=json.dumps(result).encode(), method="POST"
    )).close()
"""
)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    try:
        context = server_in_tier("namespaces")
        running = context.__enter__()
    except Exception as error:  # the tier needs what this host may lack (namespaces, cgroups)
        pytest.skip(f"the namespaces tier is unavailable here: {error}")
    try:
        # The role of the attacker: logs:* only.
        running.client("iam").put_role_policy(
            RoleName=EXECUTION_ROLE_NAME,
            PolicyName="logs-only",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}],
                }
            ),
        )
        yield running
    finally:
        context.__exit__(None, None, None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _host_addresses() -> list[str]:
    """The host's IPv4 addresses, loopback first."""
    addresses = ["127.0.0.1"]
    if shutil.which("ip"):
        listing = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True).stdout
        for line in listing.splitlines():
            address = line.split()[3].split("/")[0]
            if address not in addresses:
                addresses.append(address)
    return addresses


def _call(server: RunningServer, name: str, event: dict[str, object]) -> dict[str, object]:
    response, result = invoke(server, name, event)
    assert "FunctionError" not in response, result
    assert isinstance(result, dict)
    return result


@contextlib.contextmanager
def _host_listener() -> Iterator[socket.socket]:
    """A service on the host's loopback, as a database or an admin port would be."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.setblocking(False)
    try:
        yield listener
    finally:
        listener.close()


def test_a_port_bound_on_every_interface_is_not_reachable_from_the_host(server: RunningServer) -> None:
    name = create_function(server, {"app.py": PROBE}, "app.handler")
    port = _free_port()
    assert _call(server, name, {"action": "bind", "port": port}) == {"itself": "connected"}
    for address in _host_addresses():
        with pytest.raises(OSError), socket.create_connection((address, port), timeout=3):
            pass  # connected: the function's port is open on the host


def test_a_service_on_the_hosts_loopback_is_out_of_reach(server: RunningServer) -> None:
    name = create_function(server, {"app.py": PROBE}, "app.handler")
    with _host_listener() as listener:
        port = listener.getsockname()[1]
        for host in ("127.0.0.1", "localhost"):
            result = _call(server, name, {"action": "connect", "host": host, "port": port})
            assert result["result"] != "connected", result
        # Nor through the namespace's gateway (slirp4netns's 10.0.2.2 and pasta's gateway address
        # would lead to the host's loopback without --disable-host-loopback / --no-map-gw).
        gateway = _call(server, name, {"action": "gateway"})["gateway"]
        if gateway is not None:
            result = _call(server, name, {"action": "connect", "host": gateway, "port": port})
            assert result["result"] != "connected", result
        # Lamina's public port is a loopback service too: not reachable, only the address it is told.
        result = _call(server, name, {"action": "connect", "host": "127.0.0.1", "port": server.port})
        assert result["result"] != "connected", result
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing came through


def test_proc_net_tcp_shows_no_socket_of_the_host_or_of_other_environments(server: RunningServer) -> None:
    holder = create_function(server, {"app.py": PROBE}, "app.handler")
    held_port = _free_port()
    assert _call(server, holder, {"action": "bind", "port": held_port}) == {"itself": "connected"}
    reader = create_function(server, {"app.py": PROBE}, "app.handler")
    with _host_listener() as listener:
        host_port = listener.getsockname()[1]
        ports = _call(server, reader, {"action": "ports"})["ports"]
    assert isinstance(ports, list) and ports, ports  # its own listeners are there
    assert held_port not in ports  # another environment's
    assert host_port not in ports  # the host's
    assert server.port not in ports  # Lamina's public port
    # And the environment holding a port sees it, in its own table.
    assert held_port in _call(server, holder, {"action": "ports"})["ports"]  # type: ignore[operator]


def test_the_function_still_reaches_lamina_and_its_runtime_api(server: RunningServer) -> None:
    name = create_function(server, {"app.py": PROBE}, "app.handler")
    for _ in range(2):  # a cold and a warm invocation
        result = _call(server, name, {"action": "apis"})
        assert result["logGroupsListed"] is True, result  # boto3 with the role's credentials
        assert result["runtimeApi"] == "127.0.0.1:9001"
        assert str(result["runtimeApiAnswer"]).startswith("HTTP/1.1 4"), result  # it answered
        assert str(result["endpoint"]).startswith("http://127.0.0.1:"), result


def test_a_custom_runtime_with_the_network_on_uses_its_runtime_api(server: RunningServer) -> None:
    name = create_custom_runtime(server, CUSTOM_BOOTSTRAP)
    for attempt in range(2):
        result = _call(server, name, {"attempt": attempt})
        assert result == {"echo": {"attempt": attempt}, "runtimeApi": "127.0.0.1:9001"}


@contextlib.contextmanager
def _peer_outside() -> Iterator[tuple[str, int]]:
    """A TCP echo service on another network namespace reached over a veth pair: a host of the
    outside world as far as environments can tell (no internet here)."""
    if shutil.which("ip") is None:
        pytest.skip("needs iproute2's ip")
    suffix = uuid.uuid4().hex[:6]
    namespace, host_end, peer_end = f"lamina-peer-{suffix}", f"lp{suffix}h", f"lp{suffix}p"
    octet = int(suffix[:2], 16) % 200 + 20
    host_address, peer_address = f"10.213.{octet}.1", f"10.213.{octet}.2"

    def ip(*args: str) -> None:
        done = subprocess.run(["ip", *args], capture_output=True, text=True)
        assert done.returncode == 0, f"ip {' '.join(args)}: {done.stderr}"

    ip("netns", "add", namespace)
    try:
        ip("link", "add", host_end, "type", "veth", "peer", "name", peer_end)
        ip("link", "set", peer_end, "netns", namespace)
        ip("addr", "add", f"{host_address}/30", "dev", host_end)
        ip("link", "set", host_end, "up")
        ip("-n", namespace, "addr", "add", f"{peer_address}/30", "dev", peer_end)
        ip("-n", namespace, "link", "set", peer_end, "up")
        echo = (
            "import socket, sys\n"
            f"listener = socket.create_server(({peer_address!r}, 0))\n"
            "print(listener.getsockname()[1], flush=True)\n"
            "while True:\n"
            "    connection, _ = listener.accept()\n"
            "    connection.sendall(b'echo:' + connection.recv(100))\n"
            "    connection.close()\n"
        )
        peer = subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, "-c", echo],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert peer.stdout is not None
            line: list[str] = []
            reader = threading.Thread(target=lambda: line.append(peer.stdout.readline()))  # type: ignore[union-attr]
            reader.start()
            reader.join(30)
            if not (line and line[0].strip()):
                peer.kill()
                _, errors = peer.communicate()
                raise AssertionError(f"the peer's echo service did not start: {errors}")
            yield peer_address, int(line[0])
        finally:
            peer.kill()
            peer.wait()
            for stream in (peer.stdout, peer.stderr):
                if stream is not None:
                    stream.close()
    finally:
        subprocess.run(["ip", "link", "del", host_end], capture_output=True)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)


def test_outbound_traffic_leaves_through_user_mode_networking_and_the_switch_still_cuts_it(
    server: RunningServer,
) -> None:
    if server.health()["environmentNetwork"] == "loopback":
        assert shutil.which("slirp4netns") is None and shutil.which("pasta") is None
        pytest.skip("outbound access needs slirp4netns or pasta (package passt)")
    connected = create_function(server, {"app.py": PROBE}, "app.handler")
    isolated = create_function(
        server, {"app.py": PROBE}, "app.handler", Environment={"Variables": {"LAMINA_NETWORK": "off"}}
    )
    with _peer_outside() as (address, port):
        event = {"action": "connect", "host": address, "port": port, "send": "hello"}
        assert _call(server, connected, event) == {"result": "echo:hello"}
        assert _call(server, isolated, event)["result"] != "echo:hello"
    assert_still_serving(server)
