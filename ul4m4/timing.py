"""Time estimates of work before it starts: each method of a run, the 2-D map, a degradation sweep.

An estimate is the arithmetic a method does (counted from the sizes: samples, features, clusters, the
search grids of the "auto" methods) divided by this machine's speed on a float32 matrix product, measured
once per process (``machine_speed``), times a factor per method measured on a 2-core machine
(``benchmarks/bench_estimates.py`` prints every estimate next to the measured time). They are meant to say
"a second", "a minute" or "ten minutes" before anything runs, not to be exact: on the benchmark's sizes the
estimates are within a factor of 3 of the measured times, and Lloyd's number of iterations is not known
in advance (``LLOYD_ITERATIONS`` is assumed, at most ``max_iter``).
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np

__all__ = ["machine_speed", "estimate_run_seconds", "estimate_map_seconds", "estimate_sweep_seconds",
           "format_seconds", "busy_note", "learn", "learned_any", "correction", "LLOYD_ITERATIONS"]

# Lloyd iterations assumed for the paper's UL4M4 (it stops when no sample moves; 10-60 on the bundled data)
# and for the "soft, auto" preset, which stops once at most 1 % of the samples move.
LLOYD_ITERATIONS = 30
SOFT_ITERATIONS = 8
# Seconds per unit of work at this machine's matrix-product speed, per method (measured: see the module doc).
# They absorb what the flop counts leave out: the greedy completion's candidate sort, kNN's selection of
# neighbours, SoftImpute's SVDs, scikit-learn's per-feature regressions.
FACTORS = {"ul4m4": 3.6, "ul4m4_soft": 3.0, "knn": 1.5, "softimpute": 5.0, "iterative": 1.0, "mean": 1.0,
           "zero": 1.0, "complete": 1.0}
# Fixed seconds per method (validation, copies, Python set-up), independent of the speed.
OVERHEAD = {"ul4m4": 0.05, "ul4m4_soft": 0.5, "knn": 0.05, "softimpute": 0.2, "iterative": 0.5, "mean": 0.01,
            "zero": 0.01, "complete": 0.0}
# Memory-bound passes (copies, error measurement): bytes per second, a conservative figure for one core.
COPY_BYTES_PER_S = 1.0e9
# Work that is not matrix products, measured on the reference machine (2 cores, whose ``machine_speed``
# is REFERENCE_SPEED) and scaled by the speed ratio: UMAP (nearest-neighbour descent and 200-500 epochs
# of the layout) per sample; scikit-learn's IterativeImputer per feature and round (one BayesianRidge fit
# on 30 features and a prediction), plus per training sample.
REFERENCE_SPEED = 1.4e11
UMAP_S_PER_SAMPLE = 6e-4
UMAP_FIXED_S = 1.0
ITERATIVE_S_PER_FIT = 1.5e-3
ITERATIVE_S_PER_FIT_SAMPLE = 1.4e-6
SECONDS_PER_SAMPLE_COMPLETED = 8e-6
# The paper's greedy completion forms, for each incomplete sample, k candidates against k centres (a k x k
# block of partial distances, memory-bound): seconds per entry on the reference machine. Measured on mfeat
# (1,763 incomplete samples): k = 200 1.1 s, k = 700 7.3 s, k = 1,400 35 s for the completion, where the flop
# count alone said 2 s for the whole run at k = 1,400.
GREEDY_S_PER_CUBE_ENTRY = 1.0e-8


_SPEEDS = {}  # device -> (best flop/s seen, when last measured, measurements so far)
REMEASURE_S = 60.0
# The first few readings of a process come while it is young, when a reading is most often taken on a busy
# machine (a server importing its libraries, a browser loading the page on the same cores): until
# ``EARLY_READINGS`` have been taken, the speed is read again whenever ``EARLY_REMEASURE_S`` have passed.
EARLY_READINGS = 4
EARLY_REMEASURE_S = 2.0


# What earlier runs took against their estimates: kind (a method, or "sweep") -> [measured seconds, estimated
# seconds], each a sum in which every earlier run counts LEARN_DECAY times less than the next (the last few runs
# decide). The matrix-product speed does not say how fast a machine is at the rest (memory passes, Python, small
# products): on a 2-core AVX2 machine the app's default sweep took 104 s against an estimate of 50 s. Estimates
# asked for with ``learned=True`` are scaled by what earlier runs took. The sums are kept between processes beside
# the machine's speed (``_learned_file``): a fresh server starts from what the last one learned. None until this
# process has read them.
_LEARNED = None
_LEARNED_LOCK = threading.Lock()
LEARN_MIN_S = 0.2  # estimates shorter than this are mostly fixed costs and noise: not learned from
LEARN_CLAMP = 3.0  # a correction stays within [1/3, 3]: one run on a busy machine does not swing every estimate
LEARN_DECAY = 0.5  # weight of the earlier runs against the newest: a run on a busy server is soon outweighed


def _learned_file():
    """Where the learned sums are kept between processes: beside the machine's speed (``_speed_file``)."""
    return _speed_file().with_name("learned_times.json")


