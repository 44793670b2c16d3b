"""GPUs a host does not have, for tests that need no real one: a fake `nvidia-smi` (what
`lamina server --nvidia-smi PATH` asks) and a folder of stand-in device nodes (`--gpu-devices`).

The fake answers `--query-gpu` with its devices and `--query-compute-apps` with the lines of
`apps_file` ("PID,MB" each), so a test says which process holds how much GPU memory.
"""

from __future__ import annotations

import json
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

DEVICES = (
    ("GPU-11111111-2222-3333-4444-555555555555", "NVIDIA H200", 143771),
    ("GPU-66666666-7777-8888-9999-aaaaaaaaaaaa", "NVIDIA H200", 143771),
)
_SCRIPT = """#!{python}
import json, sys
devices = json.loads({devices!r})
apps_file = {apps!r}
query = next((argument for argument in sys.argv[1:] if argument.startswith("--query-")), "")
if query.startswith("--query-gpu="):
    for index, (uuid, name, memory) in enumerate(devices):
        print(f"{{index}}, {{uuid}}, {{name}}, {{memory}}, 00000000:{{index + 1:02X}}:00.0")
elif query.startswith("--query-compute-apps="):
    try:
        lines = open(apps_file).read().split()
    except OSError:
        lines = []
    for line in lines:
        pid, used = line.split(",")
        for uuid, _, _ in devices:
            print(f"{{uuid}}, {{pid}}, {{used}}")
else:
    print("fake nvidia-smi: unknown query", file=sys.stderr)
    sys.exit(2)
"""


@dataclass(frozen=True)
class FakeGpus:
    nvidia_smi: Path
    device_dir: Path
    apps_file: Path  # "PID,MB" lines: what --query-compute-apps reports

    @property
    def server_args(self) -> tuple[str, ...]:
        return ("--nvidia-smi", str(self.nvidia_smi), "--gpu-devices", str(self.device_dir))

    @property
    def uuids(self) -> list[str]:
        return [uuid for uuid, _, _ in DEVICES]


def fake_gpus(folder: Path, devices: tuple[tuple[str, str, int], ...] = DEVICES) -> FakeGpus:
    """A fake nvidia-smi and stand-in device nodes (regular files) under `folder`. Everything is
    readable by anyone and the apps file writable by anyone: functions run as other uids."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    device_dir = folder / "dev"
    device_dir.mkdir()
    device_dir.chmod(0o755)
    for name in [f"nvidia{index}" for index in range(len(devices))] + ["nvidiactl", "nvidia-uvm"]:
        node = device_dir / name
        node.write_text(f"stand-in for /dev/{name}\n")
        node.chmod(0o666)
    apps = folder / "apps"
    apps.mkdir()
    apps.chmod(0o777)
    apps_file = apps / "compute-apps"
    script = folder / "nvidia-smi"
    script.write_text(_SCRIPT.format(python=sys.executable, devices=json.dumps(devices), apps=str(apps_file)))
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return FakeGpus(script, device_dir, apps_file)
