"""The namespaces tier's network: every environment in a network namespace of its own.

An environment never shares the host's network namespace, so it can bind no host interface, reach
no service on the host's loopback and see no other environment's sockets (/proc/net/tcp shows its
own namespace only). Two kinds of namespace:

- outbound (the function's network on, a user-mode networking program installed): its outbound
  TCP, UDP and ICMP go through ordinary sockets of the host, IPv4 only (as Lambda outside a VPC),
  and nothing comes in. slirp4netns where installed: attached to a namespace the server made,
  10.0.2.100/24 behind a gateway 10.0.2.2 that does not lead to the host's loopback
  (`--disable-host-loopback`), no port forwarded in (no API socket); ~0.3 MB of private memory and
  ~3 ms per environment. Else pasta (Debian's `passt` package): it makes the namespace itself, with
  a copy of the host's address and routes, no port forwarded either way (`-t none -u none -T none
  -U none`) and its gateway not remapped to the host's loopback (`--no-map-gw`); ~20 MB and ~30 ms
  of system time per environment (its buffers). Either ends when a socket the server holds closes,
  also when the server dies (even by SIGKILL): slirp4netns's --exit-fd, pasta's only child (a shell
  reading that socket), with a parent-death signal besides.
- isolated (the network off, or neither program on the host): loopback only.

Into either, before the environment starts, the server puts listening sockets of its own on the
namespace's loopback: the Runtime API at 127.0.0.1:9001 (as on AWS), and, with the network on,
Lamina's API at the address the function is told in AWS_ENDPOINT_URL. They are made by a short-lived
thread of the server that enters the namespace (a socket stays in the namespace it was made in);
the environment's processes join the namespace in confine() (`ConfinementPlan.network_namespace`).
`NetworkNamespaces` keeps a few of each kind ready, so a cold start takes one in microseconds, and
refills in the background at the lowest CPU priority, after the start that took one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import fcntl
import logging
import os
import shutil
import socket
import struct
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from lamina.execution.sandbox.base import INSIDE_RUNTIME_API_PORT

_log = logging.getLogger(__name__)

CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
# slirp4netns: the host's loopback out of reach (10.0.2.2 leads nowhere), no port forwarded in
# (no API socket), IPv4 only (as Lambda outside a VPC), addresses 10.0.2.100/24 set up in the
# namespace, a large MTU (fewer, larger frames through its user-mode stack), and its seccomp filter.
# Not its --enable-sandbox: run as root, the unmounts of that sandbox reach the host's shared mounts
# (it removed `ip netns` namespaces' bind mounts under /run/netns here).
SLIRP4NETNS_OPTIONS = (
    "--configure",
    "--disable-host-loopback",
    "--mtu=65520",
    "--enable-seccomp",
)
# pasta: no port forwarded in either direction, the host's loopback not mapped to the gateway,
# IPv4 addresses and routes copied from the host, no daemon (it stays the server's child), quiet.
PASTA_OPTIONS = (
    "--foreground",
    "--quiet",
    "--runas",
    "0",  # as root: /dev/net/tun is often root's only; pasta drops its capabilities anyway
    "--config-net",
    # IPv4 only, as Lambda gives functions outside a VPC; it also spares ~10 MB of pasta's buffers
    # per environment (pasta holds ~20 MB for IPv4 alone, written at start).
    "--ipv4-only",
    "--no-map-gw",
    "--tcp-ports",
    "none",
    "--udp-ports",
    "none",
    "--tcp-ns",
    "none",
    "--udp-ns",
    "none",
)
# pasta's child, started once the namespace is configured: says so, then lives until the server
# closes its end of the socket (or dies). pasta ends when it ends.
_HOLDER = ("/bin/sh", "-c", "echo ready; read -r _")
_ENGINE_START_SECONDS = 10.0
# pasta gets SIGKILL when the server dies (util-linux's setpriv sets the parent-death signal and
# execs it): if its holder exits before pasta watches for that (a server killed while pasta starts),
# pasta would otherwise run on with nothing to serve.
# A namespace made ahead is made at the lowest CPU priority: pasta's start costs ~30 ms of system
# time (its buffers and socket pools), which must not slow the cold starts it is made for (on a busy
# 2-core host it doubled them). An environment that takes it gives pasta back the normal priority.
_IN_BACKGROUND: tuple[str, ...] = ("nice", "-n", "19") if shutil.which("nice") is not None else ()
_DIE_WITH_SERVER: tuple[str, ...] = (
    (setpriv, "--pdeathsig", "KILL", "--") if (setpriv := shutil.which("setpriv")) is not None else ()
)
# How long a refill waits after a namespace was taken (past the taking start's own critical path,
# ~10 ms), unless none of its kind is left. Longer, and cold starts 50 ms apart drained the standby.
REFILL_DELAY_SECONDS = 0.03
# Namespaces kept ready per kind: a cold start takes one without waiting for pasta or a thread
# (slirp4netns: ~0.3 MB each).
STANDBY = 4
_LISTEN_BACKLOG = 128


class NetworkUnavailable(Exception):
    """No outbound namespace could be made for an environment (its engine failed, say)."""


def address_of(url: str) -> tuple[str, int] | None:
    """(host, port) of an endpoint URL such as AWS_ENDPOINT_URL's; None for an empty or odd one."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return (parts.hostname, port) if parts.hostname else None


