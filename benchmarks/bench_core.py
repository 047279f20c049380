"""Speed and memory of the UL4M4 core, as ratios against references run in the same process.

    python benchmarks/bench_core.py            # the sizes of issue 2
    python benchmarks/bench_core.py --quick    # small sizes, for a smoke run
    python benchmarks/bench_core.py --device cuda

1. Completion: the closed form against the per-sample greedy reference of the tests (same centres).
   The reference is pure Python per sample, so it is timed on a subsample and scaled linearly to n
   (its cost per sample does not depend on n); outputs are compared on that subsample.
2. Lloyd: time per iteration of PartialModalityKMeans (with and without its bounds) against
   scikit-learn's KMeans(algorithm="lloyd") on the same complete data (standardised, concatenated,
   float32) from the same initial centres, run to convergence and clocked inside the fits at every
   iteration (see bench_lloyd); whole-fit times are printed too.
3. Short fit: a whole 6-iteration fit (fixed costs included: validation, standardisation, the final
   assignment and inertia) against scikit-learn's whole KMeans(algorithm="lloyd", n_init=1,
   max_iter=6) fit on the same complete data (standardised, concatenated, float32) from the same
   centres; best of 5 interleaved runs, with the machine's threads and with one thread each.
4. Memory: peak resident memory of fit + transform, measured in a fresh subprocess, minus the memory
   of that process before the data was created, against the budget 2 x input + 300 MB.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from ul4m4 import PartialModalityKMeans, UL4M4Imputer, simulate_missing  # noqa: E402


def make_data(n, dims, rate, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 16)).astype(dtype)
    Xs = []
    for d in dims:
        W = rng.normal(size=(16, d)).astype(dtype)
        X = latent @ W
        X += rng.standard_normal(size=(n, d), dtype=dtype)
        Xs.append(X)
    mask = np.ones((n, len(dims)), bool)
    if rate > 0:
        mask, _ = simulate_missing(n, len(dims), "mcar", rate=rate, random_state=seed)
        for m, X in enumerate(Xs):
            X[~mask[:, m]] = np.nan
    return Xs, mask


def bench_completion(n, k, d, n_ref, device):
    from reference import ref_greedy_complete

    Xs, mask = make_data(n, [d, d, d], 0.5)
    imp = UL4M4Imputer(k, random_state=0, max_iter=20, device=device, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imp.fit(Xs, mask)
        imp.transform([X[:100] for X in Xs], mask[:100])  # warm-up
        t = time.perf_counter()
        out = imp.transform(Xs, mask)
        fast = time.perf_counter() - t
    rows = np.flatnonzero(~mask.all(axis=1))[:n_ref]
    Z = [(X.astype(np.float64) - imp.mean_[m]) / imp.scale_[m] for m, X in enumerate(Xs)]
    t = time.perf_counter()
    same = True
    for i in rows:
        ref, _ = ref_greedy_complete([Z[m][i] for m in range(3)], mask[i], imp.cluster_centers_z_, imp.center_mask_)
        for m in range(3):
            if not mask[i, m]:
                same &= np.array_equal(out[m][i], (ref[m] * imp.scale_[m] + imp.mean_[m]).astype(out[m].dtype))
    ref_per_incomplete = (time.perf_counter() - t) / rows.size
    n_incomplete = int((~mask.all(axis=1)).sum())
    ref_total = ref_per_incomplete * n_incomplete
    return {
        "n": n, "k": k, "dims": [d, d, d], "missing_slots": float((~mask).mean()),
        "fast_s": fast, "reference_s_scaled": ref_total, "reference_samples_timed": int(rows.size),
        "speedup": ref_total / fast, "same_output_on_timed_samples": bool(same),
    }


def _sklearn_iteration_clock(stamps):
    """Wrap scikit-learn's per-iteration Lloyd routine so that each call records its start time."""
    import sklearn.cluster._kmeans as skk

    inner = skk.lloyd_iter_chunked_dense

    def timed(*args, **kwargs):
        stamps.append(time.perf_counter())
        return inner(*args, **kwargs)

    skk.lloyd_iter_chunked_dense = timed
    return lambda: setattr(skk, "lloyd_iter_chunked_dense", inner)


