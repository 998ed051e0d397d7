"""The floors of the house (DESIGN.md): which room may import which, checked on every import.

Every module of ``pylib/utter`` is parsed (no import is executed) and each import, at module
top or inside a function, is checked against the rules below; then the module graph is
searched for circles. The rules are DESIGN.md's table, so a change to one is a change to both.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "pylib" / "utter"

#: The base floor: small stdlib-only helpers every room may use.
BASE = {"utter", "utter.atomic", "utter.config", "utter.stage", "utter.progress", "utter.trials",
        "utter.jobs", "utter.jobs.__main__", "utter.jobs.spec", "utter.jobs.local", "utter.jobs.guard",
        "utter.jobs.cluster"}

#: room -> the rooms (besides itself and the base) it may import. ``None``: anything (bin/ only).
MAY_IMPORT: dict[str, set[str] | None] = {
    "base": set(),
    "data": set(),
    "sim": set(),
    "metrics": set(),
    "backend": set(),
    "nnet": set(),
    "train": {"data", "nnet", "metrics"},
    "transfer": {"data", "nnet", "train", "backend", "metrics"},
    "report": {"backend", "metrics", "train", "transfer"},
    "bin": None,
}

#: room -> third-party packages it may import (besides the standard library).
THIRD_PARTY: dict[str, set[str] | None] = {
    "base": set(),
    "data": {"numpy", "scipy", "soundfile", "kaldiio", "torch", "torchaudio", "tqdm"},
    "sim": {"numpy", "scipy", "soundfile", "tqdm"},
    "metrics": {"numpy", "scipy", "matplotlib"},
    "backend": {"numpy", "scipy"},
    "nnet": {"torch", "torchaudio", "numpy", "safetensors"},
    "train": {"torch", "numpy", "tqdm", "onnx", "onnxruntime"},
    "transfer": {"torch", "numpy", "scipy", "tqdm", "sentencepiece"},
    "report": set(),
    "bin": None,
}

#: Third-party packages that may be imported inside a function outside bin/: optional or heavy
#: dependencies a module needs only on one path (plots, ONNX export, pretrained front-ends).
LAZY_OK = {"matplotlib", "onnx", "onnxruntime", "safetensors", "torchaudio"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def room(module: str) -> str:
    if module in BASE:
        return "base"
    return module.split(".")[1]


def resolve(node: ast.ImportFrom, module: str, is_pkg: bool) -> str:
    """The absolute module an ``import from`` names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(path: Path) -> list[tuple[str, int, bool]]:
    """(imported module, line, inside a function?) for every import statement of a file."""
    module = module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    top = {id(n) for n in tree.body}
    for n in tree.body:   # imports under a module-level if/try (TYPE_CHECKING, fallbacks) are top-level too
        if isinstance(n, (ast.If, ast.Try)):
            top.update(id(c) for c in ast.walk(n))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno, id(node) not in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = resolve(node, module, path.name == "__init__.py")
            if target.startswith("utter"):   # "from utter.x import y" may name a submodule y
                for a in node.names:
                    sub = f"{target}.{a.name}"
                    named = sub if (PKG.parent / Path(*sub.split("."))).with_suffix(".py").exists() or \
                        (PKG.parent / Path(*sub.split("."))).is_dir() else target
                    out.append((named, node.lineno, id(node) not in top))
            else:
                out.append((target, node.lineno, id(node) not in top))
    return out


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def violations() -> list[str]:
    """Every import that breaks a floor rule, as 'file:line: reason'."""
    bad = []
    for module, path in all_modules().items():
        here = room(module)
        where = f"{path.relative_to(PKG.parent.parent)}"
        for target, line, inner in imports_of(path):
            top_name = target.split(".")[0]
            if target.startswith("utter"):
                there = room(target) if target != "utter" else "base"
                if there == "bin" and here != "bin":
                    bad.append(f"{where}:{line}: imports {target} (nothing imports bin/)")
                allowed = MAY_IMPORT.get(here, set())
                if allowed is not None and there not in allowed | {here, "base"}:
                    bad.append(f"{where}:{line}: {here}/ may not import {target} ({there}/)")
                if inner and here != "bin":
                    bad.append(f"{where}:{line}: imports {target} inside a function (move it to the top)")
            elif top_name in sys.stdlib_module_names or top_name == "__future__":
                continue
            else:
                allowed = THIRD_PARTY.get(here, set())
                if allowed is not None and top_name not in allowed:
                    bad.append(f"{where}:{line}: {here}/ may not depend on {top_name}")
                if inner and here != "bin" and top_name not in LAZY_OK:
                    bad.append(f"{where}:{line}: imports {target} inside a function "
                               f"(only optional heavy packages may: {', '.join(sorted(LAZY_OK))})")
    return bad


def circles() -> list[list[str]]:
    """Import circles between modules of the package (all imports, also inside functions)."""
    graph = {m: set() for m in all_modules()}
    for module, path in all_modules().items():
        for target, _, _ in imports_of(path):
            if target in graph and target != module:
                graph[module].add(target)
    # Tarjan's strongly connected components: a component of more than one module is a circle.
    index, low, stack, on, comps = {}, {}, [], set(), []

    def visit(v, counter=[0]):  # noqa: B006 - the counter is this search's own
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    # a package's __init__ importing its own submodules is no circle unless a submodule imports it back
    return comps


def test_every_import_keeps_to_its_floor():
    bad = violations()
    assert not bad, f"{len(bad)} imports break the floor rules of DESIGN.md:\n" + "\n".join(bad)


def test_no_import_circles():
    found = circles()
    assert not found, "import circles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_rooms_are_known():
    """A new top-level room must be given its floor here and in DESIGN.md."""
    rooms = {room(m) for m in all_modules()}
    assert rooms <= set(MAY_IMPORT), f"rooms without a floor rule: {sorted(rooms - set(MAY_IMPORT))}"


@pytest.mark.parametrize("src, expected", [
    ("from utter.bin.common import x\n", "nothing imports bin/"),
    ("def f():\n    from utter.data.datadir import DataDir\n", "inside a function"),
    ("import torch\n", "may not depend on torch"),
    ("from utter.train import trainer\n", "may not import utter.train.trainer"),
])
def test_the_checker_catches(tmp_path, monkeypatch, src, expected):
    """The checker itself: a back-end module with each kind of bad import is caught."""
    fake = tmp_path / "utter"
    (fake / "backend").mkdir(parents=True)
    (fake / "train").mkdir()
    (fake / "bin").mkdir()
    for d in (fake, fake / "backend", fake / "train", fake / "bin"):
        (d / "__init__.py").write_text("")
    (fake / "train" / "trainer.py").write_text("")
    (fake / "bin" / "common.py").write_text("")
    (fake / "backend" / "bad.py").write_text(src)
    monkeypatch.setattr(sys.modules[__name__], "PKG", fake)
    assert any(expected in v for v in violations()), violations()


def test_the_checker_finds_circles(tmp_path, monkeypatch):
    fake = tmp_path / "utter"
    (fake / "data").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "data" / "__init__.py").write_text("")
    (fake / "data" / "a.py").write_text("from utter.data import b\n")
    (fake / "data" / "b.py").write_text("def f():\n    from utter.data.a import x\n")
    monkeypatch.setattr(sys.modules[__name__], "PKG", fake)
    assert circles() == [["utter.data.a", "utter.data.b"]]
