"""Crash-safe writes: the whole file or the old one, readable by the file system's other users."""

import os
import stat

import pytest

from ace import files


def test_atomic_write_gives_the_mode_open_would_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "run" / "eval.csv"
    files.atomic_write_text(path, "step,return\n")
    assert path.read_text() == "step,return\n"
    assert stat.S_IMODE(path.stat().st_mode) == files._FILE_MODE
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert stat.S_IMODE(plain.stat().st_mode) == files._FILE_MODE  # what open() gives under this umask
    assert files._FILE_MODE & stat.S_IRGRP or os.umask(os.umask(0)) & stat.S_IRGRP  # group-readable unless masked
    assert [p.name for p in path.parent.iterdir()] == ["eval.csv"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "last.txt"
    files.atomic_write_text(path, "old")

    def broken(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        files.atomic_write(path, broken)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["last.txt"]
