"""Atomic writes: the target is the old complete file or the new one, never half, and no temporary is left."""

import pytest

from tfseg.files import atomic_path, write_atomically


def test_write_atomically_replaces_the_whole_file(tmp_path):
    target = tmp_path / "summary.json"
    write_atomically(target, "old")
    write_atomically(target, b"new bytes")
    assert target.read_bytes() == b"new bytes"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "history.csv"
    target.write_text("epoch,loss\n0,1.0\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_text("epoch,loss\n0,")  # a writer killed half-way
            raise RuntimeError("killed")
    assert target.read_text() == "epoch,loss\n0,1.0\n"
    assert [p.name for p in tmp_path.iterdir()] == ["history.csv"]


def test_the_temporary_keeps_the_suffix_for_writers_that_check_it(tmp_path):
    with atomic_path(tmp_path / "best.keras") as temporary:
        assert temporary.parent == tmp_path and temporary.suffix == ".keras" and temporary.name.startswith(".best.partial-")
        temporary.write_text("x")
    assert (tmp_path / "best.keras").read_text() == "x"
