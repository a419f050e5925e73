"""Time mean average precision against the obvious alternatives, in one run, and print ratios.

    .venv/bin/python benchmarks/bench_retrieval.py           # the sizes of issue 4 (a few minutes)
    .venv/bin/python benchmarks/bench_retrieval.py --quick   # small sizes, a smoke check

On clustered random codes (10 classes, L2-normalised as in the notebooks) it times
(a) the per-query loop of the original assignment (norm of differences, argsort, AP), on a
    sample of queries, extrapolated to all;
(b) the straightforward vectorised numpy version (blocked matrix product, full argsort, cumsum);
(c) scikit-learn's ``average_precision_score`` per query (on the same sample, extrapolated);
(d) ``helpers.retrieval.mean_average_precision``;
(e) the floor of any full ranking: numpy's float32 GEMM for the distances and an argsort of each
    row, with no AP at all;
(f) faiss-cpu's exact full ranking (``IndexFlatL2.search`` with k = N: every row) and the
    same AP as (b); only when faiss is installed (``pip install -e ".[bench]"``);
checks that they agree to 1e-6 and prints the same-run ratios of (d) against (b), (e) and (f);
measures the float32 rounding of (d) against a float64 ranking (the bounds in the module's
docstring), then times (d) on wide pool5-like codes and measures the peak memory growth of (d)
on many short codes, in a fresh process so earlier runs do not mask it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from sklearn.metrics import average_precision_score  # noqa: E402

from helpers.retrieval import mean_average_precision  # noqa: E402

N_CLASSES = 10
TOLERANCE = 1e-6


def clustered_codes(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian clusters whose overlap gives an mAP near the course's (about 0.3 to 0.6)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, N_CLASSES, size=n)
    centres = rng.standard_normal((N_CLASSES, d), dtype=np.float32) * (1.2 / d**0.25)
    codes = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 1024):  # float32 in chunks: no float64 copy of wide codes
        stop = min(start + 1024, n)
        codes[start:stop] = rng.standard_normal((stop - start, d), dtype=np.float32)
        codes[start:stop] += centres[labels[start:stop]]
    return codes, labels


def normalised(codes: np.ndarray) -> np.ndarray:
    return codes / np.linalg.norm(codes, axis=1, keepdims=True)


def loop_ap(codes: np.ndarray, labels: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """(a) The assignment's loop: one query at a time, norm of differences, argsort, AP."""
    codes = normalised(codes)
    aps = []
    for q in queries:
        distances = np.linalg.norm(codes - codes[q], axis=1)
        order = np.argsort(distances)
        order = order[order != q]
        relevant = labels[order] == labels[q]
        precision = np.cumsum(relevant) / np.arange(1, len(relevant) + 1)
        aps.append(precision[relevant].mean())
    return np.array(aps)


def numpy_ap(codes: np.ndarray, labels: np.ndarray, block: int = 500) -> np.ndarray:
    """(b) Vectorised numpy: blocked matrix product, full argsort, cumulative sum."""
    codes = normalised(codes)
    sq_norms = np.einsum("ij,ij->i", codes, codes)
    n = len(codes)
    aps = np.empty(n)
    for start in range(0, n, block):
        rows = np.arange(start, min(start + block, n))
        distances = sq_norms[rows, None] + sq_norms[None, :] - 2 * codes[rows] @ codes.T
        distances[np.arange(len(rows)), rows] = np.inf  # the query goes last and is cut off
        order = np.argsort(distances, axis=1)[:, :-1]
        relevant = labels[order] == labels[rows, None]
        hits = np.cumsum(relevant, axis=1)
        precision = hits / np.arange(1, n)
        aps[rows] = (precision * relevant).sum(axis=1) / relevant.sum(axis=1)
    return aps


