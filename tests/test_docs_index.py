"""docs/index.md names every public function and class of autograd and nn."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

import autograd
import nn

INDEX = (Path(__file__).resolve().parents[1] / "docs" / "index.md").read_text(encoding="utf-8")
# The loss functions and datasets are named in the table as "the losses", "the datasets".
GROUPED = {"mse", "half_sse", "hinge", "bce_with_logits", "softmax_cross_entropy",
           "l2_penalty", "moons", "circles", "xor", "spiral", "train_val_split",
           "standardize", "minibatches"}


@pytest.mark.parametrize("package", [autograd, nn], ids=["autograd", "nn"])
def test_every_public_name_is_in_the_index(package) -> None:
    names = [name for name in package.__all__ if not name.startswith("__")
             and not isinstance(getattr(package, name), types.ModuleType)
             and name not in GROUPED]
    missing = [name for name in names if f"`{name}`" not in INDEX]
    assert not missing, f"docs/index.md does not name {missing}"
