"""A real, throwaway PostgreSQL server for tests: a cluster made with `initdb` in a temporary folder,
listening on a Unix socket only, stopped (and its folder removed) at the end.

The test setup installs Debian's `postgresql` package (scripts/test). As root, the cluster belongs
to the `postgres` user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class PostgresServer:
    socket_dir: Path
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}&port={self.port}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _tool(name: str) -> str | None:
    """initdb and pg_ctl: on PATH, else in Debian's versioned folder (the newest)."""
    found = shutil.which(name)
    if found is not None:
        return found
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda path: int(path.split("/")[4])
    )
    return candidates[-1] if candidates else None


def available() -> bool:
    return _tool("initdb") is not None and _tool("pg_ctl") is not None


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    initdb, pg_ctl = _tool("initdb"), _tool("pg_ctl")
    assert initdb is not None and pg_ctl is not None, "PostgreSQL is not installed"
    root = Path(tempfile.mkdtemp(prefix="lamina-pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL will not run as root: as its own user
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        os.chown(sockets, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = 20000 + uuid.uuid4().int % 20000  # a socket file name only: no TCP listener
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
    subprocess.run(
        [*as_user, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True,
        capture_output=True,
        env=environment,
    )
    options = f"-k {sockets} -c listen_addresses='' -p {port} -c fsync=off -c max_connections=100"
    subprocess.run(
        [*as_user, pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"],
        check=True,
        capture_output=True,
        env=environment,
    )
    try:
        yield PostgresServer(sockets, port)
    finally:
        subprocess.run(
            [*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            env=environment,
        )
        shutil.rmtree(root, ignore_errors=True)
