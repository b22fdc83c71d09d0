"""Neurons, layers and multi-layer perceptrons made of `autograd.Value` operations.

Every number a model computes is a `Value`, so every gradient can be drawn and checked.

The naming contract (drawings and checkpoints rely on it)
---------------------------------------------------------
* A neuron's weighted input is ONE engine node, ``autograd.dot(w, x, b)`` (parents
  ``w_1..w_n, x_1..x_n, b``), followed by the activation node (none for ``linear``).
* Every module has a dotted ``path``.  Parameters are created inside
  ``autograd.scope(path)``, and every Value the forward pass makes carries the same tag in
  ``.scope`` (exactly as if it ran inside that scope; `nn` writes the tag on its two new
  nodes per neuron directly, which is cheaper than entering a scope per neuron per example).
  In an `MLP` layer ``i`` has the path ``layers.<i>`` and its neuron ``j`` the path
  ``layers.<i>.neurons.<j>``: a value computed by that neuron has
  ``.scope == 'layers.0.neurons.1'``.  A standalone `Layer` uses the prefix ``layer``
  (neurons ``layer.neurons.<j>``), a standalone `Neuron` the prefix ``neuron``.  Calling a
  model inside an enclosing ``autograd.scope('m')`` prefixes everything with ``m.``.
* Parameters are labelled ``w0, w1, ..., b`` (short, for drawings).
  ``named_parameters()`` gives names relative to the module it is called on, like PyTorch:
  for an MLP ``layers.0.neurons.1.w.0`` and ``layers.0.neurons.1.b``.
* ``parameters()`` order: layer by layer, neuron by neuron, a neuron's weights then its
  bias (micrograd's order).  In general a module lists the Values, lists of Values,
  modules and lists of modules stored in its attributes, in the order they were assigned.

micrograd compatibility: ``Neuron(nin, nonlin=True)``, ``Layer(nin, nout, **kw)``,
``MLP(nin, nouts)`` (ReLU hidden layers, linear last layer), ``.parameters()``,
``.zero_grad()``, ``MLP.layers``, ``Layer.neurons``, ``Neuron.w``, ``Neuron.b``; a layer
with one output returns a single Value.

Weights: ``seed=`` (int) or ``rng=`` (``numpy.random.Generator``) give a model its own
stream.  Without either, the weights come from Python's `random` module, as micrograd's
do, so ``random.seed(1337)`` before building repeats a model (and, with the default
``init='uniform'``, draws exactly the weights micrograd's ``MLP`` draws after the same
seed: one ``random.uniform(-1, 1)`` per weight, layer by layer, neuron by neuron).
``init='uniform'`` draws U(-1, 1) (micrograd), ``'xavier'`` draws U(-a, a) with
a = sqrt(6 / (fan_in + fan_out)), ``'he'`` draws N(0, 2 / fan_in).  Biases start at 0.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

import autograd
from autograd import Value

from . import checkpoint_file

__all__ = ["Module", "Neuron", "Layer", "MLP", "ACTIVATIONS", "INITS"]

# Activation name -> what the neuron applies after its dot node (None: nothing).
ACTIVATIONS: dict[str, Callable[[Value], Value] | None] = {
    "relu": Value.relu,
    "tanh": Value.tanh,
    "sigmoid": Value.sigmoid,
    "leaky_relu": Value.leaky_relu,
    "softplus": Value.softplus,
    "linear": None,
}

INITS = ("uniform", "xavier", "he")


def _check_activation(activation: str, where: str) -> Callable[[Value], Value] | None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"{where}: unknown activation {activation!r}; choose one of "
                         f"{', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[activation]


def _check_init(init: str, where: str) -> None:
    if init not in INITS:
        raise ValueError(f"{where}: unknown init {init!r}; choose one of {', '.join(INITS)}")


def _check_count(value: object, what: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{where}: {what} must be a positive integer, got {value!r}")
    return int(value)


def _make_rng(seed: int | None, rng: np.random.Generator | None,
              where: str) -> np.random.Generator | None:
    """The generator of `seed=` or `rng=`; None (Python's `random`) when neither is given."""
    if rng is not None and seed is not None:
        raise ValueError(f"{where}: give seed= or rng=, not both")
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"{where}: rng must be a numpy.random.Generator, "
                            f"got {type(rng).__name__}")
        return rng
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"{where}: seed must be an int, got {type(seed).__name__} {seed!r}")
    return None if seed is None else np.random.default_rng(seed)


