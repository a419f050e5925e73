"""The question convention on every master: names q<S>_<N> and the generated headings."""

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_markdown_cell as M
from nbformat.v4 import new_notebook
from nbformat.v4 import new_raw_cell as R

from instructor import questions

MASTERS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("0*.ipynb"))


@pytest.mark.parametrize("path", MASTERS, ids=lambda path: path.stem)
def test_every_question_follows_the_name_and_heading_convention(path):
    assert questions.problems(path, nbformat.read(path, as_version=4)) == []


def test_the_convention_counts_per_section_and_finds_what_is_off():
    notebook = new_notebook(
        cells=[
            M("## 1. Data"),
            R("# BEGIN QUESTION\nname: q1_1\npoints: 2"),
            M("Write it."),
            R("# BEGIN QUESTION\nname: q1_extra\nmanual: true\npoints: 1"),
            M("Why?"),
            M("## 3. Model"),
            R("# BEGIN QUESTION\nname: q3_1\npoints: 3"),
            M("Build it."),
        ]
    )
    found = questions.problems(Path("x.ipynb"), notebook)
    assert "x.ipynb: question q1_extra should be named q1_2" in found
    assert sum("lacks the heading" in line for line in found) == 3
    assert questions.write_headings(notebook)
    assert notebook.cells[2].source == "#### Question 1.1 (2 points)\n\nWrite it."
    assert notebook.cells[4].source == "#### Question 1.2 (1 point)\n\nWhy?"
    assert notebook.cells[7].source.startswith("#### Question 3.1 (3 points)\n\n")
    assert not questions.write_headings(notebook)  # a second run changes nothing
    assert questions.problems(Path("x.ipynb"), notebook) == [
        "x.ipynb: question q1_extra should be named q1_2"
    ]
