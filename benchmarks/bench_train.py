"""Training-step benchmark: chainrule's `nn` against micrograd 0.1.0, in one process.

The workload is micrograd's two-moons demo: an MLP 2-16-16-1, 100 points, one full
training step = forward over all 100 points, hinge loss mean(relu(1 - y * score)) plus
1e-4 * sum(p * p), zero_grad, backward, and the SGD update.  Both engines get the same
points; each builds its own model from its own random weights (the cost of a step does
not depend on the values).  A full garbage collection runs before every timed step so
that one engine's garbage is not charged to the other; the collector stays on while
timing, as users run it.

Run: ``python benchmarks/bench_train.py [--repeat 5]`` (micrograd comes from the
``bench`` extra: ``pip install -e .[bench]``).
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nn  # noqa: E402

POINTS = 100
LEARNING_RATE = 0.5


def chainrule_step(X: list[list[float]], y: list[float]) -> Callable[[], float]:
    """One training step of the demo with chainrule (returns the loss, to be used)."""
    model = nn.MLP(2, [16, 16, 1], seed=0)
    params = model.parameters()
    optimizer = nn.SGD(params, lr=LEARNING_RATE)

    def step() -> float:
        scores = [model(row) for row in X]
        loss = nn.hinge(scores, y) + nn.l2_penalty(params, 1e-4)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.data

    return step


def micrograd_step(X: list[list[float]], y: list[float]) -> Callable[[], float] | None:
    """The same step written as micrograd's demo notebook writes it."""
    try:
        from micrograd.engine import Value
        from micrograd.nn import MLP
    except ImportError:
        return None
    random.seed(0)
    model = MLP(2, [16, 16, 1])

    def step() -> float:
        inputs = [list(map(Value, row)) for row in X]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * score).relu() for yi, score in zip(y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = 1e-4 * sum(p * p for p in model.parameters())
        loss = data_loss + reg_loss
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= LEARNING_RATE * p.grad
        return loss.data

    return step


def time_step(step: Callable[[], float], repeat: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds of `repeat` steps (CPU time is steadier on a busy machine)."""
    wall, cpu = [], []
    step()  # warm up (first-call costs, caches)
    for _ in range(repeat):
        gc.collect()
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        step()
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start_wall)
    return wall, cpu


def main(argv: list[str] | None = None) -> dict:
    """Time both engines; print medians and the ratio; return the figures as a dict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed steps per engine")
    args = parser.parse_args(argv)
    X, y = nn.moons(POINTS, noise=0.1, seed=0, labels=(-1, 1))
    X_list, y_list = X.tolist(), [float(v) for v in y]

    steps = {"chainrule": chainrule_step(X_list, y_list)}
    micro = micrograd_step(X_list, y_list)
    if micro is None:
        print("micrograd is not installed (pip install -e .[bench]); timing chainrule alone")
    else:
        steps["micrograd"] = micro
    results: dict = {"workload": f"moons training step, MLP 2-16-16-1, {POINTS} points"}
    print(f"One training step of the two-moons demo ({POINTS} points, MLP 2-16-16-1), "
          f"median of {args.repeat}:")
    for name, step in steps.items():
        wall, cpu = time_step(step, args.repeat)
        results[name] = {"median_s": statistics.median(wall), "times_s": wall,
                         "median_cpu_s": statistics.median(cpu)}
        print(f"  {name:10s} {results[name]['median_s'] * 1e3:9.1f} ms per step "
              f"(CPU {results[name]['median_cpu_s'] * 1e3:.1f} ms)")
    if "micrograd" in results:
        ratio = results["micrograd"]["median_s"] / results["chainrule"]["median_s"]
        cpu_ratio = results["micrograd"]["median_cpu_s"] / results["chainrule"]["median_cpu_s"]
        results["speedup"], results["speedup_cpu"] = ratio, cpu_ratio
        print(f"  chainrule is {ratio:.1f}x faster than micrograd ({cpu_ratio:.1f}x in CPU "
              "time; target: at least 10x)")
    return results


if __name__ == "__main__":
    main()
