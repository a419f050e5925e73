"""One convention for every question: its name ``q<S>_<N>`` and a generated heading.

S is the number of the notebook section (``## S. Title``) the question is in; N counts the
questions of that section, code and written alike, from 1. The first markdown cell after a
question's ``# BEGIN QUESTION`` raw cell starts with the heading ``#### Question S.N (P points)``.

    python -m instructor.questions notebooks/*.ipynb           # write the headings
    python -m instructor.questions --check notebooks/*.ipynb   # exit 1 if a heading or name is off
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
import yaml

SECTION = re.compile(r"^##\s+(\d+)\.\s", re.M)
HEADING = re.compile(r"^#### Question \d+\.\d+ \(\d+(?:\.\d+)? points?\)\n*")


def heading(section: int, number: int, points: float) -> str:
    """``#### Question 2.1 (3 points)``.

    >>> heading(2, 1, 3), heading(5, 2, 1)
    ('#### Question 2.1 (3 points)', '#### Question 5.2 (1 point)')
    >>> heading(1, 1, 2.5)
    '#### Question 1.1 (2.5 points)'
    """
    shown = int(points) if float(points).is_integer() else points
    return f"#### Question {section}.{number} ({shown} point{'' if shown == 1 else 's'})"


def questions(notebook) -> list[dict]:
    """Each question in order: its config, expected name, heading and prompt cell index."""
    found, section, counts = [], None, {}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown":
            match = SECTION.search(cell.source)
            if match and cell.source.lstrip().startswith("## "):
                section = int(match.group(1))
        if cell.cell_type == "raw" and cell.source.lstrip().upper().startswith("# BEGIN QUESTION"):
            config = yaml.safe_load(cell.source.split("\n", 1)[1]) or {}
            counts[section] = counts.get(section, 0) + 1
            prompt = next(
                (
                    i
                    for i in range(index + 1, len(notebook.cells))
                    if notebook.cells[i].cell_type == "markdown"
                ),
                None,
            )
            found.append(
                {
                    "config": config,
                    "section": section,
                    "prompt": prompt,
                    "expected": f"q{section}_{counts[section]}" if section is not None else None,
                    "heading": heading(section or 0, counts[section], config.get("points", 0)),
                }
            )
    return found


def problems(path: Path, notebook) -> list[str]:
    """What breaks the convention in one notebook (names, headings), one line each."""
    found = []
    for question in questions(notebook):
        name = question["config"].get("name")
        if question["section"] is None:
            found.append(f"{path.name}: question {name} is not under a '## S. Title' section")
        elif name != question["expected"]:
            found.append(f"{path.name}: question {name} should be named {question['expected']}")
        prompt = question["prompt"]
        if prompt is None or not notebook.cells[prompt].source.startswith(question["heading"]):
            found.append(f"{path.name}: question {name} lacks the heading {question['heading']!r}")
    return found


def write_headings(notebook) -> bool:
    """Put each question's heading at the top of its prompt; True when something changed."""
    changed = False
    for question in questions(notebook):
        if question["prompt"] is None:
            continue
        cell = notebook.cells[question["prompt"]]
        body = HEADING.sub("", cell.source, count=1)
        source = f"{question['heading']}\n\n{body}"
        if cell.source != source:
            cell.source, changed = source, True
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="only report what is off")
    args = parser.parse_args(argv)
    status = 0
    for path in args.notebooks:
        notebook = nbformat.read(path, as_version=4)
        if not args.check and write_headings(notebook):
            nbformat.write(notebook, path)
            print(f"updated: {path}")
        for line in problems(path, notebook):
            print(line, file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
