"""Properties every imputer must have (the contract): observed entries untouched, no NaN/inf out,
shapes and dtype kept, deterministic, works on partly and fully observed data, refuses bad input."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from conftest import random_incomplete, with_nan
from ul4m4 import (IterativeModalityImputer, KNNModalityImputer, MeanImputer, SoftImputeImputer, UL4M4Imputer,
                   UL4M4LowRankImputer, ZeroImputer)

IMPUTERS = {
    "ul4m4": lambda: UL4M4Imputer(4, random_state=0),
    "ul4m4_soft_auto": lambda: UL4M4Imputer("auto", completion="soft", temperature="auto", random_state=0),
    "ul4m4_soft_guarded": lambda: UL4M4Imputer(4, completion="soft", min_cluster_size=3, scale_floor=0.1, random_state=0),
    "softimpute": lambda: SoftImputeImputer(random_state=0),
    "ul4m4_lowrank": lambda: UL4M4LowRankImputer(random_state=0),
    "zero": ZeroImputer,
    "mean": MeanImputer,
    "knn": KNNModalityImputer,
    "iterative": lambda: IterativeModalityImputer(max_iter=3, random_state=0),
}


@pytest.fixture(params=sorted(IMPUTERS))
def make(request):
    return IMPUTERS[request.param]


def test_contract(make, global_random_seed):
    rng = np.random.default_rng(global_random_seed)
    Xs, mask = random_incomplete(rng, 60, [3, 5, 2])
    Xin = with_nan(Xs, mask)
    before = [X.copy() for X in Xin]
    out = make().fit(Xin, mask).transform(Xin, mask)
    again = make().fit(Xin, mask).transform(Xin, mask)
    for m in range(3):
        assert out[m].shape == Xs[m].shape and out[m].dtype == Xin[m].dtype
        assert np.isfinite(out[m]).all()
        assert np.array_equal(out[m][mask[:, m]], Xs[m][mask[:, m]])
        assert np.array_equal(out[m], again[m])
        assert np.array_equal(before[m], Xin[m], equal_nan=True)  # input not modified


def test_complete_data_passes_through(make):
    rng = np.random.default_rng(0)
    Xs = [rng.normal(size=(30, 3)), rng.normal(size=(30, 2))]
    out = make().fit_transform(Xs)
    assert all(np.array_equal(a, b) for a, b in zip(out, Xs))


def test_transform_new_data_and_shape_check(make):
    rng = np.random.default_rng(1)
    Xs, mask = random_incomplete(rng, 50, [3, 2])
    imp = make().fit(with_nan(Xs, mask), mask)
    Xt, mt = random_incomplete(rng, 10, [3, 2])
    out = imp.transform(with_nan(Xt, mt), mt)
    assert all(np.isfinite(o).all() for o in out)
    with pytest.raises(ValueError, match="as seen in fit"):
        imp.transform([np.zeros((3, 4)), np.zeros((3, 2))])


def test_not_fitted(make):
    with pytest.raises(NotFittedError, match="not fitted"):
        make().transform([np.zeros((2, 2))])


def test_not_fitted_is_scikit_learns_error(make):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="not fitted yet"):  # a ValueError, as in scikit-learn
        make().transform([np.zeros((2, 2))])


def test_float32_input(make):
    rng = np.random.default_rng(2)
    Xs, mask = random_incomplete(rng, 40, [3, 2])
    X32 = [X.astype(np.float32) for X in with_nan(Xs, mask)]
    out = make().fit_transform(X32, mask)
    assert all(o.dtype == np.float32 and np.isfinite(o).all() for o in out)


def assert_knn_matches_sklearn(Xs, mask, n_neighbors):
    """Our kNN fills, with both weightings, equal scikit-learn's KNNImputer on the standardised concatenation."""
    from sklearn.impute import KNNImputer

    for weights in ("uniform", "distance"):
        imp = KNNModalityImputer(n_neighbors=n_neighbors, weights=weights).fit(with_nan(Xs, mask), mask)
        out = imp.transform(with_nan(Xs, mask), mask)
        Z = imp._standardised_concat(Xs, mask)
        ref = KNNImputer(n_neighbors=n_neighbors, weights=weights, keep_empty_features=True).fit_transform(Z)
        ref = imp._split_back(ref)
        for m in range(len(Xs)):
            assert np.isfinite(out[m]).all()
            assert np.allclose(out[m][~mask[:, m]], ref[m][~mask[:, m]], atol=1e-10)


def test_knn_matches_sklearn_knnimputer():
    rng = np.random.default_rng(0)
    assert_knn_matches_sklearn(*random_incomplete(rng, 80, [3, 4, 2], p_obs=0.55), n_neighbors=4)