def bench_lloyd(n, k, d, max_iter, device, repeats=3):
    """Time per Lloyd iteration over whole fits, clocked inside the fits (fixed costs stay out).

    All three contenders (ours with bounds, ours without, scikit-learn's lloyd) start from the same
    centres and run until no label changes (scikit-learn with tol=0 stops on the same rule). Ours: the
    time between consecutive callbacks (each is sent after an assignment pass, so one interval is one
    centre update plus one pass). scikit-learn: the time between consecutive calls of its per-iteration
    routine (assignment and update in one call, plus its convergence checks). Each iteration's time is
    the fastest of ``repeats`` interleaved runs; the figures are means over the fit and over its
    iterations 2-11.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    Xs, _ = make_data(n, [d, d, d], 0.0)
    rng = np.random.default_rng(1)
    seeds = rng.choice(n, size=k, replace=False)
    init = [X[seeds].astype(np.float64) for X in Xs]

    def ours(bounds):
        stamps = []
        km = PartialModalityKMeans(k, init=init, max_iter=max_iter, device=device, bounds=bounds,
                                   callback=lambda info: info["stage"] == "lloyd" and stamps.append(time.perf_counter()))
        t = time.perf_counter()
        km.fit(Xs)
        assert km.converged_, "did not converge: raise max_iter"
        return km, np.diff(stamps), time.perf_counter() - t

    probe = PartialModalityKMeans(k, init=init, max_iter=1, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        probe.fit(Xs)
    Zcat = np.hstack([((X - probe.mean_[m]) / probe.scale_[m]).astype(np.float32) for m, X in enumerate(Xs)])

    def theirs():
        stamps = []
        restore = _sklearn_iteration_clock(stamps)
        try:
            km = KMeans(k, init=Zcat[seeds], n_init=1, max_iter=max_iter, tol=0.0, algorithm="lloyd")
            t = time.perf_counter()
            km.fit(Zcat)
            total = time.perf_counter() - t
        finally:
            restore()
        assert km.n_iter_ < max_iter, "scikit-learn did not converge: raise max_iter"
        return km, np.diff(stamps[: km.n_iter_]), total

    contenders = {"bounds": lambda: ours(True), "plain": lambda: ours(False), "sklearn": theirs}
    runs = {name: [] for name in contenders}
    order = list(contenders)
    for r in range(repeats):  # interleaved, each in every position once: slow phases hit all alike
        for name in order[r % 3 :] + order[: r % 3]:
            gc.collect()
            time.sleep(2.0)  # let the machine settle after the previous fit freed its memory
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                runs[name].append(contenders[name]())
    per_iter = {name: np.min([r[1] for r in rs], axis=0) for name, rs in runs.items()}
    whole = {name: min(r[2] for r in rs) for name, rs in runs.items()}
    bounded, plain, skl = runs["bounds"][0][0], runs["plain"][0][0], runs["sklearn"][0][0]
    mean = {name: float(v.mean()) for name, v in per_iter.items()}
    early = {name: float(v[:10].mean()) for name, v in per_iter.items()}
    return {
        "n": n, "k": k, "dims": [d, d, d],
        "iterations": {"ours": int(bounded.n_iter_), "sklearn": int(skl.n_iter_)},
        "same_labels_bounds_plain": bool(np.array_equal(bounded.labels_, plain.labels_)),
        "same_partition_as_sklearn": float(adjusted_rand_score(bounded.labels_, skl.labels_)),
        "s_per_iter": mean, "s_per_iter_iterations_2_to_11": early,
        "ratio_ours_over_sklearn": mean["bounds"] / mean["sklearn"],
        "ratio_ours_over_sklearn_iterations_2_to_11": early["bounds"] / early["sklearn"],
        "ratio_plain_over_sklearn": mean["plain"] / mean["sklearn"],
        "ratio_plain_over_sklearn_iterations_2_to_11": early["plain"] / early["sklearn"],
        "mean_fraction_of_samples_computed": float(bounded.rows_evaluated_.mean() / n),
        "fraction_of_samples_computed_per_pass": [round(float(f) / n, 3) for f in bounded.rows_evaluated_],
        "whole_fit_s": whole, "whole_fit_ratio": whole["bounds"] / whole["sklearn"],
        "s_each_iteration": {name: [round(float(x), 4) for x in v] for name, v in per_iter.items()},
    }


def bench_short_fit(n, k, d, max_iter, device, repeats=5):
    """Whole fits of ``max_iter`` iterations (not run to convergence), fixed costs included.

    Ours gets the three raw modalities (it validates and standardises them, and ends with the final
    assignment and the inertia); scikit-learn's KMeans(algorithm="lloyd", n_init=1, tol=0) gets the
    same data already standardised and concatenated (float32), from the same centres, and also ends
    with a final assignment and the inertia. Each is the best of ``repeats`` runs, interleaved in
    alternating order with a pause between fits; with the machine's threads, then one thread each
    (torch.set_num_threads and threadpoolctl), which a busy shared machine disturbs less.
    """
    import torch
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    Xs, _ = make_data(n, [d, d, d], 0.0)
    seeds = np.random.default_rng(1).choice(n, size=k, replace=False)
    init = [X[seeds].astype(np.float64) for X in Xs]
    probe = PartialModalityKMeans(k, init=init, max_iter=1, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        probe.fit(Xs)
    Zcat = np.hstack([((X - probe.mean_[m]) / probe.scale_[m]).astype(np.float32) for m, X in enumerate(Xs)])

    def ours():
        km = PartialModalityKMeans(k, init=init, max_iter=max_iter, device=device)
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            km.fit(Xs)
        return time.perf_counter() - t, km

    def theirs():
        km = KMeans(k, init=Zcat[seeds], n_init=1, max_iter=max_iter, tol=0.0, algorithm="lloyd")
        t = time.perf_counter()
        km.fit(Zcat)
        return time.perf_counter() - t, km

    out = {"n": n, "k": k, "dims": [d, d, d], "max_iter": max_iter, "repeats": repeats}
    threads = torch.get_num_threads()
    for label, n_threads in (("machine_threads", threads), ("one_thread", 1)):
        torch.set_num_threads(n_threads)
        runs = {"ours": [], "sklearn": []}
        with threadpool_limits(limits=n_threads):
            for r in range(repeats):
                for name, f in ((("ours", ours), ("sklearn", theirs)) if r % 2 == 0 else (("sklearn", theirs), ("ours", ours))):
                    gc.collect()
                    time.sleep(1.0)
                    seconds, km = f()
                    runs[name].append(seconds)
                    if name == "ours":
                        assert km.n_iter_ == max_iter and not km.converged_
                    else:
                        assert km.n_iter_ == max_iter, "scikit-learn stopped early"
        torch.set_num_threads(threads)
        best = {name: min(v) for name, v in runs.items()}
        out[label] = {"threads": n_threads, "best_s": best, "ratio": best["ours"] / best["sklearn"],
                      "runs_s": {name: [round(x, 3) for x in v] for name, v in runs.items()}}
    out["load_average"] = os.getloadavg()
    return out


MEMORY_CHILD = r"""
import json, resource, sys, time, warnings
sys.path.insert(0, {root!r})
import numpy as np, torch
from ul4m4 import UL4M4Imputer
sys.path.insert(0, {bench!r})
from bench_core import make_data
def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
base = rss_mb()
Xs, mask = make_data({n}, [{d}, {d}, {d}], 0.3)
input_mb = sum(X.nbytes for X in Xs) / 2**20
t = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    imp = UL4M4Imputer({k}, random_state=0, max_iter={iters}, device={device!r}).fit(Xs, mask)
    out = imp.transform(Xs, mask)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"input_mb": input_mb, "baseline_mb": base, "peak_mb": peak, "seconds": time.perf_counter() - t,
                  "iterations": int(imp.n_iter_), "passes_with_skipped_samples": int((imp.rows_evaluated_ < {n}).sum())}}))
