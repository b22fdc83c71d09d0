"""The loader's messages: every wrong file is a SerializationError naming the file and
what is wrong; only finite real float arrays load; nothing is ever unpickled (issue 12,
item 3).  Then hypothesis: mutated checkpoints and generated files either load the model
they hold or are refused, never another exception."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from checkpointhelpers import DESCRIPTION_KEY, mlp_description, npy_bytes, write_npz
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nn
from nn.checkpoint_file import SerializationError
from nn.serialize import read_state

GOOD = nn.MLP(2, [3, 1], seed=0).state_dict()
IN_DESCRIPTION = "has a description \\(__chainrule__\\) "


def refused(tmp_path: Path, entries: dict, description=None, *, text=None, load=None) -> str:
    """The message of refusing a crafted file; it names the file."""
    path = write_npz(tmp_path / "crafted.npz", entries, description, text=text)
    with pytest.raises(SerializationError) as info:
        (load or nn.load_model)(path)
    message = str(info.value)
    assert repr(str(path)) in message, message
    return message


def test_a_npy_file_named_npz_says_so(tmp_path):
    path = tmp_path / "weights.npz"
    path.write_bytes(npy_bytes(np.ones((3, 2))))
    for load in (nn.load_model, nn.MLP(2, [3, 1]).load, read_state):
        with pytest.raises(SerializationError) as info:
            load(path)
        assert str(info.value).endswith(f"{str(path)!r} is a single .npy array (a .npy file "
                                        "named .npz?), not a .npz checkpoint")


@pytest.mark.parametrize("description, shown", [([1, 2], "'[1, 2]'"), ("MLP", "'\"MLP\"'"),
                                                (5, "'5'"), (None, "'null'")])
def test_a_description_that_is_not_an_object(tmp_path, description, shown):
    message = refused(tmp_path, GOOD, text=json.dumps(description))
    assert message.endswith(f"{IN_DESCRIPTION.replace(chr(92), '')}that is not a JSON object: "
                            f"{shown}")


def test_deep_nesting_is_refused_without_a_recursion_error(tmp_path):
    # The text is over the description's size limit; a shorter one still nests
    # deeper than Python's recursion limit.
    message = refused(tmp_path, GOOD, text="[" * 100_000)
    assert "is not one text of at most 65,536 characters (it is <U100000 of shape ())" in message
    message = refused(tmp_path, GOOD, text="[" * 60_000)
    assert message.endswith("has a description (__chainrule__) nested too deeply to be a "
                            "model's")
    message = refused(tmp_path, GOOD, text='{"kind": "MLP",')
    assert "has a description (__chainrule__) that is not JSON: Expecting" in message


@pytest.mark.parametrize("change, expected", [
    ({"sizes": ["2", "3", "1"]}, "says 'sizes' holds '2'; sizes must be positive whole numbers"),
    ({"sizes": [2, 0, 1]}, "says 'sizes' holds 0; sizes must be positive whole numbers"),
    ({"sizes": [2, 3.0, 1]}, "says 'sizes' holds 3.0; sizes must be positive whole numbers"),
    ({"sizes": [2, True, 1]}, "says 'sizes' holds True; sizes must be positive whole numbers"),
    ({"sizes": [2]}, "says 'sizes': [2]; it must be a list of the input count and at least one"),
    ({"sizes": {"a": 1}}, "says 'sizes': {'a': 1}; it must be a list"),
    ({"bias": "no"}, "says 'bias': 'no'; it must be true or false"),
    ({"bias": 0}, "says 'bias': 0; it must be true or false"),
    ({"activation": "gelu"}, "says 'activation': 'gelu'; it must be one of relu, tanh"),
    ({"output_activation": ["relu"]}, "says 'output_activation': ['relu']; it must be one of"),
    ({"kind": "Conv2d"}, "does not say which model it holds (kind 'Conv2d'); build the model "
                         "and call model.load(path)"),
    ({"kind": ["MLP"]}, "does not say which model it holds (kind ['MLP'])"),
    ({"dropout": 0.5}, "has an unknown field 'dropout' in the description of its MLP"),
])
def test_a_wrong_field_is_named(tmp_path, change, expected):
    assert expected in refused(tmp_path, GOOD, dict(mlp_description([2, 3, 1]), **change))


def test_a_missing_field_is_named(tmp_path):
    description = {"kind": "Layer", "nin": 2, "activation": "relu", "bias": True}
    assert "has an incomplete description of its Layer: no 'nout'" in refused(
        tmp_path, {"weight": np.ones((3, 2))}, description)
    assert "does not say which model it holds (kind None)" in refused(tmp_path, GOOD, {})


class _Unpickled:
    """Unpickling this makes a folder: proof that the loader never unpickles."""

    marker = ""

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


ARRAYS = {
    "complex numbers (complex128)": np.ones((3, 2), dtype=complex),
    "booleans (bool)": np.ones((3, 2), dtype=bool),
    "integers (int64)": np.ones((3, 2), dtype=np.int64),
    "dates and times (datetime64[s])": np.full((3, 2), np.datetime64("2024-01-01T00:00:00")),
    "time spans (timedelta64[s])": np.full((3, 2), np.timedelta64(1, "s")),
    "structured records ([('a', '<f8'), ('b', '<f8')])":
        np.zeros((3, 2), dtype=[("a", "<f8"), ("b", "<f8")]),
    "text (<U3)": np.full((3, 2), "1.5"),
    "bytes (|S3)": np.full((3, 2), b"1.5"),
    "extended-precision floats (float128)": np.ones((3, 2), dtype=np.longdouble),
    "Python objects (which need unpickling) (object)": np.full((3, 2), _Unpickled()),
}


@pytest.mark.parametrize("what", sorted(ARRAYS))
def test_only_real_float_arrays_load(tmp_path, what):
    _Unpickled.marker = str(tmp_path / "unpickled")
    entries = dict(GOOD, **{"layers.0.weight": ARRAYS[what]})
    expected = (f"key 'layers.0.weight' holds {what}; only real floating-point arrays "
                "(float16, float32, float64) load")
    for load in (nn.load_model, nn.MLP(2, [3, 1]).load, read_state):
        assert refused(tmp_path, entries, mlp_description([2, 3, 1]), load=load).endswith(
            expected)
    assert not os.path.exists(_Unpickled.marker)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, ">f8"])
def test_float16_float32_and_big_endian_arrays_load_exactly(tmp_path, dtype):
    stored = {key: array.astype(dtype) for key, array in GOOD.items()}
    path = write_npz(tmp_path / "m.npz", stored, mlp_description([2, 3, 1]))
    state = nn.load_model(path).state_dict()
    for key, array in stored.items():
        np.testing.assert_array_equal(state[key], array.astype(np.float64))


def test_non_finite_numbers_in_a_file_are_refused(tmp_path):
    bias = np.zeros(3)
    bias[2] = np.nan
    message = refused(tmp_path, dict(GOOD, **{"layers.0.bias": bias}),
                      mlp_description([2, 3, 1]))
    assert message.endswith("key 'layers.0.bias' holds non-finite numbers (nan at index [2])")


def test_other_entries_are_named(tmp_path):
    path = tmp_path / "extra.npz"
    write_npz(path, GOOD, mlp_description([2, 3, 1]))
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("notes.txt", b"hello")
    with pytest.raises(SerializationError, match="holds 'notes.txt', which is not a .npy array"):
        nn.load_model(path)
    message = refused(tmp_path, dict(GOOD, extra=np.ones(2)), mlp_description([2, 3, 1]))
    assert "holds an unexpected key 'extra' (expected keys: layers.0.weight, " in message


@pytest.mark.parametrize("header, reason", [
    (b"{'descr': '<f8', 'fortran_order': False, 'shape': (3,\x00 2), }",
     "unreadable entry 'layers.0.weight.npy' (ValueError: Cannot parse header"),
    (b"{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), ",
     "unreadable entry 'layers.0.weight.npy' (TokenError: "),
    (b"{'descr': 'nonsense', 'fortran_order': False, 'shape': (3, 2), }",
     "unreadable entry 'layers.0.weight.npy' (ValueError: descr is not a valid dtype"),
    (b"{'descr': '<f8', 'shape': (3, 2), }",
     "unreadable entry 'layers.0.weight.npy' (ValueError: Header does not contain"),
    (b"__import__('os').system('echo run')",  # parsed as a literal, never run
     "unreadable entry 'layers.0.weight.npy' (ValueError: malformed node or string"),
    (b"{'descr': '<f8', 'fortran_order': False, 'shape': (-3, 2), }",
     "has an entry 'layers.0.weight.npy' whose header gives a negative shape (-3, 2)"),
])
def test_a_corrupt_npy_header_is_refused(tmp_path, header, reason):
    # Found by the fuzzing below: NumPy's header parser raises tokenize.TokenError on some
    # corrupt headers, not only ValueError, and accepts negative lengths.
    padded = header + b" " * (117 - len(header)) + b"\n"
    data = b"\x93NUMPY\x01\x00" + len(padded).to_bytes(2, "little") + padded + bytes(48)
    message = refused(tmp_path, dict(GOOD, **{"layers.0.weight": data}),
                      mlp_description([2, 3, 1]))
    assert reason in message
    data = b"\x93NUMPY\x03\x00" + len(padded).to_bytes(4, "little") + padded
    assert refused(tmp_path, dict(GOOD, **{"layers.0.weight": data}),
                   mlp_description([2, 3, 1])).endswith(
        "holds 'layers.0.weight.npy' in .npy format (3, 0), which a checkpoint does not use")


# -- hypothesis: anything a file can hold ------------------------------------------------

def _model_equals(model: nn.Module, original: nn.Module) -> None:
    assert model.describe() == original.describe()
    assert [p.data for p in model.parameters()] == [p.data for p in original.parameters()]


ORIGINAL = nn.MLP(2, [3, 2], activation="tanh", seed=3)


@pytest.fixture(scope="module")
def original_bytes(tmp_path_factory) -> bytes:
    return Path(ORIGINAL.save(tmp_path_factory.mktemp("orig") / "m.npz")).read_bytes()


@st.composite
def mutations(draw, size: int):
    kind = draw(st.sampled_from(["replace", "truncate", "insert", "delete"]))
    at = draw(st.integers(0, size - 1))
    if kind == "replace":
        return kind, at, draw(st.binary(min_size=1, max_size=4))
    if kind == "insert":
        return kind, at, draw(st.binary(min_size=1, max_size=8))
    return kind, at, draw(st.integers(1, 64))


def _mutate(data: bytes, mutation) -> bytes:
    kind, at, what = mutation
    if kind == "replace":
        return data[:at] + what + data[at + len(what):]
    if kind == "insert":
        return data[:at] + what + data[at:]
    if kind == "truncate":
        return data[:at]
    return data[:at] + data[at + what:]


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_mutated_checkpoint_loads_the_same_model_or_is_refused(tmp_path, original_bytes,
                                                                  data):
    mutated = original_bytes
    for mutation in data.draw(st.lists(mutations(len(original_bytes)), min_size=1,
                                       max_size=3)):
        mutated = _mutate(mutated, mutation) if mutated else mutated
    path = tmp_path / "mutated.npz"
    path.write_bytes(mutated)
    try:
        model = nn.load_model(path)
    except SerializationError as err:
        assert repr(str(path)) in str(err)
    else:  # the zip's checksums guard the arrays: what loads is the original model
        _model_equals(model, ORIGINAL)
    target = nn.MLP(2, [3, 2], activation="tanh")
    try:
        target.load(path)
    except SerializationError:
        pass
    else:
        _model_equals(target, ORIGINAL)


FLOATS = [np.float64, np.float32, np.float16, ">f8"]
OTHER_TYPES = [np.int64, np.bool_, np.complex128, np.longdouble, np.dtype("<U4"),
               np.dtype("M8[s]"), np.dtype([("a", "<f8")])]
JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 5) | st.floats()
                    | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)
DESCRIPTIONS = st.one_of(
    st.builds(lambda sizes, a, o, b: mlp_description(sizes, activation=a,
                                                     output_activation=o, bias=b),
              st.lists(st.integers(1, 3), min_size=2, max_size=4),
              st.sampled_from(sorted(nn.module.ACTIVATIONS)),
              st.sampled_from(["linear", "sigmoid"]), st.booleans()),
    st.builds(lambda nin, nout, b: {"kind": "Layer", "nin": nin, "nout": nout,
                                    "activation": "relu", "bias": b},
              st.integers(1, 3), st.integers(1, 3), st.booleans()),
    st.builds(lambda nin, b: {"kind": "Neuron", "nin": nin, "activation": "tanh", "bias": b},
              st.integers(1, 3), st.booleans()))


def layout(description: dict) -> dict[str, tuple[int, ...]]:
    """The arrays of a described model, by docs/nn.md: nn.Linear's (nout, nin) and (nout,)."""
    if description["kind"] == "MLP":
        sizes = description["sizes"]
        blocks = [(f"layers.{i}.", nin, nout) for i, (nin, nout)
                  in enumerate(zip(sizes, sizes[1:]))]
    else:
        blocks = [("", description["nin"], description.get("nout", 1))]
    shapes = {}
    for prefix, nin, nout in blocks:
        shapes[prefix + "weight"] = (nout, nin)
        if description["bias"]:
            shapes[prefix + "bias"] = (nout,)
    return shapes


