"""The data cache submissions read (read-only): filled once, before grading, by the instructor.

Used by ``make grade`` (instructor/grade.py) and by the Gradescope autograder's setup
(instructor/grading/gradescope.py): what a notebook loads in the grading profile is loaded once
here, by running its master's cells up to the last one that loads data, so that no submission
downloads, unpacks or decodes anything (and none can: the sandbox has no network).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

TIMEOUT = int(os.environ.get("GRADE_TIMEOUT", "3600"))


def digest(*parts: str) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        data = part.encode()
        hasher.update(len(data).to_bytes(8, "little") + data)
    return hasher.hexdigest()


# A cell that loads data: every code cell up to the last such one is run once to fill the cache.
# (load_model / load_weights load a network, not data.)
LOADS = re.compile(
    r"\bload_(?!model\b|weights\b)[a-z0-9_]+\(|\b[a-z0-9_]+_files\(|\bcached_decode\("
)

_PREPARE = """
import sys, nbformat
from nbclient import NotebookClient
notebook = nbformat.read(sys.argv[1], as_version=4)
cells = [c for c in notebook.cells if c.cell_type == "code"]
last = max(i for i, c in enumerate(cells) if __import__("re").search(sys.argv[2], c.source))
notebook.cells = cells[: last + 1]
NotebookClient(notebook, timeout=3600, kernel_name="python3",
               resources={"metadata": {"path": sys.argv[3]}}).execute()
"""


def prepare_data_cache(
    cache: Path,
    stems: list[str],
    masters: Path,
    profile: str,
    mirror: Path | None,
    python: str = sys.executable,
) -> None:
    """Fill ``cache`` with what each notebook loads in ``profile``: its master's cells up to the
    last one that loads data, run once (a stamp per notebook, profile and those cells)."""
    cache.mkdir(parents=True, exist_ok=True)
    cache.chmod(0o755)
    for stem in stems:
        master = masters / f"{stem}.ipynb"
        if not master.is_file():
            continue
        code = [
            c.source for c in nbformat.read(master, as_version=4).cells if c.cell_type == "code"
        ]
        if not any(LOADS.search(source) for source in code):
            continue
        stamp = cache / f".prepared-{stem}-{profile}-{digest(*code)[:16]}"
        if stamp.exists():
            continue
        print(f"preparing the data cache for {stem} ({profile} profile) in {cache}")
        env = {
            **os.environ,
            "COURSE_PROFILE": profile,
            "COURSE_GRADING": "1",
            "COURSE_DATA_DIR": str(cache),
            "MPLBACKEND": "Agg",
        }
        if mirror:
            env["COURSE_DATA_MIRROR"] = str(mirror)
        with tempfile.TemporaryDirectory() as cwd:
            done = subprocess.run(
                [python, "-c", _PREPARE, str(master), LOADS.pattern, cwd],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
            )
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            print(f"note: preparing {stem}'s data failed ({tail}); its submissions load their own")
            continue
        stamp.touch()
    for folder, dirs, files in os.walk(cache):  # readable by the sandboxes' uids
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o755)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, 0o644)
