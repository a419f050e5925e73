"""The house's rules that import-linter's contracts (pyproject.toml) cannot express.

- no circle between any two modules (import-linter checks layers between wings, not cycles
  inside one);
- no module reaches a private name (``_x``) of another wing, by import or by attribute
  (import-linter sees imports of modules, not attribute access).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("helpers", "instructor")


def wing(module: str) -> str:
    """``helpers.data.archives`` -> ``helpers.data``; ``instructor.grade`` -> ``instructor``."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "helpers" else parts[0]


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of a directed graph, as a list of nodes, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for start in sorted(edges):
        if state.get(start):
            continue
        path, stack = [start], [iter(sorted(edges[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(edges.get(nxt, ()))))
    return None


def test_find_cycle_on_worked_graphs():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"a"}}) == ["a", "a"]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_imports_in_a_circle(package):
    graph = grimp.build_graph(package)
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    # A package's __init__ re-exporting its own modules is not a circle of code: a module that
    # imports its own package gets the package's names, which it must not import back.
    edges = {m: {t for t in targets if not m.startswith(t + ".")} for m, targets in edges.items()}
    assert find_cycle(edges) is None, f"import circle: {' -> '.join(find_cycle(edges))}"


def private_reaches(path: Path, module: str) -> list[str]:
    """``module``'s uses of another wing's private names: ``from x import _y`` and ``x._y``."""
    tree = ast.parse(path.read_text(), str(path))
    aliases, found = {}, []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for name in node.names:
                if name.name.split(".")[0] in PACKAGES:
                    aliases[name.asname or name.name.split(".")[0]] = name.name
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.level == 0
            and node.module.split(".")[0] in PACKAGES
        ):
            for name in node.names:
                target = f"{node.module}.{name.name}"
                aliases[name.asname or name.name] = target
                if name.name.startswith("_") and wing(node.module) != wing(module):
                    found.append(f"{module}: from {node.module} import {name.name}")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            target = aliases[node.value.id]
            if wing(target) != wing(module):
                found.append(f"{module}: {node.value.id}.{node.attr} ({target})")
    return found


def test_private_reach_is_found_in_a_worked_example(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(
        "from helpers.data import pipeline\nfrom helpers.session import _x\n"
        "pipeline._secret()\nfrom helpers.plots import layout\nlayout._ok()\n"
    )
    assert private_reaches(source, "helpers.plots.charts") == [
        "helpers.plots.charts: from helpers.session import _x",
        "helpers.plots.charts: pipeline._secret (helpers.data.pipeline)",
    ]


def test_no_module_reaches_a_private_name_of_another_wing():
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found += private_reaches(path, module)
    assert not found, "private names reached across wings:\n" + "\n".join(found)


def test_import_contracts_hold():
    """import-linter's contracts of pyproject.toml: layers, and helpers never imports instructor."""
    result = subprocess.run(
        [sys.executable, "-m", "importlinter.cli", "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if "No module named importlinter.cli" in result.stderr:
        result = subprocess.run(
            [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
