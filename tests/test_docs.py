"""Every ```python block of README.md and docs/*.md runs, and every local link resolves.

The blocks of one file run in order in one namespace (like a notebook), in a fresh
temporary working directory, so files they write land there.  A block whose first line
is ``# not run`` is skipped: only for what truly cannot run (a shell session, say).
Tracebacks point at the real line of the Markdown file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

import autograd

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)\s*(?P<info>[^\s`]*)")
SKIP_MARK = "# not run"
# Info strings that look like Python but would not be run: ask for ```python instead.
PYTHON_ALIASES = {"py", "python3", "py3", "pycon", "ipython"}


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # line number of the first line of code (1-based)
    info: str
    code: str


def code_blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, with their info strings."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence = opening["fence"]
        indent = len(opening["indent"])
        start = i + 1
        i = start
        while i < len(lines) and not lines[i].strip().startswith(fence):
            i += 1
        if i == len(lines):
            raise AssertionError(f"{path.name}:{start}: code block is never closed")
        body = [line[indent:] if line[:indent].strip() == "" else line
                for line in lines[start:i]]
        blocks.append(Block(path, start + 1, opening["info"].lower(), "\n".join(body) + "\n"))
        i += 1
    return blocks


def python_blocks(path: Path) -> list[Block]:
    return [b for b in code_blocks(path) if b.info == "python"]


def _doc_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_the_documents_exist():
    assert (ROOT / "README.md").is_file()
    assert python_blocks(ROOT / "README.md"), "README.md has no runnable Python example"


@pytest.fixture
def restore_operations():
    """Primitives a document defines join autograd.OPS; remove them afterwards, so that
    no other document or test sees them."""
    saved = dict(autograd.OPS)
    yield
    autograd.OPS.clear()
    autograd.OPS.update(saved)


@pytest.mark.usefixtures("restore_operations")
@pytest.mark.parametrize("path", DOCUMENTS, ids=_doc_id)
def test_python_blocks_run(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")  # no window, ever
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for block in python_blocks(path):
        if block.code.lstrip().startswith(SKIP_MARK):
            continue
        # Pad with blank lines so that line numbers in a traceback are the file's own.
        source = "\n" * (block.line - 1) + block.code
        exec(compile(source, str(path), "exec"), namespace)  # our own documentation


@pytest.mark.parametrize("path", DOCUMENTS, ids=_doc_id)
def test_python_blocks_are_marked_python(path: Path):
    wrong = [f"{_doc_id(path)}:{b.line - 1}: ```{b.info}" for b in code_blocks(path)
             if b.info in PYTHON_ALIASES]
    assert not wrong, "mark Python examples ```python so that they run: " + ", ".join(wrong)


LINK = re.compile(r"!?\[[^\]]*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")


@pytest.mark.parametrize("path", DOCUMENTS, ids=_doc_id)
def test_local_links_resolve(path: Path):
    text = path.read_text(encoding="utf-8")
    # Links inside code blocks are code, not links.
    for block in code_blocks(path):
        text = text.replace(block.code, "")
    broken = []
    for match in LINK.finditer(text):
        target = match["target"]
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # https:, mailto:, or an anchor in the same page
        local = target.split("#", 1)[0]
        if not (path.parent / local).exists():
            broken.append(target)
    assert not broken, f"{_doc_id(path)} links to missing files: {broken}"


def test_the_runner_runs_blocks_in_order_in_one_namespace(tmp_path: Path):
    # The runner's own parsing, checked on a small document written here.
    doc = tmp_path / "sample.md"
    doc.write_text("Intro\n\n```python\nx = 2\n```\n\ntext\n\n```sh\nmake test\n```\n\n"
                   "```python\n# not run\nraise SystemExit\n```\n\n"
                   "  ```python\n  y = x * 21\n  ```\n", encoding="utf-8")
    blocks = python_blocks(doc)
    assert [b.line for b in blocks] == [4, 14, 19]
    namespace: dict[str, object] = {}
    for block in blocks:
        if not block.code.startswith(SKIP_MARK):
            exec(block.code, namespace)
    assert namespace["y"] == 42
    assert [b.info for b in code_blocks(doc)] == ["python", "sh", "python", "python"]
