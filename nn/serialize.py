"""Saving and loading models as NumPy ``.npz`` files: plain arrays, never pickle.

The file holds the model's `state_dict()` (PyTorch ``nn.Linear`` layout, so the arrays
can be copied into a ``torch.nn.Sequential`` of ``Linear`` layers) and one extra entry,
``__chainrule__``: the JSON of `Module.describe()`, so that `load_model` can rebuild an
`MLP` without being told its shape.

Layers: `nn.checkpoint_file` reads and writes the files; `nn.module` describes a model
and saves itself through it; this module reads a description and builds the model.
Nothing here is imported by `nn.module`, so there is no import circle.

A file is untrusted data: `load_model` checks its description (types, activations, and
the limits of `nn.checkpoint_file`: parameters, neurons, inputs, layers) and the shape and
type of every array from its header, all before it allocates an array or builds a neuron.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import checkpoint_file
from .checkpoint_file import SerializationError
from .module import ACTIVATIONS, MLP, Layer, Module, Neuron

__all__ = ["save", "load_into", "load_model", "read_state", "SerializationError"]

# The fields each kind of model describes itself with (besides "kind").
_FIELDS = {
    "MLP": ("sizes", "activation", "output_activation", "bias"),
    "Layer": ("nin", "nout", "activation", "bias"),
    "Neuron": ("nin", "activation", "bias"),
}


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


@dataclass(frozen=True)
class _Blueprint:
    """A checked description: the model's kind, its layer sizes (inputs first), its
    activations and whether its neurons have biases."""

    kind: str
    sizes: list[int]
    activation: str
    output_activation: str
    bias: bool

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """The arrays of the model's `state_dict()`, name -> shape, without building it."""
        shapes: dict[str, tuple[int, ...]] = {}
        for i, (nin, nout) in enumerate(zip(self.sizes, self.sizes[1:])):
            prefix = f"layers.{i}." if self.kind == "MLP" else ""
            shapes[prefix + "weight"] = (nout, nin)
            if self.bias:
                shapes[prefix + "bias"] = (nout,)
        return shapes

    def build(self) -> Module:
        if self.kind == "MLP":
            return MLP(self.sizes[0], self.sizes[1:], self.activation, self.output_activation,
                       self.bias, seed=0)
        if self.kind == "Layer":
            return Layer(self.sizes[0], self.sizes[1], self.activation, self.bias, seed=0)
        return Neuron(self.sizes[0], self.activation, self.bias, seed=0)


def _blueprint(description: dict[str, Any], path: str) -> _Blueprint:
    """Check a description read from `path` field by field, and against the limits."""

    def refuse(what: str) -> SerializationError:
        return SerializationError(f"load_model: {path!r} {what}")

    kind = description.get("kind")
    if not isinstance(kind, str) or kind not in _FIELDS:
        raise refuse(f"does not say which model it holds (kind {kind!r:.60}); build the "
                     "model and call model.load(path)")
    fields = _FIELDS[kind]
    for name in fields:
        if name not in description:
            raise refuse(f"has an incomplete description of its {kind}: no {name!r}")
    for name in description:
        if name != "kind" and name not in fields:
            raise refuse(f"has an unknown field {name!r:.60} in the description of its {kind}")
    for name in fields:
        value = description[name]
        if name == "bias" and not isinstance(value, bool):
            raise refuse(f"says 'bias': {value!r:.60}; it must be true or false")
        if name.endswith("activation") and (not isinstance(value, str)
                                            or value not in ACTIVATIONS):
            raise refuse(f"says {name!r}: {value!r:.60}; it must be one of "
                         f"{', '.join(ACTIVATIONS)}")
    if kind == "MLP":
        sizes = description["sizes"]
        if not isinstance(sizes, list) or len(sizes) < 2:
            raise refuse(f"says 'sizes': {sizes!r:.60}; it must be a list of the input count "
                         "and at least one layer size")
        named = [("sizes", size) for size in sizes]
    else:
        named = [(name, description[name]) for name in ("nin", "nout") if name in fields]
    for name, size in named:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise refuse(f"says {name!r} holds {size!r:.60}; sizes must be positive whole "
                         "numbers")
    sizes = [size for _, size in named] + ([1] if kind == "Neuron" else [])
    bias = description["bias"]
    blueprint = _Blueprint(kind, sizes, description["activation"],
                           description.get("output_activation", description["activation"]),
                           bias)
    _check_limits(blueprint, refuse)
    return blueprint


def _check_limits(blueprint: _Blueprint,
                  refuse: Callable[[str], SerializationError]) -> None:
    """A description may not ask for more than `nn.checkpoint_file`'s limits allow."""
    sizes = blueprint.sizes
    parameters = sum(nout * (nin + blueprint.bias) for nin, nout in zip(sizes, sizes[1:]))
    for what, count, limit in [
            ("layers", len(sizes) - 1, checkpoint_file.MAX_LAYERS),
            ("inputs", sizes[0], checkpoint_file.MAX_INPUTS),
            ("neurons", sum(sizes[1:]), checkpoint_file.MAX_NEURONS),
            ("parameters", parameters, checkpoint_file.MAX_PARAMETERS)]:
        if count > limit:
            raise refuse(f"describes a model of {count:,} {what}, more than the limit of "
                         f"{limit:,} a model file may ask for; build the model and call "
                         "model.load(path)")


def load_model(path: str | os.PathLike) -> Module:
    """Rebuild the model saved at `path` (MLP, Layer or Neuron) with its weights.

    The description and every array's header are checked before anything is allocated or
    built (see docs/reliability.md); a file that fails a check raises `SerializationError`.
    """
    path = os.fspath(path)
    arrays, description = checkpoint_file.read(
        path, lambda description: _blueprint(description, path).shapes(), where="load_model")
    model = _blueprint(description, path).build()
    model.load_state_dict(arrays)
    return model
