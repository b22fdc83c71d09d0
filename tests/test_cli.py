"""The `chainrule` command: `graph`, `check` dispatch, help and one-line errors.

Run in-process through `nn.cli.main` (fast, with capsys), and once as a real process with
``python -m nn.cli`` from the repository root.  Numbers are checked against closed forms
written here with `math`.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from nn.cli import main

ROOT = Path(__file__).resolve().parents[1]
SVG = "{http://www.w3.org/2000/svg}"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def svg_nodes(path: Path) -> dict[str, list[str]]:
    """Texts of every node of a rendered SVG, by the node's id."""
    root = ET.parse(path).getroot()
    nodes = {}
    for group in root.iter(f"{SVG}g"):
        if group.get("class") == "node":
            nodes[group.get("id")] = ["".join(t.itertext()) for t in group.iter(f"{SVG}text")]
    return nodes


def printed_numbers(out: str) -> dict[str, float]:
    """`name = number` lines of graph's output ('d/dx = ...' and the result)."""
    found = {}
    for line in out.splitlines():
        match = re.match(r"^\s*(.+?) = (\S+)$", line)
        if match:
            found[match[1]] = float(match[2])
    return found


# -- graph ------------------------------------------------------------------------------

def test_graph_prints_value_and_gradients_and_draws_them(capsys, tmp_path):
    out_file = tmp_path / "neuron.svg"
    status, out, err = run(capsys, "graph", "tanh(x*w + b)", "--set", "x=0.5", "w=-1.2",
                           "b=0.3", "--out", str(out_file))
    assert status == 0 and err == ""
    t = math.tanh(0.5 * -1.2 + 0.3)
    slope = 1 - t * t
    numbers = printed_numbers(out)
    assert numbers["tanh(x*w + b)"] == pytest.approx(t, rel=1e-5)
    assert numbers["d/dx"] == pytest.approx(slope * -1.2, rel=1e-5)
    assert numbers["d/dw"] == pytest.approx(slope * 0.5, rel=1e-5)
    assert numbers["d/db"] == pytest.approx(slope, rel=1e-5)
    assert f"wrote {out_file}" in out

    nodes = svg_nodes(out_file)
    values = {k: v for k, v in nodes.items() if k.startswith("v")}
    ops = sorted(v[0] for k, v in nodes.items() if k.startswith("o"))
    assert len(values) == 6  # x, w, b, x*w, x*w + b, tanh(...)
    assert ops == ["*", "+", "tanh"]
    by_label = {texts[0]: texts for texts in values.values() if texts[0] in "xwb"}
    assert by_label["w"][1:] == ["data -1.2000", f"grad {slope * 0.5:.4f}"]
    assert by_label["x"][1:] == ["data 0.5000", f"grad {slope * -1.2:.4f}"]


def test_graph_set_may_come_before_the_expression(capsys, tmp_path):
    status, out, _ = run(capsys, "graph", "--set", "x=3", "x**2 + 1", "--out",
                         str(tmp_path / "g.svg"))
    assert status == 0
    assert printed_numbers(out) == {"x**2 + 1": 10.0, "d/dx": 6.0}


@pytest.mark.parametrize("before, after", [
    ([], ["--set", "x=1.5"]),          # first, before the options
    (["--set", "x=1.5"], []),          # after --set, which ends its list there
])
@pytest.mark.parametrize("expression, value, slope", [
    ("-x*2", -3.0, -2.0), ("-2*x", -3.0, -2.0), ("-x", -1.5, -1.0),
])
def test_graph_expression_may_start_with_a_minus(capsys, tmp_path, before, after,
                                                 expression, value, slope):
    # argparse takes "-x*2" for an unknown option; the command takes it back.
    status, out, err = run(capsys, "graph", *before, expression, *after, "--out",
                           str(tmp_path / "g.svg"))
    assert (status, err) == (0, "")
    assert printed_numbers(out) == {expression: value, "d/dx": slope}


def test_graph_unknown_options_stay_mistakes(capsys, tmp_path):
    for argv, extras in ((["-x*2", "--bogus"], "-x*2 --bogus"), (["x*2", "-q"], "-q")):
        status, _, err = run(capsys, "graph", *argv, "--set", "x=1", "--out",
                             str(tmp_path / "g.svg"))
        assert status == 2
        assert err == (f"chainrule graph: error: unrecognized arguments: {extras} "
                       "(see 'chainrule graph --help')\n")


def test_graph_set_takes_inf_and_nan_when_spelled_out(capsys, tmp_path):
    status, out, _ = run(capsys, "graph", "x*2", "--set", "x=-inf", "--out",
                         str(tmp_path / "g.svg"))
    assert status == 0 and printed_numbers(out) == {"x*2": -math.inf, "d/dx": 2.0}


