"""Who is on the other end of a loopback TCP connection: the socket owner's uid, from /proc/net.

An environment's Runtime API listens on a loopback port, which any local process could connect to.
When environments run as uids of their own, the endpoint accepts only connections whose client
socket belongs to its environment's uid, so one function cannot take another's invocations.
"""

from __future__ import annotations

import socket
import struct


def _hex_address(host: str, port: int, family: int) -> str:
    """The kernel's /proc/net/tcp spelling: each 32-bit word of the address as a native integer."""
    packed = socket.inet_pton(family, host)
    words = struct.unpack(f"={len(packed) // 4}I", packed)
    return "".join(f"{word:08X}" for word in words) + f":{port:04X}"


def socket_owner_uid(peer: tuple[str, int], local: tuple[str, int]) -> int | None:
    """The uid owning the client socket `peer` connected to our `local` address; None if not found."""
    family = socket.AF_INET6 if ":" in peer[0] else socket.AF_INET
    table = "/proc/net/tcp6" if family == socket.AF_INET6 else "/proc/net/tcp"
    wanted_local = _hex_address(peer[0], peer[1], family)
    wanted_remote = _hex_address(local[0], local[1], family)
    try:
        with open(table) as rows:
            next(rows, None)
            for row in rows:
                fields = row.split()
                if len(fields) > 7 and fields[1] == wanted_local and fields[2] == wanted_remote:
                    return int(fields[7])
    except (OSError, ValueError):
        return None
    return None
