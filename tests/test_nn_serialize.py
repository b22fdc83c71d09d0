"""Checkpoints: state_dict in PyTorch nn.Linear layout, .npz save/load, and clear errors."""

import ast
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nn
from nn.serialize import SerializationError


def outputs(model, X):
    return [model(x).data for x in X]


X = np.random.default_rng(0).normal(size=(10, 3))


def test_state_dict_has_pytorch_linear_shapes():
    model = nn.MLP(3, [5, 4, 1], seed=1)
    state = model.state_dict()
    assert list(state) == ["layers.0.weight", "layers.0.bias", "layers.1.weight",
                           "layers.1.bias", "layers.2.weight", "layers.2.bias"]
    assert state["layers.0.weight"].shape == (5, 3) and state["layers.0.bias"].shape == (5,)
    assert state["layers.2.weight"].shape == (1, 4) and state["layers.2.bias"].shape == (1,)
    # row j of a weight matrix is neuron j's weight list, as in torch.nn.Linear
    neuron = model.layers[1].neurons[2]
    np.testing.assert_array_equal(state["layers.1.weight"][2], [w.data for w in neuron.w])
    assert state["layers.1.bias"][2] == neuron.b.data
    assert nn.Neuron(3, seed=0).state_dict()["weight"].shape == (1, 3)


def test_pytorch_layout_round_trip_keeps_outputs_identical():
    # Matrices written the way torch.nn.Linear stores them, computed in NumPy: y = W x + b.
    rng = np.random.default_rng(9)
    layout = {"layers.0.weight": rng.normal(size=(5, 3)), "layers.0.bias": rng.normal(size=5),
              "layers.1.weight": rng.normal(size=(1, 5)), "layers.1.bias": rng.normal(size=1)}
    model = nn.MLP(3, [5, 1], activation="tanh", seed=0)
    model.load_state_dict(layout)
    for x in X:
        hidden = np.tanh(layout["layers.0.weight"] @ x + layout["layers.0.bias"])
        want = (layout["layers.1.weight"] @ hidden + layout["layers.1.bias"])[0]
        assert model(x).data == pytest.approx(want, rel=1e-13)
    back = model.state_dict()
    for key, array in layout.items():
        np.testing.assert_array_equal(back[key], array)


def test_save_and_load_keep_outputs_identical(tmp_path):
    model = nn.MLP(3, [6, 6, 1], activation="tanh", seed=2)
    path = model.save(tmp_path / "model")
    assert path.endswith("model.npz")
    other = nn.MLP(3, [6, 6, 1], activation="tanh", seed=3)
    assert outputs(other, X) != outputs(model, X)
    identities = [id(p) for p in other.parameters()]
    other.load(path)
    assert outputs(other, X) == outputs(model, X)
    assert [id(p) for p in other.parameters()] == identities  # written in place
    rebuilt = nn.load_model(path)
    assert isinstance(rebuilt, nn.MLP) and rebuilt.sizes == [3, 6, 6, 1]
    assert rebuilt.activation == "tanh"
    assert outputs(rebuilt, X) == outputs(model, X)
    # the file is plain arrays: it opens with pickling forbidden
    with np.load(path, allow_pickle=False) as archive:
        assert "layers.0.weight" in archive.files


def test_layer_and_neuron_round_trip(tmp_path):
    layer = nn.Layer(3, 2, activation="sigmoid", bias=False, seed=4)
    rebuilt = nn.load_model(layer.save(tmp_path / "layer.npz"))
    assert isinstance(rebuilt, nn.Layer)
    assert [[v.data for v in rebuilt(x)] for x in X] == [[v.data for v in layer(x)] for x in X]
    neuron = nn.Neuron(3, activation="softplus", seed=5)
    rebuilt = nn.load_model(neuron.save(tmp_path / "neuron.npz"))
    assert outputs(rebuilt, X) == outputs(neuron, X)


def test_mismatches_name_the_key_and_leave_the_model_untouched():
    model = nn.MLP(3, [4, 1], seed=0)
    before = [p.data for p in model.parameters()]
    good = model.state_dict()
    bad_shape = dict(good, **{"layers.1.weight": np.zeros((4, 1)),
                              "layers.0.weight": np.zeros((4, 3))})
    with pytest.raises(ValueError, match=r"'layers.1.weight' has shape \(4, 1\), "
                                         r"expected \(1, 4\)"):
        model.load_state_dict(bad_shape)
    missing = {k: v for k, v in good.items() if k != "layers.0.bias"}
    with pytest.raises(KeyError, match="missing key 'layers.0.bias'"):
        model.load_state_dict(missing)
    with pytest.raises(KeyError, match="unexpected key 'layers.2.weight'"):
        model.load_state_dict(dict(good, **{"layers.2.weight": np.zeros((1, 1))}))
    with pytest.raises(ValueError, match="'layers.0.bias' holds non-finite"):
        model.load_state_dict(dict(good, **{"layers.0.bias": np.full(4, np.nan)}))
    assert [p.data for p in model.parameters()] == before


