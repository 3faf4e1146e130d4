"""FAISS k-means against scikit-learn's KMeans on the miner's scale: 1M x 384-d float32.

The data are Gaussian blobs around `--centres` seeded centres, so quality is measured
against the truth (adjusted Rand index and purity) next to the wall time. FAISS runs
twice: with its default training subsample (max 256 points per centroid) and on all
points; both times include FAISS's final assignment of every point. scikit-learn runs
Lloyd with n_init=1 and the same max_iter (its fit ends with labels for every point).

    .venv/bin/pip install -e ".[bench]"            # scikit-learn
    .venv/bin/python benchmarks/miner_bench.py [--n 1000000] [--iter 20] [--budget 600]

Memory: the data are one float32 array (1.5 GB at 1M x 384); scikit-learn gets it
with copy_x=False (centred in place and restored), so it runs last.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import time

import faiss
import numpy as np


def make_blobs(n: int, dim: int, centres: int, spread: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit-variance noise around N(0, spread^2) centres, built in chunks: no float64 copy."""
    rng = np.random.default_rng(seed)
    c = (rng.standard_normal((centres, dim)) * spread).astype(np.float32)
    label = rng.integers(0, centres, n)
    x = np.empty((n, dim), dtype=np.float32)
    for s in range(0, n, 100_000):
        e = min(n, s + 100_000)
        rng.standard_normal((e - s, dim), dtype=np.float32, out=x[s:e])
        x[s:e] += c[label[s:e]]
    return x, label


def ari(truth: np.ndarray, pred: np.ndarray) -> float:
    """Adjusted Rand index from the contingency table (numpy only)."""
    t = np.unique(truth, return_inverse=True)[1]
    p = np.unique(pred, return_inverse=True)[1]
    table = np.bincount(t * (p.max() + 1) + p).astype(np.float64)
    pairs = lambda v: float((v * (v - 1) / 2).sum())  # noqa: E731
    both = pairs(table)
    rows = pairs(np.bincount(t).astype(np.float64))
    cols = pairs(np.bincount(p).astype(np.float64))
    expected = rows * cols / pairs(np.array([float(len(t))]))
    top = (rows + cols) / 2
    return 1.0 if top == expected else (both - expected) / (top - expected)


def purity(truth: np.ndarray, pred: np.ndarray) -> float:
    k = int(truth.max()) + 1
    table = np.bincount(pred.astype(np.int64) * k + truth, minlength=(int(pred.max()) + 1) * k)
    return float(table.reshape(-1, k).max(axis=1).sum()) / len(truth)


def run_faiss(x: np.ndarray, k: int, niter: int, seed: int, max_points: int) -> tuple[np.ndarray, float, float]:
    t0 = time.perf_counter()
    km = faiss.Kmeans(x.shape[1], k, niter=niter, seed=seed, verbose=False, max_points_per_centroid=max_points)
    km.train(x)
    t1 = time.perf_counter()
    _, label = km.index.search(x, 1)
    t2 = time.perf_counter()
    return label[:, 0], t1 - t0, t2 - t1


def sklearn_kmeans(k: int, niter: int, seed: int, init: str, tol: float):
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=1, max_iter=niter, algorithm="lloyd", init=init, tol=tol,
                  random_state=seed, copy_x=False)


def estimate_sklearn(x: np.ndarray, k: int, seed: int, init: str, niter: int) -> float:
    """Seconds sklearn should take on all of x, from a 1-iteration random-init fit on a 100k sample.

    That fit is ~2 passes over the sample (one iteration, one final labelling); k-means++
    costs ~(2 + ln k) passes more.
    """
    m = min(len(x), 100_000)
    sample = np.ascontiguousarray(x[:m])
    t = time.perf_counter()
    sklearn_kmeans(k, 1, seed, "random", 0.0).fit(sample)
    per_pass = (time.perf_counter() - t) / 2 * len(x) / m
    init_passes = 2 + math.log(k) if init == "k-means++" else 0
    return per_pass * (niter + 1 + init_passes)


