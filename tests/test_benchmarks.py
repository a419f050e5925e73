"""The benchmarks' own agreement checks, at --quick sizes.

A benchmark compares our helpers with the obvious alternatives (loops, numpy, scikit-learn) and
exits non-zero when the answers disagree; running the quick version here keeps the scripts from
rotting and re-checks the helpers against those independent implementations. Timings are printed
by the scripts, never asserted.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

# End-to-end: `make check` runs these, `make test` leaves them out.
pytestmark = pytest.mark.slow

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.parametrize(
    "script, agreement",
    [
        ("bench_retrieval.py", "agree to 1e-6"),
        ("bench_losses.py", "loop eager/ours"),
        ("bench_transfer.py", "predictions of the two ways agree"),
        ("bench_voc_pipeline.py", "centre crops agree"),
    ],
)
def test_quick_benchmark_runs_and_its_implementations_agree(script, agreement):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert agreement in result.stdout
    assert "DISAGREE" not in result.stdout