def _draw_weights(rng: np.random.Generator | None, init: str, nout: int,
                  nin: int) -> np.ndarray:
    """A (nout, nin) float64 matrix of initial weights (`init` is already checked), from
    `rng`, or from Python's `random` when `rng` is None (row by row, as micrograd draws)."""
    if init == "he":
        sigma = math.sqrt(2.0 / nin)
        if rng is None:
            return np.array([[random.gauss(0.0, sigma) for _ in range(nin)]
                             for _ in range(nout)], dtype=np.float64).reshape(nout, nin)
        return rng.normal(0.0, sigma, size=(nout, nin))
    bound = math.sqrt(6.0 / (nin + nout)) if init == "xavier" else 1.0
    if rng is None:
        return np.array([[random.uniform(-bound, bound) for _ in range(nin)]
                         for _ in range(nout)], dtype=np.float64).reshape(nout, nin)
    return rng.uniform(-bound, bound, size=(nout, nin))


_BATCH_HINT = "; a model takes one example at a time: [model(x) for x in X]"


def _is_row(v: object) -> bool:
    return isinstance(v, (Sequence, np.ndarray)) and not isinstance(v, (str, bytes))


def _count(x: Sequence[Any]) -> str:
    """How many inputs came, saying so when they are rows of a batch (checked on errors
    only, so the common call pays nothing)."""
    if len(x) > 0 and all(_is_row(v) for v in x):
        return f"{len(x)} row{'s' if len(x) > 1 else ''} of inputs{_BATCH_HINT}"
    return str(len(x))


def _as_inputs(x: Any, nin: int, where: str) -> tuple[Value, ...]:
    """Check a call's inputs and lift numbers to Values, with an error that says what came."""
    if isinstance(x, (Value, int, float, np.number)) and not isinstance(x, bool) and nin == 1:
        x = [x]
    if isinstance(x, np.ndarray):
        if x.ndim != 1:
            hint = _BATCH_HINT if x.ndim == 2 else ""
            raise ValueError(f"{where}: expected {nin} inputs as a flat sequence, "
                             f"got an array of shape {x.shape}{hint}")
        x = x.tolist()
    if isinstance(x, (str, bytes)) or not isinstance(x, Sequence):
        raise TypeError(f"{where}: expected a sequence of {nin} numbers or Values, "
                        f"got {type(x).__name__} {x!r:.60}")
    if len(x) != nin:
        raise ValueError(f"{where}: expected {nin} inputs, got {_count(x)}")
    out = []
    for i, v in enumerate(x):
        if type(v) is Value or isinstance(v, Value):  # the exact type first: the common case
            out.append(v)
            continue
        if _is_row(v) and all(_is_row(u) for u in x):
            raise ValueError(f"{where}: expected {nin} inputs, got {_count(x)}")
        if isinstance(v, (bool, str, bytes)) or v is None:
            raise TypeError(f"{where}: input {i} must be a number or a Value, "
                            f"got {type(v).__name__} {v!r:.60}")
        try:
            out.append(Value(v))
        except TypeError:
            raise TypeError(f"{where}: input {i} must be a number or a Value, "
                            f"got {type(v).__name__} {v!r:.60}") from None
        if not math.isfinite(out[-1].data):
            raise ValueError(f"{where}: input {i} is not finite: {v!r}")
    return tuple(out)


def _join(outer: str, name: str) -> str:
    """The dotted scope of `name` inside the scope `outer` ('' is the top level)."""
    return f"{outer}.{name}" if outer else name


