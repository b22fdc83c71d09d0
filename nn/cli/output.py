"""Writing what a command produces: drawings rendered by Graphviz's `dot`, step-through
pages and plain files, each failure one line (status 1), and never half a file.

Every file is first written whole to a temporary file in its own folder (``os.replace`` is
atomic only within one file system) and renamed over its target once all the files of
the command are ready (`StagedFiles`): a command that fails or is interrupted leaves the
targets as they were.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import graphviz

from autograd import Value
from autograd.viz import GraphTooLargeError, export_html
from nn.checkpoint_file import temporary_name

from .common import FAILURE, CommandError

# Output formats that `dot` renders; '.dot' and '.gv' write the DOT source itself.
RENDERED_FORMATS = ("svg", "png", "pdf")
SOURCE_SUFFIXES = (".dot", ".gv")


class StagedFiles:
    """Files written all together or not at all.

    `stage` writes a file whole to a temporary name beside its target; `commit` renames
    every staged file over its target; leaving the ``with`` block without a commit (an
    error, Ctrl-C) removes the temporary files.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []  # (temporary file, target)

    def __enter__(self) -> StagedFiles:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.discard()

    def stage(self, path: Path, write: Callable[[Path], object]) -> Path:
        """Have `write` write the content of `path` into the temporary file it is given."""
        if path.is_dir():  # os.replace could not put a file there: say so before writing
            raise cannot_write(path, IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)))
        temporary = Path(temporary_name(os.fspath(path)))
        self._staged.append((temporary, path))
        try:
            write(temporary)
            _flush_to_disk(temporary)
        except OSError as error:
            raise cannot_write(path, error) from None
        with contextlib.suppress(OSError):  # a replaced file keeps its permissions
            os.chmod(temporary, stat.S_IMODE(os.stat(path).st_mode))
        return path

    def stage_bytes(self, path: Path, data: bytes) -> Path:
        return self.stage(path, lambda temporary: temporary.write_bytes(data))

    def commit(self) -> list[Path]:
        """Rename every staged file over its target; the targets, in order."""
        for temporary, path in self._staged:
            try:
                os.replace(temporary, path)
            except OSError as error:
                raise cannot_write(path, error) from None
        targets = [path for _, path in self._staged]
        self._staged = []
        return targets

    def discard(self) -> None:
        for temporary, _ in self._staged:
            with contextlib.suppress(OSError):
                temporary.unlink()
        self._staged = []


def write_alone(stage: Callable[[StagedFiles], Path]) -> Path:
    """A file that does not wait for others: staged by `stage`, then put in place."""
    with StagedFiles() as files:
        path = stage(files)
        files.commit()
    return path


def _flush_to_disk(path: Path) -> None:
    """fsync, so that the rename cannot reach the disk before the content does."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def output_format(path: Path) -> str:
    """The format a drawing is written in, from the suffix of its file."""
    suffix = path.suffix.lower()
    if suffix in SOURCE_SUFFIXES:
        return "dot"
    if suffix[1:] in RENDERED_FORMATS:
        return suffix[1:]
    # '--out page.html' is the natural guess for the step-through page: say how to get it.
    page = (f", and --html for the step-through page (written next to the drawing as "
            f"{path.with_suffix('.html').name})" if suffix in (".html", ".htm") else "")
    raise CommandError(f"--out {str(path)!r}: cannot tell the format from the suffix "
                       f"{suffix or '(none)'!r}; use .svg, .png, .pdf or .dot{page}")


def stage_drawing(files: StagedFiles, drawing: graphviz.Digraph, path: Path,
                  out_format: str = "svg") -> Path:
    """Render a drawing for `path`; when `dot` is missing or fails, the DOT source is
    written next to it (on its own, so that the drawing can be made later) and the
    command fails."""
    source = drawing.source.encode("utf-8")
    if out_format == "dot":
        return files.stage_bytes(path, source)
    try:
        data = drawing.pipe(format=out_format, quiet=True)  # dot's stderr: in our message
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError) as error:
        kept = write_alone(lambda alone: alone.stage_bytes(path.with_suffix(".dot"), source))
        raise graphviz_error(error, f"; the DOT source is in {kept}") from None
    return files.stage_bytes(path, data)


def graphviz_error(error: Exception, kept: str = "") -> CommandError:
    """The one line (status 1) for a `dot` that is missing or failed; `kept` says what was
    written instead."""
    if isinstance(error, graphviz.ExecutableNotFound):
        return CommandError("the Graphviz program 'dot' is missing, so nothing could be drawn: "
                            f"install it (on Debian: sudo apt-get install graphviz){kept}",
                            FAILURE)
    assert isinstance(error, graphviz.CalledProcessError)
    stderr = error.stderr or b""
    if isinstance(stderr, bytes):
        stderr = stderr.decode("utf-8", "replace")
    said = stderr.strip().splitlines()
    return CommandError(f"Graphviz's dot failed (exit status {error.returncode}"
                        f"{': ' + said[0] if said else ''}){kept}", FAILURE)


def stage_page(files: StagedFiles, root: Value, path: Path, max_nodes: int = 150,
               quiz: bool = False) -> Path:
    """The step-through page of `root`'s graph (a quiz with `quiz`), for `path`."""
    try:
        return files.stage(path, lambda temporary: export_html(
            root, temporary, max_nodes=max_nodes, quiz=quiz))
    except GraphTooLargeError:
        raise CommandError(f"the graph has more than --max-nodes {max_nodes} nodes, too many "
                           "for the step-through page; give a larger --max-nodes to write it "
                           "anyway") from None
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError) as error:
        raise graphviz_error(error) from None  # the page needs dot's drawing


def cannot_write(path: Path, error: OSError) -> CommandError:
    return CommandError(f"cannot write {path}: {error.strerror or error}", FAILURE)
