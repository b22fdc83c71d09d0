"""What the commands write: all the files of a command or none, each replaced whole.

`chainrule graph --out dir.svg --html` used to write the page, then fail on the folder;
an empty `--ops` ran every check.  Each case here compares the folder's files, byte for
byte, before and after.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import nn.cli.check as check_command
from nn.cli import main
from nn.cli.output import StagedFiles


def files_in(folder: Path) -> dict[str, bytes | None]:
    """Every entry below `folder` by relative name, with the bytes of each file."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


def one_error_line(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = main(list(argv))
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return status, err.rstrip("\n")


def dot_that_fails_the_second_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PATH then holds a `dot` that draws once (Graphviz's own), then fails."""
    real = shutil.which("dot")
    assert real is not None
    fake = tmp_path / "bin"
    fake.mkdir()
    dot = fake / "dot"
    dot.write_text(f'#!/bin/sh\nif [ -e "{fake / "drew"}" ]; then\n'
                   "  echo 'Error: out of ink' >&2; exit 3\nfi\n"
                   f': > "{fake / "drew"}"\nexec {real} "$@"\n')
    dot.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake))


def test_an_out_that_is_a_folder_writes_not_even_the_page(capsys, tmp_path):
    (tmp_path / "dir.svg").mkdir()
    status, line = one_error_line(capsys, "graph", "x*2", "--set", "x=1", "--out",
                                  str(tmp_path / "dir.svg"), "--html")
    assert status == 1
    assert line == f"chainrule graph: error: cannot write {tmp_path / 'dir.svg'}: Is a directory"
    assert files_in(tmp_path) == {"dir.svg": None}  # no dir.html, no temporary file


def test_a_page_that_cannot_be_written_keeps_the_drawing_from_being_written(capsys, tmp_path):
    (tmp_path / "g.html").mkdir()
    status, line = one_error_line(capsys, "graph", "x*2", "--set", "x=1", "--out",
                                  str(tmp_path / "g.svg"), "--html")
    assert status == 1 and line.endswith(f"cannot write {tmp_path / 'g.html'}: Is a directory")
    assert files_in(tmp_path) == {"g.html": None}


def test_a_run_that_fails_after_the_page_leaves_the_previous_files(capsys, tmp_path,
                                                                   monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    out = work / "g.svg"
    assert main(["graph", "x*2", "--set", "x=1", "--out", str(out), "--html"]) == 0
    before = files_in(work)
    assert set(before) == {"g.svg", "g.html"}
    # Again, for another graph: the page is drawn and staged, then dot fails on the
    # drawing. Neither file is replaced; only the DOT source is kept, as documented.
    dot_that_fails_the_second_time(tmp_path, monkeypatch)
    status, line = one_error_line(capsys, "graph", "x*3", "--set", "x=1", "--out", str(out),
                                  "--html")
    assert status == 1 and "dot failed (exit status 3: Error: out of ink)" in line
    after = files_in(work)
    assert after.pop("g.dot").startswith(b"digraph")
    assert after == before


def test_a_second_run_replaces_the_files_whole(capsys, tmp_path):
    out = tmp_path / "g.dot"
    assert main(["graph", "x*2", "--set", "x=1", "--out", str(out)]) == 0
    out.chmod(0o640)
    assert main(["graph", "x*3", "--set", "x=1", "--out", str(out)]) == 0
    assert "grad 3.0000" in out.read_text(encoding="utf-8")
    assert files_in(tmp_path).keys() == {"g.dot"}
    assert out.stat().st_mode & 0o777 == 0o640  # a replaced file keeps its permissions


def test_an_interrupt_before_the_commit_removes_the_staged_files(tmp_path):
    target = tmp_path / "kept.txt"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), StagedFiles() as files:
        files.stage_bytes(target, b"new")
        files.stage_bytes(tmp_path / "other.txt", b"other")
        assert len(os.listdir(tmp_path)) == 3  # kept.txt and two temporary files
        raise KeyboardInterrupt
    assert files_in(tmp_path) == {"kept.txt": b"old"}


def test_commit_puts_every_file_in_place(tmp_path):
    with StagedFiles() as files:
        files.stage_bytes(tmp_path / "a", b"1")
        files.stage(tmp_path / "b", lambda temporary: temporary.write_text("2"))
        assert files.commit() == [tmp_path / "a", tmp_path / "b"]
    assert files_in(tmp_path) == {"a": b"1", "b": b"2"}


@pytest.mark.parametrize("ops", ["", ",", " , "])
def test_an_empty_ops_is_refused_instead_of_running_every_check(capsys, monkeypatch, ops):
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("a check ran")

    monkeypatch.setattr(check_command, "check_operation", fail)
    monkeypatch.setattr(check_command, "check_networks", fail)
    status = main(["check", "--ops", ops])
    captured = capsys.readouterr()
    assert (status, captured.out) == (2, "")
    assert captured.err == "chainrule check: error: --ops needs at least one operation name\n"