class Module:
    """Base class: anything with parameters.

    A module's parameters are the Values, lists of Values, modules and lists of modules
    stored in its public attributes, in the order the attributes were assigned, a module's
    own parameters listed where it appears.  A Value or module reachable twice (shared
    weights) is listed once, at its first place.  Subclasses implement ``__call__``.
    """

    path: str = ""

    def _attribute_items(self) -> Iterator[tuple[str, Any]]:
        """Public attributes in assignment order, lists flattened to ``name.i`` items."""
        for name, attr in vars(self).items():
            if name.startswith("_"):
                continue
            if isinstance(attr, (list, tuple)):
                for i, item in enumerate(attr):
                    yield f"{name}.{i}", item
            else:
                yield name, attr

    def named_parameters(self) -> list[tuple[str, Value]]:
        """(name, Value) pairs, names relative to this module (``layers.0.neurons.1.w.0``)."""
        out: list[tuple[str, Value]] = []
        seen: set[int] = {id(self)}
        # An explicit stack of (prefix, attribute iterator) walks nested modules in
        # assignment order without recursion, like the engine's graph walks.
        stack: list[tuple[str, Iterator[tuple[str, Any]]]] = [("", self._attribute_items())]
        while stack:
            prefix, items = stack[-1]
            for name, attr in items:
                if id(attr) in seen:
                    continue
                if isinstance(attr, Value):
                    seen.add(id(attr))
                    out.append((prefix + name, attr))
                elif isinstance(attr, Module):
                    seen.add(id(attr))
                    stack.append((f"{prefix}{name}.", attr._attribute_items()))
                    break
            else:
                stack.pop()
        return out

    def parameters(self) -> list[Value]:
        """All parameters in the documented order (see the module docstring)."""
        return [p for _, p in self.named_parameters()]

    def num_parameters(self) -> int:
        return len(self.named_parameters())

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to 0 (leaves accumulate across backward passes)."""
        for p in self.parameters():
            p.grad = 0.0

    # -- checkpoints in PyTorch nn.Linear layout ------------------------------------------
    def _linear_blocks(self) -> list[tuple[str, list[Neuron]]]:
        """(key prefix, neurons) for each block that maps to one nn.Linear."""
        raise NotImplementedError(f"{type(self).__name__} has no nn.Linear layout")

    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters as float64 arrays in PyTorch's ``nn.Linear`` layout.

        An MLP gives ``layers.<i>.weight`` of shape (nout, nin) and ``layers.<i>.bias`` of
        shape (nout,); a Layer ``weight`` and ``bias``; a Neuron a (1, nin) ``weight`` and a
        (1,) ``bias``.  Layers without bias have no bias key.
        """
        state: dict[str, np.ndarray] = {}
        for prefix, neurons in self._linear_blocks():
            state[prefix + "weight"] = np.array([[w.data for w in n.w] for n in neurons],
                                                dtype=np.float64)
            if neurons[0].b is not None:
                state[prefix + "bias"] = np.array([n.b.data for n in neurons], dtype=np.float64)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Copy arrays from `state` into the parameters (in place: Values keep identity).

        Every key is checked before anything is written, so a bad state leaves the model
        untouched.  A missing, unexpected or mis-shaped key raises an error naming it.
        """
        where = f"{type(self).__name__}.load_state_dict"
        if not hasattr(state, "keys"):
            raise TypeError(f"{where}: expected a mapping of names to arrays, "
                            f"got {type(state).__name__}")
        expected = {k: v.shape for k, v in self.state_dict().items()}
        missing = [k for k in expected if k not in state]
        unexpected = [k for k in state if k not in expected]
        if missing:
            raise KeyError(f"{where}: missing key {missing[0]!r} (expected keys: "
                           f"{', '.join(expected)})")
        if unexpected:
            raise KeyError(f"{where}: unexpected key {unexpected[0]!r} (expected keys: "
                           f"{', '.join(expected)})")
        arrays: dict[str, np.ndarray] = {}
        for key, shape in expected.items():
            try:
                array = np.asarray(state[key], dtype=np.float64)
            except (TypeError, ValueError) as err:
                raise TypeError(f"{where}: key {key!r} is not numeric: {err}") from None
            if array.shape != shape:
                raise ValueError(f"{where}: key {key!r} has shape {array.shape}, "
                                 f"expected {shape}")
            if not np.all(np.isfinite(array)):
                raise ValueError(f"{where}: key {key!r} holds non-finite numbers")
            arrays[key] = array
        for prefix, neurons in self._linear_blocks():
            weight = arrays[prefix + "weight"].tolist()
            bias = arrays[prefix + "bias"].tolist() if neurons[0].b is not None else None
            for j, neuron in enumerate(neurons):
                for w, value in zip(neuron.w, weight[j]):
                    w.data = value
                if bias is not None:
                    neuron.b.data = bias[j]

    def describe(self) -> dict[str, Any]:
        """The architecture as JSON data: what `nn.load_model` needs to rebuild the model.

        ``kind`` names the class; Neuron, Layer and MLP add their sizes, activations and
        whether they have biases.  A checkpoint stores it beside `state_dict()`.
        """
        return {"kind": type(self).__name__}

    def save(self, path: str | os.PathLike) -> str:
        """Write `state_dict()` and `describe()` to an ``.npz`` file (no pickle); returns
        the path written (``.npz`` is appended if missing)."""
        return checkpoint_file.write(path, self.state_dict(), self.describe())

    def load(self, path: str | os.PathLike) -> None:
        """Read an ``.npz`` file written by `save` into this model's parameters.

        The file must hold exactly this model's arrays, of its shapes, as finite real
        floats; every key, shape and type is checked from the file's headers before any
        array is read, so a wrong file raises `SerializationError` and changes nothing.
        """
        shapes = {key: array.shape for key, array in self.state_dict().items()}
        arrays, _ = checkpoint_file.read(path, shapes)
        self.load_state_dict(arrays)


class Neuron(Module):
    """One neuron: ``activation(w . x + b)``, recorded as a dot node then an activation node.

    ``Neuron(nin, nonlin=False)`` is micrograd's linear neuron (``activation='linear'``).
    """

    def __init__(self, nin: int, activation: str = "relu", bias: bool = True, *,
                 nonlin: bool | None = None, init: str = "uniform", seed: int | None = None,
                 rng: np.random.Generator | None = None, name: str = "neuron",
                 _weights: Sequence[float] | None = None, _fan_out: int = 1) -> None:
        where = "Neuron"
        nin = _check_count(nin, "nin", where)
        if nonlin is not None:
            activation = "relu" if nonlin else "linear"
        self._act = _check_activation(activation, where)
        _check_init(init, where)
        if _weights is None:
            _weights = _draw_weights(_make_rng(seed, rng, where), init, _fan_out,
                                     nin)[0].tolist()
        self._name = name
        self.activation = activation
        self.nin = nin
        with autograd.scope(name):
            self.path = autograd.current_scope()
            self.w: list[Value] = [Value(float(v), f"w{i}") for i, v in enumerate(_weights)]
            self.b: Value | None = Value(0.0, "b") if bias else None
            # The constant bias of a neuron without one (a leaf, not a parameter).
            self._zero = Value(0.0)

    @property
    def nonlin(self) -> bool:
        """micrograd's flag: True unless the neuron is linear."""
        return self.activation != "linear"

    def _forward(self, x: tuple[Value, ...], tag: str) -> Value:
        # The hot path: `x` is already checked and lifted, `tag` is this neuron's scope.
        out = autograd.dot(self.w, x, self.b if self.b is not None else self._zero)
        out.scope = tag
        act = self._act
        if act is None:
            return out
        out = act(out)
        out.scope = tag
        return out

    def __call__(self, x: Any) -> Value:
        inputs = _as_inputs(x, self.nin, f"Neuron {self.path!r}")
        return self._forward(inputs, _call_scope(self))

    def _linear_blocks(self) -> list[tuple[str, list[Neuron]]]:
        return [("", [self])]

    def describe(self) -> dict[str, Any]:
        return {"kind": "Neuron", "nin": self.nin, "activation": self.activation,
                "bias": self.b is not None}

    def __repr__(self) -> str:
        bias = "" if self.b is not None else ", bias=False"
        return f"Neuron({self.nin}, activation={self.activation!r}{bias})"


