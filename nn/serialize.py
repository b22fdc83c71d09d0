"""Saving and loading models as NumPy ``.npz`` files: plain arrays, never pickle.

The file holds the model's `state_dict()` (PyTorch ``nn.Linear`` layout, so the arrays
can be copied into a ``torch.nn.Sequential`` of ``Linear`` layers) and one extra entry,
``__chainrule__``: the JSON of `Module.describe()`, so that `load_model` can rebuild an
`MLP` without being told its shape.

Layers: `nn.checkpoint_file` reads and writes the files; `nn.module` describes a model
and saves itself through it; this module reads a description and builds the model.
Nothing here is imported by `nn.module`, so there is no import circle.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from . import checkpoint_file
from .checkpoint_file import SerializationError
from .module import MLP, Layer, Module, Neuron

__all__ = ["save", "load_into", "load_model", "read_state", "SerializationError"]


def save(module: Module, path: str | os.PathLike) -> str:
    """Write `module.state_dict()` and `module.describe()` to `path` (``.npz`` is appended
    if missing, as NumPy does).  Returns the path written.  Same as ``module.save(path)``."""
    return module.save(path)


def read_state(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and the architecture stored in a checkpoint, with clear errors."""
    return checkpoint_file.read(path)


def load_into(module: Module, path: str | os.PathLike) -> None:
    """Load a checkpoint into an existing model, checking every key and shape first.
    Same as ``module.load(path)``."""
    module.load(path)


def load_model(path: str | os.PathLike) -> Module:
    """Rebuild the model saved at `path` (MLP, Layer or Neuron) with its weights."""
    arrays, meta = checkpoint_file.read(path)
    kind = meta.get("kind")
    try:
        if kind == "MLP":
            sizes = meta["sizes"]
            model: Module = MLP(sizes[0], sizes[1:], meta["activation"],
                                meta["output_activation"], meta["bias"], seed=0)
        elif kind == "Layer":
            model = Layer(meta["nin"], meta["nout"], meta["activation"], meta["bias"], seed=0)
        elif kind == "Neuron":
            model = Neuron(meta["nin"], meta["activation"], meta["bias"], seed=0)
        else:
            raise SerializationError(f"load_model: {os.fspath(path)!r} does not say which "
                                     f"model it holds (kind {kind!r}); build the model and "
                                     "call model.load(path)")
    except (KeyError, IndexError, TypeError) as err:
        raise SerializationError(f"load_model: {os.fspath(path)!r} has an incomplete "
                                 f"architecture description ({err!r})") from None
    checkpoint_file.load_into(model, arrays, f"load_model {os.fspath(path)!r}")
    return model
