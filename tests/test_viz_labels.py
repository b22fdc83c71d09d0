"""Labels a drawing cannot write (issue 12 item 13), and a page refused before any work
(issue 12 item 7)."""

from __future__ import annotations

import pytest

import autograd
from autograd import Value, viz
from autograd.naming import NAME_WIDTH


@pytest.mark.parametrize("where", ["label", "scope"])
def test_a_lone_surrogate_is_refused_with_one_clear_line(tmp_path, where):
    if where == "label":
        x = Value(1.5, label="a\ud800b")
    else:
        with autograd.scope("layer\udfff"):
            x = Value(1.5, label="x")
    y = x * 2.0
    y.backward()
    message = (rf"draw_dot: the {where} of Value\(data=1.5\) holds a lone surrogate "
               rf"'\\ud[8f]00' at position \d, which cannot be written as UTF-8")
    with pytest.raises(ValueError, match=message.replace("[8f]00", "(800|fff)")):
        viz.draw_dot(y)
    page = tmp_path / "page.html"
    with pytest.raises(ValueError, match=f"export_html: the {where} of Value"):
        viz.export_html(y, page)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary file


def test_a_label_too_long_for_dot_is_shortened_in_drawings(tmp_path):
    long = "w" * 100_000 + "<&>"  # dot refuses a string over 16384 bytes
    x = Value(0.5, label=long)
    y = (x * 3.0).tanh()
    y.backward()
    svg = viz.draw_dot(y).pipe(format="svg", encoding="utf-8")
    shown = "w" * (viz.MAX_LABEL - 1) + "…"
    assert shown in svg and "w" * viz.MAX_LABEL not in svg
    page = open(viz.export_html(y, tmp_path / "page.html"), encoding="utf-8").read()
    # The page names values in at most NAME_WIDTH characters, in its steps and boxes.
    assert "w" * (NAME_WIDTH - 1) + "…" in page and "w" * NAME_WIDTH not in page
    assert x.label == long  # the Value keeps its label; only the drawing shortens it


def test_a_huge_graph_is_refused_before_any_step_is_computed(tmp_path, monkeypatch):
    x = Value(0.5, label="x")
    y = x
    for _ in range(250_000):  # 500,001 values: a leaf constant and a product each
        y = y * 1.0
    calls = []
    monkeypatch.setattr(viz, "_final_gradients", lambda *a: calls.append(a))
    monkeypatch.setattr(viz, "_steps", lambda *a: calls.append(a))
    with pytest.raises(viz.GraphTooLargeError) as refused:
        viz.export_html(y, tmp_path / "page.html")
    assert calls == []  # refused on its size alone
    message = str(refused.value)
    assert message.startswith("export_html: the graph has 750001 nodes to draw, more than "
                              "max_nodes=150")
    # No scope to collapse: the hint names only what works.
    assert "collapse" not in message and "a larger max_nodes" in message
    with pytest.raises(viz.GraphTooLargeError, match="more than a page steps through"):
        viz.export_html(y, tmp_path / "page.html", max_nodes=10**6)
    assert calls == [] and list(tmp_path.iterdir()) == []


def test_the_hint_for_a_network_names_a_collapse_that_works(tmp_path):
    import nn

    model = nn.MLP(3, [10, 10, 1], activation="tanh", seed=0)
    out = model([Value(0.1), Value(0.2), Value(0.3)])
    with pytest.raises(viz.GraphTooLargeError, match="Try collapse='neuron'"):
        viz.export_html(out, tmp_path / "net.html")
    assert viz.export_html(out, tmp_path / "net.html", collapse="neuron").endswith("net.html")
