"""The command line is the top floor: it imports `autograd` and `nn`, nothing imports it.

Read from the source with `ast` (every import statement, also those inside functions),
and confirmed in a fresh interpreter that imports every other module.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The command line: the package and the older name of its `check` command.
TOP_FLOOR = ("nn.cli", "nn.check")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    """Every module an `import` or `from ... import` in the file names, made absolute."""
    package = module_name(path) if path.name == "__init__.py" \
        else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def on_top_floor(name: str) -> bool:
    return any(name == top or name.startswith(top + ".") for top in TOP_FLOOR)


def lower_modules() -> list[Path]:
    files = sorted((ROOT / "autograd").rglob("*.py")) + sorted((ROOT / "nn").rglob("*.py"))
    return [f for f in files if not on_top_floor(module_name(f))]


def test_the_source_of_autograd_and_nn_never_imports_the_command_line():
    lower = lower_modules()
    assert ROOT / "nn" / "__init__.py" in lower and ROOT / "autograd" / "__init__.py" in lower
    offenders = {module_name(f): sorted(n for n in imported_modules(f) if on_top_floor(n))
                 for f in lower}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_relative_imports_are_resolved():
    # The check above must see `from .common import X` in nn/cli/graph.py as nn.cli.common,
    # or it could miss a relative import of the command line.
    found = imported_modules(ROOT / "nn" / "cli" / "graph.py")
    assert {"nn.cli.common", "nn.cli.output", "autograd.expression"} <= found
    assert "nn.cli.check" in imported_modules(ROOT / "nn" / "cli" / "__init__.py")


def test_importing_every_other_module_loads_no_part_of_the_command_line():
    names = [module_name(f) for f in lower_modules()]
    code = ("import importlib, sys\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m == 'nn.check' or m.startswith('nn.cli')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
