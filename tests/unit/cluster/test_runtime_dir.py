"""Where a worker group's Unix sockets go: the data directory, unless its path is too long for one."""

from __future__ import annotations

import shutil
from pathlib import Path

from lamina.cluster.workers import inbox_path, runtime_dir_for


def test_a_short_data_directory_holds_the_sockets(tmp_path: Path) -> None:
    assert runtime_dir_for(Path("/srv/lamina")) == Path("/srv/lamina/workers")


def test_a_deep_data_directory_sends_them_to_a_private_folder_under_tmp() -> None:
    deep = Path("/tmp") / ("x" * 60) / ("y" * 40) / "data"
    chosen = runtime_dir_for(deep)
    try:
        assert chosen.parent == Path("/tmp") and chosen.name.startswith("lamina-workers-")
        assert (chosen.stat().st_mode & 0o777) == 0o700
        assert len(str(inbox_path(chosen, 255))) < 100
    finally:
        shutil.rmtree(chosen)
