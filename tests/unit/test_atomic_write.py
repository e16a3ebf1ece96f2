"""write_text_atomic: the target holds the old text or the new, never part of one, and no temp file stays."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from modeldeploy.tools.atomic_write import write_text_atomic


def test_replaces_the_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "process.json"
    target.write_text("old")
    write_text_atomic(target, '{"pid": 1}')
    assert target.read_text() == '{"pid": 1}'
    assert [p.name for p in tmp_path.iterdir()] == ["process.json"]


def test_a_failed_write_keeps_the_old_text_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic(target, "\udcff")  # a lone surrogate cannot be encoded: fails mid-write
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_writers_in_several_threads_never_share_a_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for _ in range(200):
                write_text_atomic(target, str(n) * 1000)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert target.read_text() in {str(n) * 1000 for n in range(4)}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
