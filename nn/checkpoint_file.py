"""Checkpoint files on disk: NumPy ``.npz`` archives of plain arrays, never pickle.

This module knows files, not models: it writes a mapping of names to arrays plus a JSON
description (the entry ``__chainrule__``) and reads them back.  `nn.module` calls it for
``Module.save`` and ``Module.load``; `nn.serialize` calls it to rebuild a model from the
description.  It imports neither, so the three form a line, not a circle.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import stat
import struct
import zipfile
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO, NamedTuple

import numpy as np
from numpy.lib import format as npy_format

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
    bad = _first_non_finite(array)
    if bad is not None:
        count = array.size - int(np.isfinite(array).sum())
        raise SerializationError(
            f"save: refusing to write {path!r}: {key!r} holds {float(array[bad])!r} at index "
            f"{list(bad)} (non-finite numbers: {count} of {array.size}); load_model would "
            "refuse the file, so nothing was written")


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


# -- reading: every size is checked from the headers before anything is allocated ------

# What a file may make the loader allocate or build (docs/reliability.md lists them).
MAX_PARAMETERS = 5_000_000      # numbers in all arrays together (40 MB as float64)
MAX_NEURONS = 100_000           # neurons in all layers together (each is a Python object)
MAX_INPUTS = 100_000            # inputs of the first layer
MAX_LAYERS = 1_000
MAX_DESCRIPTION_CHARS = 65_536  # the JSON text of the description
MAX_ENTRIES = 2 * MAX_LAYERS + 1  # a weight and a bias per layer, and the description
_DIRECTORY_BYTES_PER_ENTRY = 256  # the zip's table of contents, per entry allowed
_MAX_HEADER_BYTES = 10_000        # one .npy header (NumPy's own default)
_HEADER_READERS = {(1, 0): npy_format.read_array_header_1_0,
                   (2, 0): npy_format.read_array_header_2_0}
_END_RECORD = struct.Struct("<4s4H2LH")  # the zip's end of central directory record
_END_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_SIGNATURE = b"PK\x06\x07"

# The zip and .npy parsers read untrusted bytes, and what they raise on a corrupt file is
# open-ended (BadZipFile, struct.error, zlib.error, OSError, ValueError, SyntaxError and
# tokenize.TokenError from NumPy's header parser, ...): around those calls, and only
# there, any Exception means the file is unreadable.
_UNREADABLE = Exception

Shapes = Mapping[str, tuple[int, ...]]

# Why an array's type is refused, by NumPy's kind letter ('f', real floats, is accepted).
_REFUSED_KINDS = {"c": "complex numbers", "b": "booleans", "i": "integers",
                  "u": "unsigned integers", "M": "dates and times", "m": "time spans",
                  "U": "text", "S": "bytes", "O": "Python objects (which need unpickling)",
                  "V": "structured records"}


class _Header(NamedTuple):
    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    dtype: np.dtype
    data_start: int  # where the numbers start within the entry

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def read(path: str | os.PathLike, expect: Shapes | Callable[[dict[str, Any]], Shapes] | None
         = None, *, where: str = "load") -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and the description stored in a checkpoint, each checked before it is read.

    `expect` names the arrays the file must hold and their shapes: a mapping, or a function
    of the description, called once the description is read and before any array is (it
    may raise `SerializationError`).  Without it, any arrays of MAX_PARAMETERS numbers in
    all are read.  Every size comes from the zip's directory and the ``.npy`` headers and
    is checked first; only finite real floating-point arrays (float16, float32, float64)
    load; nothing is unpickled.  Anything else is a `SerializationError` naming the file.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{where}: no such checkpoint file: {path!r}")
    reader = _Reader(path, where)
    try:
        file = open(path, "rb")
    except OSError as err:
        raise reader.error(f"cannot be read: {err.strerror or err}") from None
    with file:
        reader.check_start(file)
        max_entries = MAX_ENTRIES
        if isinstance(expect, Mapping):
            max_entries = max(max_entries, len(expect) + 1)
        reader.check_directory(file, max_entries)
        try:
            archive = zipfile.ZipFile(file)
        except _UNREADABLE as err:
            raise reader.unreadable(err) from None
        with archive:
            return reader.read(archive, expect, max_entries)


def _first_non_finite(array: np.ndarray) -> tuple[int, ...] | None:
    """The index of the first number that is not finite, or None."""
    finite = np.isfinite(array)
    if finite.all():
        return None
    return tuple(int(i) for i in np.argwhere(~finite)[0])


class _Reader:
    """Reads one checkpoint file; every refusal names the file and what is wrong."""

    def __init__(self, path: str, where: str) -> None:
        self.path = path
        self.where = where

    def error(self, what: str) -> SerializationError:
        return SerializationError(f"{self.where}: {self.path!r} {what}")

    def unreadable(self, err: BaseException) -> SerializationError:
        return self.error(f"is not a readable .npz checkpoint ({type(err).__name__}: {err})")

    def check_start(self, file: BinaryIO) -> None:
        start = file.read(8)
        if not start:
            raise self.error("is empty, not a .npz checkpoint")
        if start.startswith(_NPY_MAGIC):
            raise self.error("is a single .npy array (a .npy file named .npz?), not a .npz "
                             "checkpoint")
        if not start.startswith(_ZIP_MAGIC):
            # NumPy would take such a file for a pickle and suggest loading it unsafely.
            raise self.error("is not a readable .npz checkpoint (a .npz file is a zip "
                             f"archive; this one starts with {start!r})")

    def check_directory(self, file: BinaryIO, max_entries: int) -> None:
        """Bound the zip's table of contents before `zipfile` reads all of it: it makes an
        object per entry, and a small file can claim millions.  The end record is found
        where `zipfile` looks for it (at the very end, else the last signature)."""
        size = file.seek(0, os.SEEK_END)
        reach = min(size, _END_RECORD.size + 0xFFFF)  # the record, then a comment
        file.seek(size - reach)
        tail = file.read(reach)
        at = len(tail) - _END_RECORD.size
        if not (at >= 0 and tail[at:at + 4] == _END_SIGNATURE and tail[-2:] == b"\0\0"):
            at = tail.rfind(_END_SIGNATURE)
        if at < 0 or len(tail) - at < _END_RECORD.size:
            return  # no end record: zipfile refuses the file itself
        fields = _END_RECORD.unpack_from(tail, at)
        entries, directory_bytes = fields[4], fields[5]
        locator = at - _ZIP64_LOCATOR.size
        if locator >= 0 and tail[locator:locator + 4] == _ZIP64_SIGNATURE:
            raise self.error("is a zip64 archive; a checkpoint is a plain zip archive "
                             "(NumPy writes zip64 only past 2 GB)")
        if entries > max_entries or directory_bytes > max_entries * _DIRECTORY_BYTES_PER_ENTRY:
            raise self.error(f"lists {entries:,} entries in {directory_bytes:,} bytes; a "
                             f"checkpoint holds at most {max_entries:,} arrays")

    def read(self, archive: zipfile.ZipFile,
             expect: Shapes | Callable[[dict[str, Any]], Shapes] | None,
             max_entries: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        infos = archive.infolist()
        if len(infos) > max_entries:
            raise self.error(f"holds {len(infos):,} entries; a checkpoint holds at most "
                             f"{max_entries:,} arrays")
        headers: dict[str, _Header] = {}
        for info in infos:
            key = info.filename[:-4]
            if not info.filename.endswith(".npy") or info.is_dir():
                raise self.error(f"holds {info.filename!r:.80}, which is not a .npy array")
            if key in headers:
                raise self.error(f"holds the array {key!r:.80} twice")
            headers[key] = self.header(archive, info)
        description = self.description(archive, headers.pop(DESCRIPTION_KEY, None))
        for key, header in headers.items():
            self.check_type(key, header)
        expected = expect(description) if callable(expect) else expect
        if expected is None:
            total = sum(header.size for header in headers.values())
            if total > MAX_PARAMETERS:
                raise self.error(f"holds {total:,} numbers, more than the limit of "
                                 f"{MAX_PARAMETERS:,}")
        else:
            self.check_expected(headers, expected)
        return {key: self.numbers(archive, key, header) for key, header in headers.items()}, \
            description

    def header(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Header:
        """An entry's shape and type from its .npy header: a few hundred bytes read."""
        try:
            with archive.open(info) as entry:
                version = npy_format.read_magic(entry)
                read_header = _HEADER_READERS.get(version)
                if read_header is not None:
                    shape, _, dtype = read_header(entry, max_header_size=_MAX_HEADER_BYTES)
                    start = entry.tell()
        except _UNREADABLE as err:
            raise self.error(f"has an unreadable entry {info.filename!r:.80} "
                             f"({type(err).__name__}: {err})") from None
        if read_header is not None:
            if any(length < 0 for length in shape):  # NumPy's header parser allows them
                raise self.error(f"has an entry {info.filename!r:.80} whose header gives a "
                                 f"negative shape {shape}")
            return _Header(info, shape, dtype, start)
        raise self.error(f"holds {info.filename!r:.80} in .npy format {version}, which a "
                         "checkpoint does not use")

    def description(self, archive: zipfile.ZipFile, header: _Header | None) -> dict[str, Any]:
        if header is None:  # a plain .npz of arrays: it loads into a model of its shape
            return {}
        if header.dtype.kind != "U" or header.shape != () \
                or header.dtype.itemsize // 4 > MAX_DESCRIPTION_CHARS:
            raise self.error(f"has a description ({DESCRIPTION_KEY}) that is not one text of "
                             f"at most {MAX_DESCRIPTION_CHARS:,} characters (it is "
                             f"{header.dtype} of shape {header.shape})")
        text = str(self.numbers(archive, DESCRIPTION_KEY, header)[()])
        try:
            description = json.loads(text)
        except RecursionError:
            raise self.error(f"has a description ({DESCRIPTION_KEY}) nested too deeply to be "
                             "a model's") from None
        except ValueError as err:
            raise self.error(f"has a description ({DESCRIPTION_KEY}) that is not JSON: "
                             f"{err}") from None
        if not isinstance(description, dict):
            raise self.error(f"has a description ({DESCRIPTION_KEY}) that is not a JSON "
                             f"object: {text!r:.80}")
        return description

    def check_type(self, key: str, header: _Header) -> None:
        dtype = header.dtype
        if dtype.kind == "f" and dtype.itemsize <= 8:
            return
        if dtype.kind == "f":
            what = "extended-precision floats"
        else:
            what = _REFUSED_KINDS.get("O" if dtype.hasobject else dtype.kind, "another type")
        raise self.error(f"key {key!r} holds {what} ({dtype}); only real floating-point "
                         "arrays (float16, float32, float64) load")

    def check_expected(self, headers: dict[str, _Header], expected: Shapes) -> None:
        for key, header in headers.items():
            if key not in expected:
                names = ", ".join(list(expected)[:6]) + (", ..." if len(expected) > 6 else "")
                raise self.error(f"holds an unexpected key {key!r:.80} (expected keys: "
                                 f"{names})")
            if header.shape != tuple(expected[key]):
                raise self.error(f"key {key!r} has shape {header.shape}, expected "
                                 f"{tuple(expected[key])}")
        missing = [key for key in expected if key not in headers]
        if missing:
            raise self.error(f"lacks the array {missing[0]!r} ({len(missing):,} of the "
                             f"{len(expected):,} arrays the model needs are missing)")

    def numbers(self, archive: zipfile.ZipFile, key: str, header: _Header) -> np.ndarray:
        """Read an entry whose header is checked: its size must be what the header says."""
        promised = header.data_start + header.size * header.dtype.itemsize
        if header.info.file_size != promised:
            raise self.error(f"has an entry {header.info.filename!r} of "
                             f"{header.info.file_size:,} bytes, but its header promises "
                             f"{promised:,} ({header.shape} {header.dtype})")
        try:
            with archive.open(header.info) as entry:
                array = npy_format.read_array(entry, allow_pickle=False,
                                              max_header_size=_MAX_HEADER_BYTES)
                entry.read(1)  # reach the end, so that zipfile checks the CRC
        except _UNREADABLE as err:
            raise self.error(f"has an unreadable entry {header.info.filename!r} "
                             f"({type(err).__name__}: {err})") from None
        if key != DESCRIPTION_KEY:
            bad = _first_non_finite(array)
            if bad is not None:
                raise self.error(f"key {key!r} holds non-finite numbers ({float(array[bad])!r} "
                                 f"at index {list(bad)})")
        return array