def test_graph_writes_dot_source(capsys, tmp_path):
    path = tmp_path / "square.dot"
    status, _, _ = run(capsys, "graph", "x*x", "--set", "x=-2", "--out", str(path))
    assert status == 0
    source = path.read_text(encoding="utf-8")
    assert source.startswith("digraph")
    # x is used twice: two edges into the multiplication, and d(x*x)/dx = 2x = -4.
    assert source.count("v0 -> o1") == 2
    assert "grad -4.0000" in source


def test_graph_html_page(capsys, tmp_path):
    path = tmp_path / "p.svg"
    status, out, _ = run(capsys, "graph", "sigmoid(a) * b", "--set", "a=0", "b=2", "--out",
                         str(path), "--html")
    assert status == 0
    page = (tmp_path / "p.html").read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html")
    assert "http://" not in page.replace("http://www.w3.org", "")  # self-contained
    assert f"wrote {tmp_path / 'p.html'}" in out


def test_graph_out_html_says_how_to_get_the_page(capsys, tmp_path):
    # A user who wants only the step-through page tries '--out page.html'.
    path = tmp_path / "page.html"
    status, out, err = run(capsys, "graph", "x*w", "--set", "x=1", "w=2", "--out", str(path),
                           "--html")
    assert status == 2 and out == ""
    assert err == (f"chainrule graph: error: --out {str(path)!r}: cannot tell the format from "
                   "the suffix '.html'; use .svg, .png, .pdf or .dot, and --html for the "
                   "step-through page (written next to the drawing as page.html)\n")
    assert list(tmp_path.iterdir()) == []
    # As the message says: a drawing's name and --html give the page of the same name.
    status, out, err = run(capsys, "graph", "x*w", "--set", "x=1", "w=2", "--out",
                           str(path.with_suffix(".svg")), "--html")
    assert status == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html", "page.svg"]


def test_graph_too_large_to_draw_fails_before_writing(capsys, tmp_path):
    path = tmp_path / "g.svg"
    status, out, err = run(capsys, "graph", "tanh(x*w + b)", "--set", "x=1", "w=2", "b=3",
                           "--out", str(path), "--max-nodes", "5")
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and "more than --max-nodes 5 nodes" in err
    assert list(tmp_path.iterdir()) == []
    # The page has its own limit check; the same bound applies.
    status, _, err = run(capsys, "graph", "tanh(x*w + b)", "--set", "x=1", "w=2", "b=3",
                         "--out", str(path), "--max-nodes", "9", "--html")
    assert status == 0, err
    assert path.is_file() and path.with_suffix(".html").is_file()