def test_knn_ties_and_donors_sharing_nothing_match_sklearn_knnimputer():
    """Duplicated training rows (exact ties between donors with the same values) and receivers whose donors
    mostly share no modality with them (fewer usable donors than k) give scikit-learn's values."""
    rng = np.random.default_rng(1)
    Xs, mask = random_incomplete(rng, 60, [3, 4, 2], p_obs=0.55)
    Xs, mask = [np.vstack([X, X]) for X in Xs], np.vstack([mask, mask])
    # Three samples observe modalities 0 and 1; every other sample observing 1 lacks 0, so a receiver of
    # modality 1 that observes only 0 has three donors sharing a modality with it, fewer than k = 5.
    mask[:, 0] = False
    mask[:3, :2] = True
    mask[3:, 1] = True
    mask[-2:] = [True, False, False]
    assert_knn_matches_sklearn(Xs, mask, n_neighbors=5)


def test_mean_and_zero_values():
    Xs = [np.array([[1.0], [3.0], [np.nan]]), np.array([[1.0], [1.0], [1.0]])]
    assert MeanImputer().fit_transform(Xs)[0][2, 0] == 2.0
    assert ZeroImputer().fit_transform(Xs)[0][2, 0] == 0.0


def test_knn_block_distances_equal_sklearn_nan_euclidean():
    from sklearn.metrics.pairwise import nan_euclidean_distances

    rng = np.random.default_rng(3)
    Xs, mask = random_incomplete(rng, 40, [3, 4, 2], p_obs=0.5)
    imp = KNNModalityImputer().fit(with_nan(Xs, mask), mask)
    Zq = imp._standardised_concat(Xs, mask)
    ours = imp._distances(Zq, mask)
    ref = nan_euclidean_distances(Zq, imp.train_)
    assert np.array_equal(np.isnan(ours), np.isnan(ref))
    # Self-distances are exact zeros whose rounding noise sqrt magnifies to ~1e-8 in both.
    assert np.allclose(np.nan_to_num(ours), np.nan_to_num(ref), atol=1e-6)


# ---------------------------------------------------------------------------------------------------
# Hostile but valid input: memory layouts, and magnitudes up to what check_Xs accepts
# ---------------------------------------------------------------------------------------------------
LAYOUTS = {
    "reversed columns": lambda X: X[:, ::-1],
    "reversed rows": lambda X: X[::-1].copy()[::-1],
    "fortran": np.asfortranarray,
    "every other column": lambda X: np.repeat(X, 2, axis=1)[:, ::2],
    "read-only": lambda X: np.lib.stride_tricks.as_strided(X, writeable=False),
    "big-endian": lambda X: X.astype(">f8"),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_fit_and_transform_accept_every_memory_layout(make, layout):
    rng = np.random.default_rng(5)
    Xs, mask = random_incomplete(rng, 40, [4, 3])
    Xin = with_nan(Xs, mask)
    view = [LAYOUTS[layout](X) for X in Xin]
    plain = [np.ascontiguousarray(v, dtype=np.float64) for v in view]
    expected = make().fit(plain, mask).transform(plain, mask)
    got = make().fit(view, mask).transform(view, mask)
    for a, b in zip(got, expected):
        assert np.array_equal(a, b)


EXPONENTS = [-300, -40, 0, 14, 15, 19, 20, 38, 39, 60, 149, 150, 155, 300]


# One extreme value makes Lloyd slow to settle on 40 samples; the convergence warning is expected here.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("in_dtype", [np.float32, np.float64])
def test_no_nan_in_completed_blocks_without_an_error(make, in_dtype):
    """One observed value of any magnitude: either check_Xs refuses it (naming the modality and the
    value) or every completed block is finite. Before, 1e39 (float32 work) or 1e155 (float64) gave NaN."""
    rng = np.random.default_rng(7)
    for e in EXPONENTS:
        if in_dtype == np.float32 and e > 38:
            continue
        Xs, mask = random_incomplete(rng, 40, [3, 2])
        Xin = [X.astype(in_dtype) for X in with_nan(Xs, mask)]
        i = int(np.flatnonzero(mask[:, 0])[0])
        Xin[0][i, 1] = in_dtype(10.0**e)
        try:
            out = make().fit_transform(Xin, mask)
        except ValueError as exc:
            assert "Xs[0]: the largest observed |value| is" in str(exc), (e, str(exc))
            continue
        assert all(np.isfinite(o).all() for o in out), f"NaN/inf in the output for a value of 1e{e}"
