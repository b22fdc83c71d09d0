"""docs/lecture.ipynb runs from top to bottom, as a reader runs it (issue 13 item 7).

nbclient, the executor Jupyter itself uses, runs every cell in a fresh IPython kernel, in
order; the cells assert their own numbers (closed forms, finite differences, the
engine's built-in tanh as the peer of the closure-built one).  The notebook is stored
without outputs, so what a reader sees is what this test produced.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "lecture.ipynb"


def test_the_notebook_is_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert len(code) >= 12
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)


def test_the_notebook_runs_top_to_bottom(tmp_path: Path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=180, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback
    outputs = [cell.outputs for cell in notebook.cells if cell.cell_type == "code"]
    text = "".join(out.get("text", "") for cell in outputs for out in cell)
    assert "the wrong exp is caught: True" in text
    assert re.search(r"41 parameters; loss \d+\.\d+ -> 0\.0[0-4]\d+", text), text
    # The drawings come back as SVG and the page inline, as a reader sees them.
    rich = [out for cell in outputs for out in cell if out.output_type == "execute_result"]
    assert sum("image/svg+xml" in out.data for out in rich) >= 6
    assert any("iframe srcdoc" in out.data.get("text/html", "") for out in rich)
    assert (tmp_path / "lecture-neuron.html").is_file()
