"""Figures docs/engine.md quotes from the benchmark agree with docs/performance.md.

`benchmarks/run.py` rewrites performance.md; a figure copied into another page by hand
would silently go stale, so each copy is checked against the table it came from.
"""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
PERFORMANCE = (DOCS / "performance.md").read_text(encoding="utf-8")
ENGINE = (DOCS / "engine.md").read_text(encoding="utf-8")


def random_graph_rows() -> dict[str, dict[str, str]]:
    """The random-graph table of performance.md: node count -> {column heading: cell}."""
    section = PERFORMANCE.split("## Random graphs", 1)[1].split("\n## ", 1)[0]
    table = [[cell.strip() for cell in line.strip().strip("|").split("|")]
             for line in section.splitlines() if line.startswith("|")]
    heading, body = table[0], table[2:]
    return {cells[0]: dict(zip(heading, cells)) for cells in body}


def test_the_flatness_figures_match() -> None:
    measured = [re.search(pattern, PERFORMANCE) for pattern in (
        r"with the collector's default settings: ([\d.]+)x",
        r"inside `defer_full_gc`: \*\*([\d.]+)x\*\*",
        r"with the catch-up added: ([\d.]+)x")]
    assert all(measured), "performance.md no longer states the flatness figures"
    quoted = re.search(r"grows ([\d.]+)x with the default settings and\s+([\d.]+)x inside "
                       r"`defer_full_gc` \(([\d.]+)x if the graph outlives", ENGINE)
    assert quoted, "engine.md no longer quotes the flatness figures"
    assert quoted.groups() == tuple(match[1] for match in measured)


def test_the_per_node_table_matches() -> None:
    rows = random_graph_rows()
    assert len(rows) == 3
    quoted = re.search(r"random graph of .*?\((?P<nodes>[\d,]+)\s+nodes", ENGINE, re.S)
    assert quoted and quoted["nodes"] in rows
    row = rows[quoted["nodes"]]
    line = re.search(r"\| forward \+ backward, per node \| ([\d.]+) µs \| ([\d.]+) µs "
                     r"\| ([\d.]+)× faster \|", ENGINE)
    assert line and line.groups() == (row["chainrule, default"], row["micrograd"],
                                      row["micrograd / chainrule default"].rstrip("x"))


def test_the_ratios_by_size_match() -> None:
    rows = list(random_graph_rows().values())
    quoted = re.search(r"([\d.]+)× on a graph\s+of [\d,]+ nodes.*?([\d.]+)× on one of", ENGINE,
                       re.S)
    assert quoted
    ratio = "micrograd / chainrule default"
    assert quoted.groups() == (rows[0][ratio].rstrip("x"), rows[-1][ratio].rstrip("x"))
