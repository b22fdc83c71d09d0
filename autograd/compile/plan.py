"""Planning groups: from the recorded graph of one row to the groups that run a batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engine import Value
from .batch import (
    ADD,
    OWN,
    ZEROS,
    ConstantDotGroup,
    DotGroup,
    ElementwiseGroup,
    Group,
    LayerChain,
    LayerGroup,
    Operand,
    SumGroup,
)

__all__ = ["Plan", "make_plan"]


@dataclass(frozen=True)
class Plan:
    """The recorded graph of one row and how a batch runs it.

    Built completely by `make_plan`, then published with a single assignment
    (`Compiled._plan`): a thread that sees a plan sees all of it.  Nothing in it changes
    afterwards; every call keeps its own arrays (`Stores`), so several threads can run
    one plan at once.
    """

    signature: list[tuple]      # one entry per recorded node (see `_signature`)
    parameters: list[Value]     # the leaves fn closes over, in slot order
    param_ids: frozenset[int]
    groups: list[Group]        # in execution order
    n_const: int                # size of the store S (batch-constant nodes)
    const_template: np.ndarray  # S with the constants filled in
    sizes: list[int]            # rows of each block (block 0: the columns of X)
    root: tuple[int, int]       # where fn's value lives: (block, row), block -1: S slot
    steps: list[Group]          # what runs: the groups, consecutive layers as one chain


_LEAVES = ("input", "parameter", "constant")
# Operations whose chains (x1 + x2 + x3 + ..., as Python's sum builds them) become one
# n-ary node.  Only the first operand is followed, so that the terms keep the order in
# which eager adds them.  Not *: an n-ary product's slopes (the product of the other
# terms) would multiply in another order than eager's and can overflow where its do not.
_CHAINS = ("+",)


def _flatten(sig: list[tuple]) -> tuple[list[tuple[int, ...]], list[bool]]:
    """Every node's parents after flattening chains, and which nodes were absorbed.

    A ``+`` node whose first operand is a ``+`` node used by nothing else takes over
    that node's operands: ``((a + b) + c) + d`` becomes one node ``+(a, b, c, d)``.
    The group count then no longer grows with the chain's length.
    """
    n = len(sig)
    uses = [0] * n
    parents: list[tuple[int, ...]] = [()] * n
    for i, entry in enumerate(sig):
        if entry[0] not in _LEAVES:
            parents[i] = entry[2]
            for p in entry[2]:
                uses[p] += 1
    absorbed = [False] * n
    for i, entry in enumerate(sig):
        op = entry[0]
        if op in _CHAINS and len(entry[2]) == 2:
            first = entry[2][0]
            if sig[first][0] == op and uses[first] == 1:
                parents[i] = parents[first] + entry[2][1:]
                absorbed[first] = True
    return parents, absorbed


def _levels(nodes: list[int], level: list[int], key: list[Any]) -> list[list[int]]:
    """Groups of nodes with the same level and key, in level order."""
    found: dict[tuple, list[int]] = {}
    for i in nodes:
        found.setdefault((level[i], key[i]), []).append(i)
    return [found[k] for k in sorted(found, key=lambda k: (k[0], found[k][0]))]


def _ready_first(nodes: list[int], parents: list[tuple[int, ...]], key: list[Any],
                 latest: list[int]) -> list[list[int]]:
    """List scheduling: run together every ready node of one key, choosing the key
    whose ready nodes are the most urgent (lowest latest level), so that nodes that can
    wait do wait for more of their kind."""
    interior = set(nodes)
    waiting = {i: sum(1 for p in parents[i] if p in interior) for i in nodes}
    users: dict[int, list[int]] = {i: [] for i in nodes}
    for i in nodes:
        for p in parents[i]:
            if p in interior:
                users[p].append(i)
    ready: dict[Any, list[int]] = {}
    for i in nodes:
        if waiting[i] == 0:
            ready.setdefault(key[i], []).append(i)
    order: list[list[int]] = []
    while ready:
        k = min(ready, key=lambda k: (min(latest[i] for i in ready[k]), min(ready[k])))
        members = sorted(ready.pop(k))
        order.append(members)
        for m in members:
            for u in users[m]:
                waiting[u] -= 1
                if waiting[u] == 0:
                    ready.setdefault(key[u], []).append(u)
    return order


def _schedule(nodes: list[int], parents: list[tuple[int, ...]], key: list[Any],
              depth: list[int]) -> list[list[int]]:
    """Groups of independent nodes of one key, in an order that respects dependencies.

    Three schedules are tried and the one with the fewest groups kept: by depth (the
    longest path from a leaf: as early as possible), by latest level (as late as
    possible without lengthening the longest path), and list scheduling.
    """
    top = max((depth[i] for i in nodes), default=0)
    latest = {i: top for i in nodes}
    for i in reversed(nodes):
        for p in parents[i]:
            if p in latest:
                latest[p] = min(latest[p], latest[i] - 1)
    late = [0] * len(depth)
    for i, level in latest.items():
        late[i] = level
    candidates = [_levels(nodes, depth, key), _levels(nodes, late, key),
                  _ready_first(nodes, parents, key, late)]
    return min(candidates, key=len)


def make_plan(sig: list[tuple], parameters: list[Value], param_ids: frozenset[int],
               nargs: int) -> Plan:
    parents, absorbed = _flatten(sig)
    n = len(sig)
    const = [False] * n
    needs = [False] * n     # a parameter lies behind the node
    depth = [0] * n
    for i, entry in enumerate(sig):
        kind = entry[0]
        if kind == "parameter":
            const[i] = needs[i] = True
        elif kind == "constant":
            const[i] = True
        elif kind != "input" and not absorbed[i]:
            ps = parents[i]
            const[i] = all(const[p] for p in ps)
            needs[i] = any(needs[p] for p in ps)
            depth[i] = 1 + max((depth[p] for p in ps), default=0)

    interior = [i for i, entry in enumerate(sig)
                if entry[0] not in _LEAVES and not absorbed[i]]
    key: list[Any] = [None] * n
    for i in interior:
        layout = tuple((const[p], needs[p]) for p in parents[i])
        key[i] = (sig[i][0], sig[i][1], layout)
    schedule = _schedule(interior, parents, key, depth)

    # Where each node lives: parameters first in S (refreshed each call), a layer's
    # weights side by side (see `_parameter_order`), then constants; the placeholders
    # in block 0 (the columns of X).
    where: list[tuple[int, int]] = [(-1, -1)] * n   # (block, row), block -1: S slot
    by_node = dict(zip((i for i, e in enumerate(sig) if e[0] == "parameter"), parameters))
    slots = _parameter_order(sig, parents, schedule, list(by_node))
    for slot, i in enumerate(slots):
        where[i] = (-1, slot)
    parameters = [by_node[i] for i in slots]
    n_const = len(slots)
    constants: list[tuple[int, float]] = []
    for i, entry in enumerate(sig):
        if entry[0] == "constant":
            where[i] = (-1, n_const)
            constants.append((n_const, float.fromhex(entry[1])))
            n_const += 1
        elif entry[0] == "input":
            where[i] = (0, entry[1])

    groups: list[Group] = []
    sizes = [nargs]
    readers: dict[int, set[int]] = {}  # block: the groups that read it
    for members in schedule:
        out_const = const[members[0]]
        if out_const:
            out = slice(n_const, n_const + len(members))
            for k, i in enumerate(members):
                where[i] = (-1, n_const + k)
            n_const += len(members)
            block = -1
        else:
            block = len(sizes)
            sizes.append(len(members))
            out = slice(0, len(members))
            for k, i in enumerate(members):
                where[i] = (block, k)
        name, param, layout = key[members[0]]
        locations = [[where[p] for p in parents[i]] for i in members]
        for node in locations:
            for b, _ in node:
                readers.setdefault(b, set()).add(len(groups))
        group = _make_group(name, None if param is None else float.fromhex(param), layout,
                            locations)
        group.out_const, group.out, group.block = out_const, out, block
        group.depth = max(depth[i] for i in members)
        groups.append(group)

    const_template = np.zeros(n_const)
    for s, value in constants:
        const_template[s] = value
    const_template.flags.writeable = False  # each call copies it
    root = where[n - 1]
    _plan_writes(groups, sizes, root[0])
    steps = _chain_layers(groups, readers, sizes, root[0])
    return Plan(sig, parameters, param_ids, groups, n_const, const_template, sizes, root,
                steps)


def _chain_layers(groups: list[Group], readers: dict[int, set[int]], sizes: list[int],
                  root_block: int) -> list[Group]:
    """The groups as they run: runs of consecutive groups that form a network's layers
    (a `LayerGroup`, its activation, the next `LayerGroup` on that, ...) become one
    `LayerChain`.

    A stage's array may go on only to the next stage: a block inside the chain is read
    by that stage alone, covers its whole block, and is not fn's value; every stage
    passes gradients on, and an activation is a one-operand rule without a domain
    check.  Batch-constant groups (an L2 penalty's) may sit between stages: they touch
    no block, so they run before the chain.  The chain computes what the groups did,
    with the same NumPy calls; only a parameter's gradient may then receive its
    contributions in another order (the same sum, to rounding, as eager's).
    """

    def whole(operand: Operand, block: int) -> bool:
        rows = operand.rows
        return (operand.block == block and isinstance(rows, slice) and rows.start == 0
                and rows.stop == sizes[block] and operand.merge is None
                and not operand.reshape and operand.grad)

    def private(block: int, reader: int) -> bool:  # only `reader` reads it
        return block != root_block and readers.get(block, set()) == {reader}

    def activation(k: int, layer: LayerGroup) -> ElementwiseGroup | None:
        """Group k, if it is the layer's activation as a chain needs it."""
        act = groups[k] if k < len(groups) else None
        if (isinstance(act, ElementwiseGroup) and len(act.args) == 1
                and act.rule.invalid is None and act.needed and not act.out_const
                and whole(act.args[0], layer.block) and private(layer.block, k)):
            return act
        return None

    def next_per_row(k: int) -> int:  # batch-constant groups between stages run first
        while k < len(groups) and groups[k].out_const:
            k += 1
        return k

    steps: list[Group] = []
    done: set[int] = set()
    for k, group in enumerate(groups):
        if k in done:
            continue
        stages: list[tuple[LayerGroup, ElementwiseGroup | None]] = []
        members: list[int] = []
        j = k
        previous: ElementwiseGroup | None = None  # the last stage's activation
        while j < len(groups) and isinstance(groups[j], LayerGroup) and groups[j].needed:
            layer = groups[j]
            # After the first stage: on the previous activation's whole block, read by
            # this layer alone.
            if previous is not None and not (whole(layer.inputs, previous.block)
                                             and private(previous.block, j)):
                break
            a = next_per_row(j + 1)
            act = activation(a, layer)
            stages.append((layer, act))
            if act is None:
                members.append(j)
                break
            members += [j, a]
            previous = act
            j = next_per_row(a + 1)
        if len(stages) > 1 or (stages and stages[0][1] is not None):
            # Run where its last stage ran: whatever the stages read is ready by then
            # (the batch-constant groups in between, a weight computed there, included).
            for i in range(k, members[-1] + 1):
                if i not in members:
                    steps.append(groups[i])
                    done.add(i)
            steps.append(LayerChain(stages))
            done.update(members)
        else:
            steps.append(group)
    return steps


def _parameter_order(sig: list[tuple], parents: list[tuple[int, ...]],
                     schedule: list[list[int]], recorded: list[int]) -> list[int]:
    """The parameter nodes in slot order: each layer's weights first, row by row, then
    its biases, so that a layer reads its weight matrix as a view of S (and adds its
    gradient back the same way); then the others in recorded order."""
    order: list[int] = []
    placed: set[int] = set()

    def place(i: int) -> None:
        if sig[i][0] == "parameter" and i not in placed:
            placed.add(i)
            order.append(i)

    for members in schedule:
        first = members[0]
        n = (len(parents[first]) - 1) // 2
        if sig[first][0] != "dot" or all(sig[x][0] == "parameter"
                                         for x in parents[first][n:2 * n]):
            continue  # not a layer (an L2 penalty's p . p, say)
        for m in members:
            for p in parents[m][:n]:
                place(p)
        for m in members:
            place(parents[m][-1])
    for i in recorded:
        place(i)
    return order


def _plan_writes(groups: list[Group], sizes: list[int], root_block: int) -> None:
    """Decide, once, how each gradient contribution reaches its block.

    Walking the groups in backward order: the first contribution to a block that covers
    all of it, row by row in order, becomes the block's gradient array (no zero-filling,
    no addition); a first contribution that covers only part of it allocates the block
    with zeros; every later one is added.  The root's block is seeded before the walk.
    """
    allocated = {root_block}
    for group in reversed(groups):
        if not group.needed:
            continue
        for operand in group.operands():
            operand.modes = []
            for b, rows in operand.targets():
                whole = isinstance(rows, slice) and rows.start == 0 \
                    and rows.stop == sizes[b] and operand.pieces == []
                if b in allocated:
                    operand.modes.append(ADD)
                elif whole:
                    operand.modes.append(OWN)
                else:
                    operand.modes.append(ZEROS)
                allocated.add(b)


def _make_group(name: str, param: Any, layout: tuple,
                locations: list[list[tuple[int, int]]]) -> Group:
    """The group object for nodes of one key; `locations[m][j]` is where the j-th
    operand of the m-th node lives ((-1, slot) in S, else (block, row))."""
    g = len(locations)
    # For the rare replay of an n-ary node's scalar rule: (in S?, slot or block, row).
    full = [[(b < 0, slot if b < 0 else b, slot) for b, slot in node] for node in locations]

    def operand(positions: list[int], shape: tuple[int, ...], lay: tuple) -> Operand:
        return Operand([locations[m][j] for m in range(g) for j in positions], shape,
                        lay[0], lay[1])

    if name == "dot":
        n = (len(layout) - 1) // 2
        classes: dict[tuple, list[int]] = {}
        for t in range(n):
            classes.setdefault((layout[t], layout[n + t]), []).append(t)
        if all(lay[0] for lay in layout):  # every operand batch-constant: p . p, say
            return ConstantDotGroup(
                [(operand(ts, (g, len(ts)), w_lay), operand([n + t for t in ts],
                                                             (g, len(ts)), x_lay))
                 for (w_lay, x_lay), ts in classes.items()],
                operand([2 * n], (g,), layout[-1]), full)
        terms = []
        for (w_layout, x_layout), ts in classes.items():
            w = operand(ts, (g, len(ts)), w_layout)
            xs = [n + t for t in ts]
            shared = w_layout[0] and not x_layout[0] and all(
                [locations[m][j] for j in xs] == [locations[0][j] for j in xs]
                for m in range(g))
            if shared:
                x = Operand([locations[0][j] for j in xs], (len(xs),), False, x_layout[1])
            else:
                x = operand(xs, (g, len(xs)), x_layout)
            terms.append((w, x, shared))
        bias = operand([2 * n], (g,), layout[-1])
        return (LayerGroup if LayerGroup.fits(terms, bias) else DotGroup)(terms, bias, full)
    if name == "sum" or (name in _CHAINS and len(layout) > 2):
        sum_classes: dict[tuple, list[int]] = {}
        for t, lay in enumerate(layout):
            sum_classes.setdefault(lay, []).append(t)
        return SumGroup(name, [operand(ts, (g, len(ts)), lay)
                                for lay, ts in sum_classes.items()], full)
    return ElementwiseGroup(name, param, [operand([j], (g,), lay)
                                           for j, lay in enumerate(layout)])
