"""ZIP deployment packages are untrusted input: every bad archive is rejected whole, nothing leaks out.

Lambda quotas: 250 MB unzipped; AWS answers an unreadable upload with InvalidParameterValueException
"Could not unzip uploaded file. Please check your file, then try to upload again."
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import stat
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lamina.domain.code import (
    MAX_UNZIPPED_BYTES,
    CodeDigest,
    PackageSummary,
    digest_code,
    inspect_package,
)
from lamina.errors import AwsError
from lamina.store.code_files import extract_package, remove_tree

CORRUPT = "Could not unzip uploaded file. Please check your file, then try to upload again."


def entry(name: str, mode: int = 0o644, kind: int = stat.S_IFREG) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.create_system = 3  # Unix, so external_attr carries st_mode
    info.external_attr = (kind | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def build_zip(*entries: tuple[zipfile.ZipInfo | str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, content in entries:
            archive.writestr(entry(info) if isinstance(info, str) else info, content)
    return buffer.getvalue()


def rejection(call: Callable[[], object]) -> str:
    with pytest.raises(AwsError) as caught:
        call()
    assert (caught.value.code, caught.value.status) == ("InvalidParameterValueException", 400)
    return caught.value.message


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def parent(tmp_path: Path) -> Iterator[Path]:
    """An empty folder to extract into; read-only trees are removed so tmp_path cleanup works."""
    folder = tmp_path / "packages"
    folder.mkdir()
    yield folder
    for child in tmp_path.iterdir():
        remove_tree(child)


def assert_nothing_left(parent: Path) -> None:
    """Neither the destination nor a staging folder survives a rejected package."""
    assert sorted(path.name for path in parent.iterdir()) == []


# digest and inspection ----------------------------------------------------------------------


def test_digest_is_sha256_in_hex_and_base64_with_size() -> None:
    data = build_zip(("app.py", b"def handler(event, context):\n    return 1\n"))
    raw = hashlib.sha256(data).digest()
    expected = CodeDigest(raw.hex(), base64.b64encode(raw).decode(), len(data))
    assert digest_code(data) == expected
    assert inspect_package(data).digest == expected
    assert len(expected.sha256_hex) == 64
    assert len(expected.sha256_base64) == 44


def test_digest_of_known_bytes() -> None:
    assert digest_code(b"") == CodeDigest(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        0,
    )


def test_inspect_counts_files_and_declared_size_not_directories() -> None:
    data = build_zip(
        ("app.py", b"12345"),
        (entry("lib/", 0o755, stat.S_IFDIR), b""),
        ("lib/util.py", b"1234567890"),
    )
    assert inspect_package(data) == PackageSummary(digest_code(data), unzipped_size=15, file_count=2)


def test_default_limit_is_250_mb() -> None:
    assert MAX_UNZIPPED_BYTES == 250 * 1024 * 1024


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a zip at all",
        b"PK\x03\x04" + b"\x00" * 40,
        build_zip(("app.py", b"x" * 1000))[:-30],  # truncated: the central directory is cut off
    ],
    ids=["empty", "garbage", "local-header-only", "truncated"],
)
def test_unreadable_archives_are_rejected(data: bytes, parent: Path) -> None:
    assert rejection(lambda: inspect_package(data)) == CORRUPT
    assert rejection(lambda: extract_package(data, parent / "code")) == CORRUPT
    assert_nothing_left(parent)


def test_corrupt_entry_data_is_rejected_at_extraction(parent: Path) -> None:
    data = bytearray(build_zip(("app.py", b"print('hello world')\n" * 50)))
    data[40] ^= 0xFF  # inside the compressed data of the only entry: CRC or inflate fails
    data = bytes(data)
    inspect_package(data)  # the directory is intact
    assert rejection(lambda: extract_package(data, parent / "code")) == CORRUPT
    assert_nothing_left(parent)


@pytest.mark.parametrize("flip", [0x01, 0x80, 0xFF])
def test_every_single_byte_corruption_is_accepted_or_rejected_as_bad_input(flip: int, parent: Path) -> None:
    """A flipped byte anywhere (headers, deflate stream, central directory) either still reads as
    a valid archive or is InvalidParameterValueException; never another exception (a 500)."""
    original = build_zip(
        ("app.py", b"def handler(event, context):\n    return event\n" * 4),
        ("lib/util.py", b"VALUE = 1\n" * 20),
    )
    rejected = 0
    for offset in range(len(original)):
        data = bytearray(original)
        data[offset] ^= flip
        destination = parent / f"code{offset}"
        try:
            inspect_package(bytes(data))
            extract_package(bytes(data), destination)
        except AwsError as error:
            assert (error.code, error.status) == ("InvalidParameterValueException", 400), offset
            assert not destination.exists(), offset
            rejected += 1
        else:
            remove_tree(destination)
    assert rejected > len(original) // 4  # the test does corrupt: most flips are caught
    assert_nothing_left(parent)


# entries that would land outside the code root ------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../x", "Entry escapes the package root"),
        ("a/../../x", "Entry escapes the package root"),
        ("a/..", "Entry escapes the package root"),
        ("..\\x", "Entry escapes the package root"),
        ("a\\..\\..\\x", "Entry escapes the package root"),
        ("/abs", "Entry has an absolute path"),
        ("/etc/passwd", "Entry has an absolute path"),
        ("\\abs", "Entry has an absolute path"),
        ("C:\\x", "Entry has an absolute path"),
        ("C:/x", "Entry has an absolute path"),
    ],
)
def test_escaping_entries_are_rejected(name: str, reason: str, parent: Path) -> None:
    data = build_zip(("ok.py", b"fine"), (name, b"evil"))
    expected = f"{CORRUPT} {reason}: {name}"
    assert rejection(lambda: inspect_package(data)) == expected
    assert rejection(lambda: extract_package(data, parent / "code")) == expected
    assert_nothing_left(parent)
    assert not (parent.parent / "x").exists()


def test_names_with_dots_that_stay_inside_are_accepted(parent: Path) -> None:
    data = build_zip(("a/./b.py", b"1"), ("..hidden", b"2"), ("c/...", b"3"))
    inspect_package(data)
    extract_package(data, parent / "code")
    assert (parent / "code" / "a" / "b.py").read_bytes() == b"1"
    assert (parent / "code" / "..hidden").read_bytes() == b"2"
    assert (parent / "code" / "c" / "...").read_bytes() == b"3"


@pytest.mark.parametrize("target", [b"/etc/passwd", b"../../outside", b"inside.py"])
def test_symlink_entries_are_rejected(target: bytes, parent: Path) -> None:
    data = build_zip(("inside.py", b"x"), (entry("link", 0o777, stat.S_IFLNK), target))
    expected = f"{CORRUPT} Symbolic links are not allowed: link"
    assert rejection(lambda: inspect_package(data)) == expected
    assert rejection(lambda: extract_package(data, parent / "code")) == expected
    assert_nothing_left(parent)


# size limits and zip bombs ------------------------------------------------------------------


def test_declared_size_over_the_limit_is_rejected() -> None:
    data = build_zip(("a.bin", b"x" * 600), ("b.bin", b"y" * 500))
    assert rejection(lambda: inspect_package(data, max_unzipped=1099)) == (
        "Unzipped size must be smaller than 1099 bytes"
    )
    assert inspect_package(data, max_unzipped=1100).unzipped_size == 1100


def test_real_size_over_the_limit_is_rejected_at_extraction(parent: Path) -> None:
    data = build_zip(("a.bin", b"x" * 3000), ("b.bin", b"y" * 3000))
    inspect_package(data, max_unzipped=10_000)
    assert rejection(lambda: extract_package(data, parent / "code", max_unzipped=4000)) == (
        "Unzipped size must be smaller than 4000 bytes"
    )
    assert_nothing_left(parent)


def lie_about_size(data: bytes, declared: int, crc: int | None = None) -> bytes:
    """Rewrite the uncompressed size (and optionally the CRC) in both headers, as a zip bomb does."""
    patched = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 14), (b"PK\x01\x02", 16)):
        start = patched.find(signature)
        while start != -1:
            if crc is not None:
                struct.pack_into("<I", patched, start + offset, crc)
            struct.pack_into("<I", patched, start + offset + 8, declared)
            start = patched.find(signature, start + 4)
    return bytes(patched)


def test_a_lying_central_directory_cannot_unpack_more_than_it_declares(parent: Path) -> None:
    bomb = lie_about_size(build_zip(("bomb.bin", b"\0" * 200_000)), declared=10)
    summary = inspect_package(bomb, max_unzipped=1000)
    assert summary.unzipped_size == 10  # the directory claims a tiny file
    assert rejection(lambda: extract_package(bomb, parent / "code", max_unzipped=1000)).startswith(
        ("Unzipped size must be smaller than", CORRUPT)
    )
    assert_nothing_left(parent)


def test_a_lying_directory_with_a_forged_crc_writes_no_more_than_declared(parent: Path) -> None:
    bomb = lie_about_size(build_zip(("bomb.bin", b"\0" * 200_000)), declared=10, crc=zlib.crc32(b"\0" * 10))
    extract_package(bomb, parent / "code", max_unzipped=1000)
    assert (parent / "code" / "bomb.bin").read_bytes() == b"\0" * 10


# extraction ----------------------------------------------------------------------------------


def test_extraction_writes_nested_files_with_exec_bits_kept_and_everything_read_only(parent: Path) -> None:
    data = build_zip(
        (entry("bootstrap", 0o755), b"#!/bin/sh\n"),
        (entry("handler.py", 0o644), b"def handler(e, c): pass\n"),
        (entry("bin/tool", 0o700), b"tool"),
        (entry("pkg/sub/deep/module.py", 0o600), b"deep = True\n"),
        (entry("empty/", 0o755, stat.S_IFDIR), b""),
    )
    destination = parent / "code"
    extract_package(data, destination)

    assert (destination / "handler.py").read_bytes() == b"def handler(e, c): pass\n"
    assert (destination / "pkg" / "sub" / "deep" / "module.py").read_bytes() == b"deep = True\n"
    assert mode_of(destination / "bootstrap") == 0o555
    assert mode_of(destination / "bin" / "tool") == 0o555
    assert mode_of(destination / "handler.py") == 0o444
    assert mode_of(destination / "pkg" / "sub" / "deep" / "module.py") == 0o444
    for directory in ["", "bin", "pkg", "pkg/sub", "pkg/sub/deep", "empty"]:
        assert (destination / directory).is_dir()
        assert mode_of(destination / directory) == 0o555, directory
    assert sorted(path.name for path in parent.iterdir()) == ["code"]  # no staging left


def test_entries_without_unix_mode_are_read_only_files(parent: Path) -> None:
    info = zipfile.ZipInfo("windows.py", date_time=(2024, 1, 1, 0, 0, 0))
    info.create_system = 0
    info.external_attr = 0x20  # MS-DOS archive bit, no st_mode
    extract_package(build_zip((info, b"w")), parent / "code")
    assert mode_of(parent / "code" / "windows.py") == 0o444


def test_empty_archive_extracts_to_an_empty_read_only_folder(parent: Path) -> None:
    data = build_zip()
    assert inspect_package(data) == PackageSummary(digest_code(data), 0, 0)
    extract_package(data, parent / "code")
    assert list((parent / "code").iterdir()) == []
    assert mode_of(parent / "code") == 0o555


def test_a_failure_midway_leaves_no_partial_destination(parent: Path) -> None:
    data = build_zip(("first.py", b"1" * 100), ("second.py", b"2" * 100), ("../escape", b"3"))
    assert rejection(lambda: extract_package(data, parent / "code")).startswith(CORRUPT)
    assert_nothing_left(parent)


def test_destination_appears_only_when_complete(parent: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    destination = parent / "code"
    files = {f"dir{i}/file{i}.py": str(i).encode() * 100 for i in range(5)}
    data = build_zip(*files.items())
    seen: list[tuple[bool, list[str]]] = []
    real_replace = os.replace

    def observing_replace(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        if Path(target) == destination:
            staged = sorted(str(path.relative_to(source)) for path in Path(source).rglob("*.py"))
            seen.append((destination.exists(), staged))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", observing_replace)
    extract_package(data, destination)
    assert seen == [(False, sorted(files))]  # one rename of a complete tree into a free name
    assert sorted(str(path.relative_to(destination)) for path in destination.rglob("*.py")) == sorted(files)


def test_extracting_again_onto_an_existing_copy_keeps_it_and_leaves_no_staging(parent: Path) -> None:
    data = build_zip(("app.py", b"same"))
    extract_package(data, parent / "code")
    extract_package(data, parent / "code")  # another worker unpacked the same SHA first
    assert (parent / "code" / "app.py").read_bytes() == b"same"
    assert sorted(path.name for path in parent.iterdir()) == ["code"]


def test_remove_tree_removes_read_only_trees_and_ignores_missing(parent: Path) -> None:
    extract_package(build_zip(("a/b/c.py", b"x")), parent / "code")
    remove_tree(parent / "code")
    assert not (parent / "code").exists()
    remove_tree(parent / "missing")


# property: nothing ever lands outside the destination ----------------------------------------

_SEGMENT = st.one_of(st.text(alphabet="abxyz._-", min_size=1, max_size=3), st.sampled_from([".", ".."]))
_NAME = st.builds(
    lambda leading, segments, trailing: leading + "/".join(segments) + trailing,
    st.sampled_from(["", "", "", "/"]),
    st.lists(_SEGMENT, min_size=1, max_size=4),
    st.sampled_from(["", "", "/"]),
)


def _all_paths(root: Path) -> set[Path]:
    return {Path(directory) / name for directory, dirs, files in os.walk(root) for name in dirs + files}


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(_NAME, min_size=1, max_size=4, unique=True))
def test_random_entry_names_extract_inside_or_are_rejected(names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        parent = root / "outer" / "inner"
        parent.mkdir(parents=True)
        destination = parent / "code"
        data = build_zip(*((name, b"payload") for name in names))
        try:
            extract_package(data, destination)
        except AwsError as error:
            assert error.code == "InvalidParameterValueException"
            assert error.message.startswith(CORRUPT)
            assert _all_paths(root) == {root / "outer", parent}
        else:
            assert not any(".." in name.split("/") for name in names)
            assert not any(name.startswith("/") for name in names)
            outside = _all_paths(root) - _all_paths(destination) - {root / "outer", parent, destination}
            assert outside == set()
            for path in _all_paths(destination):
                assert Path(os.path.realpath(path)).is_relative_to(os.path.realpath(destination))
        finally:
            remove_tree(root / "outer")
