"""Ctrl-C in every command: a real `python -m nn.cli` process is sent SIGINT while it
works; it prints ``chainrule: interrupted`` and nothing else on stderr, exits with 130
and leaves no file behind.  And a reader that goes away (``chainrule check | head -1``)
ends the command quietly with 141."""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def default_sigint() -> None:
    # A shell may start background jobs with SIGINT ignored, and Python keeps an ignored
    # SIGINT ignored: give the child the default, as a terminal's Ctrl-C would find it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "nn.cli", *argv], cwd=cwd, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **(env or {})})


def first_line(process: subprocess.Popen, timeout: float = 60.0) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, "the command printed nothing"
    return process.stdout.readline()


def interrupt(process: subprocess.Popen) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    return process.returncode, err


@pytest.fixture
def processes():
    started: list[subprocess.Popen] = []
    yield started
    for process in started:  # a failed assertion must not leave a child running
        if process.poll() is None:
            process.kill()
            process.wait()


def test_ctrl_c_in_check(tmp_path, processes):
    process = start(["check", "--points", "100000"], tmp_path)
    processes.append(process)
    assert first_line(process).startswith("Operations:")
    assert interrupt(process) == (130, "chainrule: interrupted\n")


def test_ctrl_c_in_demo_leaves_no_folder(tmp_path, processes):
    out = tmp_path / "run"
    process = start(["demo", "--hidden", "32,32", "--epochs", "100000", "--no-compile",
                     "--out", str(out)], tmp_path)
    processes.append(process)
    assert first_line(process).startswith("Training an MLP 2-32-32-1")
    assert interrupt(process) == (130, "chainrule: interrupted\n")
    assert list(tmp_path.iterdir()) == []  # the folder it made for its files is gone


def test_ctrl_c_in_graph_while_dot_draws_writes_nothing(tmp_path, processes):
    # A `dot` that says it has started, then takes its time.
    started = tmp_path / "dot-started"
    fake = tmp_path / "bin"
    fake.mkdir()
    dot = fake / "dot"
    dot.write_text(f'#!/bin/sh\n: > "{started}"\nexec {shutil.which("sleep")} 60\n')
    dot.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    process = start(["graph", "tanh(x*w + b)", "--set", "x=1", "w=2", "b=3", "--out",
                     "g.svg"], work, env={"PATH": str(fake)})
    processes.append(process)
    deadline = time.monotonic() + 60
    while not started.exists():
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.05)
    assert interrupt(process) == (130, "chainrule: interrupted\n")
    assert list(work.iterdir()) == []  # neither the drawing nor its DOT source


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path, processes):
    process = start(["check", "--points", "50", "--no-networks"], tmp_path)
    processes.append(process)
    assert first_line(process).startswith("Operations:")
    process.stdout.close()  # as `head -1` does after its line
    assert process.wait(timeout=60) == 141
    assert process.stderr.read() == ""
