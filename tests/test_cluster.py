import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from conftest import random_incomplete
from reference import ref_lloyd
from ul4m4 import PartialModalityKMeans, partial_kmeans

NAN = np.nan


def toy():
    # Modality A: [-1, -1, 1, 1] (mean 0, std 1). Modality B observed in row 0 only (std floored to 1).
    A = np.array([[-1.0], [-1.0], [1.0], [1.0]])
    B = np.array([[-2.0], [NAN], [NAN], [NAN]])
    init = [np.array([[-1.0], [1.0], [100.0]]), np.array([[NAN], [-2.0], [NAN]])]
    return [A, B], init


def test_one_lloyd_step_by_hand():
    Xs, init = toy()
    km = PartialModalityKMeans(3, init=init, max_iter=1, dtype="float64")
    with pytest.warns(ConvergenceWarning, match="did not converge in max_iter=1"):
        km.fit(Xs)
    # Assignment: rows 0, 1 -> centre 0 (A matches), rows 2, 3 -> centre 1; centre 2 stays empty.
    # Update: centre 0 gains B from row 0; centre 1 has members but none observes B, so it lacks B;
    # the empty centre 2 keeps its previous value and presence.
    assert km.labels_.tolist() == [0, 0, 1, 1]
    assert km.center_mask_.tolist() == [[True, True], [True, False], [True, False]]
    assert np.allclose(km.cluster_centers_[0][:, 0], [-1.0, 1.0, 100.0])
    assert km.cluster_centers_[1][0, 0] == -2.0 and np.isnan(km.cluster_centers_[1][1:]).all()


def test_toy_converges_after_confirming_iteration():
    Xs, init = toy()
    km = PartialModalityKMeans(3, init=init, dtype="float64").fit(Xs)
    assert km.converged_ and km.n_iter_ == 2
    assert km.inertia_ == 0.0


def test_one_centre_has_converged_whenever_it_stops():
    # Every sample is the one centre's member, so the pass after the first could change no label: said
    # converged, and no warning, even with max_iter=1 (the app said "NOT converged" for k = 1).
    rng = np.random.default_rng(0)
    Xs = [rng.normal(size=(30, 3)), rng.normal(size=(30, 2))]
    Xs[1][:5] = NAN
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        km = PartialModalityKMeans(1, max_iter=1, dtype="float64").fit(Xs)
    assert km.converged_ and km.n_iter_ == 1 and (km.labels_ == 0).all()
    # Its centre is the mean of the observed rows of each modality: 0 in z-units.
    assert np.allclose(km.cluster_centers_z_[0], 0.0) and np.allclose(km.cluster_centers_z_[1], 0.0)
    # Two centres stopped at max_iter=1 are not said converged.
    with pytest.warns(ConvergenceWarning):
        assert not PartialModalityKMeans(2, max_iter=1, random_state=0).fit(Xs).converged_


