"""sckit.atomic.atomic_open: complete file or the old one, plain-open permissions, no leftovers."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sckit.atomic import atomic_open


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_writes_binary_and_text_with_open_permissions(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    with atomic_open(tmp_path / "a.bin") as f:
        f.write(b"\x00\x01")
    with atomic_open(tmp_path / "b.txt", "w", encoding="utf-8") as f:
        f.write("é")
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "b.txt").read_text(encoding="utf-8") == "é"
    assert _mode(tmp_path / "a.bin") == _mode(plain) == _mode(tmp_path / "b.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.txt", "plain"]


def test_error_keeps_the_old_file_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "m.sck"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="mid-write"), atomic_open(target) as f:
        f.write(b"new, half")
        raise RuntimeError("mid-write")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["m.sck"]


def test_bad_mode() -> None:
    with pytest.raises(ValueError, match="mode"), atomic_open("x", "a"):
        pass
