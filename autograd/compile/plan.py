"""Planning groups: from the recorded graph of one row to the groups that run a batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engine import Value
from .batch import DotGroup, ElementwiseGroup, Group, Operand, SumGroup, compact

__all__ = ["Plan", "make_plan"]


@dataclass(frozen=True)
class Plan:
    """The recorded graph of one row and how a batch runs it.

    Built completely by `make_plan`, then published with a single assignment
    (`Compiled._plan`): a thread that sees a plan sees all of it.  Nothing in it changes
    afterwards; every call keeps its own arrays (S, V, G, GS and the groups' saved
    state), so several threads can run one plan at once.
    """

    signature: list[tuple]      # one entry per node (see `signature`)
    parameters: list[Value]     # the leaves fn closes over, in slot order
    param_ids: frozenset[int]
    groups: list[Group]        # in execution order
    depths: list[int]           # the depth of each group
    n_const: int                # size of the store S (batch-constant nodes)
    n_var: int                  # rows of the store V (per-row nodes)
    const_template: np.ndarray  # S with the constants filled in
    out_slot: tuple[bool, int]  # where the root lives: (in S?, slot)


def make_plan(order: list[Value], sig: list[tuple], parameters: list[Value],
              param_ids: frozenset[int], nargs: int) -> Plan:
    n = len(order)
    const = [False] * n
    needs = [False] * n     # a parameter lies behind the node
    depth = [0] * n
    parents: list[tuple[int, ...]] = [()] * n
    for i, entry in enumerate(sig):
        kind = entry[0]
        if kind == "parameter":
            const[i] = needs[i] = True
        elif kind == "constant":
            const[i] = True
        elif kind != "input":
            ps = entry[2]
            parents[i] = ps
            const[i] = all(const[p] for p in ps)
            needs[i] = any(needs[p] for p in ps)
            depth[i] = 1 + max((depth[p] for p in ps), default=0)

    # Slots: parameters first in S (refreshed each call), then constants; the
    # placeholders first in V (the columns of X).
    const_slot = [-1] * n
    var_slot = [-1] * n
    n_const = 0
    for i, entry in enumerate(sig):
        if entry[0] == "parameter":
            const_slot[i] = n_const
            n_const += 1
    constants: list[tuple[int, float]] = []
    for i, entry in enumerate(sig):
        if entry[0] == "constant":
            const_slot[i] = n_const
            constants.append((n_const, float.fromhex(entry[1])))
            n_const += 1
    n_var = nargs
    for i, entry in enumerate(sig):
        if entry[0] == "input":
            var_slot[i] = entry[1]

    # Group interior nodes by depth, operation, param and operand layout.
    groups: dict[tuple, list[int]] = {}
    for i, entry in enumerate(sig):
        if entry[0] in ("input", "parameter", "constant"):
            continue
        layout = tuple((const[p], needs[p]) for p in entry[2])
        key = (depth[i], entry[0], entry[1], layout)
        groups.setdefault(key, []).append(i)
    keys = sorted(groups, key=lambda k: (k[0], groups[k][0]))

    def slot(i: int) -> int:
        return const_slot[i] if const[i] else var_slot[i]

    built: list[Group] = []
    depths: list[int] = []
    for key in keys:
        members = groups[key]
        out_const = const[members[0]]
        start = n_const if out_const else n_var
        for k, i in enumerate(members):
            if out_const:
                const_slot[i] = start + k
            else:
                var_slot[i] = start + k
        if out_const:
            n_const += len(members)
        else:
            n_var += len(members)
        out = slice(start, start + len(members))
        name, param, layout = key[1], key[2], key[3]
        param_value = None if param is None else float.fromhex(param)
        index = np.array([[slot(p) for p in parents[i]] for i in members],
                         dtype=np.intp).reshape(len(members), len(layout))
        built.append(_make_group(name, param_value, layout, index, out_const, out))
        depths.append(key[0])

    const_template = np.zeros(n_const)
    for s, value in constants:
        const_template[s] = value
    const_template.flags.writeable = False  # each call copies it
    root = n - 1
    return Plan(sig, parameters, param_ids, built, depths, n_const, n_var,
                 const_template, (const[root], slot(root)))


def _make_group(name: str, param: Any, layout: tuple, index: np.ndarray,
                out_const: bool, out: slice) -> Group:
    if name == "dot":
        n = (len(layout) - 1) // 2
        classes: dict[tuple, list[int]] = {}
        for t in range(n):
            classes.setdefault((layout[t], layout[n + t]), []).append(t)
        terms = []
        for (w_layout, x_layout), ts in classes.items():
            w = Operand(w_layout[0], index[:, ts], w_layout[1])
            x_rows = index[:, [n + t for t in ts]]
            x = Operand(x_layout[0], x_rows, x_layout[1])
            shared = None
            if w.const and not x.const and np.all(x_rows == x_rows[0]):
                shared = compact(x_rows[0])
            terms.append((w, x, shared))
        bias = Operand(layout[-1][0], index[:, -1], layout[-1][1])
        return DotGroup(terms, bias, out_const, out, index,
                         tuple(lay[0] for lay in layout))
    if name == "sum":
        classes = {}
        for t, lay in enumerate(layout):
            classes.setdefault(lay, []).append(t)
        return SumGroup([Operand(lay[0], index[:, ts], lay[1])
                          for lay, ts in classes.items()], out_const, out, index,
                         tuple(lay[0] for lay in layout))
    operands = [Operand(lay[0], index[:, j], lay[1]) for j, lay in enumerate(layout)]
    return ElementwiseGroup(name, param, operands, out_const, out)