def _learned():
    """This process's learned sums (read from ``_learned_file`` the first time; call with the lock held)."""
    global _LEARNED
    if _LEARNED is None:
        import json

        _LEARNED = {}
        try:
            table = json.loads(_learned_file().read_text(encoding="utf-8")).get(_speed_key("cpu"), {})
            for kind, pair in (table.items() if isinstance(table, dict) else ()):
                if (isinstance(kind, str) and isinstance(pair, list) and len(pair) == 2
                        and all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in pair)):
                    _LEARNED[kind] = [float(pair[0]), float(pair[1])]
        except (OSError, ValueError, AttributeError):
            pass
    return _LEARNED


def _store_learned(learned):
    """Keep this process's learned sums for later processes (a cache that cannot be written is skipped)."""
    _write_cache_entry(_learned_file(), _speed_key("cpu"), lambda old: learned)


def _write_cache_entry(path, key, value_from):
    """Set ``key`` of the JSON table at ``path`` to ``value_from(its value now, or None)``, unless that is None;
    written whole or not at all. A table that cannot be read is started afresh; one that cannot be written
    is skipped (the caches only save later processes a reading)."""
    import json
    import os

    try:
        try:
            table = json.loads(path.read_text(encoding="utf-8"))
            table = table if isinstance(table, dict) else {}
        except (OSError, ValueError):
            table = {}
        value = value_from(table.get(key))
        if value is None:
            return
        table[key] = value
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(table), encoding="utf-8")
        os.replace(tmp, path)  # whole or not at all, should two processes write at once
    except (OSError, ValueError, TypeError):
        pass


def learn(kind, estimated, measured):
    """Remember that work of ``kind`` (a method, or "sweep") estimated at ``estimated`` seconds (without
    corrections) took ``measured`` seconds; ignored when the estimate is under ``LEARN_MIN_S``. Earlier runs
    weigh ``LEARN_DECAY`` times less than this one; the sums are kept for later processes."""
    estimated, measured = float(estimated), float(measured)
    if not (math.isfinite(estimated) and math.isfinite(measured)) or estimated < LEARN_MIN_S or measured <= 0:
        return
    with _LEARNED_LOCK:
        learned = _learned()
        got = learned.setdefault(kind, [0.0, 0.0])
        got[0] = got[0] * LEARN_DECAY + measured
        got[1] = got[1] * LEARN_DECAY + estimated
        _store_learned(learned)


def learned_any():
    """Whether any estimate is corrected by an earlier run (``learn``), in this process or an earlier one."""
    with _LEARNED_LOCK:
        return bool(_learned())


def correction(kind):
    """Measured over estimated seconds of earlier work of ``kind`` (1.0 when none), the newest runs weighing
    most, within [1 / LEARN_CLAMP, LEARN_CLAMP]."""
    with _LEARNED_LOCK:
        got = _learned().get(kind)
        ratio = got[0] / got[1] if got else 1.0
    return min(LEARN_CLAMP, max(1.0 / LEARN_CLAMP, ratio))


def _has_learned(kind):
    with _LEARNED_LOCK:
        return kind in _learned()


def _matmul_speed(dev, size=768, repeats=7):
    """Float32 flop/s of a size^3 torch matrix product on ``dev``: the fastest of ``repeats`` (the first
    is a warm-up in effect)."""
    import torch

    a = torch.rand(size, size, device=dev)
    b = torch.rand(size, size, device=dev)
    fastest = math.inf
    for _ in range(repeats):
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t = time.perf_counter()
        (a @ b).sum().item()
        fastest = min(fastest, time.perf_counter() - t)
    return float(2 * size**3 / max(fastest, 1e-6))


def _speed_file():
    """Where the best speed seen on this machine is kept between processes (``$XDG_CACHE_HOME`` or
    ``~/.cache``, as numba keeps its compiled code), so that a fresh server's first estimates do not rest on
    a reading taken while it starts (with a browser loading the page on the same cores: 3-4x too slow)."""
    import os
    from pathlib import Path

    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "ul4m4" / "machine_speed.json"


def _speed_key(device):
    import os
    import platform

    import torch

    return f"{platform.node()}|{os.cpu_count()}|{torch.get_num_threads()}|{torch.__version__}|{device}"


def _stored_speed(device):
    """The best speed an earlier process saw on this machine (0.0 when none, or unreadable)."""
    import json

    try:
        value = json.loads(_speed_file().read_text(encoding="utf-8")).get(_speed_key(device), 0.0)
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) and value > 0 else 0.0
    except (OSError, ValueError, AttributeError):
        return 0.0


