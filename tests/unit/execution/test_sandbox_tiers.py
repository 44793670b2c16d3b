"""Sandbox tiers without a server: uid leases, CPU quotas, tier detection, the namespaces layout."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.execution.sandbox.base import SandboxSpec
from lamina.execution.sandbox.detect import (
    SandboxPaths,
    SandboxUnavailable,
    build_sandbox,
    probe_namespaces,
    reachable_by_others,
)
from lamina.execution.sandbox.limits import cpu_shares, cpu_weight
from lamina.execution.sandbox.namespaces import NamespaceSandbox, split_for_template
from lamina.execution.sandbox.process import ProcessSandbox
from lamina.execution.sandbox.shared_storage import tree_size
from lamina.execution.sandbox.uids import UidPool, UidRange, UidsExhausted

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def test_uid_pool_hands_out_distinct_ids_and_reuses_released_ones_last() -> None:
    pool = UidPool(UidRange(100_000, 3))
    first, second, third = pool.lease(), pool.lease(), pool.lease()
    assert [first, second, third] == [100_000, 100_001, 100_002]
    with pytest.raises(UidsExhausted):
        pool.lease()
    pool.release(second)
    pool.release(second)  # idempotent
    assert pool.lease() == second
    pool.release(first)
    pool.release(third)
    assert pool.lease() == third  # round-robin: the next id after the last lease
    assert pool.lease() == first
    assert pool.in_use == 3


def test_uid_range_must_be_positive() -> None:
    with pytest.raises(ValueError):
        UidRange(0, 10)
    with pytest.raises(ValueError):
        UidRange(100_000, 0)


@pytest.mark.parametrize(
    ("memory_mb", "shares", "weight"),
    [(1769, 1024, 100), (3538, 2048, 200), (128, 74, 7), (10_240, 5927, 578), (1, 2, 1)],
)
def test_cpu_share_is_proportional_to_memory_as_on_lambda(memory_mb: int, shares: int, weight: int) -> None:
    assert (cpu_shares(memory_mb), cpu_weight(memory_mb)) == (shares, weight)


@pytest.fixture
def public_folder() -> Iterator[Path]:
    """A folder under /tmp itself: pytest's own temporary folders are private to their user."""
    folder = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_reachable_by_others_checks_every_folder_on_the_way(public_folder: Path) -> None:
    tmp_path = public_folder
    open_folder = tmp_path / "open"
    inner = open_folder / "inner"
    inner.mkdir(parents=True)
    target = inner / "file"
    target.write_text("x")
    for folder in (tmp_path, open_folder, inner):
        folder.chmod(0o755)
    target.chmod(0o644)
    if not reachable_by_others(tmp_path):
        pytest.skip("the temporary folder itself is private here")
    assert reachable_by_others(target)
    open_folder.chmod(0o700)
    assert not reachable_by_others(target)
    open_folder.chmod(0o711)  # search without listing is enough
    assert reachable_by_others(target)
    target.chmod(0o600)
    assert not reachable_by_others(target)
    assert not reachable_by_others(tmp_path / "missing")


def test_scratch_size_counts_allocated_blocks_not_apparent_size(tmp_path: Path) -> None:
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "real").write_bytes(b"x" * 65536)
    with open(tmp_path / "sparse", "wb") as sparse:
        sparse.truncate(1024 * 1024 * 1024)
    size = tree_size(tmp_path)
    assert 65536 <= size < 1024 * 1024


def _paths(tmp_path: Path) -> SandboxPaths:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    return SandboxPaths(
        data_dir=data,
        shared=(data / "code", data / "environments"),
        private=(data / "lamina.db", data / "secrets"),
        root=data / "sandbox" / "root",
        runtime_files=(Path(sys.executable),),
    )


def test_unknown_tier_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SandboxUnavailable, match="unknown sandbox"):
        build_sandbox("vm", _paths(tmp_path), [], memory=None, uids=UidRange(100_000, 10))


def test_process_tier_can_always_be_chosen(tmp_path: Path) -> None:
    sandbox, notes = build_sandbox("process", _paths(tmp_path), [], memory=None, uids=UidRange(100_000, 10))
    assert type(sandbox) is ProcessSandbox and sandbox.name == "process"
    if ROOT and sandbox.user == "server uid":
        assert any("other users cannot reach" in note for note in notes)