def _call_scope(module: Neuron | Layer) -> str:
    """The scope tag of a neuron's or layer's values when it is called by itself.

    At the top level that is the module's own path, the one its parameters carry: a
    neuron taken out of an MLP and called alone still draws as ``layers.0.neurons.3``.
    Inside an enclosing ``autograd.scope`` the module's name is joined to that scope.
    """
    outer = autograd.current_scope()
    return _join(outer, module._name) if outer else module.path


class Layer(Module):
    """``nout`` neurons reading the same ``nin`` inputs; returns a list of Values.

    With ``nout == 1`` it returns the single Value (micrograd's convention).
    """

    def __init__(self, nin: int, nout: int, activation: str = "relu", bias: bool = True, *,
                 nonlin: bool | None = None, init: str = "uniform", seed: int | None = None,
                 rng: np.random.Generator | None = None, name: str = "layer") -> None:
        where = "Layer"
        nin = _check_count(nin, "nin", where)
        nout = _check_count(nout, "nout", where)
        if nonlin is not None:
            activation = "relu" if nonlin else "linear"
        _check_activation(activation, where)
        _check_init(init, where)
        weights = _draw_weights(_make_rng(seed, rng, where), init, nout, nin).tolist()
        self._name = name
        self._neuron_tags: dict[str, list[str]] = {}
        self.activation = activation
        self.nin = nin
        self.nout = nout
        with autograd.scope(name):
            self.path = autograd.current_scope()
            self.neurons: list[Neuron] = [
                Neuron(nin, activation, bias, init=init, name=f"neurons.{j}",
                       _weights=weights[j])
                for j in range(nout)]

    def _forward(self, x: tuple[Value, ...], tag: str) -> Value | list[Value]:
        tags = self._neuron_tags.get(tag)
        if tags is None:  # first call under this scope: build the neurons' tags once
            tags = self._neuron_tags[tag] = [_join(tag, n._name) for n in self.neurons]
        out = [n._forward(x, t) for n, t in zip(self.neurons, tags)]
        return out[0] if len(out) == 1 else out

    def __call__(self, x: Any) -> Value | list[Value]:
        inputs = _as_inputs(x, self.nin, f"Layer {self.path!r}")
        return self._forward(inputs, _call_scope(self))

    def _linear_blocks(self) -> list[tuple[str, list[Neuron]]]:
        return [("", self.neurons)]

    def describe(self) -> dict[str, Any]:
        return {"kind": "Layer", "nin": self.nin, "nout": self.nout,
                "activation": self.activation, "bias": self.neurons[0].b is not None}

    def __repr__(self) -> str:
        bias = "" if self.neurons[0].b is not None else ", bias=False"
        return f"Layer({self.nin} -> {self.nout}, {self.activation}{bias})"


