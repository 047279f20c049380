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
