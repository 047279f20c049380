"""The time estimates the app shows before a step runs (``ul4m4.timing``) against the measured times.

    python benchmarks/bench_estimates.py            # every case below, one run each
    python benchmarks/bench_estimates.py --quick    # the two small cases

For each case (data, missing rate, methods) it prints, per method, the estimate made before the run,
the measured seconds of ``experiment.run_methods`` for that method alone, and their ratio; then the same
for the 2-D maps (PCA, UMAP, after a warm-up that compiles UMAP's code, as the app's start does). The machine speed the estimates use is measured in this process. The
last line gives the range of the ratios (the module promises "within a factor of 3" on these sizes).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CASES = {
    "mfeat": dict(data="mfeat", rate=0.4, methods=("ul4m4", "ul4m4_soft", "mean", "zero", "knn", "softimpute")),
    "synthetic_5k": dict(data=dict(n_samples=5_000, n_modalities=3, dims=64), rate=0.4,
                         methods=("ul4m4", "ul4m4_soft", "mean", "knn", "softimpute", "iterative")),
    "synthetic_30k": dict(data=dict(n_samples=30_000, n_modalities=2, dims=32), rate=0.3,
                          methods=("ul4m4", "ul4m4_soft", "mean", "knn", "softimpute")),
    "synthetic_20k_wide": dict(data=dict(n_samples=20_000, n_modalities=3, dims=128), rate=0.4,
                               methods=("ul4m4", "ul4m4_soft", "mean", "knn")),
}
QUICK = ("mfeat", "synthetic_5k")
MAPS = {"mfeat": ("pca", "umap"), "synthetic_5k": ("pca", "umap"), "synthetic_30k": ("pca",)}


def dataset(spec):
    import ul4m4

    if isinstance(spec, str):
        return ul4m4.load_dataset(spec)
    return ul4m4.make_synthetic(**spec, random_state=0)


def run_case(name, case):
    from ul4m4.experiment import MissingConfig, RunConfig, default_n_clusters, make_mask, run_methods
    from ul4m4.projection import project_2d
    from ul4m4.timing import estimate_map_seconds, estimate_run_seconds

    ds = dataset(case["data"])
    mres = make_mask(ds, MissingConfig(mechanism="mcar", rate=case["rate"], seed=0))
    k = default_n_clusters(ds)
    n_train = int(mres.train_idx.size)
    rows = []
    for m in case["methods"]:
        est = estimate_run_seconds(ds.n_samples, ds.dims, n_train, k, (m,))[m]
        cfg = RunConfig(methods=(m,), n_clusters=k)
        t = time.perf_counter()
        run_methods(ds, mres, cfg)
        secs = time.perf_counter() - t
        rows.append({"case": name, "step": m, "n": ds.n_samples, "D": int(sum(ds.dims)), "k": k,
                     "estimate_s": round(est, 2), "measured_s": round(secs, 2), "ratio": round(est / secs, 2)})
        print(json.dumps(rows[-1]), flush=True)
    full = [X for X in ds.Xs]
    for method in MAPS.get(name, ()):
        est = estimate_map_seconds(ds.n_samples, ds.dims, method)
        t = time.perf_counter()
        project_2d(full, method, random_state=0)
        secs = time.perf_counter() - t
        rows.append({"case": name, "step": f"map:{method}", "n": ds.n_samples, "D": int(sum(ds.dims)), "k": k,
                     "estimate_s": round(est, 2), "measured_s": round(secs, 2), "ratio": round(est / secs, 2)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the small cases only")
    ap.add_argument("--case", action="append", choices=sorted(CASES), help="only these cases")
    args = ap.parse_args()
    from ul4m4.timing import machine_speed
    from ul4m4.validation import UL4M4Warning

    warnings.simplefilter("ignore", UL4M4Warning)
    print(json.dumps({"machine_speed_gflops": round(machine_speed() / 1e9, 1)}), flush=True)
    # UMAP compiles its numba code on first use (cached on disk afterwards); the app does that in a warm-up
    # thread at start, and the estimate is for a warm UMAP, so the warm-up is done here first too.
    from ul4m4.projection import project_2d

    project_2d([np.random.default_rng(0).normal(size=(80, 6))], "umap")
    names = args.case or (QUICK if args.quick else list(CASES))
    rows = [r for n in names for r in run_case(n, CASES[n])]
    ratios = np.array([r["ratio"] for r in rows if r["measured_s"] >= 0.5])
    print(f"estimate / measured over {ratios.size} steps of at least 0.5 s: {ratios.min():.2f} to {ratios.max():.2f} "
          f"(median {np.median(ratios):.2f})")
    (ROOT / "artifacts").mkdir(exist_ok=True)
    (ROOT / "artifacts" / "bench_estimates.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
