"""The Code tab's package handling: which files are editable, reading one, replacing one while
keeping every other entry (and its permissions), new packages with an executable bootstrap."""

from __future__ import annotations

import io
import zipfile

from lamina.console.packages import MAX_EDITABLE_BYTES, files_of, new_package, read_text, with_file


def _zip(entries: dict[str, bytes], modes: dict[str, int] | None = None) -> bytes:
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as archive:
        for path, data in entries.items():
            info = zipfile.ZipInfo(path)
            info.external_attr = (modes or {}).get(path, 0o644) << 16
            archive.writestr(info, data)
    return output.getvalue()


def test_small_text_files_are_editable_and_others_are_not() -> None:
    package = _zip(
        {
            "app.py": b"print('hi')\n",
            "lib/": b"",
            "lib/data.bin": b"\x00\x01\x02",
            "latin.txt": "café".encode("latin-1"),
            "big.txt": b"x" * (MAX_EDITABLE_BYTES + 1),
        }
    )
    listed = {item.path: item.editable for item in files_of(package)}
    # Listed from the directory alone: a .txt looks editable until its bytes are read.
    assert listed == {"app.py": True, "big.txt": False, "latin.txt": True, "lib/data.bin": False}
    assert read_text(package, "app.py") == "print('hi')\n"
    assert read_text(package, "latin.txt") is None  # not UTF-8
    assert read_text(package, "big.txt") is None
    assert read_text(package, "lib/data.bin") is None
    assert read_text(package, "missing.py") is None


def test_a_large_package_has_no_editable_file() -> None:
    package = _zip({"app.py": b"x = 1\n", "blob": bytes(range(256)) * 16_000})
    assert len(package) > 3 * 1024 * 1024 or all(not item.editable for item in files_of(package))
    big = _zip({"app.py": b"x = 1\n", "padding.bin": bytes(4 * 1024 * 1024)})
    assert [item.editable for item in files_of(big) if item.path == "app.py"] == [False]


def test_replacing_a_file_keeps_the_other_entries_and_their_modes() -> None:
    package = _zip({"bootstrap": b"#!/bin/sh\n", "handler.sh": b"old\n"}, {"bootstrap": 0o755})
    edited = with_file(package, "handler.sh", "new\n")
    with zipfile.ZipFile(io.BytesIO(edited)) as archive:
        assert archive.read("handler.sh") == b"new\n"
        assert archive.read("bootstrap") == b"#!/bin/sh\n"
        assert archive.getinfo("bootstrap").external_attr >> 16 & 0o777 == 0o755
    added = with_file(package, "extra.py", "y = 2\n")
    assert read_text(added, "extra.py") == "y = 2\n"


def test_new_packages_mark_executables() -> None:
    package = new_package({"bootstrap": "#!/bin/sh\n", "function.sh": b"echo\n"}, frozenset({"bootstrap"}))
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        assert archive.getinfo("bootstrap").external_attr >> 16 & 0o777 == 0o755
        assert archive.getinfo("function.sh").external_attr >> 16 & 0o777 == 0o644