def test_loading_a_file_of_another_shape_names_the_key(tmp_path):
    path = nn.MLP(3, [4, 1], seed=0).save(tmp_path / "small.npz")
    with pytest.raises(SerializationError, match="'layers.0.weight' has shape"):
        nn.MLP(3, [5, 1], seed=0).load(path)


def test_corrupt_and_missing_files_raise_clear_errors(tmp_path):
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"this is not a zip archive at all")
    with pytest.raises(SerializationError, match="not a readable .npz checkpoint"):
        nn.load_model(broken)
    # A text file is named as such; NumPy's own message would call it pickled data and
    # suggest allow_pickle=True, which would run whatever the file holds.
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(SerializationError) as info:
        nn.MLP(3, [4, 1]).load(text)
    assert str(info.value) == (f"load: {str(text)!r} is not a readable .npz checkpoint (a "
                               ".npz file is a zip archive; this one starts with b'hello')")
    assert "pickle" not in str(info.value)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(SerializationError, match="empty.npz' is empty, not a .npz checkpoint"):
        nn.load_model(empty)
    truncated = tmp_path / "truncated.npz"
    full = nn.MLP(3, [4, 1], seed=0).save(tmp_path / "full.npz")
    data = open(full, "rb").read()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(SerializationError, match="truncated.npz"):
        nn.MLP(3, [4, 1]).load(truncated)
    with pytest.raises(FileNotFoundError, match="no such checkpoint file"):
        nn.load_model(tmp_path / "nowhere.npz")
    # an archive holding a pickled object array is refused, not unpickled
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, **{"layers.0.weight": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(SerializationError, match="pickled.npz"):
        nn.MLP(3, [4, 1]).load(pickled)
    # a plain .npz without the architecture entry cannot be rebuilt blindly
    bare = tmp_path / "bare.npz"
    np.savez(bare, **nn.MLP(3, [4, 1], seed=0).state_dict())
    with pytest.raises(SerializationError, match="does not say which model"):
        nn.load_model(bare)
    nn.MLP(3, [4, 1]).load(bare)  # ... but loads into a model of the right shape
    assert zipfile.is_zipfile(bare)


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 4), st.lists(st.integers(1, 5), min_size=1, max_size=3),
       st.sampled_from(sorted(nn.module.ACTIVATIONS)), st.booleans(), st.integers(0, 2**16))
def test_round_trip_through_a_file_for_any_shape(tmp_path_factory, nin, nouts, activation,
                                                 bias, seed):
    model = nn.MLP(nin, nouts, activation=activation, bias=bias, seed=seed)
    path = model.save(tmp_path_factory.mktemp("ckpt") / "m.npz")
    rebuilt = nn.load_model(path)
    x = np.linspace(-1.0, 1.0, nin)
    first, second = model(x), rebuilt(x)
    first = first if isinstance(first, list) else [first]
    second = second if isinstance(second, list) else [second]
    assert [v.data for v in first] == [v.data for v in second]
    assert [p.data for p in rebuilt.parameters()] == [p.data for p in model.parameters()]


def test_saving_into_a_missing_folder_names_the_folder(tmp_path):
    model = nn.MLP(2, [2, 1], seed=0)
    target = tmp_path / "no-such-folder" / "model.npz"
    message = "save: the folder .*no-such-folder.* does not exist"
    with pytest.raises(FileNotFoundError, match=message):
        model.save(target)
    assert not target.parent.exists()  # nothing was created on the way
    assert model.save(tmp_path / "model") == str(tmp_path / "model.npz")


def _imports_within_nn(path: Path) -> set[str]:
    """The `nn` modules a file imports anywhere in it, inside functions too (an import
    deferred into a method is still a circle)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names.update([node.module.split(".")[0]] if node.module
                         else [alias.name for alias in node.names])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nn."):
            names.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".")[1] for a in node.names if a.name.startswith("nn."))
    return names


def test_no_import_circle_between_nn_modules():
    folder = Path(nn.__file__).parent
    modules = {p.stem for p in folder.glob("*.py")} - {"__init__"}
    graph = {m: _imports_within_nn(folder / f"{m}.py") & modules for m in modules}
    assert "serialize" not in graph["module"] and "module" in graph["serialize"]

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), list(graph[start])
        while todo:
            name = todo.pop()
            if name == goal:
                return True
            if name not in seen:
                seen.add(name)
                todo.extend(graph[name])
        return False

    circles = sorted(m for m in modules if reaches(m, m))
    assert not circles, f"nn modules that import themselves through others: {circles}"


@pytest.mark.parametrize("model", [nn.MLP(3, [4, 2], activation="tanh", bias=False, seed=0),
                                   nn.Layer(2, 3, activation="sigmoid", seed=0),
                                   nn.Neuron(4, activation="linear", seed=0)],
                         ids=["MLP", "Layer", "Neuron"])
def test_a_model_describes_itself_and_the_file_stores_that(tmp_path, model):
    path = model.save(tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as archive:
        stored = json.loads(str(archive["__chainrule__"]))
    assert stored == model.describe()
    assert nn.load_model(path).describe() == model.describe()
