"""``chainrule check``: gradient-check every operation of the engine and a few networks.

Two parts, one table each:

1. Every operation in ``autograd.OPS`` (built-in and any registered primitive) is checked
   by `autograd.gradcheck` at many points inside its domain, first and second
   derivatives, against central differences in float64.  Points at a kink (relu at 0)
   are counted as kinks, not failures.
2. Random `nn.MLP` networks of several shapes and activations, with and without L2, have
   every parameter gradient compared with the NumPy matrix-form reference
   (`nn.reference.compare_gradients`); they must agree to 1e-10.

The exit status is 0 when everything passes, 1 when anything fails, 2 for bad options.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

import numpy as np

from autograd import OPS
from autograd.gradcheck import OperationReport, check_operation
from nn.module import MLP
from nn.reference import GradientComparison, compare_gradients

from .common import Command, CommandError

NETWORK_TOLERANCE = 1e-10
# The most --points a run may ask for: the whole table at 1000 points takes about 5 s,
# so this is about 8 minutes; far more was a MemoryError after minutes of work.
MAX_POINTS = 100_000


@dataclass(frozen=True)
class NetworkCase:
    """One network of the comparison: MLP(nin, nouts, activation, output_activation)."""

    nin: int
    nouts: tuple[int, ...]
    activation: str
    output_activation: str
    loss: str
    l2: float

    def describe(self) -> str:
        sizes = " -> ".join(str(n) for n in (self.nin, *self.nouts))
        return f"MLP {sizes}, {self.activation}/{self.output_activation}"


NETWORKS: tuple[NetworkCase, ...] = (
    NetworkCase(2, (4, 1), "tanh", "linear", "half_sse", 0.0),
    NetworkCase(2, (4, 1), "tanh", "linear", "half_sse", 0.5),
    NetworkCase(3, (5, 4, 2), "relu", "sigmoid", "mse", 0.0),
    NetworkCase(3, (5, 4, 2), "relu", "sigmoid", "mse", 0.1),
    NetworkCase(1, (6, 1), "leaky_relu", "tanh", "half_sse", 1.0),
    NetworkCase(4, (3, 3), "softplus", "linear", "mse", 0.01),
    NetworkCase(2, (8, 8, 1), "sigmoid", "sigmoid", "half_sse", 0.0),
)


def check_operations(points: int = 50, order: int = 2, seed: int = 0,
                     names: Sequence[str] | None = None) -> list[OperationReport]:
    """`autograd.gradcheck.check_operation` for each named operation (all of OPS by default)."""
    return [check_operation(name, points=points, order=order, seed=seed)
            for name in (names if names is not None else list(OPS))]


def check_networks(cases: Sequence[NetworkCase] = NETWORKS, examples: int = 8,
                   seed: int = 0) -> list[tuple[NetworkCase, GradientComparison]]:
    """Compare each case's engine gradients with the NumPy reference on random data."""
    results = []
    for k, case in enumerate(cases):
        rng = np.random.default_rng([seed, k])
        model = MLP(case.nin, list(case.nouts), activation=case.activation,
                    output_activation=case.output_activation, rng=rng)
        X = rng.normal(size=(examples, case.nin))
        Y = rng.normal(size=(examples, case.nouts[-1]))
        results.append((case, compare_gradients(model, X, Y, loss=case.loss, l2=case.l2)))
    return results


def _print_operations(reports: Sequence[OperationReport], order: int, out: TextIO) -> int:
    header = f"{'operation':<14}{'points':>7}{'max error d1':>15}"
    if order == 2:
        header += f"{'max error d2':>15}"
    header += f"{'kinks':>7}  status"
    print(header, file=out)
    print("-" * len(header), file=out)
    failed = 0
    for r in reports:
        line = f"{r.op:<14}{r.points:>7}{r.max_error_first:>15.2e}"
        if order == 2:
            line += f"{r.max_error_second:>15.2e}"
        line += f"{r.kinks:>7}  {r.status}"
        if r.note:
            line += f" ({r.note})"
        print(line, file=out)
        for args, param, row in r.failures[:3]:
            where = ", ".join(f"{x:.6g}" for x in args)
            constant = "" if param is None else f", constant {param!r}"
            print(f"    at ({where}{constant}): {row.name} analytic {row.analytic:.10g}, "
                  f"numeric {row.numeric:.10g}", file=out)
        failed += r.status == "FAIL"
    return failed