def sklearn_ap(codes: np.ndarray, labels: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """(c) scikit-learn's average_precision_score, one query at a time."""
    codes = normalised(codes)
    aps = []
    for q in queries:
        others = np.flatnonzero(np.arange(len(codes)) != q)
        distances = np.sum((codes[others] - codes[q]) ** 2, axis=1)
        aps.append(average_precision_score(labels[others] == labels[q], -distances))
    return np.array(aps)


def floor_ranking(codes: np.ndarray, block: int = 500) -> None:
    """(e) The floor: float32 GEMM distances and a full argsort of every row; no AP."""
    codes = normalised(codes)
    sq_norms = np.einsum("ij,ij->i", codes, codes)
    for start in range(0, len(codes), block):
        rows = slice(start, min(start + block, len(codes)))
        distances = sq_norms[rows, None] + sq_norms[None, :] - 2 * codes[rows] @ codes.T
        np.argsort(distances, axis=1)


def faiss_ap(codes: np.ndarray, labels: np.ndarray, block: int = 500) -> np.ndarray:
    """(f) faiss's exact L2 index, searched for every row (a full ranking), and (b)'s AP."""
    import faiss

    codes = np.ascontiguousarray(normalised(codes), dtype=np.float32)
    index = faiss.IndexFlatL2(codes.shape[1])
    index.add(codes)
    n = len(codes)
    aps = np.empty(n)
    for start in range(0, n, block):
        rows = np.arange(start, min(start + block, n))
        _, order = index.search(codes[rows], n)
        order = order[order != rows[:, None]].reshape(len(rows), n - 1)  # the query, by index
        relevant = labels[order] == labels[rows, None]
        precision = np.cumsum(relevant, axis=1) / np.arange(1, n)
        aps[rows] = (precision * relevant).sum(axis=1) / relevant.sum(axis=1)
    return aps


def have_faiss() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def compare(n: int, d: int, n_sample: int) -> bool:
    codes, labels = clustered_codes(n, d)
    sample = np.random.default_rng(1).choice(n, size=n_sample, replace=False)
    # One untimed call first: TensorFlow builds its matmul kernels for each new shape once.
    mean_average_precision(codes, labels)
    (ours_map, ours), t_ours = timed(
        lambda: mean_average_precision(codes, labels, return_per_query=True)
    )
    loop, t_loop = timed(loop_ap, codes, labels, sample)
    vectorised, t_numpy = timed(numpy_ap, codes, labels)
    sk, t_sk = timed(sklearn_ap, codes, labels, sample)
    _, t_floor = timed(floor_ranking, codes)
    if have_faiss():
        faiss_ap(codes[:200], labels[:200])  # faiss's own start-up
        by_faiss, t_faiss = timed(faiss_ap, codes, labels)
    t_loop_all, t_sk_all = t_loop * n / n_sample, t_sk * n / n_sample
    print(f"\nmAP of N = {n:,} codes, d = {d:,} (each query against the other {n - 1:,})")
    print(f"  (a) per-query loop     {t_loop_all:9.2f} s  (extrapolated from {n_sample} queries)")
    print(f"  (b) numpy vectorised   {t_numpy:9.2f} s")
    print(f"  (c) sklearn per query  {t_sk_all:9.2f} s  (extrapolated from {n_sample} queries)")
    print(f"  (d) ours               {t_ours:9.2f} s   mAP = {ours_map:.6f}")
    print(f"  (e) GEMM + argsort     {t_floor:9.2f} s   (the floor of a full ranking, no AP)")
    if have_faiss():
        print(f"  (f) faiss full ranking {t_faiss:9.2f} s   (IndexFlatL2, k = N, and (b)'s AP)")
    else:
        print('  (f) faiss full ranking   skipped: faiss not installed (pip install -e ".[bench]")')
    print(
        f"  speed-up of (d): {t_loop_all / t_ours:.0f}x over (a) [target >= 100x], "
        f"{t_numpy / t_ours:.1f}x over (b) [target >= 2.5x], {t_sk_all / t_ours:.0f}x over (c), "
        f"{t_floor / t_ours:.2f}x over the floor (e)"
        + (f", {t_faiss / t_ours:.1f}x over faiss (f)" if have_faiss() else "")
    )
    sample_map = ours[sample].mean()
    map_gaps = {
        "(a)": abs(loop.mean() - sample_map),
        "(b)": abs(vectorised.mean() - ours_map),
        "(c)": abs(sk.mean() - sample_map),
    }
    per_query = {"(a)": loop - ours[sample], "(b)": vectorised - ours, "(c)": sk - ours[sample]}
    if have_faiss():
        map_gaps["(f)"] = abs(by_faiss.mean() - ours_map)
        per_query["(f)"] = by_faiss - ours
    agree = all(gap <= TOLERANCE for gap in map_gaps.values())
    print(
        "  mAP differences from (d) (on the sampled queries for (a), (c)): "
        + ", ".join(f"{name} {gap:.1e}" for name, gap in map_gaps.items())
        + ("  -> agree to 1e-6" if agree else "  -> DISAGREE beyond 1e-6")
    )
    print(
        "  single queries: "
        + ", ".join(
            f"{name} max {np.abs(gap).max():.1e} ({np.mean(np.abs(gap) > TOLERANCE):.1%} over 1e-6)"
            for name, gap in per_query.items()
        )
    )
    # Single queries differ where two float32 distances are within rounding of each other and
    # the methods round differently (summation order). That is not a ranking error:
    return agree


def exactness(n: int, d: int) -> bool:
    """On small integer codes float32 distances are exact and ties abound: (d) must equal (b)
    with a stable argsort (ties by index) to the last bit."""
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 4, size=(n, d)).astype(np.float32)
    labels = rng.integers(0, N_CLASSES, size=n)
    _, ours = mean_average_precision(codes, labels, normalize=False, return_per_query=True)
    whole = codes.astype(np.int64)
    sq_norms = (whole**2).sum(axis=1)
    reference = np.empty(n)
    for start in range(0, n, 500):
        rows = np.arange(start, min(start + 500, n))
        distances = sq_norms[rows, None] + sq_norms[None, :] - 2 * whole[rows] @ whole.T
        distances[np.arange(len(rows)), rows] = np.iinfo(np.int64).max
        order = np.argsort(distances, axis=1, kind="stable")[:, :-1]
        relevant = labels[order] == labels[rows, None]
        precision = np.cumsum(relevant, axis=1) / np.arange(1, n)
        reference[rows] = (precision * relevant).sum(axis=1) / relevant.sum(axis=1)
    gap = np.abs(reference - ours).max()
    n_distinct = len(np.unique(distances[0]))
    print(
        f"\nties: N = {n:,} integer codes, d = {d} ({n_distinct} distinct distances in a row of "
        f"{n:,}): max difference from a stable-argsort reference {gap:.1e}"
        + ("  -> exact" if gap <= 1e-12 else "  -> NOT EXACT")
    )
    return gap <= 1e-12


