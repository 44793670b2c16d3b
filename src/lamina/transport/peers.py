"""Who is on the other end of a loopback TCP connection: the uid owning the client's socket.

An environment's Runtime API listens on a loopback port, which any local process could connect to,
and every local process can reach Lamina's API. When environments run as uids of their own, the
owner of a connection's client socket says which environment (if any) opened it: the Runtime API
accepts only its environment's uid, and the API counts a function's connections against its cap.

The owner is asked of the kernel once per accepted connection, while the client's socket exists:
an exact sock_diag lookup by the connection's four addresses (one netlink round trip, ~15 µs, the
same whatever the number of sockets on the host), falling back to a scan of /proc/net/tcp where
netlink is unavailable. A verdict is never kept for an address: a client port is reused by whoever
binds it next, so only the socket behind a live connection says who is calling.
"""

from __future__ import annotations

import socket
import struct

# linux/sock_diag.h, linux/inet_diag.h, linux/netlink.h
_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 1
_NLMSG_ERROR = 2
_NO_COOKIE = 0xFFFFFFFF
_NETLINK_HEADER = struct.Struct("=IHHII")  # length, type, flags, sequence, port id
_REQUEST_HEAD = struct.Struct("=BBBBI")  # family, protocol, extensions, padding, states
_PORTS = struct.Struct("!HH")  # source and destination ports, network order
_REQUEST_TAIL = struct.Struct("=III")  # interface, cookie (two words)
# inet_diag_msg: family, state, timer, retransmits (4) + inet_diag_sockid (48) + expires, rqueue,
# wqueue (12), then the uid.
_UID_OFFSET = _NETLINK_HEADER.size + 4 + 48 + 12
_STATE_OFFSET = _NETLINK_HEADER.size + 1
# TCP states whose socket no longer (or not yet) belongs to a process: their uid reads as 0.
_OWNERLESS_STATES = frozenset({6, 10, 12})  # TIME_WAIT, LISTEN, NEW_SYN_RECV
_UNAVAILABLE = -1


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _diag_owner(peer: tuple[str, int], local: tuple[str, int]) -> int | None:
    """The owner by an exact sock_diag lookup; None when the socket is gone or has no owner;
    _UNAVAILABLE when netlink cannot be asked here."""
    family = _family(peer[0])
    source = socket.inet_pton(family, peer[0]).ljust(16, b"\0")
    destination = socket.inet_pton(family, local[0]).ljust(16, b"\0")
    request = (
        _REQUEST_HEAD.pack(family, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF)
        + _PORTS.pack(peer[1], local[1])
        + source
        + destination
        + _REQUEST_TAIL.pack(0, _NO_COOKIE, _NO_COOKIE)
    )
    header = _NETLINK_HEADER.pack(
        _NETLINK_HEADER.size + len(request), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, 1, 0
    )
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_SOCK_DIAG) as diag:
            diag.send(header + request)
            reply = diag.recv(1024)
    except OSError:
        return _UNAVAILABLE
    if len(reply) < _NETLINK_HEADER.size + 4:
        return _UNAVAILABLE
    _, kind, _, _, _ = _NETLINK_HEADER.unpack_from(reply)
    if kind == _NLMSG_ERROR:
        (error,) = struct.unpack_from("=i", reply, _NETLINK_HEADER.size)
        # ENOENT: no such socket (the client went). Anything else: this kernel cannot answer.
        return None if error == -2 else _UNAVAILABLE
    if len(reply) < _UID_OFFSET + 4:
        return _UNAVAILABLE
    # The kernel falls back to a listener on the same address: only the exact connection counts.
    reply_ports = _PORTS.unpack_from(reply, _STATE_OFFSET + 3)
    if reply[_STATE_OFFSET] in _OWNERLESS_STATES or reply_ports != (peer[1], local[1]):
        return None
    (uid,) = struct.unpack_from("=I", reply, _UID_OFFSET)
    return int(uid)


def _hex_address(host: str, port: int, family: int) -> str:
    """The kernel's /proc/net/tcp spelling: each 32-bit word of the address as a native integer."""
    packed = socket.inet_pton(family, host)
    words = struct.unpack(f"={len(packed) // 4}I", packed)
    return "".join(f"{word:08X}" for word in words) + f":{port:04X}"


def _table_owner(peer: tuple[str, int], local: tuple[str, int]) -> int | None:
    """The owner from a scan of /proc/net/tcp (its cost grows with the host's sockets)."""
    family = _family(peer[0])
    table = "/proc/net/tcp6" if family == socket.AF_INET6 else "/proc/net/tcp"
    wanted_local = _hex_address(peer[0], peer[1], family)
    wanted_remote = _hex_address(local[0], local[1], family)
    try:
        with open(table) as rows:
            next(rows, None)
            for row in rows:
                fields = row.split()
                if len(fields) > 7 and fields[1] == wanted_local and fields[2] == wanted_remote:
                    state = int(fields[3], 16)
                    return None if state in _OWNERLESS_STATES else int(fields[7])
    except (OSError, ValueError):
        return None
    return None


def socket_owner_uid(peer: tuple[str, int], local: tuple[str, int]) -> int | None:
    """The uid owning the client socket `peer` connected to our `local` address; None if there is
    no such socket now (or it belongs to no process)."""
    owner = _diag_owner(peer, local)
    return _table_owner(peer, local) if owner == _UNAVAILABLE else owner


def connection_owner_uid(connection: socket.socket) -> int | None:
    """The uid owning the client end of an accepted TCP `connection`; None if unknown."""
    try:
        peer = connection.getpeername()
        local = connection.getsockname()
    except OSError:
        return None
    if not isinstance(peer, tuple) or not isinstance(local, tuple):
        return None
    return socket_owner_uid((peer[0], peer[1]), (local[0], local[1]))
