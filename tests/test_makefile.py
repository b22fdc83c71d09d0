"""The front door: what `make demo` and `make test` would run, read with `make -n`.

`make demo` installs the `plot` extra only (never the test tools) and, once installed,
nothing again until setup.cfg or pyproject.toml changes; the same for `make test` and
the `dev` extra.  The Makefile runs in a copy, with a stand-in `.venv/bin/python`, so
nothing is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("Makefile", "setup.cfg", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\nexit 0\n")
    python.chmod(0o755)
    return tmp_path


def planned(project: Path, target: str) -> list[str]:
    """The recipe lines `make` would run for `target`, apart from the system checks."""
    # Not as a sub-make of `make test`: its flags would print 'Entering directory'.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    result = subprocess.run(["make", "--no-print-directory", "-n", target], cwd=project,
                            capture_output=True, text=True, check=True, env=env)
    lines = [line for line in result.stdout.splitlines()
             if "apt-get" not in line and not line.startswith(("if ", "fi"))]
    return lines


def age(path: Path, seconds: float) -> None:
    """Make `path` look `seconds` old, so that newer stamps count as up to date."""
    stat = path.stat()
    os.utime(path, (stat.st_atime - seconds, stat.st_mtime - seconds))


def test_demo_installs_only_what_the_demo_needs(project: Path):
    plan = planned(project, "demo")
    installs = [line for line in plan if "pip install" in line]
    assert len(installs) == 1 and installs[0].endswith("-e '.[plot]'")
    assert not any("[dev]" in line for line in plan)
    assert plan[-1] == ".venv/bin/chainrule demo"


def test_nothing_is_installed_again_when_nothing_changed(project: Path):
    for name in ("setup.cfg", "pyproject.toml"):
        age(project / name, 60)
    for stamp in (".installed-demo", ".installed"):
        (project / ".venv" / stamp).touch()
    assert planned(project, "demo") == [".venv/bin/chainrule demo"]
    assert not any("pip" in line for line in planned(project, "test"))
    # A changed setup.cfg installs again, each target its own extra.
    (project / "setup.cfg").touch()
    assert any(line.endswith("-e '.[plot]'") for line in planned(project, "demo"))
    assert any(line.endswith("-e '.[dev]'") for line in planned(project, "test"))


def test_test_installs_the_dev_extra(project: Path):
    installs = [line for line in planned(project, "test") if "pip install" in line]
    assert len(installs) == 1 and installs[0].endswith("-e '.[dev]'")
