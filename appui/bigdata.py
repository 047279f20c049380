"""Large data in the app: what the pages do differently above a few tens of thousands of samples.

- The map shows at most ``MAP_MAX_POINTS`` samples, a uniform random subsample drawn with the run's seed
  (the same for every map of a run), and says so; points keep their sample ids, so selections and
  tables name the real samples.
- A page never starts a run on its own when the data hold more than ``LARGE_SAMPLES`` samples or the
  run is estimated to take more than ``AUTO_RUN_SECONDS``: it shows the estimates and waits for Run.
- Every step that can take long shows its estimated time and memory before it starts.
- When the server names a Dask scheduler (``UL4M4_DASK_SCHEDULER``), the UL4M4 methods may run there.
"""

from __future__ import annotations

import os

import numpy as np

from ul4m4 import plotting
from ul4m4.memory import estimate_run_bytes
from ul4m4.sweep import plan, unit_key
from ul4m4.timing import (REFERENCE_SPEED, busy_note, estimate_run_seconds, estimate_sweep_seconds, format_seconds,
                          learned_any)

MAP_MAX_POINTS = 10_000
LARGE_SAMPLES = 20_000
AUTO_RUN_SECONDS = 20.0
SCHEDULER_ENV = "UL4M4_DASK_SCHEDULER"


def scheduler_address():
    """The Dask scheduler this server offers (``UL4M4_DASK_SCHEDULER``), or None."""
    address = os.environ.get(SCHEDULER_ENV, "").strip()
    return address or None


def map_ids(n_samples, seed):
    """The sample ids a map shows: all of them, or ``MAP_MAX_POINTS`` drawn uniformly with ``seed``."""
    if n_samples <= MAP_MAX_POINTS:
        return np.arange(n_samples)
    return np.sort(np.random.default_rng(int(seed)).choice(n_samples, size=MAP_MAX_POINTS, replace=False))


def map_notice(n_samples):
    """The sentence under a subsampled map (None when every sample is drawn)."""
    if n_samples <= MAP_MAX_POINTS:
        return None
    return (f"The map shows {MAP_MAX_POINTS:,} of the {n_samples:,} samples (a uniform random subsample, drawn with "
            "the run's seed), so that it draws and answers quickly; the 2-D map is fitted on those samples. Errors, "
            "cluster sizes and downloads use every sample.")


def run_estimates(ds, n_train, cfg):
    """{method: seconds}, the total seconds and the peak memory (bytes) of a run of ``cfg``."""
    secs = estimate_run_seconds(ds.n_samples, ds.dims, n_train, cfg.n_clusters, cfg.methods, max_iter=cfg.max_iter,
                                device=cfg.device, learned=True)
    need = estimate_run_bytes(ds.n_samples, ds.dims, n_train, cfg.n_clusters, cfg.methods)
    return secs, float(sum(secs.values())), need


def describe_estimates(secs, total, need, available=None):
    """One sentence: the run's estimated time per method, its total and its memory."""
    per = ", ".join(f"{plotting.method_label(m)} {format_seconds(s)}" for m, s in secs.items())
    mem = f"{need / 2**20:,.0f} MB" + (f" of the {available / 2**20:,.0f} MB available" if available else "")
    return (f"Estimated for the settings above, before Run: {format_seconds(total)} in all ({per}); memory {mem}. "
            f"Estimates are rough (within a few times), from this machine's measured speed{learned_note()}"
            f"{busy_note()}.")


# Worker processes do not scale perfectly (they share the memory bus, and the last cells leave some idle):
# two ran the default sweep about 1.6 times as fast as one process (benchmarks/RESULTS.md).
WORKER_EFFICIENCY = 0.8


def sweep_estimate(ds, cfgs, store, workers=0):
    """Estimated seconds of the units of the sweeps ``cfgs`` (run one after another, sharing ``store``, the
    finished units by ``sweep.unit_key``) that are not finished yet: (corrected by earlier runs, units
    finished, units in all, uncorrected). Units the sweeps share count once; units whose data are the observed
    data (the ceiling, rate 0 on data without gaps) share one probe per seed and fit nothing. ``workers``:
    the worker processes the sweeps run in (0: in the session's thread), each taking a cell at a time."""
    n_train = ds.n_samples - int(round(cfgs[0].test_size * ds.n_samples))
    n_classes = ds.y.shape[1] if ds.is_multilabel else int(np.unique(ds.y).size)
    full = bool(ds.mask.all())
    seen, todo, observed, kept, cells = set(), [], set(), 0, set()
    for c in cfgs:
        for seed, rate, method, kk in plan(c):
            key = unit_key(c, seed, rate, method, kk)
            if key in seen:
                continue  # the k-sensitivity shares its baselines and UL4M4 at k with the main sweep
            seen.add(key)
            if key not in store:
                cells.add((c, seed, rate, kk if c.ks and len(c.ks) > 1 else None))  # roughly, the workers' tasks
            if key in store:
                kept += 1
            elif method == "complete" or (rate == 0 and full):
                if seed not in observed:
                    observed.add(seed)
                    todo.append(("complete", None))
            else:
                todo.append((method, int(kk or c.k)))
    classifier = cfgs[0].classifier
    speedup = max(1.0, WORKER_EFFICIENCY * min(workers, len(cells))) if workers > 1 else 1.0
    raw = estimate_sweep_seconds(ds.n_samples, ds.dims, n_train, todo, n_classes, classifier) / speedup
    return (estimate_sweep_seconds(ds.n_samples, ds.dims, n_train, todo, n_classes, classifier, learned=True) / speedup,
            kept, len(seen), raw)


def learned_note():
    """How the estimates were corrected, when earlier runs on this machine corrected them."""
    return " and what earlier runs on this machine took" if learned_any() else ""


def runs_on_open(ds, n_train, cfg):
    """Whether a page may start a run by itself: small data, and a run estimated at most
    ``AUTO_RUN_SECONDS`` on the reference 2-core machine (a fixed speed, so that the rule does not depend
    on how busy the server is when the page opens); else it waits for Run."""
    ref = estimate_run_seconds(ds.n_samples, ds.dims, n_train, cfg.n_clusters, cfg.methods, max_iter=cfg.max_iter,
                               speed=REFERENCE_SPEED)
    return ds.n_samples <= LARGE_SAMPLES and sum(ref.values()) <= AUTO_RUN_SECONDS


def waiting_message(ds, total_seconds):
    why = (f"{ds.n_samples:,} samples (more than {LARGE_SAMPLES:,})" if ds.n_samples > LARGE_SAMPLES
           else f"a run estimated at {format_seconds(total_seconds)} (over {AUTO_RUN_SECONDS:.0f} s)")
    return (f"This data set has {why}, so nothing starts by itself: check the settings and the estimates, then "
            "press Run.")
