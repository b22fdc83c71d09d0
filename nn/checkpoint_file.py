"""Checkpoint files on disk: NumPy ``.npz`` archives of plain arrays, never pickle.

This module knows files, not models: it writes a mapping of names to arrays plus a JSON
description (the entry ``__chainrule__``) and reads them back.  `nn.module` calls it for
``Module.save`` and ``Module.load``; `nn.serialize` calls it to rebuild a model from the
description.  It imports neither, so the three form a line, not a circle.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
import zipfile
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np

__all__ = ["SerializationError", "write", "read", "DESCRIPTION_KEY"]

DESCRIPTION_KEY = "__chainrule__"
_ZIP_MAGIC = b"PK\x03\x04"  # how every .npz (a zip archive) starts
_NPY_MAGIC = b"\x93NUMPY"    # how a single .npy array starts


class SerializationError(ValueError):
    """A checkpoint file is missing, corrupt, or does not match the model."""


def write(path: str | os.PathLike, arrays: dict[str, np.ndarray],
          description: dict[str, Any]) -> str:
    """Write `arrays` and `description` to `path` (``.npz`` is appended if missing, as NumPy
    does), atomically: the file at `path` is the old one or the new one, never a part.
    Non-finite numbers are refused before anything is written.  Returns the path written.
    """
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"save: the folder {folder!r} does not exist (for {path!r})")
    for key, array in arrays.items():
        _check_finite(array, key, path)
    entries = dict(arrays)
    entries[DESCRIPTION_KEY] = np.array(json.dumps(description))
    try:
        _replace_atomically(path, lambda file: np.savez(file, **entries))
    except OSError as err:
        raise SerializationError(f"save: cannot write {path!r}: {err.strerror or err}") from None
    return path


def _check_finite(array: np.ndarray, key: str, path: str) -> None:
    finite = np.isfinite(array)
    if not finite.all():
        where = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise SerializationError(
            f"save: refusing to write {path!r}: {key!r} holds {float(array[where])!r} at "
            f"index {list(where)} (non-finite numbers: {finite.size - int(finite.sum())} of "
            f"{finite.size}); "
            "load_model would refuse the file, so nothing was written")


def temporary_name(path: str) -> str:
    """The name a save writes to before it replaces `path`: hidden, in the same folder
    (``os.replace`` is atomic only within one file system), unique per save, and not
    ending in ``.npz``, so that nothing takes the remains of a killed save for a
    checkpoint."""
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.{os.getpid()}-{secrets.token_hex(4)}.partial")


def _replace_atomically(path: str, write_to: Callable[[BinaryIO], object]) -> None:
    """Write through `write_to` into a temporary file, flush it to the disk, then rename it
    over `path`.  A failure or an interrupt removes the temporary file; a killed process
    can only leave it behind (see `temporary_name`), never a part of `path`."""
    temporary = temporary_name(path)
    # os.open with 0o666 lets the umask decide the permissions, as open() would.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as file:
            write_to(file)
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(OSError):  # a replaced checkpoint keeps its permissions
            os.chmod(temporary, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(temporary, path)
    except BaseException:  # KeyboardInterrupt too: never leave the temporary file
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _sync_folder(os.path.dirname(path) or ".")


def _sync_folder(folder: str) -> None:
    """Flush the folder's entry for the renamed file, so that the rename itself survives a
    power cut (POSIX; where a folder cannot be opened this is skipped)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def read(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and the description stored in a checkpoint, with clear errors."""
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
    if DESCRIPTION_KEY in arrays:
        try:
            meta = json.loads(str(arrays.pop(DESCRIPTION_KEY)))
        except (ValueError, TypeError) as err:
            raise SerializationError(f"load: {path!r} has a corrupt {DESCRIPTION_KEY} entry: "
                                     f"{err}") from None
    return arrays, meta


def load_into(module: Any, arrays: dict[str, np.ndarray], where: str) -> None:
    """``module.load_state_dict(arrays)``, its mismatch errors turned into a
    `SerializationError` that says where they came from."""
    try:
        module.load_state_dict(arrays)
    except (KeyError, ValueError, TypeError) as err:
        message = err.args[0] if err.args else str(err)
        raise SerializationError(f"{where}: {message}") from None