def test_graph_without_dot_keeps_the_source(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` program on this PATH
    path = tmp_path / "g.svg"
    status, out, err = run(capsys, "graph", "x + 1", "--set", "x=1", "--out", str(path))
    assert status == 1
    assert err.count("\n") == 1 and "apt-get install graphviz" in err
    assert not path.exists()
    assert (tmp_path / "g.dot").read_text(encoding="utf-8").startswith("digraph")


def put_failing_dot_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PATH then holds only a `dot` that prints an error and exits with status 3."""
    fake = tmp_path / "bin"
    fake.mkdir()
    dot = fake / "dot"
    dot.write_text("#!/bin/sh\necho 'Error: out of ink' >&2\nexit 3\n")
    dot.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake))


def test_graph_when_dot_fails_keeps_the_source(capsys, tmp_path, monkeypatch):
    put_failing_dot_on_path(tmp_path, monkeypatch)
    path = tmp_path / "g.svg"
    status, _, err = run(capsys, "graph", "x + 1", "--set", "x=1", "--out", str(path))
    assert status == 1
    assert err.count("\n") == 1
    assert "dot failed (exit status 3: Error: out of ink)" in err
    assert not path.exists() and (tmp_path / "g.dot").is_file()


def test_the_page_without_dot_or_with_a_failing_dot_is_one_line(capsys, tmp_path,
                                                               monkeypatch):
    # --html writes the page first, and its drawing needs dot: that was a traceback.
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` program on this PATH
    path = tmp_path / "g.svg"
    status, out, err = run(capsys, "graph", "x + 1", "--set", "x=1", "--out", str(path),
                           "--html")
    assert (status, out) == (1, "")
    assert err == ("chainrule graph: error: the Graphviz program 'dot' is missing, so "
                   "nothing could be drawn: install it (on Debian: sudo apt-get install "
                   "graphviz)\n")
    assert list(tmp_path.iterdir()) == []
    put_failing_dot_on_path(tmp_path, monkeypatch)
    status, out, err = run(capsys, "graph", "x + 1", "--set", "x=1", "--out", str(path),
                           "--html")
    assert (status, out) == (1, "")
    assert "Traceback" not in err
    assert err.endswith("chainrule graph: error: Graphviz's dot failed (exit status 3: "
                        "Error: out of ink)\n")


# (arguments after 'graph', words the one-line error must contain)
MISTAKES = [
    (["x.data", "--set", "x=1"], ['"x.data"', "column 1", "attribute"]),
    (["__import__('os').system('true')"], ["column 1", "called, by name"]),
    (["import os"], ['"import os"', "column 1", "imports are not allowed"]),
    (["w[0] * x", "--set", "x=1"], ['"w[0]"', "column 1", "subscripts"]),
    (["x + foo(x)", "--set", "x=1"], ['"foo"', "column 5", "unknown function"]),
    (["tanh(x*w + b)", "--set", "x=0.5", "w=1"],
     ['"b"', "column 12", "no value", "--set b=VALUE"]),
    (["x * (", "--set", "x=1"], ["column 5", "syntax error"]),
    (["log(x - 1)", "--set", "x=1"], ["column 1", "log: argument must be > 0"]),
    (["x", "--set", "x=1", "y=2"], ["'y'", "not used", "remove y="]),
    (["x", "--set", "x=one"], ["'one' is not a number"]),
    (["x", "--set", "x=1e400"], ["--set 'x=1e400': 1e400 is too large for a float"]),
    (["x", "--set", "x=-1e400"], ["-1e400 is too large for a float"]),
    (["1if x else 2", "--set", "x=1"], ["conditional expressions"]),  # no SyntaxWarning
    (["'\\d' + x", "--set", "x=1"], ["strings are not allowed"]),  # no escape warning
    (["x", "--set", "x"], ["expected NAME=VALUE"]),
    (["x", "--set", "x=1", "x=2"], ["set twice"]),
    (["x", "--set", "x=1", "--out", "g.txt"], ["'.txt'", ".svg"]),
    (["x", "--set", "x=1", "--out", "missing-folder/g.svg"], ["does not exist"]),
    (["x", "--set", "x=1", "--bogus"], ["unrecognized arguments: --bogus",
                                        "chainrule graph --help"]),
    ([], ["expression is missing"]),
]


@pytest.mark.parametrize(("argv", "words"), MISTAKES, ids=[" ".join(m[0]) for m in MISTAKES])
def test_graph_mistakes_get_one_line_and_status_2(capsys, tmp_path, monkeypatch, argv,
                                                  words):
    monkeypatch.chdir(tmp_path)
    status, out, err = run(capsys, "graph", *argv)
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("chainrule graph: error: ")
    assert "Traceback" not in err
    for word in words:
        assert word in err
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_unknown_command_and_missing_command(capsys):
    status, _, err = run(capsys, "frobnicate")
    assert status == 2 and err.count("\n") == 1 and "invalid choice: 'frobnicate'" in err
    status, _, err = run(capsys)
    assert status == 2 and "COMMAND" in err and err.count("\n") == 1


@pytest.mark.parametrize("command", [[], ["graph"], ["demo"], ["check"]])
def test_help_on_every_command(capsys, command):
    status, out, err = run(capsys, *command, "--help")
    assert status == 0 and err == ""
    assert out.startswith("usage: chainrule")
    assert "--help" in out


def test_version(capsys):
    import autograd

    status, out, _ = run(capsys, "--version")
    assert status == 0 and out.strip() == f"chainrule {autograd.__version__}"


def test_check_is_dispatched_with_its_options(capsys):
    status, out, _ = run(capsys, "check", "--ops", "tanh", "--points", "3", "--order", "1",
                         "--no-networks")
    assert status == 0
    assert re.search(r"^tanh\s", out, re.MULTILINE)
    assert "All checks passed" in out
    status, _, err = run(capsys, "check", "--ops", "nosuchop")
    assert status == 2 and "nosuchop" in err


def test_a_real_process_from_the_repository_root(tmp_path):
    out_file = tmp_path / "e.svg"
    done = subprocess.run(
        [sys.executable, "-m", "nn.cli", "graph", "exp(-x) * y", "--set", "x=0", "y=3",
         "--out", str(out_file)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert printed_numbers(done.stdout) == {"exp(-x) * y": 3.0, "d/dx": -3.0, "d/dy": 1.0}
    assert out_file.read_bytes().startswith(b"<?xml")

    bad = subprocess.run([sys.executable, "-m", "nn.cli", "graph", "x.y", "--set", "x=1"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "attribute access" in bad.stderr

    # Python's own SyntaxWarning for '1and' must not add a line to stderr.
    warned = subprocess.run([sys.executable, "-m", "nn.cli", "graph", "1and x", "--set", "x=1"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert warned.returncode == 2 and warned.stderr.count("\n") == 1, warned.stderr
