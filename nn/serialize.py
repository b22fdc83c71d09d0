"""Saving and loading models as NumPy ``.npz`` files: plain arrays, never pickle.

The file holds the model's `state_dict()` (PyTorch ``nn.Linear`` layout, so the arrays
can be copied into a ``torch.nn.Sequential`` of ``Linear`` layers) and one extra entry,
``__chainrule__``: a JSON text describing the architecture, so that `load_model` can
rebuild an `MLP` without being told its shape.
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import Any

import numpy as np

from .module import MLP, Layer, Module, Neuron

__all__ = ["save", "load_into", "load_model", "read_state", "SerializationError"]

_META = "__chainrule__"
_ZIP_MAGIC = b"PK\x03\x04"  # how every .npz (a zip archive) starts
_NPY_MAGIC = b"\x93NUMPY"    # how a single .npy array starts


class SerializationError(ValueError):
    """A checkpoint file is missing, corrupt, or does not match the model."""


def _describe(module: Module) -> dict[str, Any]:
    if isinstance(module, MLP):
        return {"kind": "MLP", "sizes": module.sizes, "activation": module.activation,
                "output_activation": module.output_activation,
                "bias": module.layers[0].neurons[0].b is not None}
    if isinstance(module, Layer):
        return {"kind": "Layer", "nin": module.nin, "nout": module.nout,
                "activation": module.activation, "bias": module.neurons[0].b is not None}
    if isinstance(module, Neuron):
        return {"kind": "Neuron", "nin": module.nin, "activation": module.activation,
                "bias": module.b is not None}
    return {"kind": type(module).__name__}


def save(module: Module, path: str | os.PathLike) -> str:
    """Write `module.state_dict()` and its architecture to `path` (``.npz`` is appended if
    missing, as NumPy does).  Returns the path written."""
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"save: the folder {folder!r} does not exist (for {path!r})")
    arrays = module.state_dict()
    arrays[_META] = np.array(json.dumps(_describe(module)))
    try:
        np.savez(path, **arrays)
    except OSError as err:
        raise SerializationError(f"save: cannot write {path!r}: {err.strerror or err}") from None
    return path


def read_state(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and the architecture stored in a checkpoint, with clear errors."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such checkpoint file: {path!r}")
    try:
        with open(path, "rb") as file:
            start = file.read(8)
    except OSError as err:
        raise SerializationError(f"load: cannot read {path!r}: {err.strerror or err}") from None
    if not start:
        raise SerializationError(f"load: {path!r} is empty, not a .npz checkpoint")
    if not start.startswith(_ZIP_MAGIC) and not start.startswith(_NPY_MAGIC):
        # NumPy would take such a file for a pickle and suggest loading it unsafely.
        raise SerializationError(f"load: {path!r} is not a readable .npz checkpoint (a .npz "
                                 f"file is a zip archive; this one starts with {start!r})")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not hasattr(archive, "files"):
                raise SerializationError(f"load: {path!r} is a single .npy array, "
                                         "not a chainrule .npz checkpoint")
            arrays = {key: archive[key] for key in archive.files}
    except SerializationError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise SerializationError(f"load: {path!r} is not a readable .npz checkpoint "
                                 f"({type(err).__name__}: {err})") from None
    meta: dict[str, Any] = {}
    if _META in arrays:
        try:
            meta = json.loads(str(arrays.pop(_META)))
        except (ValueError, TypeError) as err:
            raise SerializationError(f"load: {path!r} has a corrupt {_META} entry: "
                                     f"{err}") from None
    return arrays, meta


def _load_state(module: Module, arrays: dict[str, np.ndarray], where: str) -> None:
    """`load_state_dict`, its mismatch errors turned into a `SerializationError`."""
    try:
        module.load_state_dict(arrays)
    except (KeyError, ValueError, TypeError) as err:
        message = err.args[0] if err.args else str(err)
        raise SerializationError(f"{where}: {message}") from None


def load_into(module: Module, path: str | os.PathLike) -> None:
    """Load a checkpoint into an existing model, checking every key and shape first."""
    arrays, _ = read_state(path)
    _load_state(module, arrays, f"load {os.fspath(path)!r}")


def load_model(path: str | os.PathLike) -> Module:
    """Rebuild the model saved at `path` (MLP, Layer or Neuron) with its weights."""
    arrays, meta = read_state(path)
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
    _load_state(model, arrays, f"load_model {os.fspath(path)!r}")
    return model