def load() -> str:
    return "load average " + " ".join(f"{v:.1f}" for v in os.getloadavg())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1_000_000, help="points (default 1,000,000)")
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--k", type=int, default=100, help="clusters for both (default 100 = true centres)")
    p.add_argument("--centres", type=int, default=100)
    p.add_argument("--spread", type=float, default=0.5, help="std of the centres (noise std is 1)")
    p.add_argument("--iter", type=int, default=20, help="max_iter for sklearn = niter for FAISS")
    p.add_argument("--budget", type=float, default=600.0,
                   help="if sklearn is estimated to take longer, use --fallback-iter for both")
    p.add_argument("--fallback-iter", type=int, default=10)
    p.add_argument("--sklearn-init", default="k-means++", choices=["k-means++", "random"],
                   help="sklearn's init (its default is k-means++; FAISS samples random points)")
    p.add_argument("--tol", type=float, default=0.0,
                   help="sklearn tol; 0 runs max_iter unless labels stop changing (FAISS always runs niter)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    try:
        import sklearn
    except ImportError:
        sklearn = None
        print('scikit-learn is not installed, so only FAISS runs. Install the bench extra: '
              'pip install -e ".[bench]"  (or: pip install "scikit-learn>=1.4")', file=sys.stderr)

    print(f"cores {os.cpu_count()}, FAISS threads {faiss.omp_get_max_threads()}, faiss {faiss.__version__}, "
          f"numpy {np.__version__}" + (f", scikit-learn {sklearn.__version__}" if sklearn else "") + f"; {load()}")
    t = time.perf_counter()
    x, truth = make_blobs(args.n, args.dim, args.centres, args.spread, args.seed)
    print(f"data: {args.n:,} x {args.dim} float32 ({x.nbytes / 2**30:.2f} GiB), {args.centres} Gaussian centres "
          f"(spread {args.spread}, noise 1), made in {time.perf_counter() - t:.1f}s")

    niter = args.iter
    if sklearn is not None:
        est = estimate_sklearn(x, args.k, args.seed, args.sklearn_init, niter)
        print(f"sklearn estimate: ~{est:.0f}s for max_iter={niter} (from a short fit on a sample)")
        if est > args.budget:
            niter = args.fallback_iter
            print(f"NOTE: over the {args.budget:.0f}s budget: max_iter/niter reduced to {niter} for BOTH libraries")
    print(f"k={args.k}, iterations={niter} (FAISS niter = sklearn max_iter), seed={args.seed}\n")

    rows: list[tuple[str, float, float, float, float]] = []
    sub = args.k * 256
    on = args.n > sub
    print(f"FAISS run 1: default subsampling (max_points_per_centroid=256) is "
          f"{'ON: trains on ' + format(sub, ',') + ' of ' + format(args.n, ',') + ' points' if on else 'not triggered (n <= 256*k)'}"
          f"; then assigns all points")
    label, tt, ta = run_faiss(x, args.k, niter, args.seed, 256)
    rows.append(("faiss, subsample 256/centroid", tt, ta, ari(truth, label), purity(truth, label)))
    print(f"  train {tt:.1f}s + assign {ta:.1f}s = {tt + ta:.1f}s; {load()}")
    full = math.ceil(args.n / args.k) + 1
    print(f"FAISS run 2: subsampling OFF (max_points_per_centroid={full:,}: all {args.n:,} points)")
    label, tt, ta = run_faiss(x, args.k, niter, args.seed, full)
    rows.append(("faiss, all points", tt, ta, ari(truth, label), purity(truth, label)))
    print(f"  train {tt:.1f}s + assign {ta:.1f}s = {tt + ta:.1f}s; {load()}")

    sk_time = None
    if sklearn is not None:
        km = sklearn_kmeans(args.k, niter, args.seed, args.sklearn_init, args.tol)
        print(f"scikit-learn KMeans(n_init=1, max_iter={niter}, algorithm='lloyd', init='{args.sklearn_init}', "
              f"tol={args.tol})")
        t = time.perf_counter()
        km.fit(x)  # float32 C-contiguous: no copy; labels_ covers every point
        sk_time = time.perf_counter() - t
        label = km.labels_
        rows.append((f"sklearn ({km.n_iter_} iterations run)", sk_time, 0.0, ari(truth, label), purity(truth, label)))
        print(f"  fit {sk_time:.1f}s, {km.n_iter_} iterations; {load()}")

    print(f"\n{'run':34} {'train/fit s':>11} {'assign s':>9} {'total s':>8} {'ARI':>7} {'purity':>7}"
          + (f" {'sklearn/this':>12}" if sk_time else ""))
    for name, tt, ta, a, pu in rows:
        ratio = f" {sk_time / (tt + ta):>11.1f}x" if sk_time else ""
        print(f"{name:34} {tt:>11.1f} {ta:>9.1f} {tt + ta:>8.1f} {a:>7.4f} {pu:>7.4f}{ratio}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"\npeak RSS {peak:.2f} GiB; {load()} (on a shared machine, a load above the core count slows every row)")
    if sklearn is None:
        print('(scikit-learn missing: pip install -e ".[bench]" to compare)')


if __name__ == "__main__":
    main()