def _print_networks(results: Sequence[tuple[NetworkCase, GradientComparison]],
                    out: TextIO) -> int:
    header = (f"{'network':<40}{'loss':>9}{'l2':>6}{'layer':>7}{'max abs diff':>15}"
              f"{'max rel diff':>15}  status")
    print(header, file=out)
    print("-" * len(header), file=out)
    failed = 0
    for case, result in results:
        ok = result.agrees(NETWORK_TOLERANCE)
        failed += not ok
        for layer in result.layers:
            first = layer.layer == 0
            line = (f"{case.describe() if first else '':<40}"
                    f"{case.loss if first else '':>9}"
                    f"{format(case.l2, 'g') if first else '':>6}"
                    f"{layer.layer:>7}{layer.max_abs:>15.2e}{layer.max_rel:>15.2e}")
            if layer.layer == len(result.layers) - 1:
                line += f"  {'ok' if ok else 'FAIL'}"
            print(line, file=out)
    return failed


DESCRIPTION = """\
Check the engine's derivatives: every operation against central differences (first
and second order), and nn networks against a NumPy matrix-form reference. Exits 1 if
anything fails.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--points", type=int, default=50, metavar="N",
                        help=f"points per operation (default 50, at most {MAX_POINTS})")
    parser.add_argument("--order", type=int, choices=(1, 2), default=2,
                        help="check first derivatives only (1) or second ones too (2, default)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the sampled points")
    parser.add_argument("--ops", metavar="NAME[,NAME...]",
                        help="only these operations (names as in autograd.OPS)")
    parser.add_argument("--no-networks", action="store_true",
                        help="skip the comparison of nn networks with the NumPy reference")


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse, before any work, what the options cannot mean."""
    if args.points < 1:
        raise CommandError(f"--points must be at least 1, got {args.points}")
    if args.points > MAX_POINTS:
        raise CommandError(f"--points must be at most {MAX_POINTS}, got {args.points}")
    if args.seed < 0:
        raise CommandError(f"--seed must be 0 or more, got {args.seed}")
    _operation_names(args.ops)


def _operation_names(text: str | None) -> list[str] | None:
    """The operations --ops names (None, without --ops: all of them), each checked against
    OPS; an empty --ops names none, which is a mistake, not a request for all."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise CommandError("--ops needs at least one operation name")
    unknown = [n for n in names if n not in OPS]
    if unknown:
        raise CommandError(f"unknown operation {unknown[0]!r}; the table has: {' '.join(OPS)}")
    return names


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run the checks, print the tables to `out` and return the exit status."""
    print(f"Operations: engine derivatives against central differences "
          f"(order {args.order}, {args.points} points each, seed {args.seed})", file=out)
    reports = check_operations(args.points, args.order, args.seed,
                               _operation_names(args.ops))
    failed = _print_operations(reports, args.order, out)
    if not args.no_networks:
        print(f"\nNetworks: every parameter gradient against the NumPy reference "
              f"(must agree to {NETWORK_TOLERANCE:g})", file=out)
        failed += _print_networks(check_networks(seed=args.seed), out)
    print(f"\n{'FAILED' if failed else 'All checks passed'}: "
          f"{failed} failure{'s' if failed != 1 else ''}", file=out)
    return 1 if failed else 0


COMMAND = Command("check", help="check every derivative against finite differences",
                  description=DESCRIPTION, epilog="", add_arguments=add_arguments, run=run,
                  check_arguments=check_arguments)