def float64_aps(codes: np.ndarray, labels: np.ndarray, normalize: bool) -> np.ndarray:
    """Per-query APs of the ranking by float64 difference-form distances, ties by index."""
    wide = codes.astype(np.float64)
    if normalize:
        wide /= np.linalg.norm(wide, axis=1, keepdims=True)
    n = len(wide)
    aps = np.empty(n)
    for start in range(0, n, 100):
        rows = np.arange(start, min(start + 100, n))
        if wide.shape[1] <= 8:
            distances = ((wide[rows, None, :] - wide[None, :, :]) ** 2).sum(axis=2)
        else:  # float64 expansion: its error, ~1e-16 of the norms, is far below float32's
            sq = np.einsum("ij,ij->i", wide, wide)
            distances = sq[rows, None] + sq[None, :] - 2 * wide[rows] @ wide.T
        distances[np.arange(len(rows)), rows] = np.inf
        order = np.argsort(distances, axis=1, kind="stable")[:, :-1]
        relevant = labels[order] == labels[rows, None]
        precision = np.cumsum(relevant, axis=1) / np.arange(1, n)
        aps[rows] = (precision * relevant).sum(axis=1) / relevant.sum(axis=1)
    return aps


def rounding(n: int) -> None:
    """The float32 rounding of (d) against a float64 ranking: the figures of the docstring."""
    print(f"\nfloat32 rounding of (d) against a float64 ranking, N = {n:,} (per-query AP, mAP):")
    rng = np.random.default_rng(5)
    cases = [
        ("unit codes, d = 256", 256, True, 0.0),
        ("unit codes, d = 2,048", 2048, True, 0.0),
        ("raw codes, d = 1, about 1,000 from 0", 1, False, 1000.0),
        ("raw codes, d = 256, about 160 from 0", 256, False, 10.0),
    ]
    for name, d, normalize, offset in cases:
        codes, labels = clustered_codes(n, d, seed=int(rng.integers(100)))
        codes = codes * (10.0 if offset else 1.0) + offset
        _, ours = mean_average_precision(codes, labels, normalize=normalize, return_per_query=True)
        reference = float64_aps(codes, labels, normalize)
        print(
            f"  {name:38s} max |dAP| {np.abs(ours - reference).max():.1e}, "
            f"|dmAP| {abs(ours.mean() - reference.mean()):.1e}"
        )