def _store_speed(device, speed):
    """Keep ``speed`` for later processes if it is the best seen; a cache that cannot be written is skipped."""
    _write_cache_entry(_speed_file(), _speed_key(device), lambda old: speed if speed > float(old or 0.0) else None)


def machine_speed(device="cpu"):
    """Float32 flop/s of a 768 x 768 x 768 matrix product with torch on ``device``: the best seen in this
    process, measured again (best of 6 after a warm-up, about 0.05-0.1 s on a 2-core CPU) at most every
    ``REMEASURE_S`` seconds, and every ``EARLY_REMEASURE_S`` seconds until ``EARLY_READINGS`` readings have
    been taken. The best, not the latest: a measurement taken while the machine is busy (a server
    starting, another session's run) would make every later estimate too long; the estimates are for the
    machine's own speed, and work takes longer while it is shared. (A fresh server's first reading was
    seen 3-4x too low, making a 54 s sweep "about 3 min".) The best is kept between processes
    (``_speed_file``; ``python -m ul4m4 warmup`` takes a reading before the app starts), and a process
    starts from what earlier ones saw."""
    import torch

    if device not in _SPEEDS:
        _SPEEDS[device] = (_stored_speed(device), -math.inf, 0)
    best, when, count = _SPEEDS[device]
    wait = EARLY_REMEASURE_S if count < EARLY_READINGS else REMEASURE_S
    if time.monotonic() - when < wait:
        return best
    reading = _matmul_speed(torch.device(device))
    if reading > best:
        _store_speed(device, reading)
    best = max(best, reading)
    _SPEEDS[device] = (best, time.monotonic(), count + 1)
    return best


def _soft_grid(n_train):
    """The k grid and the rows "UL4M4 soft, auto" searches on (``impute.selection_grid`` of
    ``impute.N_CLUSTERS_GRID`` on at most ``impute.SELECTION_MAX_SAMPLES`` rows)."""
    from .impute import N_CLUSTERS_GRID, SELECTION_MAX_SAMPLES, selection_grid

    rows = min(n_train, SELECTION_MAX_SAMPLES)
    return selection_grid(N_CLUSTERS_GRID, rows), rows


