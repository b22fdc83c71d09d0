"""The command line's limits: refused when the arguments are parsed, with one line that
names the option and the value, status 2, before anything is built or written.

Parameter counts are checked against the closed form (inputs + 1) x neurons per layer and
against `nn.MLP` itself.
"""

from __future__ import annotations

import argparse
import dataclasses

import pytest

import nn
import nn.cli.check as check_command
from nn.cli import COMMANDS, build_parser, main
from nn.cli.check import MAX_POINTS
from nn.cli.demo import (
    MAX_EPOCHS,
    MAX_HIDDEN_LAYERS,
    MAX_PARAMETERS,
    check_arguments,
    parameter_count,
)


def error_line(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    return status, captured.err.rstrip("\n")


def fail_if_called(*args: object, **kwargs: object) -> None:
    raise AssertionError("the work started although the arguments were refused")


def test_a_billion_points_are_refused_before_any_point_is_built(capsys, monkeypatch):
    monkeypatch.setattr(check_command, "check_operation", fail_if_called)
    monkeypatch.setattr(check_command, "check_networks", fail_if_called)
    assert error_line(capsys, "check", "--points", "1000000000") == (
        2, f"chainrule check: error: --points must be at most {MAX_POINTS}, got 1000000000")


def test_the_largest_number_of_points_is_accepted(capsys, monkeypatch):
    asked = []
    monkeypatch.setattr(check_command, "check_operations",
                        lambda *args: asked.append(args) or [])
    assert main(["check", "--points", str(MAX_POINTS), "--ops", "tanh", "--no-networks"]) == 0
    assert asked == [(MAX_POINTS, 2, 0, ["tanh"])]
    assert "All checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("hidden, sizes", [
    ("100000,100000", [100000, 100000]),
    ("99999999999999999999", [99999999999999999999]),
])
def test_a_network_too_large_is_refused_before_it_is_built(capsys, tmp_path, monkeypatch,
                                                           hidden, sizes):
    monkeypatch.setattr(nn, "MLP", fail_if_called)
    # Closed form: 2 inputs, the hidden layers, 1 output; (inputs + 1) x neurons each.
    widths = [2, *sizes, 1]
    parameters = sum((a + 1) * b for a, b in zip(widths, widths[1:]))
    out = tmp_path / "run"
    assert error_line(capsys, "demo", "--hidden", hidden, "--out", str(out)) == (
        2, f"chainrule demo: error: --hidden {hidden}: the network would have {parameters} "
           f"parameters, more than the {MAX_PARAMETERS} the demo allows")
    assert not out.exists()


@pytest.mark.parametrize("sizes", [[2, 1], [2, 16, 16, 1], [2, 3, 4, 5, 3], [2, 400, 1]])
def test_the_parameter_count_is_that_of_the_network(sizes):
    assert parameter_count(sizes) == nn.MLP(sizes[0], sizes[1:], seed=0).num_parameters()


def test_the_parameter_limit_is_inclusive():
    # One hidden layer of h neurons, 2 inputs, 1 output: 3h + h + 1 = 4h + 1 parameters.
    h = (MAX_PARAMETERS - 1) // 4
    check_arguments(argparse.Namespace(hidden=[h], dataset="moons"))
    with pytest.raises(Exception, match=f"would have {4 * (h + 1) + 1} parameters"):
        check_arguments(argparse.Namespace(hidden=[h + 1], dataset="moons"))
    # The spiral's three outputs count too: 3h + 3(h + 1).
    with pytest.raises(Exception, match=f"would have {6 * h + 3} parameters"):
        check_arguments(argparse.Namespace(hidden=[h], dataset="spiral"))


def test_too_many_layers_or_epochs_are_refused(capsys):
    layers = ",".join(["1"] * (MAX_HIDDEN_LAYERS + 1))
    status, line = error_line(capsys, "demo", "--hidden", layers)
    assert status == 2 and line == (
        f"chainrule demo: error: argument --hidden: at most {MAX_HIDDEN_LAYERS} hidden "
        f"layers, got {MAX_HIDDEN_LAYERS + 1} in '{layers}' (see 'chainrule demo --help')")
    status, line = error_line(capsys, "demo", "--epochs", str(MAX_EPOCHS + 1))
    assert status == 2 and line == (
        f"chainrule demo: error: argument --epochs: must be at most {MAX_EPOCHS}, got "
        f"{MAX_EPOCHS + 1} (see 'chainrule demo --help')")
    # The limits themselves are allowed.
    args = build_parser().parse_args(["demo", "--hidden", ",".join(["1"] * MAX_HIDDEN_LAYERS),
                                      "--epochs", str(MAX_EPOCHS)])
    assert (len(args.hidden), args.epochs) == (MAX_HIDDEN_LAYERS, MAX_EPOCHS)


def test_help_states_the_limits(capsys):
    assert main(["check", "--help"]) == 0
    assert f"at most {MAX_POINTS}" in capsys.readouterr().out
    assert main(["demo", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for limit in (f"at most {MAX_EPOCHS}", f"at most {MAX_HIDDEN_LAYERS} layers",
                  f"{MAX_PARAMETERS} parameters"):
        assert limit in text


def test_a_broken_pipe_that_is_not_stdout_is_one_line(capsys, monkeypatch):
    # A pipe to another program (Graphviz's dot) that closes early is a failure of the
    # work, not a reader that went away: one line, status 1.
    def run(args: argparse.Namespace, out: object) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setitem(COMMANDS, "graph", dataclasses.replace(COMMANDS["graph"], run=run))
    assert error_line(capsys, "graph", "x", "--set", "x=1") == (
        1, "chainrule graph: error: [Errno 32] Broken pipe")
