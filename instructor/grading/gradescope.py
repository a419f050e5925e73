"""The autograder zip's entry point: grade one submission with the same verdict code as
``make grade``, and write Gradescope's ``results.json``.

    python -m instructor.grading.gradescope [--root /autograder]        (the zip's run_autograder)
    python -m instructor.grading.gradescope --prepare [--root ...]      (the zip's setup.sh)

The zip (``make release``: ``dist/autograder/<stem>-autograder.zip``) holds, besides otter's own
files, ``source/course/``: this package (``instructor/grading``: sandbox, runner, verdicts and the
notebook's hidden module), the master notebook (the reference solutions the expected values come
from; the zip is private), the course wheel, ``requirements.txt`` (the pinned libraries the
notebook needs) and ``grading.json`` (notebook, profile, grader version).

Gradescope puts the zip's contents in ``/autograder/source``, the submission in
``/autograder/submission`` and reads ``/autograder/results/results.json``. The submission runs in
the bubblewrap sandbox when the container provides one (bubblewrap, util-linux, root); otherwise
it runs unconfined (``--trusted``), with Gradescope's one container per submission as the only
wall, and the results say so.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from instructor.grading import GRADER_VERSION, sandbox, verdicts
from instructor.grading.datacache import prepare_data_cache


def course_dir(root: Path) -> Path:
    return root / "source" / "course"


def config_of(root: Path) -> dict:
    return json.loads((course_dir(root) / "grading.json").read_text())


def find_submission(folder: Path) -> Path:
    """The hand-in: the one notebook, else the one zip, in the submission folder (any depth)."""
    for pattern in ("*.ipynb", "*.zip"):
        found = sorted(p for p in folder.rglob(pattern) if not p.name.startswith("."))
        if len(found) == 1:
            return found[0]
        if found:
            raise ValueError(f"hand in one notebook (or one hand-in zip); found {len(found)}")
    raise ValueError("no notebook (.ipynb) or hand-in zip in the submission")


def results_json(result: verdicts.Result, hidden: verdicts.Hidden, questions: list[dict]) -> dict:
    """Gradescope's format: one test per auto-graded question, its cases' verdicts as output."""
    tests = []
    for question in questions:
        if question["manual"]:
            continue
        name = question["name"]
        lines = []
        for case in hidden.cases:
            if case.question == name:
                why = result.reasons.get(case.name, "")
                kind = "public" if case.public else "hidden"
                lines.append(f"{case.name} ({kind}): {'passed' if not why else 'failed: ' + why}")
        tests.append(
            {
                "name": name,
                "score": result.scores.get(name, 0.0),
                "max_score": question["points"] or 0,
                "output": "\n".join(lines),
            }
        )
    output = f"Run stopped ({result.code}): {result.message}" if result.code else ""
    return {
        "score": sum(test["score"] for test in tests),
        "tests": tests,
        "output": output,
        "extra_data": {"flags": result.flags, "code": result.code},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root", type=Path, default=Path(os.environ.get("AUTOGRADER_ROOT", "/autograder"))
    )
    parser.add_argument("--prepare", action="store_true", help="fill the data cache (setup.sh)")
    parser.add_argument("--trusted", action="store_true", help="run without the sandbox")
    args = parser.parse_args(argv)
    root = args.root
    course, config = course_dir(root), config_of(root)
    stem, profile = config["notebook"], config["profile"]
    data_cache = root / "data-cache"
    if args.prepare:
        prepare_data_cache(data_cache, [stem], course / "master", profile, None)
        return 0
    if config.get("grader_version") != GRADER_VERSION:
        print(f"note: zip made by grader {config.get('grader_version')}, this is {GRADER_VERSION}")
    trusted = args.trusted or os.environ.get("COURSE_GRADING_TRUSTED") == "1"
    problem = None if trusted else sandbox.sandbox_problem()
    if problem:
        print(f"no sandbox in this container ({problem}); grading unconfined", file=sys.stderr)
        trusted = True
    module = verdicts_module(course, stem)
    hidden = verdicts.load_hidden(module, course / "master" / f"{stem}.ipynb")
    (wheel,) = sorted(course.glob("neural_codes_course-*.whl"))
    out = root / "results" / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="grading-course-") as site:
        setup = verdicts.Setup(
            venv=Path(sys.prefix),
            course_site=verdicts.unpack_wheel(wheel, Path(site) / "course"),
            profile=profile,
            limits=sandbox.Limits(seconds=float(config.get("seconds", 3600))),
            cell_timeout=min(1800.0, float(config.get("seconds", 3600))),
            threads=os.cpu_count() or 1,
            data_cache=data_cache if data_cache.is_dir() else None,
            trusted=trusted,
        )
        try:
            submission = find_submission(root / "submission")
            result = verdicts.grade(submission, hidden, setup, uid=61000)
        except ValueError as error:
            out.write_text(json.dumps({"score": 0, "output": str(error), "tests": []}))
            print(error, file=sys.stderr)
            return 0
    data = results_json(result, hidden, config["questions"])
    if trusted:
        data["output"] = (data["output"] + "\n(graded without the sandbox)").strip()
    out.write_text(json.dumps(data, indent=1))
    print(json.dumps({"scores": result.scores, "code": result.code}))
    return 0


def verdicts_module(course: Path, stem: str):
    """The notebook's hidden module, shipped as ``instructor/grading/hidden/nb<NN>.py``."""
    import importlib

    return importlib.import_module(f"instructor.grading.hidden.{verdicts.hidden_module_name(stem)}")


if __name__ == "__main__":
    sys.exit(main())