CORRUPTIONS = ["none", "field", "extra field", "any JSON", "text", "type", "shape",
               "extra array", "missing array", "values", "description array"]


@st.composite
def generated_files(draw):
    """A right file for a random model, then (mostly) one thing made wrong in it."""
    description = draw(DESCRIPTIONS)
    entries = {key: draw(hnp.arrays(draw(st.sampled_from(FLOATS)), shape,
                                    elements=st.floats(-100, 100, width=16)))
               for key, shape in layout(description).items()}
    text = None
    corruption = draw(st.sampled_from(CORRUPTIONS))
    key = draw(st.sampled_from(sorted(entries)))
    if corruption in ("field", "extra field"):
        field = draw(st.sampled_from(sorted(description))) if corruption == "field" else "x"
        description[field] = draw(JSON)
    elif corruption == "any JSON":
        description = draw(JSON)
    elif corruption == "text":
        text = draw(st.text(max_size=20))
    elif corruption == "type":
        entries[key] = np.zeros(entries[key].shape, dtype=draw(st.sampled_from(OTHER_TYPES)))
    elif corruption == "shape":
        entries[key] = draw(hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3,
                                                                    max_side=3)))
    elif corruption == "extra array":
        entries[draw(st.sampled_from(["other", "layers.9.weight", "bias"]))] = np.ones(2)
    elif corruption == "missing array":
        del entries[key]
    elif corruption == "values":
        entries[key] = draw(hnp.arrays(np.float64, entries[key].shape))
    elif corruption == "description array":
        description = None
        entries[DESCRIPTION_KEY] = draw(hnp.arrays(
            draw(st.sampled_from(FLOATS + OTHER_TYPES)), hnp.array_shapes(min_dims=0)))
    return entries, description, text


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(generated_files())
def test_a_generated_file_gives_its_model_or_a_serialization_error(tmp_path, generated):
    entries, description, text = generated
    path = write_npz(tmp_path / "generated.npz", entries, description, text=text)
    try:
        model = nn.load_model(path)
    except SerializationError as err:
        assert repr(str(path)) in str(err)
    else:  # it loaded: it is the model described, holding the file's numbers
        assert text is None and model.describe() == description
        state = model.state_dict()
        assert sorted(state) == sorted(entries)
        for key, array in entries.items():
            assert array.dtype.kind == "f" and array.dtype.itemsize <= 8
            np.testing.assert_array_equal(state[key], array.astype(np.float64))
    try:
        arrays, _ = read_state(path)
    except SerializationError as err:
        assert repr(str(path)) in str(err)
    else:
        assert sorted(arrays) == sorted(set(entries) - {DESCRIPTION_KEY})
        for key, array in arrays.items():
            np.testing.assert_array_equal(array, entries[key])
