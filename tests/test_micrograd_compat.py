"""README's promise: a micrograd program runs on chainrule with two import lines changed.

The same program text runs twice, once under micrograd 0.1.0 (the reference, from PyPI)
and once under chainrule, with only the import lines different; the chainrule model
starts from micrograd's random weights.  Every loss and every final weight must agree.
"""

from __future__ import annotations

import math

import nn

MICROGRAD = "from micrograd.engine import Value\nfrom micrograd.nn import MLP\n"
CHAINRULE = "from autograd.engine import Value\nfrom nn import MLP\n"

# A Value-level program: every operation micrograd 0.1.0 has.
EXPRESSIONS = """
a = Value(-4.0)
b = Value(2.0)
c = a * b + b ** 3 - a / 2
d = (c + 1).relu() * (-a) + 3 / b + 2 - b ** -1
e = (a - c).relu() + d * d / 10
e.backward()
result = [e.data, a.grad, b.grad]
"""

# A micrograd-style training loop (max-margin loss, L2, decaying learning rate).
BUILD = "import random\nrandom.seed(0)\nmodel = MLP(2, [8, 8, 1])\n"
TRAIN = """
losses = []
for k in range(15):
    scores = [model(x) for x in xs]
    data_loss = sum((1 + -y * s).relu() for y, s in zip(ys, scores)) * (1.0 / len(xs))
    loss = data_loss + 1e-4 * sum(p * p for p in model.parameters())
    model.zero_grad()
    loss.backward()
    learning_rate = 1.0 - 0.9 * k / 15
    for p in model.parameters():
        p.data -= learning_rate * p.grad
    losses.append(loss.data)
"""


def run(header: str, body: str, namespace: dict | None = None) -> dict:
    namespace = {} if namespace is None else namespace
    exec(header + body, namespace)  # our own program text, not user input
    return namespace


def test_value_programs_agree():
    reference = run(MICROGRAD, EXPRESSIONS)["result"]
    ours = run(CHAINRULE, EXPRESSIONS)["result"]
    for r, o in zip(reference, ours):
        assert math.isclose(o, r, rel_tol=1e-12, abs_tol=1e-12)


def test_training_loop_agrees_step_by_step():
    X, y = nn.moons(40, noise=0.1, seed=3, labels=(-1, 1))
    data = {"xs": X.tolist(), "ys": y.tolist()}
    micro = run(MICROGRAD, BUILD, dict(data))
    ours = run(CHAINRULE, BUILD, dict(data))
    # Same architecture, same parameter order: start chainrule from micrograd's weights.
    assert len(ours["model"].parameters()) == len(micro["model"].parameters()) == 105
    for mine, theirs in zip(ours["model"].parameters(), micro["model"].parameters()):
        mine.data = float(theirs.data)

    run("", TRAIN, micro)
    run("", TRAIN, ours)
    assert micro["losses"][-1] < micro["losses"][0]  # the loop really trains
    for step, (o, r) in enumerate(zip(ours["losses"], micro["losses"])):
        assert math.isclose(o, r, rel_tol=1e-9), step
    for mine, theirs in zip(ours["model"].parameters(), micro["model"].parameters()):
        assert math.isclose(mine.data, theirs.data, rel_tol=1e-9, abs_tol=1e-12)
