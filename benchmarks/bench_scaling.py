"""How fit and transform scale with n: 3 x 512 float32 modalities, k = 256, 30 % of modality slots
missing (MCAR), on the device given (the issue-12 GPU scaling benchmark).

    python benchmarks/bench_scaling.py --device cuda                    # n = 10^4, 10^5, 10^6
    python benchmarks/bench_scaling.py --device cpu --sizes 10000,30000  # a CPU smoke run

Each size is fitted twice with the library's defaults except ``max_iter``: once with a fixed number of
Lloyd iterations (``--iters``, tol=0, so every run does the same work) and once to convergence
(``tol=1e-4``, at most 300 iterations). The clock covers everything a user waits for: validation,
the standardisation statistics, the copy to the device, k-means++ seeding, the Lloyd passes, and for
transform the greedy completion back to host numpy arrays. Data are made in host memory beforehand
(not timed). As the reference in the same process, the first size is also run on the CPU (one
fixed-iteration fit and a transform) and the ratio printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from ul4m4 import UL4M4Imputer, simulate_missing  # noqa: E402


def make_data(n, dims, rate, seed=0):
    """Low-rank plus noise, float32, generated in pieces so the peak stays near the data's own size."""
    rng = np.random.default_rng(seed)
    W = [rng.normal(size=(16, d)).astype(np.float32) for d in dims]
    Xs = [np.empty((n, d), np.float32) for d in dims]
    step = 100_000
    for s in range(0, n, step):
        e = min(n, s + step)
        latent = rng.normal(size=(e - s, 16)).astype(np.float32)
        for X, w in zip(Xs, W):
            X[s:e] = latent @ w
            X[s:e] += rng.standard_normal(size=(e - s, X.shape[1]), dtype=np.float32)
    mask, _ = simulate_missing(n, len(dims), "mcar", rate=rate, random_state=seed)
    for m, X in enumerate(Xs):
        X[~mask[:, m]] = np.nan
    return Xs, mask


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed_fit(Xs, mask, k, device, max_iter, tol):
    stamps = {}

    def clock(info):  # when seeding ended and the first Lloyd pass began (both stamped once)
        stamps.setdefault(info["stage"], time.perf_counter())

    sync(device)
    t0 = time.perf_counter()
    model = UL4M4Imputer(k, max_iter=max_iter, tol=tol, random_state=0, device=device, callback=clock).fit(Xs, mask)
    sync(device)
    t_fit = time.perf_counter() - t0
    model.setup_s = round(stamps.get("seeding", t0) - t0, 3)  # validation, statistics, copy to the device
    model.seeding_s = round(stamps.get("lloyd", t0) - stamps.get("seeding", t0), 3)
    t0 = time.perf_counter()
    out = model.transform(Xs, mask)
    sync(device)
    t_tr = time.perf_counter() - t0
    assert all(np.isfinite(o).all() for o in out)
    return model, t_fit, t_tr


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--dims", default="512,512,512")
    ap.add_argument("--k", type=int, default=256)
    ap.add_argument("--iters", type=int, default=20, help="Lloyd iterations of the fixed-work fit")
    ap.add_argument("--rate", type=float, default=0.3)
    ap.add_argument("--no-cpu-reference", action="store_true")
    ap.add_argument("--converged-only", action="store_true", help="skip the fixed-iteration fit")
    ap.add_argument("--json", help="write the rows here as JSON")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", message=".*did not converge")  # the fixed-work fits stop early by design
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    dims = [int(d) for d in args.dims.split(",")]
    info = {"device": args.device, "torch": torch.__version__, "dims": dims, "k": args.k, "rate": args.rate,
            "gpu": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None,
            "cpu_threads": torch.get_num_threads()}
    print(json.dumps(info))
    rows = []
    if args.device.startswith("cuda"):  # warm the context and kernels outside the clock
        Xw, mw = make_data(2000, dims, args.rate, seed=9)
        timed_fit(Xw, mw, 16, args.device, 3, 0.0)
    for i, n in enumerate(sizes):
        t0 = time.perf_counter()
        Xs, mask = make_data(n, dims, args.rate)
        t_data = time.perf_counter() - t0
        if args.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        row = {"n": n, "data_s": round(t_data, 2)}
        if not args.converged_only:
            model, t_fit, t_tr = timed_fit(Xs, mask, args.k, args.device, args.iters, 0.0)
            row.update({"fixed_iters": model.n_iter_, "fit_fixed_s": round(t_fit, 3), "setup_s": model.setup_s,
                        "seeding_s": model.seeding_s,
                        "per_iter_ms": round(1000 * (t_fit - model.setup_s - model.seeding_s) / model.n_iter_, 2),
                        "transform_s": round(t_tr, 3)})
        model, t_fit, t_tr = timed_fit(Xs, mask, args.k, args.device, 300, 1e-4)
        row.update({"conv_iters": model.n_iter_, "fit_conv_s": round(t_fit, 3), "conv_setup_s": model.setup_s,
                    "conv_seeding_s": model.seeding_s, "conv_transform_s": round(t_tr, 3),
                    "fit_conv_plus_transform_s": round(t_fit + t_tr, 3)})
        if args.device.startswith("cuda"):
            row["gpu_peak_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if i == 0 and not args.no_cpu_reference and not args.converged_only and args.device != "cpu":
            _, c_fit, c_tr = timed_fit(Xs, mask, args.k, "cpu", args.iters, 0.0)
            row.update({"cpu_fit_fixed_s": round(c_fit, 3), "cpu_transform_s": round(c_tr, 3),
                        "speedup_fit": round(c_fit / row["fit_fixed_s"], 1),
                        "speedup_transform": round(c_tr / row["transform_s"], 1)})
        print(json.dumps(row), flush=True)
        rows.append(row)
        del Xs, mask, model
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"info": info, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
