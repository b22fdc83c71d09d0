"""Helpers shared by the checkpoint tests: crafted model files, and measuring a refusal."""

from __future__ import annotations

import io
import json
import time
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.lib import format as npy_format

from nn.checkpoint_file import SerializationError

DESCRIPTION_KEY = "__chainrule__"


def npy_bytes(array: np.ndarray) -> bytes:
    """The .npy file of `array` (object arrays pickled, as a hostile writer may)."""
    buffer = io.BytesIO()
    npy_format.write_array(buffer, np.asanyarray(array), allow_pickle=True)
    return buffer.getvalue()


def npy_header(shape: tuple[int, ...], dtype: str = "<f8") -> bytes:
    """A .npy header alone, promising an array that is not there."""
    buffer = io.BytesIO()
    npy_format.write_array_header_1_0(
        buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def write_npz(path: Path, entries: dict[str, Any], description: Any = None, *,
              text: str | None = None, deflate: bool = False) -> Path:
    """A .npz written entry by entry: arrays become .npy files, bytes are taken as they are;
    the description is the JSON of `description`, or `text` as it is."""
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", method) as archive:
        for key, value in entries.items():
            data = value if isinstance(value, bytes) else npy_bytes(value)
            archive.writestr(key + ".npy", data)
        if text is None and description is not None:
            text = json.dumps(description)
        if text is not None:
            archive.writestr(DESCRIPTION_KEY + ".npy", npy_bytes(np.array(text)))
    return path


def mlp_description(sizes: list[Any], **changes: Any) -> dict[str, Any]:
    return {"kind": "MLP", "sizes": sizes, "activation": "relu",
            "output_activation": "linear", "bias": True, **changes}


def refused_cheaply(load, path: Path, match: str, *, max_bytes: int = 4 << 20,
                    max_seconds: float = 1.0) -> str:
    """Call `load(path)`, which must raise a SerializationError naming the file and
    matching `match`, with at most `max_bytes` allocated (tracemalloc sees NumPy's arrays
    too) in at most `max_seconds`.  Returns the message."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(SerializationError, match=match) as info:
            load(path)
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert repr(str(path)) in message, message
    assert peak < max_bytes, f"{peak:,} bytes allocated before refusing: {message}"
    assert seconds < max_seconds, f"{seconds:.2f} s before refusing: {message}"
    return message
