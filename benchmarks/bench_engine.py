"""Engine benchmark: chainrule against micrograd 0.1.0, side by side in one process.

Workloads
* a random graph of N nodes (+, *, relu and ** 2 on earlier nodes), forward + backward;
* bytes per node of that graph, measured with tracemalloc after the backward pass;
* a chain of operations as deep as each engine can go.

The garbage collector stays on while timing (users run with it on); a full collection
runs before each timed region so that one engine's garbage is not charged to the other.
Run: ``python benchmarks/bench_engine.py [--nodes 100000] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograd.engine import Value as ChainValue  # noqa: E402


def engines() -> dict[str, type]:
    found: dict[str, type] = {"chainrule": ChainValue}
    try:
        from micrograd.engine import Value as MicroValue
    except ImportError:
        print("micrograd is not installed (pip install -e .[bench]); timing chainrule alone")
    else:
        found["micrograd"] = MicroValue
    return found


def random_plan(n_nodes: int, n_leaves: int, seed: int) -> list[list[int]]:
    """Which operation each interior node applies and the positions of its operands.

    Returned as three flat lists of small ints, made before any timing starts, so the
    timed loop does little but call the engine.
    """
    rng = np.random.default_rng(seed)
    n_ops = n_nodes - n_leaves
    kinds = rng.integers(0, 4, size=n_ops)  # 0 add, 1 mul, 2 relu, 3 square
    # Operands are drawn from the 64 most recent nodes (or the leaves), so the graph is
    # deep as well as wide, like a real computation.
    position = np.arange(n_leaves, n_nodes)
    back = rng.integers(1, 65, size=(2, n_ops))
    first, second = np.maximum(position - back, 0)
    return [kinds.tolist(), first.tolist(), second.tolist()]


def build(value_cls: type, plan: list[list[int]], n_leaves: int):
    leaves = [value_cls(0.5 + 0.4 * i / n_leaves) for i in range(n_leaves)]
    nodes = list(leaves)
    append = nodes.append
    for k, i, j in zip(*plan):
        a = nodes[i]
        # Every value stays in [0, 1], so no engine meets an overflow.
        if k == 0:
            append((a + nodes[j]) * 0.5)
        elif k == 1:
            append(a * nodes[j])
        elif k == 2:
            append(a.relu())
        else:
            append(a ** 2)
    total = nodes[-1]
    for v in nodes[-64:-1]:
        total = (total + v) * 0.5
    return leaves, total


def time_it(fn: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    gc.collect()
    return times


def count(value_cls: type, root) -> int:
    seen = {id(root)}
    stack = [root]
    while stack:
        v = stack.pop()
        for p in v._prev:
            if id(p) not in seen:
                seen.add(id(p))
                stack.append(p)
    return len(seen)


def bench_random_graph(n_nodes: int, repeat: int) -> dict[str, dict[str, float]]:
    """Median forward + backward time and bytes per node on one random graph.

    micrograd's recursive sort needs a recursion limit as deep as the graph; it gets one
    (and `run_with_big_stack` gives the thread the stack for it).  chainrule needs neither.
    """
    plan = random_plan(n_nodes, 1000, seed=0)
    results: dict[str, dict[str, float]] = {}
    for name, cls in engines().items():
        sys.setrecursionlimit(1_000_000 if name == "micrograd" else 1000)
        def step(cls=cls) -> None:
            _, root = build(cls, plan, 1000)
            root.backward()

        times = time_it(step, repeat)
        gc.collect()
        tracemalloc.start()
        _, root = build(cls, plan, 1000)
        root.backward()
        size, _peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        nodes = count(cls, root)
        del root
        sys.setrecursionlimit(1000)
        results[name] = {
            "seconds": statistics.median(times),
            "nodes": nodes,
            "us_per_node": 1e6 * statistics.median(times) / nodes,
            "bytes_per_node": size / nodes,
        }
    return results


def deepest_chain(cls: type, limit: int = 1_000_000) -> int:
    """The longest chain x + 1 + 1 ... whose backward pass succeeds (doubling search)."""
    depth, ok = 256, 0
    while depth <= limit:
        x = cls(1.0)
        y = x
        for _ in range(depth):
            y = y + 1.0
        try:
            y.backward()
        except RecursionError:
            return ok
        finally:
            del y
            gc.collect()
        ok = depth
        depth *= 2
    return ok


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    print(f"Random graph, {args.nodes:,} nodes, forward + backward, median of {args.repeat}")
    res = bench_random_graph(args.nodes, args.repeat)
    for name, r in res.items():
        print(f"  {name:10s} {r['seconds']*1e3:9.1f} ms  {r['us_per_node']:6.2f} us/node  "
              f"{r['bytes_per_node']:6.0f} bytes/node  ({r['nodes']:,} nodes)")
    if "micrograd" in res:
        speed = res["micrograd"]["us_per_node"] / res["chainrule"]["us_per_node"]
        mem = res["micrograd"]["bytes_per_node"] / res["chainrule"]["bytes_per_node"]
        print(f"  chainrule is {speed:.1f}x faster per node and uses {mem:.1f}x less memory "
              f"per node than micrograd")
    print("Deepest chain whose backward pass works (searched up to 1,048,576 by doubling):")
    depths = {name: deepest_chain(cls, 1_048_576) for name, cls in engines().items()}
    for name, d in depths.items():
        print(f"  {name:10s} {d:,}")
    return {"random_graph": res, "deepest_chain": depths}


def run_with_big_stack(func: Callable[[], object]) -> object:
    """Run `func` in a thread with a 1 GiB stack (for micrograd's deep recursion)."""
    import threading

    result: list[object] = []
    threading.stack_size(1 << 30)
    thread = threading.Thread(target=lambda: result.append(func()))
    thread.start()
    thread.join()
    return result[0] if result else None


if __name__ == "__main__":
    run_with_big_stack(main)
