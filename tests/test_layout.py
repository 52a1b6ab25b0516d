"""The house rules of docs/design/: doorways, the direction of every arrow, plugins on the public face.

- A package imports another package through its `__init__`, never its private modules.
- Each package imports only the packages below it (ALLOWED); no arrow runs back up, so no circles.
- plugins/ imports only `r2d_sdk` itself (the public face), never a subpackage.
- The kernel (the top-level private modules: types, errors, components, registry, calls, ...)
  imports no package at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SDK = REPO / "r2d_sdk"

# Package -> the packages it may import (besides the kernel). docs/design/README.md draws the same.
ALLOWED: dict[str, set[str]] = {
    "kernel": set(),
    "data": set(),
    "recipe": set(),
    "store": set(),
    "models": {"recipe"},
    "trajectories": {"data", "models", "recipe"},
    "train": {"models", "recipe", "store", "trajectories"},
    "run": {"models", "recipe", "store"},
    "report": {"recipe", "store"},
    "serve": {"models", "recipe", "run", "store"},
    "judges": {"data", "models", "recipe", "run", "store"},
    "cli": {"data", "judges", "models", "recipe", "report", "run", "serve", "store", "train", "trajectories"},
    "root": {"data", "judges", "models", "recipe", "report", "run", "serve", "store", "train", "trajectories"},
}


def _package_of(path: Path) -> str:
    parts = path.relative_to(SDK).parts
    if len(parts) == 1:
        return "root" if parts[0] == "__init__.py" else "kernel"
    return parts[0]


def _imports(path: Path, with_type_only: bool) -> list[tuple[int, str]]:
    """(line, module) of every `r2d_sdk...` import, function-level ones included."""
    tree = ast.parse(path.read_text())
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only.update(id(child) for child in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if not with_type_only and id(node) in type_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            found += [(node.lineno, name) for name in names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] == "r2d_sdk"]


SOURCES = sorted(SDK.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SDK)))
def test_no_package_reaches_into_another_packages_private_modules(path: Path) -> None:
    package = _package_of(path)
    wrong = []
    for line, name in _imports(path, with_type_only=True):
        parts = name.split(".")
        if len(parts) >= 3 and not parts[1].startswith("_") and parts[1] != package and parts[2].startswith("_"):
            wrong.append(f"line {line}: {name}")
    assert not wrong, f"{path.relative_to(REPO)} imports private modules of other packages: {wrong}; " \
                      "import through the package's __init__"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SDK)))
def test_every_arrow_points_down(path: Path) -> None:
    package = _package_of(path)
    wrong = []
    for line, name in _imports(path, with_type_only=False):
        parts = name.split(".")
        if len(parts) < 2 or parts[1].startswith("_") or parts[1] == package:
            continue  # the kernel, or the package itself
        target = parts[1]
        if target in ALLOWED and target not in ALLOWED[package]:
            wrong.append(f"line {line}: {name}")
    assert not wrong, f"{path.relative_to(REPO)} ({package}) may import {sorted(ALLOWED[package]) or 'no package'} " \
                      f"only: {wrong}"


def test_every_package_has_a_place_in_the_rules() -> None:
    packages = {p.parent.name for p in SDK.glob("*/__init__.py")}
    assert packages <= set(ALLOWED), f"add {sorted(packages - set(ALLOWED))} to ALLOWED and docs/design/"


@pytest.mark.parametrize("path", sorted((REPO / "plugins").rglob("*.py")), ids=lambda p: p.name)
def test_plugins_use_the_public_face_only(path: Path) -> None:
    import r2d_sdk

    wrong = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "r2d_sdk":
            if node.module != "r2d_sdk":
                wrong.append(f"line {node.lineno}: from {node.module} import ...")
            wrong += [f"line {node.lineno}: {a.name} is not in r2d_sdk.__all__" for a in node.names
                      if a.name not in r2d_sdk.__all__]
        elif isinstance(node, ast.Import):
            wrong += [f"line {node.lineno}: import {a.name}" for a in node.names if a.name.startswith("r2d_sdk.")]
    assert not wrong, f"{path.relative_to(REPO)}: plugins import `from r2d_sdk import <public name>` only: {wrong}"


def test_every_subpackage_has_a_design_note() -> None:
    packages = {p.parent.name for p in SDK.glob("*/__init__.py")} - {"cli", "data"}
    notes = {p.stem for p in (REPO / "docs" / "design").glob("*.md")}
    assert packages | {"plugins"} <= notes, f"docs/design/ lacks notes for {sorted(packages | {'plugins'} - notes)}"


def _module_name(path: Path) -> str:
    parts = ["r2d_sdk", *path.relative_to(SDK).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_import_circles() -> None:
    # Modules are nodes; `from r2d_sdk.x import y` is an edge to module x.y when that is a module,
    # else to x. Type-only imports do not count: they never run.
    modules = {_module_name(p): p for p in SOURCES}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for _, imported in _imports(path, with_type_only=False):
            target = imported if imported in modules else imported.rsplit(".", 1)[0]
            if target in modules and target != name and not name.startswith(target + "."):
                edges.add(target)  # a module importing its own package's __init__ is the package loading it
        graph[name] = edges
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, f"import circles: {cycles[:5]}"
