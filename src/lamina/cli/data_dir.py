"""The data directory as the CLI sees it: `lamina server` creates and locks it; every other command
needs one that exists, so that running one from another folder says so instead of quietly making a
new data directory with new credentials the running server does not know."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from lamina.auth.secrets_store import RootCredentials, stored_root_credentials
from lamina.cli.errors import CliError
from lamina.config import HOME_REGION_FILE, Settings

LOCK_FILE = "server.lock"
# A server creates it at its first start; its presence is what makes a folder a data directory.
_MARKERS = ("lamina.db", HOME_REGION_FILE)
_POINT_AT_ONE = "point at one with --data-dir or LAMINA_DATA_DIR"


def existing_data_dir(path: Path) -> Path:
    """The absolute path of a data directory a server has used, or CliError."""
    resolved = path.resolve()
    # A server on a shared database (--metadata) keeps no lamina.db: its home-region file marks it.
    if not any((resolved / marker).is_file() for marker in _MARKERS):
        raise CliError(
            f"no Lamina data directory at {resolved}",
            f"run this where `lamina server` keeps its state, or {_POINT_AT_ONE}",
        )
    return resolved


def root_credentials(settings: Settings) -> RootCredentials:
    """The root pair the server uses: LAMINA_ROOT_* as it was given them, else the pair it stored.
    Never a new pair: one made here would be unknown to the running server."""
    if settings.root_access_key_id and settings.root_secret_access_key:
        return RootCredentials(settings.root_access_key_id, settings.root_secret_access_key, generated=False)
    stored = stored_root_credentials(settings.secrets_dir)
    if stored is None:
        raise CliError(
            f"the data directory {settings.data_dir} holds no root credentials (its server was given "
            "LAMINA_ROOT_ACCESS_KEY_ID and LAMINA_ROOT_SECRET_ACCESS_KEY)",
            "set the same two variables here",
        )
    return stored


class DataDirLock:
    """Held by a server for its lifetime: two servers on one data directory would each cache state
    the other changes and silently diverge. A POSIX record lock, so it is not inherited by the
    processes the server forks, and the kernel releases it when the server dies however it dies."""

    def __init__(self, descriptor: int) -> None:
        self._descriptor = descriptor

    def release(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._descriptor)


def server_address(data_dir: Path) -> tuple[str, int] | None:
    """The (host, port) the data directory's server listens on, as it wrote them in its lock file;
    None when no server ever said (commands then use the defaults, or --host/--port)."""
    try:
        lines = (data_dir / LOCK_FILE).read_text().split("\n")
    except OSError:
        return None
    if len(lines) < 3 or not lines[2].isdigit():
        return None
    return lines[1], int(lines[2])


def lock_data_dir(path: Path, host: str, port: int) -> DataDirLock:
    """Create the data directory if needed and lock it, or CliError naming the server holding it.
    The lock file says who holds it and where it listens (`server_address`)."""
    resolved = path.resolve()
    try:
        resolved.mkdir(parents=True, exist_ok=True, mode=0o700)
    except (FileExistsError, NotADirectoryError):
        raise CliError(f"the data directory {resolved} is a file, not a folder", _POINT_AT_ONE) from None
    except OSError as error:
        raise CliError(
            f"cannot create the data directory {resolved}: {error.strerror}", _POINT_AT_ONE
        ) from None
    if not os.access(resolved, os.W_OK | os.X_OK):
        raise CliError(f"cannot write in the data directory {resolved}", _POINT_AT_ONE)
    try:
        descriptor = os.open(resolved / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as error:
        raise CliError(
            f"cannot write in the data directory {resolved}: {error.strerror}", _POINT_AT_ONE
        ) from None
    try:
        fcntl.lockf(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(descriptor, 32, 0).decode(errors="replace").split("\n")[0].strip() or "unknown"
        os.close(descriptor)
        raise CliError(
            f"the data directory {resolved} is in use by another lamina server (pid {holder}); "
            "stop it, or give this one its own --data-dir"
        ) from None
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n{host}\n{port}\n".encode(), 0)
    return DataDirLock(descriptor)