@pytest.mark.skipif(not ROOT, reason="needs root")
def test_auto_picks_namespaces_when_the_probe_works(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    working = probe_namespaces(paths.root, 100_000) is None
    sandbox, notes = build_sandbox("auto", paths, [sys.executable], memory=None, uids=UidRange(100_000, 10))
    assert sandbox.name == ("namespaces" if working else "process")
    assert working or any("namespaces unavailable" in note for note in notes)


def test_namespaces_forced_on_a_host_without_them_fails_with_the_reason(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    if ROOT and probe_namespaces(paths.root, None) is None:
        pytest.skip("namespaces work here")
    with pytest.raises(SandboxUnavailable, match="does not work on this host"):
        build_sandbox("namespaces", paths, [], memory=None, uids=UidRange(100_000, 10))


def test_namespaces_layout_moves_paths_inside_and_sizes_tmp(tmp_path: Path) -> None:
    runtime_dir = tmp_path / "runtime"
    runtime_dir.mkdir()
    (runtime_dir / "bootstrap.py").write_text("")
    (runtime_dir / "__pycache__").mkdir()
    sdk = tmp_path / "sdk"
    sdk.mkdir()
    site = tmp_path / "site-packages" / "boto3"
    site.mkdir(parents=True)
    (sdk / "boto3").symlink_to(site)
    (sdk / "bootstrap.py").write_text("")  # Lamina's runtime file wins over an SDK name
    code = tmp_path / "code" / "abc"
    code.mkdir(parents=True)
    scratch = tmp_path / "environments" / "env1"
    sandbox = NamespaceSandbox(
        None, root=tmp_path / "root", interpreters=[sys.executable, "/usr/bin/python3"]
    )
    spec = SandboxSpec(
        name="env1",
        argv=[sys.executable, "-I", str(runtime_dir / "bootstrap.py")],
        environment={
            "LAMBDA_TASK_ROOT": str(code),
            "LAMBDA_RUNTIME_DIR": str(runtime_dir),
            "LAMINA_RUNTIME_LIB": str(sdk),
            "HOME": str(scratch),
            "TMPDIR": str(scratch),
            "MY_PATH": str(code),  # the function's own variables are left alone
        },
        working_directory=code,
        output_fd=1,
        memory_mb=128,
        task_root=code,
        runtime_dir=runtime_dir,
        runtime_library=sdk,
        scratch_directory=scratch,
        ephemeral_storage_mb=1024,
        network=False,
    )
    launch = sandbox.prepare(spec)
    plan = launch.plan
    assert launch.argv == [sys.executable, "-I", "/var/runtime/bootstrap.py"]
    assert launch.environment["LAMBDA_TASK_ROOT"] == "/var/task"
    assert (
        launch.environment["LAMBDA_RUNTIME_DIR"] == launch.environment["LAMINA_RUNTIME_LIB"] == "/var/runtime"
    )
    assert launch.environment["HOME"] == launch.environment["TMPDIR"] == "/tmp"
    assert launch.environment["MY_PATH"] == str(code)
    assert plan.working_directory == "/var/task"
    assert (plan.inside_task_root, plan.inside_tmp) == ("/var/task", "/tmp")
    assert set(plan.namespaces) == {"mount", "pid", "ipc", "uts", "net"}
    assert plan.rlimits["FSIZE"] == 1024 * 1024 * 1024
    by_target = {mount.target: mount for mount in plan.mounts}
    assert by_target["/var/task"].source == str(code) and not by_target["/var/task"].writable
    assert by_target["/var/runtime/boto3"].source == str(site)
    assert by_target["/var/runtime/bootstrap.py"].source == str(runtime_dir / "bootstrap.py")
    assert "/var/runtime/__pycache__" not in by_target
    assert by_target["/tmp"].kind == "tmpfs" and "size=1024m" in by_target["/tmp"].options
    prefix = str(Path(sys.executable).resolve().parents[1])
    if not prefix.startswith("/usr"):
        assert by_target[prefix].kind == "bind"
    assert not any(mount.source.startswith(str(tmp_path / "environments")) for mount in plan.mounts)
    plan.validate()
    launch.resources.release()


def test_process_layout_keeps_host_paths(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    spec = SandboxSpec(
        name="env",
        argv=["/usr/bin/env"],
        environment={"HOME": str(tmp_path)},
        working_directory=code,
        output_fd=1,
        memory_mb=128,
        pass_fds=(7,),
        scratch_directory=tmp_path,
    )
    launch = ProcessSandbox(None).prepare(spec)
    assert launch.argv == ["/usr/bin/env"] and launch.environment == {"HOME": str(tmp_path)}
    assert launch.plan.namespaces == [] and launch.plan.uid is None
    assert launch.plan.keep_fds == [0, 1, 2, 7]
    assert launch.plan.working_directory == str(code) and launch.plan.inside_tmp == str(tmp_path)
    assert launch.plan.rlimits["NPROC"] == 1024 and launch.plan.rlimits["CORE"] == 0
    launch.resources.release()


def test_the_namespaces_template_is_the_shared_part_of_every_python_layout(tmp_path: Path) -> None:
    runtime_dir = tmp_path / "runtime"
    runtime_dir.mkdir()
    (runtime_dir / "bootstrap.py").write_text("")
    sandbox = NamespaceSandbox(None, root=tmp_path / "root", interpreters=[sys.executable])
    template = json.loads(sandbox.template_for(sys.executable, runtime_dir, None))
    assert template["root"] == str(tmp_path / "root")
    assert template["mountPoints"] == ["/opt", "/proc", "/tmp", "/var/task"]
    shared_targets = {entry["target"] for entry in template["mounts"]}
    assert "/var/runtime/bootstrap.py" in shared_targets and "/usr" in shared_targets
    assert not shared_targets & {"/proc", "/tmp", "/var/task"}

    code = tmp_path / "code"
    code.mkdir()
    spec = SandboxSpec(
        name="env",
        argv=[sys.executable],
        environment={},
        working_directory=code,
        output_fd=1,
        memory_mb=256,
        python_interpreter=sys.executable,
        task_root=code,
        runtime_dir=runtime_dir,
        ephemeral_storage_mb=2048,
    )
    plan = sandbox.prepare(spec).plan
    shared, own = split_for_template(plan)
    # Any environment of this interpreter finds its shared mounts in the template, so a fork server
    # built it once; what it mounts itself is only its code, /tmp and /proc.
    assert [dataclasses.asdict(mount) for mount in shared] == template["mounts"]
    assert {mount.target for mount in own} == {"/proc", "/tmp", "/var/task"}
    on_template = sandbox.plan_on_template(plan, sandbox.template_for(sys.executable, runtime_dir, None))
    assert (on_template.template_root, on_template.mounts) == (str(tmp_path / "root"), own)
    other = json.dumps({**template, "mounts": template["mounts"][1:]})
    assert sandbox.plan_on_template(plan, other) is plan  # not what the template holds: a full root
    assert ProcessSandbox(None).template_for(sys.executable, runtime_dir, None) is None


def test_auto_falling_back_to_the_process_tier_warns_with_its_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lamina.execution.sandbox import detect

    monkeypatch.setattr(detect, "probe_namespaces", lambda root, uid: "no user namespaces")
    sandbox, notes = build_sandbox("auto", _paths(tmp_path), [], memory=None, uids=UidRange(100_000, 10))
    assert sandbox.name == "process"
    [warning] = [note for note in notes if "falling back" in note]
    assert "no user namespaces" in warning and "/proc" in warning and "network" in warning


def test_the_pids_budget_caps_the_servers_pids_cgroup() -> None:
    from lamina.execution.sandbox.limits import CgroupLimits, default_pids_budget

    assert default_pids_budget() >= 1024
    limits = CgroupLimits.detect(pids_budget=77)
    if limits is None or limits.pids_budget is None:
        pytest.skip("no writable pids cgroup here")
    try:
        assert limits.pids_budget == 77
        [base] = [controller.base for controller in limits._controllers if controller.kind == "pids"]
        assert (base / "pids.max").read_text().strip() == "77"
        assert limits.pids_in_use() == 0  # no environment yet
    finally:
        limits.close()
