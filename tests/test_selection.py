"""Label-free selection: the hold-out of observed slots and select_parameters / n_clusters="auto"."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from conftest import random_incomplete, with_nan
from ul4m4 import UL4M4Imputer, select_parameters
from ul4m4.missing import holdout_mask
from ul4m4 import impute
from ul4m4.impute import (
    N_CLUSTERS_GRID, SELECTION_MAX_REPEATS, SELECTION_MIN_HIDDEN, SELECTION_MIN_HIDDEN_ENTRIES, SELECTION_PARSIMONY,
    SELECTION_STOP_AFTER, selection_grid, selection_repeats,
)
from ul4m4.scaling import modality_stats


def test_holdout_hides_only_observed_slots_and_never_the_last(global_random_seed):
    rng = np.random.default_rng(global_random_seed)
    mask = rng.random((500, 4)) < 0.5
    mask[~mask.any(axis=1), 0] = True
    hidden = holdout_mask(mask, 0.3, random_state=global_random_seed)
    assert not (hidden & ~mask).any()
    assert (mask & ~hidden).any(axis=1).all()  # every sample keeps an observed slot
    single = mask.sum(axis=1) == 1
    assert not hidden[single].any()
    frac = hidden.sum() / mask.sum()
    assert 0.2 < frac < 0.4
    assert np.array_equal(hidden, holdout_mask(mask, 0.3, random_state=global_random_seed))


def test_holdout_on_single_modality_samples_hides_nothing():
    mask = np.eye(3, dtype=bool)[np.arange(30) % 3]
    assert not holdout_mask(mask, 0.5, random_state=0).any()


@pytest.mark.parametrize("fraction", [0, 1, -0.1, float("nan"), "half", True])
def test_holdout_bad_fraction(fraction):
    with pytest.raises(ValueError, match="fraction"):
        holdout_mask(np.ones((5, 2), dtype=bool), fraction)


def test_selection_never_uses_blocks_that_were_not_observed():
    """Whatever sits in the unobserved (removed) blocks, the selection table is the same."""
    rng = np.random.default_rng(0)
    Xs, mask = random_incomplete(rng, 150, [3, 4, 2])
    nan_in = with_nan(Xs, mask)
    junk = [np.where(mask[:, [m]], X, rng.normal(scale=1e3, size=X.shape)) for m, X in enumerate(Xs)]
    kw = dict(n_clusters=(2, 4, 8), temperatures=(0.3, 1.0), n_repeats=2, random_state=3)
    a = select_parameters(nan_in, mask, **kw)
    b = select_parameters(junk, mask, **kw)
    cols = [c for c in a.columns if c != "seconds"]
    assert len(a) == 3 * 2 * 2
    assert a[cols].equals(b[cols])


def test_selection_hidden_slots_are_what_is_scored():
    """Changing the value of an observed slot changes the table (so the hold-out really scores them)."""
    rng = np.random.default_rng(1)
    Xs, mask = random_incomplete(rng, 120, [3, 3])
    kw = dict(n_clusters=(4,), temperatures=(0.3,), n_repeats=1, random_state=0)
    a = select_parameters(with_nan(Xs, mask), mask, **kw)
    Xs2 = [X * 2.0 + 1.0 for X in Xs]  # standardisation makes this the same problem...
    b = select_parameters(with_nan(Xs2, mask), mask, **kw)
    assert a["holdout_mse"].iloc[0] == pytest.approx(b["holdout_mse"].iloc[0], rel=1e-4)
    Xs3 = [X.copy() for X in Xs]
    Xs3[0] = 3.0 * Xs[1] + 0.1 * rng.normal(size=Xs3[0].shape)  # ...but modalities that predict each other
    c = select_parameters(with_nan(Xs3, mask), mask, **kw)  # score far better than independent noise
    assert c["holdout_mse"].iloc[0] < 0.8 * a["holdout_mse"].iloc[0]


def test_auto_fit_uses_the_best_grid_point():
    rng = np.random.default_rng(2)
    Xs, mask = random_incomplete(rng, 200, [4, 3])
    Xin = with_nan(Xs, mask)
    imp = UL4M4Imputer("auto", completion="soft", temperature="auto", random_state=0).fit(Xin, mask)
    table = imp.selection_
    # The default grid up to half the rows, and half the rows itself (100): on these 200 rows.
    assert set(table["n_clusters"]) <= {8, 16, 32, 64, 100} and {8, 16} <= set(table["n_clusters"])
    mean = table.groupby(["n_clusters", "temperature_factor"])["holdout_mse"].mean()
    # The smallest k within SELECTION_PARSIMONY of the best score, at its own best temperature.
    near = mean[mean <= mean.min() * (1 + SELECTION_PARSIMONY)]
    k = min(near.index.get_level_values(0))
    f = mean.loc[k].idxmin()
    assert imp.n_clusters_ == k == len(imp.center_mask_)
    assert imp.temperature_ == pytest.approx(f * imp.typical_distance_)
    # A grid of k and greedy completion: only k is searched.
    g = UL4M4Imputer([2, 5], random_state=0).fit(Xin, mask)
    assert set(g.selection_["n_clusters"]) == {2, 5} and g.n_clusters_ in (2, 5)
    assert g.selection_["temperature"].isna().all()


def test_plain_fit_has_no_selection():
    rng = np.random.default_rng(3)
    Xs, mask = random_incomplete(rng, 50, [2, 2])
    imp = UL4M4Imputer(3, random_state=0).fit(with_nan(Xs, mask), mask)
    assert imp.selection_ is None and imp.n_clusters_ == 3


@pytest.mark.parametrize("bad, match", [
    ({"n_clusters": []}, "n_clusters"), ({"n_clusters": [0, 2]}, "n_clusters"),
    ({"temperatures": [-1.0]}, "temperatures"), ({"completion": "x"}, "completion"),
    ({"n_repeats": 0}, "n_repeats"), ({"n_repeats": "some"}, "n_repeats"), ({"max_samples": 1}, "max_samples"),
    ({"n_repeats": 10**6}, "from 1 to 1000"),
    ({"holdout": 1.0}, "fraction"),
])
def test_select_parameters_bad_arguments(bad, match):
    rng = np.random.default_rng(0)
    Xs, mask = random_incomplete(rng, 40, [2, 2])
    with pytest.raises(ValueError, match=match):
        select_parameters(with_nan(Xs, mask), mask, **bad)


def test_selection_grid_goes_to_half_the_rows():
    # Doubling k up to n / 2, and n / 2 itself when it lies below the grid's top (small data).
    assert selection_grid(N_CLUSTERS_GRID, 398) == [8, 16, 32, 64, 128, 199]
    assert selection_grid(N_CLUSTERS_GRID, 256) == [8, 16, 32, 64, 128]  # 128 is n / 2 already
    assert selection_grid(N_CLUSTERS_GRID, 4000) == list(N_CLUSTERS_GRID)
    assert selection_grid(N_CLUSTERS_GRID, 398, extend=False) == [8, 16, 32, 64, 128]
    assert selection_grid([2, 5], 40) == [2, 5]  # a grid of the user's own is not extended...
    assert selection_grid([2, 50], 40, extend=False) == [2]  # ...and keeps a cluster's two members
    assert selection_grid(N_CLUSTERS_GRID, 10) == [5]  # below the smallest k: n / 2
    assert selection_grid([8], 5) == [2]
    assert selection_grid([8], 5, extend=False) == [5]  # nothing fits: the smallest k, at most the rows


def test_selection_repeats_aim_at_a_number_of_hidden_blocks():
    assert selection_repeats(SELECTION_MIN_HIDDEN) == 1
    assert selection_repeats(SELECTION_MIN_HIDDEN * 10) == 1
    assert selection_repeats(SELECTION_MIN_HIDDEN // 2) == 2
    assert selection_repeats(1) == SELECTION_MAX_REPEATS
    assert selection_repeats(0) == 1
    # ... and of hidden entries: blocks of few features need more of them.
    assert selection_repeats(SELECTION_MIN_HIDDEN, SELECTION_MIN_HIDDEN_ENTRIES) == 1
    assert selection_repeats(SELECTION_MIN_HIDDEN, -(-SELECTION_MIN_HIDDEN_ENTRIES // 3)) == 3
    assert selection_repeats(SELECTION_MIN_HIDDEN // 2, SELECTION_MIN_HIDDEN_ENTRIES * 5) == 2
    assert selection_repeats(5000, 10) == SELECTION_MAX_REPEATS
    rng = np.random.default_rng(5)
    Xs, mask = random_incomplete(rng, 1000, [3, 2])
    table = select_parameters(with_nan(Xs, mask), mask, n_clusters=[4], temperatures=[0.3], random_state=0)
    hidden = table.loc[table["repeat"] == 0, "n_hidden"].iloc[0]
    # Small data: several hold-outs. Each hidden block holds 2 or 3 entries (modalities of 3 and 2 features).
    assert selection_repeats(hidden, 3 * hidden) <= table["repeat"].nunique() <= selection_repeats(hidden, 2 * hidden)
    assert table["repeat"].nunique() > selection_repeats(hidden) > 1  # the entries ask for more than the blocks


def test_holdout_scoring_equals_the_full_completion(global_random_seed):
    # The search scores the soft completion of the hidden blocks with one distance pass for every
    # temperature; it must be what completing every sample and reading the hidden blocks gives (the
    # fitted rows completed out of sample, as fit_transform completes them).
    rng = np.random.default_rng(global_random_seed)
    Xs, mask = random_incomplete(rng, 150, [4, 3, 2], p_obs=0.7)
    hidden = holdout_mask(mask, 0.2, rng)
    fit_mask = mask & ~hidden
    Xfit = with_nan(Xs, fit_mask)
    _, sd = modality_stats(Xs, mask)
    for k in (3, 40):
        model = UL4M4Imputer(k, completion="soft", random_state=0).fit(Xfit, fit_mask)
        Xq, mq, device, dtype = model._prepare(Xfit, fit_mask)
        temps = [0.1 * model.typical_distance_, model.typical_distance_, None]
        got = model._holdout_errors(Xq, mq, device, dtype, hidden, Xs, sd, temps, "soft")
        for temp, (num, cnt) in zip(temps, got):
            filled, _ = model._complete(Xq, mq, device, dtype, temperature=temp, completion="soft", own=model.labels_)
            want = sum(float(((((filled[m][hidden[:, m]] - X[hidden[:, m]]) / sd[m]) ** 2).mean(axis=1)).sum())
                       for m, X in enumerate(Xs))
            assert cnt == hidden.sum()
            assert num == pytest.approx(want, rel=1e-6)


def test_one_seeder_gives_every_k_its_kmeans_plus_plus_seeds():
    rng = np.random.default_rng(7)
    Xs, mask = random_incomplete(rng, 90, [3, 2])
    Xin = with_nan(Xs, mask)
    seeder = UL4M4Imputer(random_state=4)._seeder(Xin, mask)
    big = seeder.seeds(20)
    for k in (1, 5, 12):
        fitted = UL4M4Imputer(k, random_state=4).fit(Xin, mask)
        np.testing.assert_array_equal(fitted.init_indices_, big[:k])
        np.testing.assert_array_equal(seeder.seeds(k), big[:k])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kmeans_plus_plus_folds_on_the_host_as_the_torch_terms_do(dtype):
    # In host memory a fold is numpy on the standardised copy; it must give the distances of
    # ratio_or_inf(sample_center_terms(...)) (to rounding), +inf where nothing is shared, and the same draws.
    rng = np.random.default_rng(14)
    Xs, mask = random_incomplete(rng, 300, [5, 2, 4], p_obs=0.5)
    mask[:20] = [True, False, False]
    mask[20:40] = [False, True, False]  # rows sharing nothing with some seeds
    Xin = with_nan(Xs, mask)
    host = UL4M4Imputer(random_state=3, dtype=dtype)._seeder(Xin, mask)
    ref = UL4M4Imputer(random_state=3, dtype=dtype)._seeder(Xin, mask)
    ref.host = None  # the torch terms, block by block
    assert host.host is not None
    np.testing.assert_array_equal(host.seeds(60), ref.seeds(60))
    for row in (0, 25, 100, 299):
        got = host._one_centre_host(row)
        ref.d2 = np.full(300, np.inf)
        ref.chosen, ref.folded = [row], 0
        ref._fold()
        np.testing.assert_array_equal(np.isinf(got), np.isinf(ref.d2))
        np.testing.assert_allclose(got[np.isfinite(got)], ref.d2[np.isfinite(ref.d2)], rtol=1e-5, atol=1e-6)
        assert got[row] == 0.0  # a sample is its own nearest seed exactly


def test_seeding_limits_blas_threads_only_while_it_runs_and_restores_them():
    from threadpoolctl import threadpool_info

    from ul4m4.cluster import _OneBlasThread

    def blas_threads():
        return sorted((d["filepath"], d["num_threads"]) for d in threadpool_info() if d["user_api"] == "blas")

    before = blas_threads()
    seen = []
    rng = np.random.default_rng(15)
    Xs, mask = random_incomplete(rng, 200, [4, 3], p_obs=0.6)
    seeder = UL4M4Imputer(random_state=0)._seeder(with_nan(Xs, mask), mask)
    real = seeder._fold

    def spy():
        seen.append(blas_threads())
        real()

    seeder._fold = spy
    seeder.seeds(5)
    assert seen and all(all(t == 1 for _, t in threads) for threads in seen)
    assert blas_threads() == before
    with _OneBlasThread():  # nested uses keep the limit until the outermost one leaves
        with _OneBlasThread():
            pass
        assert all(t == 1 for _, t in blas_threads())
    assert blas_threads() == before


def test_auto_search_stops_raising_k_once_the_error_rises():
    rng = np.random.default_rng(11)
    Xs, mask = random_incomplete(rng, 400, [3, 3], p_obs=0.7)  # no cluster structure: larger k only hurts
    imp = UL4M4Imputer("auto", completion="soft", temperature="auto", random_state=0).fit(with_nan(Xs, mask), mask)
    tried = sorted(imp.selection_["n_clusters"].unique())
    grid = selection_grid(N_CLUSTERS_GRID, 400)
    assert tried == grid[: len(tried)]
    best = imp.selection_.groupby(["n_clusters", "temperature_factor"])["holdout_mse"].mean().groupby(level=0).min()
    if len(tried) < len(grid):  # stopped: the last SELECTION_STOP_AFTER k all scored above the best before them
        last = best.iloc[-SELECTION_STOP_AFTER:]
        assert (last > best.iloc[:-SELECTION_STOP_AFTER].min()).all()
    # select_parameters scores every k it is given.
    full = select_parameters(with_nan(Xs, mask), mask, temperatures=[0.3], random_state=0)
    assert sorted(full["n_clusters"].unique()) == grid


def test_typical_distance_is_out_of_sample_and_does_not_vanish():
    rng = np.random.default_rng(8)
    Xs = [rng.normal(size=(60, 3)), rng.normal(size=(60, 2))]
    mask = np.ones((60, 2), dtype=bool)
    small = UL4M4Imputer(4, completion="soft", random_state=0).fit(Xs, mask)
    pairs = UL4M4Imputer(30, completion="soft", random_state=0).fit(Xs, mask)
    # Two-member clusters: in sample each member is half the pair's distance from its centre, out of
    # sample the whole distance; the typical distance stays of the order of a neighbour's distance.
    assert pairs.typical_distance_ > 0.3 * small.typical_distance_
    # By hand: the median over samples of sqrt(mean over modalities of the per-entry squared distance
    # to the centre without the sample), for members of clusters of two or more.
    z = [(X - mu) / sd for X, mu, sd in zip(Xs, small.mean_, small.scale_)]
    lab = small.labels_
    d = []
    for i in range(60):
        members = np.flatnonzero(lab == lab[i])
        if members.size < 2:
            continue
        others = members[members != i]
        d.append(np.sqrt(np.mean([((zm[i] - zm[others].mean(axis=0)) ** 2).mean() for zm in z])))
    assert small.typical_distance_ == pytest.approx(np.median(d), rel=1e-4)


def test_a_large_search_seeds_the_final_fit(monkeypatch):
    # Beyond SELECTION_MAX_SAMPLES rows the search ran on a subsample; the centres it fitted at the chosen
    # k start the fit on all rows (no k-means++ pass over them). Within it, k-means++ as usual.
    rng = np.random.default_rng(9)
    Xs, mask = random_incomplete(rng, 300, [3, 2], p_obs=0.7)
    Xin = with_nan(Xs, mask)
    monkeypatch.setattr(impute, "SELECTION_MAX_SAMPLES", 120)
    big = UL4M4Imputer("auto", completion="soft", temperature="auto", random_state=0).fit(Xin, mask)
    assert big.init_indices_ is None and big.selection_["n_rows"].max() == 120
    assert np.isfinite(np.concatenate(big.transform(Xin, mask), axis=1)).all()
    monkeypatch.setattr(impute, "SELECTION_MAX_SAMPLES", 4000)
    small = UL4M4Imputer("auto", completion="soft", temperature="auto", random_state=0).fit(Xin, mask)
    assert small.init_indices_ is not None and len(small.init_indices_) == small.n_clusters_


def test_the_warm_started_fit_refines_for_a_few_passes_quietly(monkeypatch):
    # Warm-started from the search's centres, the fit on all rows runs at most WARM_START_MAX_ITER passes
    # (fewer when max_iter is smaller), without a ConvergenceWarning; its result is that of a fit from
    # the same centres with that max_iter.
    rng = np.random.default_rng(12)
    Xs, mask = random_incomplete(rng, 400, [3, 2], p_obs=0.7)
    Xin = with_nan(Xs, mask)
    monkeypatch.setattr(impute, "SELECTION_MAX_SAMPLES", 150)
    monkeypatch.setattr(impute, "WARM_START_MAX_ITER", 1)
    calls = []
    real = UL4M4Imputer._fit_clusters

    def spy(self, Xs_, mask_, k, init=None, warn=True, max_iter=None, shared=None):
        calls.append((mask_.shape[0], k, init, warn, max_iter))
        return real(self, Xs_, mask_, k, init, warn, max_iter, shared)

    monkeypatch.setattr(UL4M4Imputer, "_fit_clusters", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        imp = UL4M4Imputer("auto", completion="soft", temperature="auto", tol=0.0, random_state=0).fit(Xin, mask)
    n, k, init, warn, max_iter = calls[-1]
    assert n == 400 and init is not None and not warn and max_iter == 1 and imp.n_iter_ == 1
    ref = UL4M4Imputer(k, init=init, max_iter=1, tol=0.0, completion="soft", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref.fit(Xin, mask)
    np.testing.assert_array_equal(imp.labels_, ref.labels_)
    monkeypatch.setattr(impute, "WARM_START_MAX_ITER", 5)
    UL4M4Imputer("auto", completion="soft", temperature="auto", max_iter=3, random_state=0).fit(Xin, mask)
    assert calls[-1][4] == 3  # the user's smaller max_iter


def test_the_search_shares_one_standardised_copy_per_hold_out_with_the_same_result():
    rng = np.random.default_rng(13)
    Xs, mask = random_incomplete(rng, 200, [4, 3], p_obs=0.6)
    Xin = with_nan(Xs, mask)
    shared = {}
    seeder = UL4M4Imputer(random_state=1)._seeder(Xin, mask, shared)
    for k in (3, 9, 27):
        init = [X[seeder.seeds(k)] for X in Xin]
        a = UL4M4Imputer(k, random_state=1)._fit_clusters(Xin, mask, k, init, shared=shared)
        b = UL4M4Imputer(k, random_state=1)._fit_clusters(Xin, mask, k, init)
        np.testing.assert_array_equal(a.labels_, b.labels_)
        for ca, cb in zip(a.cluster_centers_, b.cluster_centers_):
            np.testing.assert_array_equal(ca, cb)
        np.testing.assert_array_equal(a.scale_[0], b.scale_[0])
    assert sum(key[0] == "blocks" for key in shared if isinstance(key, tuple)) == 1  # one copy for all


def test_explicit_centres_cannot_be_combined_with_a_search_over_k():
    rng = np.random.default_rng(4)
    Xs, mask = random_incomplete(rng, 60, [3, 2])
    init = [X[:3] for X in Xs]
    for k in ("auto", [2, 3]):
        with pytest.raises(ValueError, match="explicit initial centres fix k"):
            UL4M4Imputer(k, init=init, completion="soft").fit(with_nan(Xs, mask), mask)
    UL4M4Imputer(3, init=init, completion="soft", temperature="auto").fit(with_nan(Xs, mask), mask)  # k given: fine


@pytest.mark.filterwarnings("ignore:PartialModalityKMeans did not converge")  # 150 clusters of 300 rows can cycle
def test_a_given_k_stays_when_only_the_temperature_is_searched(monkeypatch):
    # The search runs on a subsample that may hold fewer rows than k; the k the user gave is still the k
    # the imputer fits.
    rng = np.random.default_rng(6)
    Xs, mask = random_incomplete(rng, 300, [3, 2], p_obs=0.7)
    monkeypatch.setattr(impute, "SELECTION_MAX_SAMPLES", 100)
    imp = UL4M4Imputer(150, completion="soft", temperature="auto", random_state=0).fit(with_nan(Xs, mask), mask)
    assert imp.n_clusters_ == 150 and imp.init_indices_ is not None  # seeded afresh, not from the search


@pytest.mark.parametrize("kw, chosen", [({"completion": "soft", "temperature": "auto"}, "and the temperature factor"),
                                        ({"completion": "greedy"}, "was used")])
def test_auto_fit_with_nothing_to_hide_takes_the_defaults_and_says_so(kw, chosen):
    # Every sample observes one modality: the hold-out can hide nothing, so nothing can be chosen by it.
    # The fit still completes (as SoftImputeImputer falls back to its grid's middle) and warns.
    rng = np.random.default_rng(0)
    mask = np.eye(2, dtype=bool)[np.arange(40) % 2]
    Xs = with_nan([rng.normal(size=(40, 4)), rng.normal(size=(40, 3))], mask)
    with pytest.warns(UserWarning, match=f"could hide no observed slot.*k = 8 \\(the smallest of the grid\\) {chosen}"):
        model = UL4M4Imputer("auto", random_state=0, **kw).fit(Xs, mask)
    assert model.n_clusters_ == 8
    assert model.selection_["holdout_mse"].isna().all()
    if kw["completion"] == "soft":
        assert model.temperature_ == pytest.approx(impute.DEFAULT_TEMPERATURE_FACTOR * model.typical_distance_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = model.transform(Xs, mask)
    assert all(np.isfinite(X).all() for X in out)


def test_holdout_best_is_the_setting_the_rule_compares_with():
    """holdout_best names the best (k, temperature factor) of the search, and the chosen k is the smallest whose
    best temperature comes within SELECTION_PARSIMONY of its error (what the Cluster & impute page says)."""
    import ul4m4
    from ul4m4.experiment import holdout_best
    from ul4m4.impute import SELECTION_PARSIMONY

    ds = ul4m4.make_synthetic(n_samples=300, n_modalities=3, dims=[6, 5, 4], n_clusters=4, random_state=0)
    mask, _ = ul4m4.simulate_missing(ds.n_samples, 3, "mcar", rate=0.4, random_state=0)
    imp = ul4m4.UL4M4Imputer("auto", completion="soft", temperature="auto", random_state=0)
    imp.fit(ul4m4.experiment.masked(ds.Xs, mask), mask)
    k, f, mse = holdout_best(imp)
    g = imp.selection_.groupby(["n_clusters", "temperature_factor"], dropna=False)["holdout_mse"].mean()
    assert mse == g.min() and g[(k, f)] == mse
    per_k = g.groupby(level=0).min()
    assert imp.n_clusters_ == per_k[per_k <= mse * (1 + SELECTION_PARSIMONY)].index.min()
    # What the k-selection chart draws: each k at its best temperature, and the bound the chosen k comes under.
    from ul4m4.experiment import holdout_curve, selection_bound

    bound = selection_bound(imp)
    assert bound == mse * (1 + SELECTION_PARSIMONY)
    curve = holdout_curve(imp).set_index("k")
    assert (curve["holdout_best_mse"] == per_k.reindex(curve.index)).all()
    assert curve["holdout_best_mse"].min() == mse
    under = curve.index[curve["holdout_best_mse"] <= bound]
    assert under.min() == imp.n_clusters_


def test_hold_outs_that_would_not_fit_in_memory_are_refused_before_any_is_made():
    # Every hold-out is kept at once: their memory is checked first (300 on mfeat took 3.5 GB in seconds).
    from ul4m4.memory import memory_limit

    rng = np.random.default_rng(0)
    Xs, mask = random_incomplete(rng, 400, [30, 20])
    with memory_limit(20 * 2**20), pytest.raises(ValueError, match="hold-outs of n_repeats=1000 needs about"):
        select_parameters(with_nan(Xs, mask), mask, n_clusters=(4,), n_repeats=1000)
