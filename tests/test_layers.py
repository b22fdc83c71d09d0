"""The layers of the code, read from every import statement (also inside functions).

engine at the bottom (it imports no other module of the project); the rest of `autograd`
on it; `nn` on `autograd`, never the other way; the command line on top (see
test_cli_layers.py); and no import circle anywhere.
"""

from __future__ import annotations

from test_cli_layers import ROOT, imported_modules, module_name

FILES = sorted((ROOT / "autograd").rglob("*.py")) + sorted((ROOT / "nn").rglob("*.py"))
MODULES = {module_name(f): f for f in FILES}


def project_imports(name: str) -> set[str]:
    """The project's modules that module `name` imports (a package counts as itself)."""
    found = set()
    for target in imported_modules(MODULES[name]):
        while target and target not in MODULES:  # `from .engine import Value` -> engine
            target = target.rpartition(".")[0]
        # A module's own packages are no edge: Python imports them before the module
        # anyway, and `from . import sibling` names the package only to reach `sibling`.
        if target and not (name == target or name.startswith(target + ".")):
            found.add(target)
    return found


GRAPH = {name: project_imports(name) for name in MODULES}


def test_the_engine_is_the_bottom_floor() -> None:
    assert GRAPH["autograd.engine"] == set()


def test_autograd_never_imports_nn() -> None:
    offenders = {name: sorted(t for t in targets if t.split(".")[0] == "nn")
                 for name, targets in GRAPH.items() if name.split(".")[0] == "autograd"}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_import_circle() -> None:
    # Any path of imports from a module back to itself is a circle.
    circles = []
    for start in GRAPH:
        stack = [(start, [start])]
        seen = set()
        while stack:
            node, path = stack.pop()
            for target in GRAPH[node]:
                if target == start:
                    circles.append(" -> ".join(path + [target]))
                elif target not in seen:
                    seen.add(target)
                    stack.append((target, path + [target]))
    assert circles == []


def test_the_graph_is_read_from_real_imports() -> None:
    # The check above must see relative imports resolved to modules of the project.
    assert GRAPH["autograd.graph"] == {"autograd.engine"}
    assert "autograd.compile.rules" in GRAPH["autograd.compile.batch"]
    assert "nn.checkpoint_file" in GRAPH["nn.serialize"]
