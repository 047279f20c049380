import warnings

import numpy as np
import pytest

from conftest import random_incomplete, with_nan
from reference import ref_greedy_complete
from ul4m4 import FILLED_BY_MEAN, OBSERVED, UL4M4Imputer, UL4M4Warning, ul4m4_impute


def set_centres(imp, Cz, H):
    """Replace a fitted imputer's centres (standardised units) to test completion on chosen structures."""
    imp._set_centres_z(Cz, H)


def check_against_reference(imp, Xs, mask):
    out, prov = imp.transform(with_nan(Xs, mask), mask, return_provenance=True)
    M = len(Xs)
    Z = [(X - imp.mean_[m]) / imp.scale_[m] for m, X in enumerate(Xs)]
    for i in range(mask.shape[0]):
        ref, src = ref_greedy_complete([Z[m][i] for m in range(M)], mask[i], imp.cluster_centers_z_, imp.center_mask_)
        for m in range(M):
            if mask[i, m]:
                assert np.array_equal(out[m][i], Xs[m][i])
                assert prov.source[i, m] == OBSERVED
            else:
                expected = ref[m] * imp.scale_[m] + imp.mean_[m]
                assert np.array_equal(out[m][i], expected), (i, m)
                assert prov.source[i, m] == (FILLED_BY_MEAN if src[m] == "mean" else src[m])


@pytest.mark.parametrize("dims", [[3], [2, 4], [3, 1, 5], [2, 2, 3, 1], [1, 2, 3, 2, 1], [2, 3, 1, 4, 2, 3]])
def test_fast_equals_reference_on_fitted_centres(dims, global_random_seed):
    rng = np.random.default_rng(global_random_seed)
    Xs, mask = random_incomplete(rng, 50, dims, p_obs=0.5)
    k = int(rng.integers(1, 9))
    imp = UL4M4Imputer(k, random_state=global_random_seed, dtype="float64").fit(with_nan(Xs, mask), mask)
    check_against_reference(imp, Xs, mask)


@pytest.mark.parametrize("M", [1, 2, 3, 4, 5, 6])
def test_fast_equals_reference_on_partial_centres(M, global_random_seed):
    rng = np.random.default_rng(100 + global_random_seed)
    dims = list(rng.integers(1, 5, size=M))
    Xs, mask = random_incomplete(rng, 40, dims, p_obs=0.5)
    imp = UL4M4Imputer(3, random_state=0, dtype="float64").fit(with_nan(Xs, mask), mask)
    k = int(rng.integers(1, 12))
    H = rng.random((k, M)) < 0.5
    H[~H.any(axis=1), 0] = True
    Cz = [rng.normal(size=(k, d)) for d in dims]
    if k > 2:
        Cz = [np.vstack([c[:1], c[:1], c[2:]]) for c in Cz]  # two identical centres: exact ties
        H[1] = H[0]
    H[: 2 if k > 2 else 1, ~H.any(axis=0)] = True  # every modality held by some centre; rows 0 and 1 stay tied
    unheld = M > 1 and global_random_seed == 1
    if unheld:
        H[:, M - 1] = False  # a modality no centre holds: mean fallback, with a warning
        H[~H.any(axis=1), 0] = True
    set_centres(imp, Cz, H)
    if unheld and (~mask[:, M - 1]).any():
        with pytest.warns(UL4M4Warning) as record:
            check_against_reference(imp, Xs, mask)
        assert {str(w.message).split(";")[0] for w in record} == {f"No cluster centre holds modality {M - 1}"}
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error", UL4M4Warning)  # every modality is held: no fallback, no warning
            check_against_reference(imp, Xs, mask)


def test_k_close_to_n_and_empty_clusters(global_random_seed):
    rng = np.random.default_rng(global_random_seed)
    Xs, mask = random_incomplete(rng, 15, [2, 3, 2], p_obs=0.5)
    Xs = [np.vstack([X[:10], X[:5]]) for X in Xs]  # duplicates make empty clusters likely
    mask = np.vstack([mask[:10], mask[:5]])
    imp = UL4M4Imputer(14, random_state=global_random_seed, dtype="float64").fit(with_nan(Xs, mask), mask)
    check_against_reference(imp, Xs, mask)