@dataclass(frozen=True, slots=True)
class OutboundEngine:
    """The user-mode networking program that gives namespaces outbound access."""

    name: str  # "slirp4netns" or "pasta"
    path: str


def find_outbound_engine() -> OutboundEngine | None:
    """slirp4netns where installed (~0.3 MB of private memory and ~3 ms to attach per environment),
    else pasta (package passt: ~20 MB and ~30 ms of system time), else None: loopback only."""
    for name in ("slirp4netns", "pasta"):
        path = shutil.which(name)
        if path is not None:
            return OutboundEngine(name, path)
    return None


@dataclass(eq=False)
class EnvironmentNetwork:
    """One environment's network namespace and the listeners the server made in it.

    `path` names the namespace for confine() (a descriptor of the server's, by /proc path: valid
    while this object is open). The environment takes the listeners it serves (`take_*`); `close`
    closes the rest and the namespace's handle, and ends pasta's holder (idempotent). Processes in
    the namespace keep it alive; nothing else of it stays.
    """

    outbound: bool
    _namespace_fd: int
    runtime_api_listener: socket.socket | None = None
    api_listener: socket.socket | None = None
    # The outbound engine's process, and the socket whose closing ends it (pasta: through its holder;
    # slirp4netns: its --exit-fd).
    _holder: socket.socket | None = None
    _process: _Engine | None = None
    _closed: bool = field(default=False, init=False)

    @property
    def path(self) -> str:
        return f"/proc/{os.getpid()}/fd/{self._namespace_fd}"

    def usable(self, outbound: bool) -> bool:
        """Still what an environment asking for `outbound` access needs (its engine alive)."""
        if self.outbound != outbound:
            return False
        return self._process is None or _running(self._process)

    def run_at_normal_priority(self) -> None:
        """The engine, started ahead at the lowest priority, now carries an environment's traffic."""
        if self._process is not None and _running(self._process):
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, self._process.pid, 0)

    def take_runtime_api_listener(self) -> socket.socket | None:
        listener, self.runtime_api_listener = self.runtime_api_listener, None
        return listener

    def take_api_listener(self) -> socket.socket | None:
        listener, self.api_listener = self.api_listener, None
        return listener

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for listener in (self.runtime_api_listener, self.api_listener):
            if listener is not None:
                listener.close()
        self.runtime_api_listener = self.api_listener = None
        with contextlib.suppress(OSError):
            os.close(self._namespace_fd)
        if self._holder is not None:
            self._holder.close()  # pasta's holder reads end of file and exits; slirp4netns exits
        if self._process is not None:
            _end(self._process)


@dataclass(eq=False)
class _Outbound:
    """A namespace pasta serves, before listeners are put in it."""

    namespace_fd: int
    holder: socket.socket
    pasta: asyncio.subprocess.Process


