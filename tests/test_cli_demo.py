"""`chainrule demo`: trains, writes every file it promises, deterministically for a seed.

Short runs (a few epochs) keep this fast; references are computed here with NumPy from
the saved weights, independently of the engine.
"""

from __future__ import annotations

import json
import math
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import nn
from nn.cli import main

SVG = "{http://www.w3.org/2000/svg}"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_demo(capsys, out: Path, *extra: str) -> tuple[int, str, str]:
    status = main(["demo", "--epochs", "3", "--out", str(out), *extra])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def numpy_forward(state: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """The demo's MLP in NumPy: ReLU hidden layers, linear output, nn.Linear layout."""
    a = X
    layers = sorted({k.split(".")[1] for k in state if k.startswith("layers.")}, key=int)
    for i, layer in enumerate(layers):
        z = a @ state[f"layers.{layer}.weight"].T + state[f"layers.{layer}.bias"]
        a = z if i == len(layers) - 1 else np.maximum(z, 0.0)
    return a


def test_demo_writes_every_file_and_lists_them(capsys, tmp_path):
    out = tmp_path / "run"
    status, printed, err = run_demo(capsys, out, "--hidden", "4,3")
    assert status == 0, err
    names = ["model.npz", "gradient-flow.svg", "neuron.html", "decision-boundary.png",
             "loss.png"]
    for name in names:
        assert (out / name).is_file(), name
        assert f"  {out / name}" in printed
    assert printed.rstrip().endswith(str(out / "loss.png"))
    # One line per epoch with loss and accuracy, and the architecture in the header.
    assert len(re.findall(r"epoch +\d/3 +loss \d\.\d{4} +acc +\d+\.\d%", printed)) == 3
    assert "MLP 2-4-3-1 (31 parameters)" in printed
    for png in ("decision-boundary.png", "loss.png"):
        assert (out / png).read_bytes().startswith(PNG_MAGIC)


def test_the_demo_says_which_files_to_open_in_a_browser(capsys, tmp_path):
    # A first user reads the list of files and needs to know how to look at them.
    out = tmp_path / "run"
    status, printed, _ = run_demo(capsys, out, "--hidden", "3")
    assert status == 0
    listed = printed[printed.index("Wrote 5 files:"):].splitlines()[1:]
    assert listed == [f"  {out / 'model.npz'}",
                      f"  {out / 'gradient-flow.svg'}   (open it in a browser)",
                      f"  {out / 'neuron.html'}   (open it in a browser)",
                      f"  {out / 'decision-boundary.png'}",
                      f"  {out / 'loss.png'}"]
    assert all((out / name).is_file() for name in ("gradient-flow.svg", "neuron.html"))


def test_without_matplotlib_the_demo_says_how_to_get_plots(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    out = tmp_path / "run"
    status, printed, _ = run_demo(capsys, out, "--hidden", "3")
    assert status == 0
    assert "pip install 'chainrule[plot]'" in printed
    assert sorted(p.name for p in out.iterdir()) == ["gradient-flow.svg", "model.npz",
                                                      "neuron.html"]
    assert "Wrote 3 files:" in printed


def test_the_drawing_shows_the_hardest_example_collapsed_by_neuron(capsys, tmp_path):
    out = tmp_path / "run"
    status, printed, _ = run_demo(capsys, out, "--hidden", "4,3", "--seed", "2")
    assert status == 0
    svg = ET.parse(out / "gradient-flow.svg").getroot()
    title = "".join(svg.itertext())
    # The hardest example, recomputed with NumPy from the saved weights: the largest
    # binary cross-entropy softplus(z) - y z over the training set.
    state = dict(np.load(out / "model.npz"))
    X, y = nn.moons(100, seed=2)
    z = numpy_forward(state, X)[:, 0]
    losses = np.logaddexp(0.0, z) - y * z
    hardest = int(np.argmax(losses))
    assert f"loss of training example {hardest} (the hardest)" in title
    # One box per neuron: 4 + 3 hidden neurons and the output neuron, no raw weights.
    assert len(re.findall(r"neurons\.\d+", title)) >= 8
    assert re.search(rf"loss\s*data {losses[hardest]:.4f}", title)


def test_a_network_too_wide_to_draw_by_neuron_is_drawn_by_layer(capsys, tmp_path):
    # 400 neurons in one hidden layer: more boxes than draw_dot's max_nodes (400).
    out = tmp_path / "run"
    status, printed, err = run_demo(capsys, out, "--hidden", "400", "--epochs", "1")
    assert status == 0, err
    assert "gradient-flow.svg: too many neurons for one box each, so one box per layer." \
        in printed
    svg = ET.parse(out / "gradient-flow.svg").getroot()
    assert "one box per layer" in "".join(svg.itertext())
    # One box per layer: the hidden layer and the output layer, no neuron boxes.
    boxes = {t.text for t in svg.iter(f"{SVG}text") if t.text and t.text.startswith("layers.")}
    assert boxes == {"layers.0", "layers.1"}, boxes


def test_the_neuron_page_is_self_contained(capsys, tmp_path):
    out = tmp_path / "run"
    assert run_demo(capsys, out, "--hidden", "3")[0] == 0
    page = (out / "neuron.html").read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html")
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", page)


def test_the_neuron_page_shows_a_neuron_the_example_activates(capsys, tmp_path):
    # Seed 2, 4-3 hidden: the first neuron of the first layer is switched off (ReLU of a
    # negative input) by the hardest example, so its page would show zero gradients only.
    out = tmp_path / "run"
    assert run_demo(capsys, out, "--hidden", "4,3", "--seed", "2")[0] == 0
    state = dict(np.load(out / "model.npz"))
    X, y = nn.moons(100, seed=2)
    z = numpy_forward(state, X)[:, 0]
    x = X[int(np.argmax(np.logaddexp(0.0, z) - y * z))]
    W, b = state["layers.0.weight"], state["layers.0.bias"]
    pre = W @ x + b                       # first-layer weighted inputs, in NumPy
    assert pre[0] < 0                     # what makes this case worth testing
    j = int(np.flatnonzero(pre > 0)[0])   # the first neuron the example activates

    page = (out / "neuron.html").read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="chainrule-data">(.*?)</script>', page, re.S).group(1))
    values = [v["name"] for v in data["values"]]
    shown = {v["name"]: float(v["data"]) for v in data["values"]}
    # The values table shows data rounded to 4 decimals.
    for name, expected in (("w0", W[j, 0]), ("w1", W[j, 1]), ("b", b[j]), ("out", pre[j])):
        assert math.isclose(shown[name], expected, abs_tol=5e-5), (name, shown[name], expected)
    grads: dict[str, float] = {}
    for step in data["steps"]:
        grads.update({values[int(k)]: float(g) for k, g in step.get("grads", {}).items()})
    # d relu(w.x + b) / d w_i = x_i and d / d b = 1 where the neuron is on.
    assert (grads["w0"], grads["w1"], grads["b"]) == (x[0], x[1], 1.0)
    # The neuron's nodes sit in one box with its parameters, inside its layer's box.
    labels = re.findall(r'<g id="clust\d+" class="cluster">\s*<title>[^<]*</title>'
                        r'\s*<[^>]*>\s*<text[^>]*>([^<]*)</text>', page)
    assert labels == ["layers.0", f"neurons.{j}"], labels


def test_the_saved_model_reproduces_the_decision(capsys, tmp_path):
    out = tmp_path / "run"
    assert run_demo(capsys, out, "--dataset", "xor", "--hidden", "5")[0] == 0
    model = nn.load_model(out / "model.npz")
    X, _ = nn.xor(100, seed=0)
    state = dict(np.load(out / "model.npz"))
    engine = nn.predict(model, X).reshape(-1)
    assert np.allclose(engine, numpy_forward(state, X)[:, 0], rtol=1e-12, atol=1e-12)


def test_spiral_trains_three_classes(capsys, tmp_path):
    out = tmp_path / "run"
    status, printed, _ = run_demo(capsys, out, "--dataset", "spiral", "--hidden", "6")
    assert status == 0
    assert "MLP 2-6-3" in printed and "150 points of 'spiral'" in printed
    assert "eager engine" in printed  # softmax cross-entropy: compile does not apply
    assert dict(np.load(out / "model.npz"))["layers.1.weight"].shape == (3, 6)


def test_same_seed_same_files(capsys, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_demo(capsys, a, "--hidden", "3", "--seed", "5")[0] == 0
    assert run_demo(capsys, b, "--hidden", "3", "--seed", "5")[0] == 0
    assert (a / "gradient-flow.svg").read_bytes() == (b / "gradient-flow.svg").read_bytes()
    first, second = np.load(a / "model.npz"), np.load(b / "model.npz")
    assert sorted(first.files) == sorted(second.files)
    for key in first.files:
        assert np.array_equal(first[key], second[key])


@pytest.mark.parametrize(("argv", "words"), [
    (["--dataset", "iris"], ["invalid choice: 'iris'"]),
    (["--hidden", "16,x"], ["16,x"]),
    (["--hidden", "0"], ["at least 1 neuron"]),
    (["--epochs", "0"], ["at least 1"]),
    (["--seed", "-1"], ["0 or more"]),
])
def test_demo_mistakes(capsys, argv, words):
    status = main(["demo", *argv])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and err.startswith("chainrule demo: error:")
    for word in words:
        assert word in err


def test_out_must_be_a_folder(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    status = main(["demo", "--epochs", "1", "--out", str(blocker)])
    err = capsys.readouterr().err
    assert status == 2 and "is a file, not a folder" in err


def test_a_model_file_that_cannot_be_written_is_one_line(capsys, tmp_path):
    # save() reports an unwritable file as a SerializationError, which the demo let
    # through as a traceback; a folder where model.npz goes makes any file system refuse.
    out = tmp_path / "demo"
    (out / "model.npz").mkdir(parents=True)
    status = main(["demo", "--epochs", "1", "--hidden", "3", "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 1
    assert err == (f"chainrule demo: error: save: cannot write "
                   f"{str(out / 'model.npz')!r}: Is a directory\n")


def test_the_default_demo_separates_the_moons(capsys, tmp_path):
    # The defaults as documented (two moons, 16-16 hidden units, 100 epochs, seed 0):
    # every training point on the right side, recomputed with NumPy from the saved weights.
    out = tmp_path / "default"
    status = main(["demo", "--out", str(out)])
    printed = capsys.readouterr().out
    assert status == 0
    assert "MLP 2-16-16-1 (337 parameters) on 100 points of 'moons' for 100 epochs" in printed
    state = dict(np.load(out / "model.npz"))
    X, y = nn.moons(100, seed=0)
    predicted = (numpy_forward(state, X)[:, 0] > 0).astype(int)
    assert np.array_equal(predicted, y)


def test_compiled_and_eager_training_give_the_same_weights(capsys, tmp_path):
    compiled, eager = tmp_path / "compiled", tmp_path / "eager"
    status, printed, _ = run_demo(capsys, compiled, "--hidden", "5,4", "--dataset", "circles")
    assert status == 0 and "compiled with autograd.compile" in printed
    status, printed, _ = run_demo(capsys, eager, "--hidden", "5,4", "--dataset", "circles",
                                  "--no-compile")
    assert status == 0 and "eager engine" in printed
    a, b = np.load(compiled / "model.npz"), np.load(eager / "model.npz")
    for key in a.files:
        if key.startswith("layers."):
            assert np.allclose(a[key], b[key], rtol=1e-9, atol=1e-12), key
