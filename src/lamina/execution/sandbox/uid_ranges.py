"""Each server's uid range is its own on this host: a claim (a locked file) per live range.

Two servers leasing from one range would give a function of one the uid of an environment of the
other, which could then read that environment's memory and credentials. A server therefore claims its
range at start: a file named FIRST-LAST in a host-wide folder, `flock`ed for the server's lifetime and
saying who holds it (pid, data directory, endpoint). The kernel drops the lock when the server dies,
however it dies; a file whose lock nobody holds is a dead server's, and is taken over (its range's
leftover processes are then killed by the caller, see survivors.py).

A range asked for by name that overlaps a live claim is refused, naming the server holding it. With no
range asked for, the first block of `DEFAULT_COUNT` ids from `DEFAULT_FIRST` up that no live server
holds is taken, so that several servers on one host need no configuration to stay apart. Every dead
server's claim found at start is taken over (its survivors killed), whichever range it named.

Uids the host has given out are never a server's: a user's in /etc/passwd, or the subordinate ids of
/etc/subuid (users' rootless containers). A server kills every process of its range at start, so a
range asked for that overlaps one is refused (`refusal`), and the default blocks skip them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from lamina.execution.sandbox.uids import UidRange

CLAIMS_FOLDER = Path("/run/lamina/uid-ranges")
PASSWD = Path("/etc/passwd")
SUBUID = Path("/etc/subuid")
DEFAULT_FIRST = 100_000
DEFAULT_COUNT = 65_536
LAST_UID = 2**32 - 2  # (uid_t)-1 means "no change" to the kernel (setuid(2), chown(2))
_MUTEX = ".claiming"


class UidRangeTaken(Exception):
    """The range overlaps one a live server holds; the message names that server."""


@dataclass(slots=True)
class UidRangeClaim:
    """A live claim: release it when the server stops (or let the server's death release it).

    `taken_over`: ranges of dead servers whose claims this one removed: the caller kills their
    leftovers along with its own range's."""

    range: UidRange
    path: Path
    _descriptor: int
    taken_over: list[UidRange] = field(default_factory=list)

    def release(self) -> None:
        """Idempotent. The file goes first, then the lock: a server starting meanwhile sees no claim."""
        if self._descriptor < 0:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        with contextlib.suppress(OSError):
            os.close(self._descriptor)
        self._descriptor = -1


@dataclass(frozen=True, slots=True)
class ReservedUids:
    """Uids the host has given out: `owner` says to whom, for a refusal's message."""

    range: UidRange
    owner: str


def parse_reserved_uids(passwd: str, subuid: str) -> list[ReservedUids]:
    """The uids of /etc/passwd's users and /etc/subuid's ranges (`name:first:count`), from their
    text; malformed lines are skipped."""
    reserved = []
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[2].isdigit() and int(fields[2]) > 0:
            reserved.append(ReservedUids(UidRange(int(fields[2]), 1), f"user {fields[0]} in /etc/passwd"))
    for line in subuid.splitlines():
        fields = line.strip().split(":")
        if len(fields) == 3 and fields[1].isdigit() and fields[2].isdigit() and int(fields[2]) > 0:
            first, count = int(fields[1]), int(fields[2])
            if first > 0:
                owner = f"subordinate uids of {fields[0]} in /etc/subuid (rootless containers)"
                reserved.append(ReservedUids(UidRange(first, count), owner))
    return reserved


def host_reserved_uids(passwd: Path = PASSWD, subuid: Path = SUBUID) -> list[ReservedUids]:
    """`parse_reserved_uids` of this host's files (a missing or unreadable one gives none)."""
    texts = []
    for path in (passwd, subuid):
        try:
            texts.append(path.read_text(errors="replace"))
        except OSError:
            texts.append("")
    return parse_reserved_uids(*texts)


def refusal(wanted: UidRange, reserved: list[ReservedUids]) -> str | None:
    """Why `wanted` cannot be a server's range (past the last uid, or uids the host gave out);
    None when it can."""
    if wanted.last > LAST_UID:
        return f"sandbox uids {wanted} go past {LAST_UID}, the highest uid (4294967295 is (uid_t)-1, no uid)"
    for taken in reserved:
        if taken.range.overlaps(wanted):
            uids = f"uid {taken.range.first}" if taken.range.count == 1 else f"uids {taken.range}"
            return (
                f"sandbox uids {wanted} include {uids}, {taken.owner}: the server would kill its "
                "processes; choose a range nobody owns"
            )
    return None


def _holder(path: Path) -> str:
    try:
        holder = json.loads(path.read_text())
        return f"pid {holder['pid']}, data directory {holder['dataDir']}, {holder['endpoint']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a server that did not say who it is"


def _server_range(path: Path, claimed: UidRange) -> str:
    """The range the holding server was given (its workers each claim a share of it)."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        given = json.loads(path.read_text()).get("serverRange")
        if isinstance(given, str):
            return given
    return str(claimed)


def _claims(folder: Path) -> list[tuple[UidRange, Path]]:
    found = []
    with contextlib.suppress(OSError):
        for path in folder.iterdir():
            with contextlib.suppress(ValueError):
                found.append((UidRange.parse(path.name), path))
    return found


def _is_live(path: Path) -> bool:
    """True while some process holds the claim's lock (a server that is running)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False


def _free_default(live: list[UidRange], reserved: list[ReservedUids]) -> UidRange:
    first = DEFAULT_FIRST
    while first + DEFAULT_COUNT - 1 <= LAST_UID:
        candidate = UidRange(first, DEFAULT_COUNT)
        if not any(candidate.overlaps(other) for other in live) and refusal(candidate, reserved) is None:
            return candidate
        first += DEFAULT_COUNT
    raise UidRangeTaken("no free block of sandbox uids is left on this host")


def claim_uid_range(
    requested: UidRange | None,
    owner: dict[str, str],
    folder: Path = CLAIMS_FOLDER,
    reserved: list[ReservedUids] | None = None,
) -> UidRangeClaim:
    """Claim `requested` (None: the first free default block) for this process, or UidRangeTaken.

    `owner` (pid is added) is written into the claim for whoever is refused. Claims are made one at a
    time (a lock on the folder), so two servers starting together cannot both get one range.
    `reserved`: uids the host gave out (None: `host_reserved_uids()`), never claimed."""
    reserved = host_reserved_uids() if reserved is None else reserved
    if requested is not None and (problem := refusal(requested, reserved)) is not None:
        raise UidRangeTaken(problem)
    # Root's alone: a claim names its server's data directory, which functions must not learn.
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    mutex = os.open(folder / _MUTEX, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(mutex, fcntl.LOCK_EX)
        claims = [(uid_range, path, _is_live(path)) for uid_range, path in _claims(folder)]
        live = [uid_range for uid_range, _, is_live in claims if is_live]
        wanted = requested if requested is not None else _free_default(live, reserved)
        for uid_range, path, is_live in claims:
            if is_live and uid_range.overlaps(wanted):
                raise UidRangeTaken(
                    f"sandbox uids {wanted} overlap {_server_range(path, uid_range)}, held by another "
                    f"lamina server ({_holder(path)}); give this one a disjoint range with --sandbox-uids FIRST-LAST"
                )
        # Every dead server's claim, not only those overlapping: a server restarted while another
        # took its old block gets a new one, and the old one's survivors must die all the same.
        taken_over = []
        for uid_range, path, is_live in claims:
            if not is_live:
                taken_over.append(uid_range)
                with contextlib.suppress(OSError):
                    path.unlink()
        path = folder / str(wanted)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        os.write(descriptor, json.dumps({"pid": os.getpid(), **owner}).encode())
        return UidRangeClaim(wanted, path, descriptor, taken_over)
    finally:
        os.close(mutex)  # drops the folder's lock
