"""docs/images/moons_boundary.svg shows the model docs/nn.md trains.

docs/make_nn_pictures.py draws it; matplotlib's SVG output changes between versions, so
this checks what the picture is made from and that the committed file is that picture,
not the file byte for byte.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import nn

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "docs" / "make_nn_pictures.py"
PICTURE = ROOT / "docs" / "images" / "moons_boundary.svg"


def _script():
    pytest.importorskip("matplotlib")
    spec = importlib.util.spec_from_file_location("make_nn_pictures", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_pictured_model_separates_every_training_point() -> None:
    model, X, y = _script().moons_model()
    assert np.array_equal(nn.predict(model, X) > 0, y > 0)


def test_the_committed_picture_is_the_scripts() -> None:
    text = PICTURE.read_text(encoding="utf-8")
    assert text.lstrip().startswith(("<?xml", "<svg"))
    assert "Two moons, 2-16-16-1 MLP after 100 steps" in text
    assert "docs/images/moons_boundary.svg" in SCRIPT.read_text(encoding="utf-8")
    assert "images/moons_boundary.svg" in (ROOT / "docs" / "nn.md").read_text(encoding="utf-8")