def test_ties_and_unreachable_samples_go_to_lowest_index():
    # Sample 2 observes only B; no centre holds B, so it is at infinite distance from all -> centre 0.
    A = np.array([[0.0], [2.0], [NAN]])
    B = np.array([[NAN], [NAN], [5.0]])
    init = [np.array([[1.0], [1.0]]), np.array([[NAN], [NAN]])]  # two identical centres: ties
    km = PartialModalityKMeans(2, init=init, max_iter=1, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        km.fit([A, B])
    assert km.predict([A, B]).tolist()[2] == 0


@pytest.mark.parametrize("dims", [[4], [3, 5], [2, 6, 1], [3, 3, 3, 2], [2, 2, 2, 2, 2], [1, 2, 3, 4, 5, 6]])
def test_matches_reference_lloyd(dims, global_random_seed):
    rng = np.random.default_rng(global_random_seed)
    n = 40
    Xs, mask = random_incomplete(rng, n, dims)
    k = int(rng.integers(2, 8))
    km = PartialModalityKMeans(k, random_state=global_random_seed, dtype="float64").fit(Xs, mask)
    Z = [(X - km.mean_[m]) / km.scale_[m] for m, X in enumerate(Xs)]
    idx = km.init_indices_
    H0 = mask[idx]
    C0 = [np.where(H0[:, [m]], Z[m][idx], 0.0) for m in range(len(dims))]
    C, H, labels, n_iter, conv = ref_lloyd(Z, mask, C0, H0, km.max_iter)
    assert conv and km.converged_ and km.n_iter_ == n_iter
    assert np.array_equal(labels, km.labels_)
    assert np.array_equal(H, km.center_mask_)
    for m in range(len(dims)):
        assert np.allclose(np.where(H[:, [m]], C[m], 0.0), km.cluster_centers_z_[m], rtol=1e-12, atol=1e-12)


def test_empty_clusters_and_k_close_to_n_match_reference(global_random_seed):
    rng = np.random.default_rng(global_random_seed)
    dims = [2, 3]
    Xs, mask = random_incomplete(rng, 12, dims)
    # Ten centres, three of them far away (they stay empty), some partial.
    init = [rng.normal(size=(10, d)) for d in dims]
    init[0][7:] += 50.0
    init[1][7:] += 50.0
    init[1][[1, 4]] = np.nan
    km = PartialModalityKMeans(10, init=init, dtype="float64").fit(Xs, mask)
    Z = [(X - km.mean_[m]) / km.scale_[m] for m, X in enumerate(Xs)]
    H0 = ~np.column_stack([np.isnan(c).all(axis=1) for c in init])
    C0 = [np.where(H0[:, [m]], (np.nan_to_num(c) - km.mean_[m]) / km.scale_[m], 0.0) for m, c in enumerate(init)]
    C, H, labels, n_iter, _ = ref_lloyd(Z, mask, C0, H0, km.max_iter)
    assert np.array_equal(labels, km.labels_) and np.array_equal(H, km.center_mask_)
    assert not np.isin([7, 8, 9], km.labels_).any()  # the far centres stayed empty...
    assert np.allclose(km.cluster_centers_[0][7:], init[0][7:])  # ...and unchanged


def test_kmeanspp_draws_unreachable_samples_first(global_random_seed):
    # Half the samples observe only A, half only B: the second seed must come from the other half.
    rng = np.random.default_rng(global_random_seed)
    A = rng.normal(size=(20, 2))
    B = rng.normal(size=(20, 3))
    A[10:] = NAN
    B[:10] = NAN
    km = PartialModalityKMeans(2, random_state=global_random_seed, max_iter=50).fit([A, B])
    first, second = km.init_indices_
    assert (first < 10) != (second < 10)


def test_same_seed_same_result_and_float32_close():
    rng = np.random.default_rng(0)
    Xs, mask = random_incomplete(rng, 200, [5, 8, 3])
    a = PartialModalityKMeans(6, random_state=3).fit(Xs, mask)
    b = PartialModalityKMeans(6, random_state=3).fit(Xs, mask)
    assert np.array_equal(a.labels_, b.labels_)
    for ca, cb in zip(a.cluster_centers_, b.cluster_centers_):
        assert np.array_equal(ca, cb, equal_nan=True)
    c = PartialModalityKMeans(6, random_state=3, dtype="float64").fit(Xs, mask)
    assert (a.labels_ == c.labels_).mean() > 0.95


def test_streaming_blocks_equal_cached(monkeypatch):
    import ul4m4.cluster as cl

    rng = np.random.default_rng(1)
    Xs, mask = random_incomplete(rng, 300, [4, 6])
    a = PartialModalityKMeans(5, random_state=0, dtype="float64", chunk_size=37).fit(Xs, mask)
    monkeypatch.setattr(cl, "CACHE_LIMIT_BYTES", 0)
    b = PartialModalityKMeans(5, random_state=0, dtype="float64", chunk_size=37).fit(Xs, mask)
    assert np.array_equal(a.labels_, b.labels_)


def test_one_shot_wrapper_is_the_estimator():
    rng = np.random.default_rng(0)
    Xs, mask = random_incomplete(rng, 50, [3, 3])
    C, H, labels = partial_kmeans(Xs, 4, mask, random_state=1)
    km = PartialModalityKMeans(4, random_state=1).fit(Xs, mask)
    assert np.array_equal(labels, km.labels_) and np.array_equal(H, km.center_mask_)


def test_distances_and_predict():
    rng = np.random.default_rng(0)
    Xs, mask = random_incomplete(rng, 60, [3, 4])
    km = PartialModalityKMeans(4, random_state=0, dtype="float64").fit(Xs, mask)
    D = km.distances(Xs, mask)
    assert np.array_equal(D.argmin(axis=1), km.predict(Xs, mask))
    assert np.array_equal(km.predict(Xs, mask), km.labels_)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_clusters": 0}, "n_clusters=0 should be >= 1"),
        ({"n_clusters": 11}, "n_samples=10 should be >= n_clusters=11"),
        ({"max_iter": 0}, "max_iter=0 should be an integer >= 1"),
        ({"init": "kmeans"}, "init='kmeans' should be"),
        ({"random_state": "x"}, "random_state='x'"),
        ({"init": [np.zeros((2, 3))]}, "init: Xs has 1 modalities; expected 2"),
        ({"init": [np.zeros((2, 3)), np.zeros((2, 1))]}, r"init: Xs\[1\] has 1 features; expected 2"),
        ({"init": [np.full((2, 3), NAN), np.full((2, 2), NAN)]}, r"init: 2 initial centres hold no modality"),
        ({"init": [np.zeros((3, 3)), np.zeros((3, 2))]}, "init has 3 centres; expected n_clusters=2"),
        ({"chunk_size": 0}, "chunk_size=0"),
        ({"dtype": "float16"}, "dtype='float16' is not supported"),
    ],
)
def test_parameter_errors(kwargs, match):
    rng = np.random.default_rng(0)
    Xs = [rng.normal(size=(10, 3)), rng.normal(size=(10, 2))]
    params = {"n_clusters": 2, **kwargs}
    with pytest.raises((ValueError, TypeError), match=match):
        PartialModalityKMeans(**params).fit(Xs)


def test_not_fitted_and_wrong_shapes():
    km = PartialModalityKMeans(2)
    assert not hasattr(km, "labels_")
    with pytest.raises(NotFittedError, match="not fitted yet"):
        km.predict([np.zeros((3, 2))])
    km.fit([np.random.default_rng(0).normal(size=(10, 2))])
    with pytest.raises(ValueError, match="expected 2 .as seen in fit"):
        km.predict([np.zeros((3, 4))])


def test_modality_without_observed_rows_is_refused():
    with pytest.raises(ValueError, match="Modality 1 is observed in no sample"):
        PartialModalityKMeans(2).fit([np.zeros((5, 2)), np.full((5, 2), NAN)])