class NetworkNamespaces:
    """Hands out a network namespace per environment (see the module docstring), each with its
    listeners already made, from a few kept ready per kind (network on, network off).

    `engine`: what gives outbound access (`find_outbound_engine`), or None for loopback-only
    namespaces even where the network is on.
    `api_address`: where Lamina's API must listen in namespaces of environments with the network on
    (AWS_ENDPOINT_URL's host and port; asked when a namespace is made, None: no such listener).
    Not thread-safe: call from the event loop. `close` ends every namespace still held ready.
    """

    def __init__(
        self,
        engine: OutboundEngine | None,
        *,
        api_address: Callable[[], tuple[str, int] | None] = lambda: None,
        runtime_api_port: int = INSIDE_RUNTIME_API_PORT,
        standby: int = STANDBY,
    ) -> None:
        self._engine = engine
        self._api_address = api_address
        self._runtime_api_port = runtime_api_port
        self._standby = standby
        # Ready namespaces by the network switch of the environments they are for; a kind is kept
        # ready once asked for (the network on: from the server's start).
        self._ready: dict[bool, list[EnvironmentNetwork]] = {}
        self._refill: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def outbound(self) -> bool:
        """Whether environments with the network on get outbound access (an engine is usable)."""
        return self._engine is not None

    @property
    def engine_name(self) -> str | None:
        return self._engine.name if self._engine is not None else None

    def ready(self, *, network_on: bool) -> int:
        """Namespaces ready now for environments with the network on (or off)."""
        return len(self._ready.get(network_on, []))

    async def acquire(self, *, network_on: bool) -> EnvironmentNetwork:
        """A namespace for one environment: a listener on 127.0.0.1:`runtime_api_port` and, with
        the network on, one at `api_address` (left out, with a warning, where it cannot be bound: an
        address the namespace lacks), and outbound access where the engine is usable. Where it fails,
        environments get loopback only from then on and it is not tried again."""
        ready = self._ready.setdefault(network_on, [])
        while ready:
            network = ready.pop(0)
            self._start_refill()
            if network.usable(self._engine is not None and network_on):
                network.run_at_normal_priority()
                return network
            network.close()
        network = await self._make(network_on, background=False)
        self._start_refill()
        return network

    def standby_state(self) -> dict[str, int]:
        """How many namespaces are ready now, and how many are kept ready (for health)."""
        return {
            "ready": sum(len(ready) for ready in self._ready.values()),
            "standby": self._standby * len(self._ready),
        }

    def warm_up(self) -> None:
        """Start keeping namespaces ready for environments with the network on (server start)."""
        self._ready.setdefault(True, [])
        self._start_refill()

    async def _make(self, network_on: bool, *, background: bool) -> EnvironmentNetwork:
        api_address = self._api_address() if network_on else None
        if network_on and self._engine is not None and self._engine.name == "slirp4netns":
            made = await _in_new_thread(lambda: _listen_in(None, self._runtime_api_port, api_address))
            assert made.namespace_fd is not None
            network = EnvironmentNetwork(True, made.namespace_fd, made.runtime_api, made.api)
            try:
                network._holder, network._process = await self._attach_slirp4netns(network.path, background)
            except NetworkUnavailable as error:
                network.close()
                _log.warning("outbound network unavailable, environments get loopback only: %s", error)
                self._engine = None
            except BaseException:
                network.close()
                raise
            else:
                return network
        if network_on and self._engine is not None and self._engine.name == "pasta":
            try:
                prepared = await self._new_outbound(background)
            except NetworkUnavailable as error:
                _log.warning("outbound network unavailable, environments get loopback only: %s", error)
                self._engine = None
            else:
                network = EnvironmentNetwork(
                    True, prepared.namespace_fd, _holder=prepared.holder, _process=prepared.pasta
                )
                try:
                    made = await _in_new_thread(
                        lambda: _listen_in(prepared.namespace_fd, self._runtime_api_port, api_address)
                    )
                except BaseException:
                    network.close()
                    raise
                network.runtime_api_listener, network.api_listener = made.runtime_api, made.api
                return network
        made = await _in_new_thread(lambda: _listen_in(None, self._runtime_api_port, api_address))
        assert made.namespace_fd is not None
        return EnvironmentNetwork(False, made.namespace_fd, made.runtime_api, made.api)

    def _start_refill(self) -> None:
        if self._closed or (self._refill is not None and not self._refill.done()):
            return
        if any(len(ready) < self._standby for ready in self._ready.values()):
            self._refill = asyncio.get_running_loop().create_task(self._fill())

    async def _fill(self) -> None:
        # Not while the start that took a namespace is still under way (its process starting, its
        # runtime initialising): pasta's start slows it down even at the lowest priority (it holds
        # kernel locks while making its namespace). At once when a kind has none left.
        if all(self._ready.values()):
            await asyncio.sleep(REFILL_DELAY_SECONDS)
        while not self._closed:
            wanting = [kind for kind, ready in self._ready.items() if len(ready) < self._standby]
            if not wanting:
                return
            try:
                network = await self._make(wanting[0], background=True)
            except OSError as error:  # e.g. out of descriptors: the next acquire makes its own
                _log.warning("preparing a network namespace failed: %s", error)
                return
            if self._closed:
                network.close()
                return
            self._ready[wanting[0]].append(network)

    async def _attach_slirp4netns(
        self, namespace: str, background: bool
    ) -> tuple[socket.socket, subprocess.Popen[bytes]]:
        """Attach slirp4netns to the namespace at `namespace`: returns the socket whose closing
        ends it (its --exit-fd; the server's death closes it too) and its process, once it is ready.
        Started and awaited in a worker thread of the host's namespace: a fork of the server on the
        event loop cost every other request its duration (a fifth of the loop's time in a burst of
        cold starts)."""
        assert self._engine is not None
        path = self._engine.path
        loop = asyncio.get_running_loop()
        started = loop.run_in_executor(None, _start_slirp4netns, path, namespace, background)
        try:
            return await asyncio.shield(started)
        except asyncio.CancelledError:  # the thread goes on: end what it starts
            started.add_done_callback(_end_unclaimed)
            raise

    async def _new_outbound(self, background: bool) -> _Outbound:
        assert self._engine is not None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            try:
                pasta = await asyncio.create_subprocess_exec(
                    *(_IN_BACKGROUND if background else ()),
                    *_DIE_WITH_SERVER,
                    self._engine.path,
                    *PASTA_OPTIONS,
                    "--",
                    *_HOLDER,
                    stdin=theirs.fileno(),
                    stdout=theirs.fileno(),
                    stderr=asyncio.subprocess.DEVNULL,
                )
            except OSError as error:
                raise NetworkUnavailable(f"cannot run {self._engine.path}: {error}") from error
        finally:
            theirs.close()
        try:
            ready = await _read_line(ours, _ENGINE_START_SECONDS)
            if ready != b"ready\n":
                raise NetworkUnavailable(
                    f"pasta ended without a network namespace (status {pasta.returncode})"
                )
            holder = _only_child(pasta.pid)
            namespace_fd = os.open(f"/proc/{holder}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        except BaseException:
            ours.close()
            _end(pasta)
            raise
        return _Outbound(namespace_fd, ours, pasta)

    def close(self) -> None:
        self._closed = True
        if self._refill is not None:
            self._refill.cancel()
        for ready in self._ready.values():
            for network in ready:
                network.close()
        self._ready.clear()


_ending: set[asyncio.Future[int]] = set()
_Engine = asyncio.subprocess.Process | subprocess.Popen[bytes]


def _running(engine: _Engine) -> bool:
    return (
        engine.returncode is None if isinstance(engine, asyncio.subprocess.Process) else engine.poll() is None
    )


def _end(engine: _Engine) -> None:
    """Terminate the engine (pasta's holder, slirp4netns's exit socket end it anyway) and reap it in
    the background."""
    if _running(engine):
        with contextlib.suppress(ProcessLookupError):
            engine.terminate()
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no running loop: the server is exiting (or a thread's result came late)
        if isinstance(engine, subprocess.Popen):
            with contextlib.suppress(subprocess.TimeoutExpired):
                engine.wait(timeout=2)
        return
    reaped: asyncio.Future[int] = (
        loop.create_task(engine.wait())
        if isinstance(engine, asyncio.subprocess.Process)
        else loop.run_in_executor(None, engine.wait)
    )
    _ending.add(reaped)
    reaped.add_done_callback(_ending.discard)


def _end_unclaimed(started: asyncio.Future[tuple[socket.socket, subprocess.Popen[bytes]]]) -> None:
    """An engine started for a caller that was cancelled meanwhile."""
    if not started.cancelled() and started.exception() is None:
        exit_socket, process = started.result()
        exit_socket.close()
        _end(process)


async def wait_for_ended_engines() -> None:
    """Wait until every engine ended so far has been reaped (tests; a server's exit needs not wait)."""
    while _ending:
        await asyncio.gather(*list(_ending), return_exceptions=True)


def _only_child(pid: int) -> int:
    """pasta's child (the holder), from pasta's host pid: the holder is in a PID namespace of its own."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            children = listing.read().split()
    except OSError as error:
        raise NetworkUnavailable(f"cannot find pasta's namespace: {error}") from error
    if len(children) != 1:
        raise NetworkUnavailable(f"pasta has {len(children)} children, expected its namespace's holder")
    return int(children[0])


async def _read_line(channel: socket.socket, timeout: float, end: bytes = b"\n") -> bytes:
    loop = asyncio.get_running_loop()
    channel.setblocking(False)
    received = b""
    try:
        async with asyncio.timeout(timeout):
            while not received.endswith(end):
                chunk = await loop.sock_recv(channel, 64)
                if not chunk:
                    break
                received += chunk
    except TimeoutError:
        raise NetworkUnavailable("pasta did not set up a network namespace in time") from None
    return received


def _start_slirp4netns(
    path: str, namespace: str, background: bool
) -> tuple[socket.socket, subprocess.Popen[bytes]]:
    """Blocking: start slirp4netns on `namespace` and wait until it says it is ready. No wrapper
    programs (each an exec more per start): --exit-fd ends it with the server, and a background
    start gets the lowest priority once it runs."""
    exit_ours, exit_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    ready_ours, ready_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            process = subprocess.Popen(
                [
                    path,
                    *SLIRP4NETNS_OPTIONS,
                    f"--exit-fd={exit_theirs.fileno()}",
                    f"--ready-fd={ready_theirs.fileno()}",
                    "--netns-type=path",
                    namespace,
                    "tap0",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(exit_theirs.fileno(), ready_theirs.fileno()),
            )
        except OSError as error:
            exit_ours.close()
            raise NetworkUnavailable(f"cannot run {path}: {error}") from error
    finally:
        exit_theirs.close()
        ready_theirs.close()
    if background:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, process.pid, 19)
    try:
        ready_ours.settimeout(_ENGINE_START_SECONDS)
        try:
            ready = ready_ours.recv(1)
        except TimeoutError:
            raise NetworkUnavailable("slirp4netns did not set up a network namespace in time") from None
        if ready != b"1":
            raise NetworkUnavailable(f"slirp4netns ended before it was ready (status {process.poll()})")
    except BaseException:
        exit_ours.close()
        _end(process)
        raise
    finally:
        ready_ours.close()
    return exit_ours, process


# In the namespace: one short-lived thread each time ------------------------------------------------
_libc: Any = None


def _libc_call(name: str, *arguments: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if getattr(_libc, name)(*arguments) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{name}: {os.strerror(code)}")


@dataclass(eq=False)
class _Made:
    """What a thread made in a namespace: its handle (for a new one) and the listeners."""

    namespace_fd: int | None
    runtime_api: socket.socket
    api: socket.socket | None

    def close(self) -> None:
        for listener in (self.runtime_api, self.api):
            if listener is not None:
                listener.close()
        if self.namespace_fd is not None:
            os.close(self.namespace_fd)


def _listen_in(namespace_fd: int | None, runtime_api_port: int, api_address: tuple[str, int] | None) -> _Made:
    """In a thread of its own, which it leaves in the namespace (the thread ends right after):
    enter the namespace `namespace_fd` (None: make an isolated one and bring up its loopback), then
    listen there."""
    made_fd = None
    if namespace_fd is None:
        _libc_call("unshare", CLONE_NEWNET)
        _bring_up_loopback()
        made_fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    else:
        _libc_call("setns", namespace_fd, CLONE_NEWNET)
    try:
        runtime_api = _listen("127.0.0.1", runtime_api_port)
    except BaseException:
        if made_fd is not None:
            os.close(made_fd)
        raise
    api = None
    if api_address is not None:
        try:
            api = _listen(*api_address)
        except OSError as error:
            if error.errno not in (errno.EADDRNOTAVAIL, errno.EACCES, errno.EADDRINUSE):
                _Made(made_fd, runtime_api, None).close()
                raise
            _log.warning(
                "Lamina's API cannot listen at %s:%s in a network namespace: %s", *api_address, error
            )
    return _Made(made_fd, runtime_api, api)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(_LISTEN_BACKLOG)
    except BaseException:
        listener.close()
        raise
    return listener


def _bring_up_loopback() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        request = struct.pack("16sh", b"lo", 0).ljust(40, b"\0")
        flags = struct.unpack("16sh", fcntl.ioctl(probe, _SIOCGIFFLAGS, request)[:18])[1]
        fcntl.ioctl(probe, _SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | _IFF_UP).ljust(40, b"\0"))


async def _in_new_thread(work: Callable[[], _Made]) -> _Made:
    """Run `work` in a thread made for it: a thread that changed its network namespace must not go
    back to a pool. If the caller is cancelled meanwhile, what the thread made is closed."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[_Made] = loop.create_future()

    def settle(result: _Made | None, error: BaseException | None) -> None:
        if done.cancelled():
            if result is not None:
                result.close()
        elif error is not None:
            done.set_exception(error)
        else:
            assert result is not None
            done.set_result(result)

    def run() -> None:
        try:
            result = work()
        except BaseException as error:
            loop.call_soon_threadsafe(settle, None, error)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=run, name="lamina-network-namespace", daemon=True).start()
    return await done


__all__ = [
    "EnvironmentNetwork",
    "NetworkNamespaces",
    "NetworkUnavailable",
    "OutboundEngine",
    "address_of",
    "find_outbound_engine",
    "wait_for_ended_engines",
]
