import pytest

from ul4m4 import load_dataset
from ul4m4.experiment import MissingConfig, RunConfig, make_mask, run_methods
from ul4m4.memory import available_bytes, check_memory, estimate_run_bytes


def test_estimate_grows_with_methods_and_size():
    small = estimate_run_bytes(100, [10, 10], 70, 5, ("ul4m4",))
    more = estimate_run_bytes(100, [10, 10], 70, 5, ("ul4m4", "knn", "iterative"))
    bigger = estimate_run_bytes(10_000, [10, 10], 7_000, 5, ("ul4m4",))
    assert 0 < small < more and small < bigger


def test_refusal_explains_what_to_change():
    with pytest.raises(ValueError, match=r"needs about 2\.0 GB of memory but only 1\.0 GB are available; use fewer"):
        check_memory(2 * 2**30, available=2**30)
    check_memory(2**20, available=2**30)


def test_run_is_refused_before_it_starts():
    ds = load_dataset("breast_cancer")
    m = make_mask(ds, MissingConfig(rate=0.2))
    with pytest.raises(ValueError, match="needs about"):
        run_methods(ds, m, RunConfig(n_clusters=2), available_memory=1000)


def test_environment_cap(monkeypatch):
    monkeypatch.setenv("UL4M4_MEMORY_LIMIT_MB", "3")
    assert available_bytes() == 3 * 2**20
    monkeypatch.setenv("UL4M4_MEMORY_LIMIT_MB", "lots")
    with pytest.raises(ValueError, match="should be a number of megabytes"):
        available_bytes()


def test_a_limit_set_for_the_current_context_caps_available_memory():
    from ul4m4.memory import memory_limit

    outside = available_bytes()
    with memory_limit(5 * 2**20):
        assert available_bytes() == 5 * 2**20
        with pytest.raises(ValueError, match="needs about 10 MB of memory but only 5 MB are available"):
            check_memory(10 * 2**20)
    assert available_bytes() == outside


def test_the_limit_is_per_thread():
    import threading

    from ul4m4.memory import set_memory_limit

    seen = {}

    def other():
        seen["other"] = available_bytes()

    set_memory_limit(2**20)
    try:
        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert available_bytes() == 2**20 and seen["other"] != 2**20
    finally:
        set_memory_limit(None)


def test_synthetic_and_sweep_estimates_grow_with_what_they_hold():
    from ul4m4.memory import estimate_sweep_bytes, estimate_synthetic_bytes

    small = estimate_synthetic_bytes(1000, 48, 16, 8, 4)
    assert small >= 1000 * 48 * 8 and estimate_synthetic_bytes(100_000, 8 * 500, 500, 8, 4) > 3 * 2**30
    sweep = estimate_sweep_bytes(2000, [76, 216], 1400, (10,), ("ul4m4", "mean"), 10)
    assert sweep > estimate_run_bytes(2000, [76, 216], 1400, 10, ("ul4m4",))
    assert estimate_sweep_bytes(2000, [76, 216], 1400, (10,), ("mean",), 50_000) > 10 * sweep  # many classes


def test_deep_nbytes_counts_buffers_once():
    import numpy as np
    import pandas as pd

    from ul4m4.memory import deep_nbytes

    a = np.ones((1000, 100))
    assert a.nbytes <= deep_nbytes(a) < a.nbytes + 1000
    assert deep_nbytes([a, a, a[:10]]) < 2 * a.nbytes  # the same buffer, and a view of it, count once
    assert deep_nbytes({"x": pd.DataFrame(a)}) >= a.nbytes
    ds = load_dataset("breast_cancer")
    assert deep_nbytes(ds) >= sum(X.nbytes for X in ds.Xs)


def test_sweep_estimate_holds_a_batch_spanning_a_seeds_rates():
    """The linear probes of a seed's rates share one batch: the estimate counts all of them (it once counted
    one rate's units, and the numpy allocations of this sweep alone went past it)."""
    import tracemalloc
    import warnings

    from ul4m4 import make_synthetic
    from ul4m4.memory import estimate_sweep_bytes
    from ul4m4.sweep import SweepConfig, run_sweep

    ds = make_synthetic(n_samples=600, n_modalities=3, dims=200, n_clusters=4, random_state=0)
    cfg = SweepConfig(rates=(0.0, 0.2, 0.4, 0.6, 0.8), seeds=(0,), methods=("mean",), k=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_sweep(ds, cfg)  # imports and caches first
        tracemalloc.start()
        try:
            run_sweep(ds, cfg)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    n_train = ds.n_samples - int(round(cfg.test_size * ds.n_samples))
    est = estimate_sweep_bytes(ds.n_samples, ds.dims, n_train, (cfg.k,), cfg.methods, 4, n_rates=len(cfg.rates))
    assert peak <= est
    # With unknown rates the bound is the batch's byte limit, never below the known-rates figure.
    assert estimate_sweep_bytes(ds.n_samples, ds.dims, n_train, (cfg.k,), cfg.methods, 4) >= est
