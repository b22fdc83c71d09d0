"""`chainrule check` (nn.check.main): the table, the exit status, the options."""

import io
import math
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import autograd
from autograd import OPS
from nn.check import NETWORKS, check_networks, main

ROOT = Path(__file__).resolve().parents[1]


def run(argv):
    out = io.StringIO()
    status = main(argv, out=out)
    return status, out.getvalue()


def table_rows(text):
    """operation name -> the words of its row in the operations table."""
    rows = {}
    for line in text.splitlines():
        words = line.split()
        if words and words[0] in OPS:
            rows[words[0]] = words
    return rows


def test_the_whole_check_passes_in_a_fresh_process():
    # A fresh interpreter: the table holds exactly what the packages register.
    done = subprocess.run([sys.executable, "-m", "nn.check", "--points", "20"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("+", "-", "*", "/", "neg", "**", "pow", "exp", "log", "sqrt", "tanh",
                 "sigmoid", "relu", "leaky_relu", "softplus", "sin", "cos", "abs", "sum", "dot"):
        assert f"\n{name} " in done.stdout, name
    assert "FAIL" not in done.stdout
    # Every operation row and every network ends in ok (primitives that packages register
    # at import time are in the table too, so count at least the built-ins).
    assert done.stdout.count("  ok") >= 20 + len(NETWORKS)
    assert "All checks passed: 0 failures" in done.stdout


def test_rows_report_points_errors_and_kinks():
    status, text = run(["--ops", "relu,exp,abs", "--points", "12", "--no-networks"])
    assert status == 0
    rows = table_rows(text)
    assert set(rows) == {"relu", "exp", "abs"}
    # 12 sampled points plus the kink at 0 (relu: 1 + second order 1 kink row).
    assert rows["relu"][1] == "13" and rows["relu"][-2] == "2" and rows["relu"][-1] == "ok"
    assert rows["exp"][1] == "12" and rows["exp"][-2] == "0"
    assert float(rows["exp"][2]) < 1e-6 and float(rows["exp"][3]) < 1e-6


def test_a_wrong_primitive_fails_the_check_and_is_named(fresh_ops):
    name = f"bad_square_{uuid.uuid4().hex[:6]}"

    @autograd.primitive(derivative=lambda x, out: x, name=name)  # should be 2 x
    def bad_square(x):
        return x * x

    status, text = run(["--ops", f"{name},tanh", "--points", "5", "--no-networks"])
    assert status == 1
    rows = table_rows(text)
    assert rows[name][-1] == "FAIL"
    assert rows["tanh"][-1] == "ok"
    assert f"{name}" in text and "analytic" in text and "FAILED" in text


def test_a_correct_primitive_passes_with_generic_points(fresh_ops):
    name = f"cube_{uuid.uuid4().hex[:6]}"

    @autograd.primitive(derivative=lambda x, out: 3 * x ** 2, name=name)
    def cube(x):
        return x ** 3

    status, text = run(["--ops", name, "--points", "10", "--no-networks"])
    assert status == 0, text
    assert table_rows(text)[name][1] == "10"


def test_first_order_only():
    status, text = run(["--ops", "sin", "--order", "1", "--no-networks"])
    assert status == 0
    assert "max error d2" not in text


def test_network_comparison_agrees_to_1e_minus_10():
    results = check_networks(seed=3)
    assert len(results) == len(NETWORKS)
    assert {case.l2 > 0 for case, _ in results} == {True, False}
    for case, result in results:
        assert result.agrees(1e-10), case
        assert math.isfinite(result.max_abs)


@pytest.mark.parametrize("argv, words", [
    (["--ops", "nope"], "unknown operation 'nope'"),
    (["--points", "0"], "--points must be at least 1"),
    (["--order", "3"], "invalid choice"),
    (["--seed", "-1"], "--seed must be 0 or more, got -1"),
    (["--seed", "x"], "invalid int value: 'x'"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_options_exit_2_with_a_message(argv, words, capsys):
    status, _ = run(argv)
    assert status == 2
    err = capsys.readouterr().err
    assert words in err
    # One line, as for `chainrule graph` and `chainrule demo`: no usage text, no traceback.
    assert err.count("\n") == 1 and err.startswith("chainrule check: error: ")


def test_help_exits_0(capsys):
    status, _ = run(["--help"])
    assert status == 0
    assert "chainrule check" in capsys.readouterr().out