"""


def bench_memory(n, k, d, iters, device):
    here = os.path.dirname(os.path.abspath(__file__))
    code = MEMORY_CHILD.format(root=os.path.dirname(here), bench=here, n=n, d=d, k=k, iters=iters, device=device)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    r = json.loads(res.stdout.strip().splitlines()[-1])
    used = r["peak_mb"] - r["baseline_mb"]
    budget = 2 * r["input_mb"] + 300
    return {
        "n": n, "k": k, "dims": [d, d, d], "input_mb": r["input_mb"], "peak_above_baseline_mb": used,
        "budget_mb": budget, "ratio_used_over_budget": used / budget, "fit_transform_s": r["seconds"],
        "iterations": r["iterations"], "passes_with_skipped_samples": r["passes_with_skipped_samples"],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    ap.add_argument("--only", choices=["completion", "lloyd", "short", "memory"], help="run one benchmark")
    args = ap.parse_args()
    q = args.quick
    import torch

    print(f"# torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}")
    if args.only in (None, "completion"):
        r = bench_completion(2000 if q else 20000, 16 if q else 64, 32 if q else 256, 20 if q else 60, args.device)
        print(json.dumps({"completion": r}))
        print(f"completion: {r['speedup']:.0f}x faster than the per-sample reference (target >= 100x), "
              f"same output: {r['same_output_on_timed_samples']}")
    if args.only in (None, "lloyd"):
        r = bench_lloyd(5000 if q else 50000, 16 if q else 64, 64 if q else 512, 300, args.device)
        print(json.dumps({"lloyd": r}))
        print(f"lloyd: {r['ratio_ours_over_sklearn']:.2f} x scikit-learn's time per iteration over whole fits "
              f"({r['iterations']['ours']} and {r['iterations']['sklearn']} iterations; target <= 1); iterations 2-11: "
              f"{r['ratio_ours_over_sklearn_iterations_2_to_11']:.2f} x; without bounds: {r['ratio_plain_over_sklearn']:.2f} x "
              f"(2-11: {r['ratio_plain_over_sklearn_iterations_2_to_11']:.2f} x); whole fit: {r['whole_fit_ratio']:.2f} x")
    if args.only in (None, "short"):
        r = bench_short_fit(5000 if q else 50000, 16 if q else 64, 64 if q else 512, 6, args.device)
        print(json.dumps({"short_fit": r}))
        a, b = r["machine_threads"], r["one_thread"]
        print(f"short fit (max_iter=6, fixed costs included): {a['ratio']:.2f} x scikit-learn's whole fit "
              f"({a['best_s']['ours']:.2f} s vs {a['best_s']['sklearn']:.2f} s, {a['threads']} threads; target <= 1); "
              f"one thread each: {b['ratio']:.2f} x ({b['best_s']['ours']:.2f} s vs {b['best_s']['sklearn']:.2f} s); "
              f"best of {r['repeats']} interleaved runs, load average {r['load_average'][0]:.1f}")
    if args.only in (None, "memory"):
        r = bench_memory(20000 if q else 200000, 16 if q else 64, 64 if q else 512, 15, args.device)
        print(json.dumps({"memory": r}))
        print(f"memory: {r['peak_above_baseline_mb']:.0f} MB above baseline for {r['input_mb']:.0f} MB of input, "
              f"{r['ratio_used_over_budget']:.2f} of the budget 2 x input + 300 MB (target <= 1)")


if __name__ == "__main__":
    main()
