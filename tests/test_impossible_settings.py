"""Impossible or odd settings: each gets a clear message or a documented, sensible behaviour."""

import numpy as np
import pytest

from ul4m4 import UL4M4Imputer, load_dataset, make_synthetic, simulate_missing
from ul4m4.experiment import MissingConfig, RunConfig, make_mask, run_methods, split_indices


def test_k_zero_and_k_above_training_set():
    ds = make_synthetic(n_samples=50, random_state=0)
    with pytest.raises(ValueError, match="n_clusters=0 should be >= 1"):
        UL4M4Imputer(0).fit(ds.Xs)
    m = make_mask(ds, MissingConfig(rate=0.2))
    with pytest.raises(ValueError, match="k=36 clusters is more than the 35 training samples; choose k <= 35"):
        run_methods(ds, m, RunConfig(n_clusters=36))


def test_rate_one_is_refused():
    with pytest.raises(ValueError, match=r"rate=1.0 should be in \[0, 1\)"):
        simulate_missing(10, 3, "mcar", rate=1.0)


def test_one_modality_only_is_never_emptied():
    ds = make_synthetic(n_samples=80, n_modalities=1, dims=5, random_state=0)
    with pytest.raises(ValueError, match="with one modality nothing can be removed"):
        make_mask(ds, MissingConfig(rate=0.5))  # a sample keeps its only modality: said, not silently ignored
    m = make_mask(ds, MissingConfig(rate=0.0))
    run = run_methods(ds, m, RunConfig(methods=("ul4m4", "mean"), n_clusters=3))
    assert np.array_equal(run.completed["ul4m4"][0], ds.Xs[0])


def test_modality_of_width_one_and_constant_features():
    rng = np.random.default_rng(0)
    Xs = [rng.normal(size=(60, 1)), np.c_[np.ones(60), rng.normal(size=60)]]  # width 1; a constant feature
    Xs[0][:10] = np.nan
    out = UL4M4Imputer(3, random_state=0).fit_transform(Xs)
    assert np.isfinite(out[0]).all()
    imp = UL4M4Imputer(3, random_state=0).fit(Xs)
    assert imp.scale_[1][0] == 1.0  # constant feature: std floored to 1, as METHOD.md says


def test_class_with_a_single_sample_falls_back_to_unstratified_split():
    y = np.r_[np.zeros(30, int), np.ones(29, int), [2]]
    tr, te, stratified = split_indices(60, y, 0.3, 0)
    assert not stratified and len(tr) + len(te) == 60


@pytest.mark.parametrize("seed", [1.5, "7", [1], -3])
def test_seed_that_is_not_a_non_negative_integer(seed):
    with pytest.raises((TypeError, ValueError), match="random_state="):
        UL4M4Imputer(2, random_state=seed).fit([np.ones((5, 2)) + np.arange(5)[:, None]])


def test_duplicate_samples_and_k_equal_n():
    X = np.repeat(np.arange(4.0)[:, None], 3, axis=0)  # 12 rows, 4 distinct values
    imp = UL4M4Imputer(12, random_state=0, dtype="float64").fit([X, X.copy()])
    assert imp.converged_ and np.isfinite(imp.inertia_)


def test_breast_cancer_every_mechanism_runs_through_the_app_path():
    ds = load_dataset("breast_cancer")  # 3 modalities, complete, labelled: every mechanism applies
    for cfg in (MissingConfig(mechanism="mnar_value", rate=0.3), MissingConfig(mechanism="mnar_label", rate=0.3),
                MissingConfig(mechanism="pepsy", rate=None, pm=0.6, ps=0.8),
                MissingConfig(mechanism="standard", rate=None, keep_probs=(1.0, 0.3, 0.5)),
                MissingConfig(mechanism="mutually_exclusive", rate=0.5), MissingConfig(mechanism="partial", rate=0.5)):
        m = make_mask(ds, cfg)
        assert m.mask.any(axis=1).all() and m.removed.any(), cfg.mechanism
        run = run_methods(ds, m, RunConfig(methods=("ul4m4",), n_clusters=2))
        allrow = run.errors[(run.errors["split"] == "all") & (run.errors["modality"] == "all")].iloc[0]
        assert allrow["n_removed"] == m.removed.sum() and np.isfinite(allrow["mse"]), cfg.mechanism


@pytest.mark.parametrize("chunk_size", [10**12, 2**40])
def test_huge_chunk_size_is_refused_or_capped(chunk_size):
    X = np.random.default_rng(0).normal(size=(50, 3))
    try:
        UL4M4Imputer(2, chunk_size=chunk_size, random_state=0).fit([X])
    except ValueError as exc:
        assert "chunk_size" in str(exc)