def _work(method, n, D, M, n_train, k, max_iter):
    """Floating-point operations of one method of a run (fit on the training split, complete every sample)."""
    from .impute import SELECTION_HOLDOUT, selection_repeats

    if method == "ul4m4":
        it = min(max_iter, LLOYD_ITERATIONS)
        return 2.0 * n_train * D * k * it + 2.0 * n * D * k * (M + 1)
    if method == "ul4m4_soft":
        ks, rows = _soft_grid(n_train)
        it = min(max_iter, SOFT_ITERATIONS)
        hidden = rows * 0.5 * SELECTION_HOLDOUT  # about half the slots observed
        repeats = selection_repeats(hidden * M, hidden * D)
        # Each k: a fit, then one distance pass over the rows with a hidden block scores every temperature.
        search = sum(2.0 * rows * D * kk * (it + (M + 1)) for kk in ks) * repeats
        k_final = ks[len(ks) // 2]
        return search + 2.0 * n_train * D * k_final * it + 2.0 * n * D * k_final * (M + 2)
    if method == "knn":  # block nan-Euclidean distances of every sample to every training sample
        return 2.0 * n * n_train * (D + 3 * M)
    if method == "softimpute":  # about 20 iterations of a rank-r SVD step per shrinkage of the path (6 values)
        r = min(n_train, D, 100)
        return 6 * 20 * 4.0 * n_train * D * r
    return 0.0


def _other_seconds(method, n, D, M, n_train, speed, k=1):
    """Seconds of the work ``_work`` does not count: memory-bound passes and scikit-learn's loops."""
    if method == "knn":  # the neighbour selection: passes over each receiving modality's distances
        return n * n_train * (M + 2) * 6 / COPY_BYTES_PER_S
    if method == "ul4m4":  # per sample, and the greedy candidates' (k, k) block (every sample, at most)
        return n * (SECONDS_PER_SAMPLE_COMPLETED + GREEDY_S_PER_CUBE_ENTRY * k * k) * REFERENCE_SPEED / speed
    if method == "ul4m4_soft":  # the completion's per-sample work (weights, gathers)
        return n * SECONDS_PER_SAMPLE_COMPLETED * REFERENCE_SPEED / speed
    if method == "iterative":  # scikit-learn: 5 rounds, one BayesianRidge per feature
        return 5 * D * (ITERATIVE_S_PER_FIT + ITERATIVE_S_PER_FIT_SAMPLE * n_train) * REFERENCE_SPEED / speed
    return 0.0


def estimate_run_seconds(n_samples, dims, n_train, n_clusters, methods, max_iter=300, device="cpu", speed=None,
                         learned=False):
    """Estimated seconds of each method of ``experiment.run_methods`` (fit on ``n_train`` samples, complete
    all ``n_samples``, measure the error), as {method: seconds}.

    ``speed`` (flop/s) defaults to ``machine_speed(device)``. The baselines run on the CPU whatever the device.
    ``learned``: scale each method's estimate by what its earlier runs in this process took (``correction``).
    """
    if learned:
        raw = estimate_run_seconds(n_samples, dims, n_train, n_clusters, methods, max_iter, device, speed)
        return {m: v * correction(m) for m, v in raw.items()}
    D, M = int(sum(dims)), len(dims)
    out = {}
    for m in methods:
        if m == "ul4m4_lowrank":  # the soft model (with its selection), one more soft fit for the hold-out,
            # and SoftImpute on the residual for each of the 3 candidate weights and the final fit
            parts = estimate_run_seconds(n_samples, dims, n_train, n_clusters, ("ul4m4_soft", "softimpute"),
                                         max_iter, device, speed)
            out[m] = 1.2 * parts["ul4m4_soft"] + 4 * parts["softimpute"]
            continue
        on = device if m in ("ul4m4", "ul4m4_soft") else "cpu"
        s = speed if speed is not None else machine_speed(on)
        copies = (3 + (m != "complete")) * n_samples * D * 8 / COPY_BYTES_PER_S
        out[m] = (FACTORS.get(m, 1.0) * _work(m, n_samples, D, M, n_train, int(n_clusters), int(max_iter)) / s
                  + _other_seconds(m, n_samples, D, M, n_train, s, int(n_clusters)) + OVERHEAD.get(m, 0.0) + copies)
    return out


def estimate_map_seconds(n_samples, dims, method="pca", speed=None):
    """Estimated seconds of ``projection.project_2d`` on ``n_samples`` complete samples."""
    D = int(sum(dims))
    s = speed if speed is not None else machine_speed("cpu")
    pca = 0.05 + 2.0 * n_samples * D * 50 / s + 2 * n_samples * D * 8 / COPY_BYTES_PER_S
    if method != "umap":
        return pca
    return pca + (UMAP_FIXED_S + UMAP_S_PER_SAMPLE * n_samples) * REFERENCE_SPEED / s


def estimate_sweep_seconds(n_samples, dims, n_train, units, n_classes, classifier="linear", speed=None,
                           learned=False):
    """Estimated seconds of a degradation sweep: ``units`` is a list of (method, k or None) pairs, one per (rate,
    seed, method, k) unit; each is a run of that method plus its probe (a batched linear probe, or the
    fusion classifier trained per unit).

    ``learned``: scaled by what earlier sweeps in this process took against their estimates; before any, each
    method's share is scaled by what its earlier runs took (``correction``)."""
    s = speed if speed is not None else machine_speed("cpu")
    if learned and _has_learned("sweep"):
        return estimate_sweep_seconds(n_samples, dims, n_train, units, n_classes, classifier, s) * correction("sweep")
    D = int(sum(dims))
    total = 0.0
    for method, k in units:
        if method != "complete":
            total += estimate_run_seconds(n_samples, dims, n_train, k or 1, (method,), speed=s)[method] * (
                correction(method) if learned else 1.0)
        if classifier == "fusion":
            total += 200 * 2.0 * n_train * (D * 64 + 64 * 64 * len(dims)) * 3 / s + 0.5
        else:  # L-BFGS on the multinomial loss: about 100 evaluations of two products with the weights
            total += 100 * 4.0 * n_samples * D * max(n_classes, 2) / s + 0.02
    return total


def format_seconds(seconds):
    """'under a second', 'about 40 s', 'about 3 min', 'about 2 h' (estimates are rough: two figures at most)."""
    if not np.isfinite(seconds):
        return "unknown"
    if seconds < 1:
        return "under a second"
    if seconds < 90:
        return f"about {seconds:.0f} s" if seconds < 10 else f"about {round(seconds, -1):.0f} s"
    if seconds < 5400:
        return f"about {seconds / 60:.0f} min"
    return f"about {seconds / 3600:.1f} h"


def busy_note(load=None, cores=None):
    """A clause for an estimate when the machine is busy now (its 1-minute load average at least 1.5 times
    its number of cores: other runs, other users; a session's own finished run leaves at most about one
    per core), else "". The estimates are for the machine to itself, and a busy machine takes several
    times longer (a 1-second run took 5 s beside one other 2-thread job here)."""
    import os

    if load is None:
        try:
            load = os.getloadavg()[0]
        except OSError:  # not available on this system
            return ""
    cores = cores or os.cpu_count() or 1
    if load < 1.5 * cores:
        return ""
    return (f"; the machine is busy now (load {load:.1f} on {cores} core{'s' * (cores != 1)}: other runs), "
            "so expect longer")