class MLP(Module):
    """A multi-layer perceptron: ``MLP(2, [16, 16, 1])`` is 2 inputs, two hidden layers of
    16 neurons and one output.

    Hidden layers use `activation` (ReLU by default), the last layer `output_activation`
    (linear by default), as in micrograd's library.  ``all_layers='tanh'`` puts one
    activation on every layer, the output included: ``MLP(3, [4, 4, 1], all_layers='tanh')``
    is the network of micrograd's video lecture.  Weights for all layers come from one
    random stream, drawn layer by layer, so a seed fixes the whole model.
    """

    def __init__(self, nin: int, nouts: Sequence[int], activation: str = "relu",
                 output_activation: str = "linear", bias: bool = True, *,
                 all_layers: str | None = None, init: str = "uniform",
                 seed: int | None = None, rng: np.random.Generator | None = None) -> None:
        where = "MLP"
        if all_layers is not None:
            if (activation, output_activation) != ("relu", "linear"):
                raise ValueError("MLP: give all_layers= or activation=/output_activation=, "
                                 f"not both (got all_layers={all_layers!r}, "
                                 f"activation={activation!r}, "
                                 f"output_activation={output_activation!r})")
            _check_activation(all_layers, where)
            activation = output_activation = all_layers
        nin = _check_count(nin, "nin", where)
        if isinstance(nouts, (int, np.integer)) or not isinstance(nouts, Sequence) \
                or len(nouts) == 0:
            raise ValueError(f"MLP: nouts must be a non-empty list of layer sizes, got {nouts!r}")
        sizes = [nin] + [_check_count(n, "every layer size", where) for n in nouts]
        _check_activation(activation, where)
        _check_activation(output_activation, where)
        _check_init(init, where)
        generator = _make_rng(seed, rng, where)
        self.path = autograd.current_scope()
        self.activation = activation
        self.output_activation = output_activation
        self.nin = nin
        last = len(sizes) - 2
        self.layers: list[Layer] = [
            Layer(sizes[i], sizes[i + 1], output_activation if i == last else activation,
                  bias, init=init, rng=generator, name=f"layers.{i}")
            for i in range(len(sizes) - 1)]

    @property
    def sizes(self) -> list[int]:
        return [self.nin] + [layer.nout for layer in self.layers]

    def _forward(self, x: tuple[Value, ...], outer: str) -> Value | list[Value]:
        out: Any = x
        for layer in self.layers:
            out = layer._forward(out if isinstance(out, (tuple, list)) else (out,),
                                 _join(outer, layer._name))
        return out

    def __call__(self, x: Any) -> Value | list[Value]:
        # As `_call_scope`: at the top level, the path its parameters carry (an MLP built
        # inside a scope keeps it); inside an enclosing scope, that scope.
        return self._forward(_as_inputs(x, self.nin, "MLP"),
                             autograd.current_scope() or self.path)

    def _linear_blocks(self) -> list[tuple[str, list[Neuron]]]:
        return [(f"layers.{i}.", layer.neurons) for i, layer in enumerate(self.layers)]

    def describe(self) -> dict[str, Any]:
        return {"kind": "MLP", "sizes": self.sizes, "activation": self.activation,
                "output_activation": self.output_activation,
                "bias": self.layers[0].neurons[0].b is not None}

    def __repr__(self) -> str:
        lines = [f"  (layers.{i}): {layer!r}" for i, layer in enumerate(self.layers)]
        return "MLP(\n" + "\n".join(lines) + f"\n)  # {self.num_parameters()} parameters"
