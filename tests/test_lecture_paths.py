"""The lecture's code, written by us, with chainrule's two import lines and nothing else.

A lecturer changes only the import lines of micrograd's notebook.  LECTURE below is that
kind of program: the expression and its gradients by hand, node by node with
``_backward()`` and with ``backward()``; the tanh neuron, built-in and written with an
``exp`` closure; ``random.seed`` repeating a model; the lecture's tanh network trained on
the four examples.  The test checks the program imports nothing from chainrule but
``from autograd.engine import Value`` and ``from nn import ...``, runs it, and checks its
numbers against closed forms and micrograd 0.1.0 (the peer) running the same text.
"""

from __future__ import annotations

import ast
import math
import re

import pytest

LECTURE = '''
import math
import random

from autograd.engine import Value
from nn import MLP

# The expression, by hand.
a = Value(2.0, label="a"); b = Value(-3.0, label="b"); c = Value(10.0, label="c")
e = a * b; d = e + c; f = Value(-2.0, label="f"); L = d * f
L.grad = 1.0; d.grad = f.data; f.grad = d.data; c.grad = d.grad; e.grad = d.grad
a.grad = b.data * e.grad; b.grad = a.data * e.grad
by_hand = [v.grad for v in (a, b, c, d, e, f)]

# Node by node, then all at once.
for v in (a, b, c, d, e, f, L):
    v.grad = 0.0
L.grad = 1.0
L._backward(); d._backward(); e._backward()
node_by_node = [v.grad for v in (a, b, c, d, e, f)]
for v in (a, b, c, d, e, f, L):
    v.grad = 0.0
L.backward()
at_once = [v.grad for v in (a, b, c, d, e, f)]

# The neuron, with the built-in tanh ...
x1 = Value(2.0); x2 = Value(0.0); w1 = Value(-3.0); w2 = Value(1.0)
bias = Value(6.8813735870195432)
n = x1 * w1 + x2 * w2 + bias
o = n.tanh()
o.backward()
neuron = [o.data, x1.grad, w1.grad, x2.grad, w2.grad]

# ... and with tanh written through an exp closure, the lecture's way.
def exp(v):
    out = Value(math.exp(v.data), (v,), "exp")
    def _backward():
        v.grad += out.data * out.grad
    out._backward = _backward
    return out

x1 = Value(2.0); x2 = Value(0.0); w1 = Value(-3.0); w2 = Value(1.0)
bias = Value(6.8813735870195432)
n = x1 * w1 + x2 * w2 + bias
e2 = exp(2 * n)
o = (e2 - 1) / (e2 + 1)
o.backward()
neuron_exp = [o.data, x1.grad, w1.grad, x2.grad, w2.grad]

# random.seed repeats a model.
random.seed(1337)
first = [p.data for p in MLP(3, [4, 4, 1]).parameters()]
random.seed(1337)
again = [p.data for p in MLP(3, [4, 4, 1]).parameters()]

# The lecture's network (tanh everywhere) on the four examples.
random.seed(1337)
net = MLP(3, [4, 4, 1], all_layers="tanh")
xs = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
ys = [1.0, -1.0, -1.0, 1.0]
losses = []
for k in range(50):
    ypred = [net(x) for x in xs]
    loss = sum((yout - ygt) ** 2 for ygt, yout in zip(ys, ypred))
    net.zero_grad()
    loss.backward()
    for p in net.parameters():
        p.data += -0.05 * p.grad
    losses.append(loss.data)
predictions = [y.data for y in ypred]
'''


def chainrule_imports(program: str) -> list[str]:
    lines = []
    for node in ast.walk(ast.parse(program)):
        if isinstance(node, ast.ImportFrom):
            lines.append(f"from {node.module} import {', '.join(a.name for a in node.names)}")
        elif isinstance(node, ast.Import):
            lines.extend(f"import {a.name}" for a in node.names)
    return [line for line in lines if line not in ("import math", "import random")]


def test_the_program_imports_only_value_and_nn():
    assert chainrule_imports(LECTURE) == ["from autograd.engine import Value",
                                          "from nn import MLP"]


def test_the_lecture_runs_with_the_lectures_numbers():
    ns: dict = {}
    exec(LECTURE, ns)  # our own program text, not user input
    assert ns["by_hand"] == [6.0, -4.0, -2.0, -2.0, -2.0, 4.0]  # the chain rule, closed form
    assert ns["node_by_node"] == ns["by_hand"] == ns["at_once"]
    o, dx1, dw1, dx2, dw2 = ns["neuron"]
    assert math.isclose(o, 1 / math.sqrt(2), rel_tol=1e-12)  # tanh(atanh(1/sqrt 2))
    slope = 1 - o * o  # = 1/2
    assert [dx1, dw1, dx2] == pytest.approx([-3.0 * slope, 2.0 * slope, 1.0 * slope],
                                            rel=1e-12)
    assert dw2 == 0.0  # its input is 0
    for mine, reference in zip(ns["neuron_exp"], ns["neuron"]):
        assert math.isclose(mine, reference, rel_tol=1e-9, abs_tol=1e-12)
    assert ns["first"] == ns["again"]
    assert ns["losses"][-1] < 0.05
    assert all((p > 0) == (t > 0) for p, t in zip(ns["predictions"], ns["ys"]))


def test_micrograd_runs_the_same_text_to_the_same_numbers():
    # The peer: micrograd 0.1.0 runs the Value part of the program (its MLP is ReLU, and
    # it has no all_layers, so the network part is left out) to the same gradients.
    value_part = LECTURE.split("# random.seed repeats a model.")[0]
    theirs = value_part.replace("from autograd.engine import Value",
                                "from micrograd.engine import Value")
    theirs = theirs.replace("from nn import MLP\n", "")
    # micrograd 0.1.0's Value has no label and no tanh: the lecture's tanh, as a closure.
    theirs = re.sub(r', label="\w"', "", theirs).replace("o = n.tanh()", "o = tanh(n)")
    prelude = (
        "import math\nfrom micrograd.engine import Value\n"
        "def tanh(v):\n"
        "    t = math.tanh(v.data)\n"
        "    out = Value(t, (v,), 'tanh')\n"
        "    def _backward():\n"
        "        v.grad += (1 - t ** 2) * out.grad\n"
        "    out._backward = _backward\n"
        "    return out\n")
    reference: dict = {}
    exec(prelude + theirs, reference)  # our own program text
    ours: dict = {}
    exec(value_part, ours)
    for key in ("by_hand", "node_by_node", "at_once", "neuron", "neuron_exp"):
        for mine, peer in zip(ours[key], reference[key]):
            assert math.isclose(mine, peer, rel_tol=1e-12, abs_tol=1e-15), key

