"""Writing what a command produces: drawings rendered by Graphviz's `dot`, step-through
pages and plain files, with each failure turned into one line (status 1)."""

from __future__ import annotations

from pathlib import Path

import graphviz

from autograd import Value
from autograd.viz import GraphTooLargeError, export_html

from .common import FAILURE, CommandError

# Output formats that `dot` renders; '.dot' and '.gv' write the DOT source itself.
RENDERED_FORMATS = ("svg", "png", "pdf")
SOURCE_SUFFIXES = (".dot", ".gv")


def output_format(path: Path) -> str:
    """The format a drawing is written in, from the suffix of its file."""
    suffix = path.suffix.lower()
    if suffix in SOURCE_SUFFIXES:
        return "dot"
    if suffix[1:] in RENDERED_FORMATS:
        return suffix[1:]
    raise CommandError(f"--out {str(path)!r}: cannot tell the format from the suffix "
                       f"{suffix or '(none)'!r}; use .svg, .png, .pdf or .dot")


def render(drawing: graphviz.Digraph, path: Path, out_format: str = "svg") -> Path:
    """Render a drawing into `path`; the DOT source survives a missing `dot`."""
    if out_format == "dot":
        write(path, drawing.source.encode("utf-8"))
        return path
    try:
        data = drawing.pipe(format=out_format, quiet=True)  # dot's stderr: in our message
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError) as error:
        source = path.with_suffix(".dot")
        write(source, drawing.source.encode("utf-8"))
        raise graphviz_error(error, f"; the DOT source is in {source}") from None
    write(path, data)
    return path


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


def write_html(root: Value, path: Path, max_nodes: int = 150) -> Path:
    """The step-through page of `root`'s graph, written to `path`."""
    try:
        export_html(root, path, max_nodes=max_nodes)
    except GraphTooLargeError:
        raise CommandError(f"the graph has more than --max-nodes {max_nodes} nodes, too many "
                           "for the step-through page; give a larger --max-nodes to write it "
                           "anyway") from None
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError) as error:
        raise graphviz_error(error) from None  # the page needs dot's drawing
    except OSError as error:
        raise cannot_write(path, error) from None
    return path


def write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as error:
        raise cannot_write(path, error) from None


def cannot_write(path: Path, error: OSError) -> CommandError:
    return CommandError(f"cannot write {path}: {error.strerror or error}", FAILURE)