def test_k1_is_mean_imputation():
    rng = np.random.default_rng(0)
    Xs, mask = random_incomplete(rng, 80, [3, 4, 2])
    out = UL4M4Imputer(1, dtype="float64").fit_transform(with_nan(Xs, mask), mask)
    for m in range(3):
        mean = Xs[m][mask[:, m]].mean(axis=0)
        assert np.allclose(out[m][~mask[:, m]], mean)


def test_complete_centres_copy_nearest_centre_on_observed():
    rng = np.random.default_rng(5)
    Xs, mask = random_incomplete(rng, 60, [3, 4, 2])
    imp = UL4M4Imputer(4, random_state=0, dtype="float64").fit(with_nan(Xs, mask), mask)
    Cz = [rng.normal(size=(4, d)) for d in [3, 4, 2]]
    set_centres(imp, Cz, np.ones((4, 3), bool))
    out = imp.transform(with_nan(Xs, mask), mask)
    nearest = imp.predict(with_nan(Xs, mask), mask)
    for m in range(3):
        rows = ~mask[:, m]
        assert np.allclose(out[m][rows], imp.cluster_centers_[m][nearest[rows]])


def test_provenance_margin_and_candidates():
    rng = np.random.default_rng(2)
    Xs, mask = random_incomplete(rng, 100, [4, 3, 5])
    imp = UL4M4Imputer(5, random_state=0, dtype="float64").fit(with_nan(Xs, mask), mask)
    prov = imp.explain(with_nan(Xs, mask), mask)
    r = imp.candidate_distances(with_nan(Xs, mask), mask)
    filled = prov.source >= 0
    assert filled.sum() == (~mask).sum()
    i, m = np.argwhere(filled)[0]
    assert np.isclose(prov.distance[i, m], r[i, prov.source[i, m]])
    assert (prov.margin[filled] >= 0).all()
    complete = mask.all(axis=1)
    assert np.allclose(r[complete], r[complete][:, :1])  # a complete sample's candidates are itself


def test_observed_rows_untouched_and_dtype_kept():
    rng = np.random.default_rng(3)
    Xs, mask = random_incomplete(rng, 70, [3, 2])
    X32 = [X.astype(np.float32) for X in with_nan(Xs, mask)]
    out = UL4M4Imputer(3, random_state=0).fit_transform(X32, mask)
    for m in range(2):
        assert out[m].dtype == np.float32
        assert np.array_equal(out[m][mask[:, m]], X32[m][mask[:, m]])
        assert np.isfinite(out[m]).all()
    assert np.isnan(X32[0][~mask[:, 0]]).all()  # the input was not modified


def test_garbage_in_unobserved_rows_is_replaced_when_mask_given():
    rng = np.random.default_rng(4)
    Xs, mask = random_incomplete(rng, 50, [3, 2])
    garbage = [np.where(mask[:, [m]], X, 1e30) for m, X in enumerate(Xs)]
    a = UL4M4Imputer(3, random_state=0).fit_transform(garbage, mask)
    b = UL4M4Imputer(3, random_state=0).fit_transform(with_nan(Xs, mask), mask)
    for x, y in zip(a, b):
        assert np.array_equal(x, y)


def test_one_shot_wrapper():
    rng = np.random.default_rng(0)
    Xs, mask = random_incomplete(rng, 40, [2, 2])
    a = ul4m4_impute(with_nan(Xs, mask), n_clusters=3, random_state=1)
    b = UL4M4Imputer(3, random_state=1).fit_transform(with_nan(Xs, mask))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_small_blocks_equal_one_block():
    rng = np.random.default_rng(9)
    Xs, mask = random_incomplete(rng, 120, [3, 4, 2])
    a = UL4M4Imputer(6, random_state=0, dtype="float64", chunk_size=7).fit(with_nan(Xs, mask), mask)
    b = UL4M4Imputer(6, random_state=0, dtype="float64").fit(with_nan(Xs, mask), mask)
    for x, y in zip(a.transform(with_nan(Xs, mask), mask), b.transform(with_nan(Xs, mask), mask)):
        assert np.array_equal(x, y)
