"""The tests must exercise this project's `autograd`, not HIPS autograd from PyPI."""

from pathlib import Path

import autograd
import nn

ROOT = Path(__file__).resolve().parents[1]


def test_autograd_is_chainrule():
    assert getattr(autograd, "__chainrule__", False) is True
    assert Path(autograd.__file__).resolve().parent == ROOT / "autograd"
    assert Path(nn.__file__).resolve().parent == ROOT / "nn"


def test_version_matches_package_metadata():
    from importlib.metadata import version

    assert autograd.__version__ == version("chainrule")
