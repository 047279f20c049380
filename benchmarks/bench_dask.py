"""The Dask path at scale (issue 12): a LocalCluster against the in-memory fit, and a store out of core.

    python3 benchmarks/bench_dask.py cluster [--n 200000] [--k 64] [--iters 10]
    python3 benchmarks/bench_dask.py ooc --dir /tmp/ul4m4_ooc [--n 2000000] [--k 64] [--iters 10]

``cluster``: n samples of three 256-d float32 modalities (30 % of the slots missing, MCAR), explicit
initial centres (the first k rows), ``iters`` passes; the in-memory fit (2 torch threads; in float32 with
and without Elkan's bounds) against the same fit on a ``LocalCluster`` of 2 worker processes (1 thread
each) holding the data in chunks, in float32 and float64. Prints the time per Lloyd pass (between the
callbacks of passes 1 and ``iters``: set-up and seeding excluded), the whole fit, and how many labels
agree with the in-memory fit of the same dtype and with the in-memory float64 fit.

``ooc``: writes a Zarr store of n samples of 512 + 768 float32 (uncompressed, a bool mask; 30 % of the
slots missing), then runs ``python -m ul4m4 impute --data STORE --k K --max-iter ITERS`` in a fresh
process and samples the resident memory of its whole process tree every 0.1 s; prints the peak, the
times and the size on disk. The store and its completed copy are removed afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load():
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


class Clock:
    """Callback recording when each Lloyd pass ended."""

    def __init__(self):
        self.t = []

    def __call__(self, info):
        if info.get("stage") == "lloyd":
            self.t.append(time.perf_counter())

    def per_pass(self):
        return (self.t[-1] - self.t[0]) / (len(self.t) - 1)


def gen_chunk(seed, start, stop, dims, missing=0.3, k_true=64):
    """Rows [start, stop) of a clustered float32 data set (the same rows whoever makes them) and its
    MCAR mask (every sample observes one modality)."""
    D = sum(dims)
    centres = np.random.default_rng(seed).normal(scale=2.0, size=(k_true, D)).astype(np.float32)
    r = np.random.default_rng([seed, start])
    X = centres[r.integers(k_true, size=stop - start)]
    X += r.standard_normal(size=X.shape, dtype=np.float32)
    mask = r.random((stop - start, len(dims))) >= missing
    empty = ~mask.any(axis=1)
    mask[empty, r.integers(len(dims), size=empty.sum())] = True
    cuts = np.cumsum([0, *dims])
    return [np.ascontiguousarray(X[:, a:b]) for a, b in zip(cuts[:-1], cuts[1:])] + [mask]


def bench_cluster(args):
    import dask
    import dask.array as da
    import distributed
    import torch

    from ul4m4 import PartialModalityKMeans

    torch.set_num_threads(2)
    dims = [256, 256, 256]
    chunk = -(-args.n // args.chunks)
    spans = [(s, min(s + chunk, args.n)) for s in range(0, args.n, chunk)]
    parts = [gen_chunk(0, s, e, dims) for s, e in spans]
    Xs = [np.concatenate([p[m] for p in parts]) for m in range(3)]
    mask = np.concatenate([p[3] for p in parts])
    del parts
    init = [np.where(mask[: args.k, [m]], X[: args.k], np.nan) for m, X in enumerate(Xs)]
    print(f"n={args.n:,}, 3 x 256 float32, k={args.k}, {args.iters} passes, {mask.mean():.2f} of slots observed, "
          f"chunks of {chunk:,} rows; load average {load()}", flush=True)
    rows = []

    def run(name, fit, dtype):
        clock = Clock()
        t0 = time.perf_counter()
        labels = fit(clock)
        rows.append((name, dtype, time.perf_counter() - t0, clock.per_pass(), labels))
        print(f"  {name} {dtype}: fit {rows[-1][2]:.2f} s, {rows[-1][3] * 1e3:.0f} ms/pass; load {load()}", flush=True)

    def kw(dtype):
        return dict(init=init, max_iter=args.iters, tol=0.0, dtype=dtype)

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  memory_limit="6GiB") as lc, distributed.Client(lc) as client:
        # The data is made on the workers, chunk by chunk, and kept there.
        made = [dask.delayed(gen_chunk)(0, s, e, dims) for s, e in spans]
        dXs = [da.concatenate([da.from_delayed(p[m], shape=(e - s, d), dtype=np.float32)
                               for p, (s, e) in zip(made, spans)]).persist() for m, d in enumerate(dims)]
        dm = da.concatenate([da.from_delayed(p[3], shape=(e - s, 3), dtype=bool)
                             for p, (s, e) in zip(made, spans)]).persist()
        distributed.wait(dXs + [dm])
        assert all(np.array_equal(a.compute(), b) for a, b in zip(dXs + [dm], Xs + [mask]))
        client.run(lambda: __import__("ul4m4"))  # torch imported in the workers before the clock starts
        # In memory and on the cluster in turn (the idle workers take no CPU), so both see the same load.
        for dtype in args.dtypes:
            for rep in range(args.repeats if dtype == "float32" else 1):
                run(f"in memory, bounds=True, run {rep + 1}", lambda c: PartialModalityKMeans(
                    args.k, callback=c, **kw(dtype)).fit(Xs, mask).labels_, dtype)
                run(f"LocalCluster 2 processes, run {rep + 1}", lambda c: PartialModalityKMeans(
                    args.k, callback=c, **kw(dtype)).fit(dXs, dm).labels_.compute(), dtype)
            if dtype == "float32":
                run("in memory, bounds=False", lambda c: PartialModalityKMeans(
                    args.k, bounds=False, callback=c, **kw(dtype)).fit(Xs, mask).labels_, dtype)
        mem = client.run(lambda: __import__("psutil").Process().memory_info().rss)
    ref = {dt: next(r for r in rows if r[1] == dt) for dt in args.dtypes}
    print("\n| fit | dtype | whole fit | per Lloyd pass | labels equal to in memory, same dtype | to in memory "
          "float64 |")
    print("|---|---|---|---|---|---|")
    for name, dtype, total, per, labels in rows:
        same = [int((labels == r[4]).sum()) for r in (ref[dtype], ref.get("float64", ref[dtype]))]
        said = ["yes" if v == len(labels) else f"{v:,} of {len(labels):,}" for v in same]
        print(f"| {name} | {dtype} | {total:.2f} s | {per * 1e3:.0f} ms | {said[0]} | {said[1]} |")
    for dtype in args.dtypes:
        best = {kind: min(r[3] for r in rows if r[1] == dtype and r[0].startswith(kind))
                for kind in ("in memory, bounds=True", "LocalCluster")}
        pairs = [b[3] / a[3] for a, b in zip([r for r in rows if r[1] == dtype and r[0].startswith("in memory, bounds=True")],
                                              [r for r in rows if r[1] == dtype and r[0].startswith("LocalCluster")])]
        print(f"{dtype}: per pass, best of each {best['LocalCluster'] / best['in memory, bounds=True']:.2f}x the "
              f"in-memory fit; run by run {', '.join(f'{v:.2f}x' for v in pairs)}")
    print(f"worker RSS after the fits (each holds half the data and its standardised copy): "
          f"{', '.join(f'{v / 2**20:.0f} MB' for v in mem.values())}; load average {load()}")


def tree_rss(pid):
    import psutil

    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for q in procs:
        try:
            total += q.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def write_store(path, n, dims, chunk, seed=0):
    """A Zarr store of clustered float32 modalities and a mask, written chunk by chunk."""
    import zarr

    g = zarr.open_group(str(path), mode="w")
    names = [f"m{m}_{d}" for m, d in enumerate(dims)]
    g.attrs["modalities"] = names
    arrays = [g.create_array(nm, shape=(n, d), chunks=(chunk, d), dtype="float32", compressors=None)
              for nm, d in zip(names, dims)]
    marr = g.create_array("mask", shape=(n, len(dims)), chunks=(chunk, len(dims)), dtype="bool")
    rng = np.random.default_rng(seed)
    D = sum(dims)
    centres = rng.normal(scale=2.0, size=(64, D)).astype(np.float32)
    for s in range(0, n, chunk):
        r = np.random.default_rng([seed, s])
        e = min(s + chunk, n)
        X = centres[r.integers(64, size=e - s)]
        X += r.standard_normal(size=X.shape, dtype=np.float32)
        mask = r.random((e - s, len(dims))) >= 0.3
        empty = ~mask.any(axis=1)
        mask[empty, r.integers(len(dims), size=empty.sum())] = True
        a = 0
        for arr, d in zip(arrays, dims):
            arr[s:e] = X[:, a : a + d]
            a += d
        marr[s:e] = mask


def bench_ooc(args):
    out_dir = Path(args.dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    store = out_dir / f"emb_{args.n}.zarr"
    done = out_dir / f"emb_{args.n}.completed.zarr"
    shutil.rmtree(done, ignore_errors=True)
    dims = [512, 768]
    nbytes = args.n * sum(dims) * 4
    print(f"n={args.n:,} x (512 + 768) float32 = {nbytes / 1e9:.2f} GB, k={args.k}, {args.iters} passes; "
          f"load average {load()}", flush=True)
    if not store.exists():
        t0 = time.perf_counter()
        write_store(store, args.n, dims, args.store_chunk)
        print(f"  store written in {time.perf_counter() - t0:.1f} s", flush=True)
    cmd = [sys.executable, "-m", "ul4m4", "impute", "--data", str(store), "--k", str(args.k), "--max-iter",
           str(args.iters), "--seed", "0"] + (["--chunk-rows", str(args.chunk_rows)] if args.chunk_rows else [])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    peak, samples = 0, []

    def watch():
        nonlocal peak
        while proc.poll() is None:
            v = tree_rss(proc.pid)
            peak = max(peak, v)
            samples.append((time.perf_counter() - t0, v))
            time.sleep(0.1)

    th = threading.Thread(target=watch, daemon=True)
    th.start()
    lines = []
    for line in proc.stderr:
        lines.append(line.rstrip())
        print(f"  [{time.perf_counter() - t0:7.1f} s] {line.rstrip()}", flush=True)
    proc.wait()
    th.join()
    seconds = time.perf_counter() - t0
    on_disk = sum(f.stat().st_size for f in done.rglob("*") if f.is_file()) if done.exists() else 0
    print(f"\nexit {proc.returncode}; fit + completion + writing: {seconds:.1f} s; peak RSS of the process tree "
          f"{peak / 2**30:.2f} GiB (sampled every 0.1 s, {len(samples)} samples); completed store {on_disk / 1e9:.2f} GB; "
          f"load average {load()}")
    if not args.keep:
        shutil.rmtree(done, ignore_errors=True)
        shutil.rmtree(store, ignore_errors=True)
    return proc.returncode


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="part", required=True)
    c = sub.add_parser("cluster")
    c.add_argument("--n", type=int, default=200_000)
    c.add_argument("--k", type=int, default=64)
    c.add_argument("--iters", type=int, default=10)
    c.add_argument("--chunks", type=int, default=16, help="row chunks (default 16: 8 per worker)")
    c.add_argument("--dtypes", type=lambda t: t.split(","), default=["float32", "float64"])
    c.add_argument("--repeats", type=int, default=2, help="Dask fits per dtype (default 2)")
    o = sub.add_parser("ooc")
    o.add_argument("--dir", required=True)
    o.add_argument("--n", type=int, default=2_000_000)
    o.add_argument("--k", type=int, default=64)
    o.add_argument("--iters", type=int, default=10)
    o.add_argument("--store-chunk", type=int, default=16384)
    o.add_argument("--chunk-rows", type=int, default=None)
    o.add_argument("--keep", action="store_true")
    args = p.parse_args()
    return bench_cluster(args) if args.part == "cluster" else bench_ooc(args)


if __name__ == "__main__":
    sys.exit(main() or 0)