def wide_codes(n: int, d: int, limit: float) -> None:
    codes, labels = clustered_codes(n, d, seed=2)
    mean_average_precision(codes[:500], labels[:500])  # TensorFlow's start-up, not the work
    mean_ap, seconds = timed(mean_average_precision, codes, labels)
    verdict = "under" if seconds < limit else "OVER"
    print(
        f"\nmAP of N = {n:,} wide codes, d = {d:,}: {seconds:.2f} s ({verdict} the {limit:.0f} s "
        f"target), mAP = {mean_ap:.4f}"
    )


def rss_bytes(field: str) -> int:
    """Current (VmRSS) or peak (VmHWM) resident memory of this process, from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_child(n: int, d: int) -> None:
    """Run in a fresh process: peak resident memory growth of one mean_average_precision call."""
    codes, labels = clustered_codes(n, d, seed=3)
    mean_average_precision(codes[:50], labels[:50])  # TensorFlow's own start-up memory first
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    before = rss_bytes("VmRSS")
    mean_ap, seconds = timed(mean_average_precision, codes, labels)
    growth = rss_bytes("VmHWM") - before
    from helpers.retrieval import ranking

    budget = ranking.MEMORY_BUDGET_BYTES + 2 * codes.nbytes
    print(
        f"\npeak memory growth {growth / 2**20:,.0f} MiB = {growth / budget:.2f}x the stated "
        f"budget (256 MiB of blocks + two float32 copies of the codes)"
    )
    verdict = "under" if growth < 2**30 else "OVER"
    print(
        f"\nmAP of N = {n:,} codes, d = {d}: {seconds:.1f} s, mAP = {mean_ap:.4f}, peak memory "
        f"growth {growth / 2**20:,.0f} MiB ({verdict} the 1 GiB target; codes are "
        f"{codes.nbytes / 2**20:,.0f} MiB)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under ~30 s")
    parser.add_argument(
        "--memory-child", nargs=2, type=int, metavar=("N", "D"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return 0
    print(
        f"numpy {np.__version__}, {os.cpu_count()} CPU(s), "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}"
    )
    if args.quick:
        agree = compare(n=1_000, d=256, n_sample=50) & exactness(n=1_000, d=8)
        rounding(n=1_000)
        wide_codes(n=500, d=4_096, limit=15)
        sizes = ("5000", "64")
    else:
        agree = compare(n=5_000, d=2_048, n_sample=100) & exactness(n=5_000, d=8)
        rounding(n=5_000)
        wide_codes(n=5_000, d=16_384, limit=15)
        sizes = ("50000", "256")
    child = [sys.executable, __file__, "--memory-child", *sizes]
    subprocess.run(child, check=True)
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
