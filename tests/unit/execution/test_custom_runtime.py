"""Custom runtimes: the function's bootstrap wins over a layer's, and a `#!/bin/sh` bootstrap runs
with bash where the host's /bin/sh is another shell (Amazon Linux's /bin/sh is bash)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamina.execution.runtimes import custom
from lamina.execution.runtimes.custom import BASH, bootstrap_path, custom_command


def _script(path: Path, text: str, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def test_the_functions_bootstrap_wins_over_a_layers(tmp_path: Path) -> None:
    code, layers = tmp_path / "code", tmp_path / "layers"
    layer_bootstrap = _script(layers / "bootstrap", "#!/bin/sh\n")
    code.mkdir()
    assert bootstrap_path(code, layers) == layer_bootstrap
    assert bootstrap_path(code, None) == code / "bootstrap"  # missing: exec will say so
    own = _script(code / "bootstrap", "#!/bin/sh\n")
    assert bootstrap_path(code, layers) == own


@pytest.mark.parametrize(
    ("first_line", "mode", "with_bash"),
    [
        ("#!/bin/sh", 0o755, True),
        ("#!/bin/sh -e", 0o755, True),
        ("#! /bin/sh", 0o755, True),
        ("#!/bin/bash", 0o755, False),
        ("#!/usr/bin/env python3", 0o755, False),
        ("#!/bin/sh", 0o644, False),  # not executable: exec refuses it, as on AWS
    ],
)
def test_sh_bootstraps_run_with_bash_where_sh_is_not_bash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first_line: str, mode: int, with_bash: bool
) -> None:
    monkeypatch.setattr(custom, "_host_sh_is_bash", lambda: False)
    bootstrap = _script(tmp_path / "bootstrap", first_line + "\necho hi\n", mode)
    expected = [BASH, str(bootstrap)] if with_bash else [str(bootstrap)]
    assert custom_command(bootstrap) == expected


def test_nothing_changes_where_sh_is_bash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(custom, "_host_sh_is_bash", lambda: True)
    bootstrap = _script(tmp_path / "bootstrap", "#!/bin/sh\n")
    assert custom_command(bootstrap) == [str(bootstrap)]
