"""The student's wheel holds no answer to a graded code question.

Every function a master defines in a graded code question's solution is compared with every
function and class of ``helpers`` (what the wheel installs): by name (``build_caffenet`` and
``caffenet`` are one name once ``build_``/``make_`` prefixes and underscores go) and by code
(the same body once names are normalised). The declared exception: the course routines later
notebooks build on (retrieval and AP, the input pipeline, code extraction, the per-class split)
stay in ``helpers``; every question that asks for one from scratch is graded with it trip-wired
(``tripwires=`` of its cases in instructor/grading/hidden), which this test reads.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
MASTERS = sorted((ROOT / "notebooks").glob("0*.ipynb"))


def tripwired() -> set[str]:
    """Names of the routines some hidden case trip-wires (``helpers.retrieval.knn`` -> knn)."""
    import importlib

    names = set()
    for path in sorted((ROOT / "instructor" / "grading" / "hidden").glob("nb*.py")):
        module = importlib.import_module(f"instructor.grading.hidden.{path.stem}")
        for case in module.cases():
            names |= {dotted.rsplit(".", 1)[1] for dotted in case.tripwires}
    return names


def core(name: str) -> str:
    """``build_neural_codes_net`` -> ``neuralcodesnet``."""
    name = re.sub(r"^(build|make|compute|create|get)_", "", name.lower())
    return name.replace("_", "")


def shape(node: ast.AST) -> str:
    """The code of a function with every name, argument and constant replaced, docstring out."""
    node = ast.parse(ast.unparse(node)).body[0]
    if (
        node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(getattr(node.body[0], "value", None), ast.Constant)
    ):
        node.body = node.body[1:] or [ast.Pass()]
    for child in ast.walk(node):
        for field in ("id", "arg", "attr", "name"):
            if isinstance(getattr(child, field, None), str):
                setattr(child, field, "_")
        if isinstance(child, ast.Constant):
            child.value = 0
    return ast.dump(node, annotate_fields=False)


def solution_functions(path: Path) -> dict[str, str]:
    """Functions defined in the graded code questions' solution cells: name -> code shape."""
    found, in_question, manual = {}, False, False
    for cell in nbformat.read(path, as_version=4).cells:
        text = cell.source.lstrip()
        if cell.cell_type == "raw" and text.upper().startswith("# BEGIN QUESTION"):
            in_question, manual = True, "manual: true" in text
        elif cell.cell_type == "raw" and text.upper().startswith("# END QUESTION"):
            in_question = False
        elif in_question and not manual and cell.cell_type == "code" and "SOLUTION" in text:
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                continue
            for node in tree.body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    found[node.name] = shape(node)
    return found


def wheel_functions() -> list[tuple[str, str, str]]:
    """(file, name, code shape) of every function and class in helpers."""
    found = []
    for path in sorted((ROOT / "helpers").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found.append((str(path.relative_to(ROOT)), node.name, shape(node)))
    return found


def test_the_shape_and_name_rules_on_worked_examples():
    one = ast.parse("def a(x):\n    '''Doc.'''\n    return x * 2\n").body[0]
    two = ast.parse("def b(y):\n    return y * 3\n").body[0]
    other = ast.parse("def c(y):\n    return y + 3\n").body[0]
    assert shape(one) == shape(two) != shape(other)
    assert core("build_neural_codes_net") == core("neural_codes_net") == "neuralcodesnet"


@pytest.mark.parametrize("master", MASTERS, ids=lambda path: path.stem)
def test_no_function_of_the_wheel_answers_a_graded_question(master):
    solutions = solution_functions(master)
    assert solutions, f"{master.name}: no solution functions found"
    clashes, allowed = [], tripwired()
    for file, name, code in wheel_functions():
        if name in allowed or name.startswith("_"):
            continue
        for answer, answer_code in solutions.items():
            # equal names, or a long (specific) answer name inside a wheel name
            same_name = core(name) == core(answer) or (
                len(core(answer)) >= 10 and core(answer) in core(name)
            )
            if same_name or code == answer_code:
                clashes.append(f"{file}: {name} answers {answer} of {master.name}")
    assert not clashes, "\n".join(clashes)
