"""The Lloyd bounds skip only samples that provably keep their centre: results equal plain Lloyd."""

import numpy as np
import pytest
import torch

import ul4m4._lloyd as ll
import ul4m4.cluster as cl
from reference import ref_distance, ref_lloyd
from ul4m4 import PartialModalityKMeans


@pytest.fixture(autouse=True)
def bounds_on_small_data(monkeypatch):
    """The library keeps bounds only for large data; these tests use them on small data."""
    monkeypatch.setattr(cl, "BOUNDS_MIN_WORK", 0)


def clustered(rng, n, dims, n_true=8, noise=0.6, p_missing=0.0):
    """Data with cluster structure (so Lloyd runs long enough for the bounds to act) and MCAR gaps."""
    centres = [rng.normal(scale=2.0, size=(n_true, d)) for d in dims]
    z = rng.integers(n_true, size=n)
    Xs = [c[z] + rng.normal(scale=noise, size=(n, c.shape[1])) for c in centres]
    mask = rng.random((n, len(dims))) >= p_missing
    mask[~mask.any(axis=1), 0] = True
    return Xs, mask


def fit_both(Xs, mask, **kw):
    a = PartialModalityKMeans(bounds=True, **kw).fit(Xs, mask)
    b = PartialModalityKMeans(bounds=False, **kw).fit(Xs, mask)
    return a, b


def assert_same(a, b):
    assert a.n_iter_ == b.n_iter_ and a.converged_ == b.converged_
    assert np.array_equal(a.labels_, b.labels_)
    assert np.array_equal(a.center_mask_, b.center_mask_)
    for ca, cb in zip(a.cluster_centers_, b.cluster_centers_):
        assert np.array_equal(ca, cb, equal_nan=True)
    assert a.inertia_ == b.inertia_


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("p_missing", [0.0, 0.3])
def test_bounds_give_exactly_plain_lloyd_and_skip_samples(dtype, p_missing, global_random_seed):
    rng = np.random.default_rng(global_random_seed)
    n = 2000
    Xs, mask = clustered(rng, n, [24, 40, 8], p_missing=p_missing)
    a, b = fit_both(Xs, mask, n_clusters=24, random_state=global_random_seed, dtype=dtype)
    assert_same(a, b)
    assert (b.rows_evaluated_ == n).all()
    assert a.rows_evaluated_.min() < 0.8 * n, a.rows_evaluated_  # the bounds did skip samples


def test_bounds_with_partial_centres_ties_and_duplicates_match_reference():
    # Duplicated samples, two identical initial centres (exact ties), centres lacking a modality (their
    # samples cannot use the bounds until the centre gains it), all in float64 against the reference.
    rng = np.random.default_rng(5)
    Xs, mask = clustered(rng, 300, [3, 5], n_true=4, p_missing=0.25)
    Xs = [np.vstack([X, X[:40]]) for X in Xs]
    mask = np.vstack([mask, mask[:40]])
    k = 9
    init = [X[:k].copy() for X in Xs]
    init[0][3] = init[0][2]
    init[1][3] = init[1][2]
    init[1][[5, 6]] = np.nan
    init[0][[5, 6]] = np.where(mask[[5, 6], 0:1], init[0][[5, 6]], 0.0)
    km = PartialModalityKMeans(k, init=init, dtype="float64").fit(Xs, mask)
    plain = PartialModalityKMeans(k, init=init, dtype="float64", bounds=False).fit(Xs, mask)
    assert_same(km, plain)
    Z = [(X - km.mean_[m]) / km.scale_[m] for m, X in enumerate(Xs)]
    H0 = np.column_stack([~np.isnan(c).all(axis=1) for c in init])
    C0 = [np.where(H0[:, [m]], (np.nan_to_num(c) - km.mean_[m]) / km.scale_[m], 0.0) for m, c in enumerate(init)]
    C, H, labels, n_iter, conv = ref_lloyd(Z, mask, C0, H0, km.max_iter)
    assert conv and km.n_iter_ == n_iter
    assert np.array_equal(labels, km.labels_) and np.array_equal(H, km.center_mask_)
    for m in range(2):
        assert np.allclose(np.where(H[:, [m]], C[m], 0.0), km.cluster_centers_z_[m], rtol=1e-12, atol=1e-12)


def test_bounds_are_skipped_for_small_data(monkeypatch):
    monkeypatch.setattr(cl, "BOUNDS_MIN_WORK", 1 << 27)
    rng = np.random.default_rng(0)
    Xs, mask = clustered(rng, 1000, [10, 6])
    km = PartialModalityKMeans(8, random_state=0).fit(Xs, mask)
    assert (km.rows_evaluated_ == 1000).all()


def test_bounds_do_not_depend_on_blocks_or_caching(monkeypatch):
    rng = np.random.default_rng(2)
    Xs, mask = clustered(rng, 1500, [10, 6], p_missing=0.2)
    a = PartialModalityKMeans(16, random_state=0, chunk_size=97).fit(Xs, mask)
    b = PartialModalityKMeans(16, random_state=0).fit(Xs, mask)
    monkeypatch.setattr(cl, "CACHE_LIMIT_BYTES", 0)
    c = PartialModalityKMeans(16, random_state=0, chunk_size=97).fit(Xs, mask)
    assert a.rows_evaluated_.min() < 1500
    assert_same(a, b)
    assert_same(a, c)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bounds_stay_bounds_of_the_true_distances(dtype, global_random_seed):
    # Record bounds from a pass, move the centres several times (some not at all, one a lot), and check
    # every sample the bounds vouch for against distances computed in float64 by the reference.
    rng = np.random.default_rng(global_random_seed)
    n, dims, k = 400, [6, 9, 3], 7
    Xs, mask = clustered(rng, n, dims, n_true=4, p_missing=0.3)
    Z = [np.where(mask[:, [m]], X, 0.0) for m, X in enumerate(Xs)]
    blocks = ll.ZBlocks(Z, mask, [np.zeros(d) for d in dims], [np.ones(d) for d in dims], "cpu", dtype, 64)
    C = blocks.Z_all[rng.choice(n, size=k, replace=False)].clone()
    H = torch.ones((k, len(dims)), dtype=torch.bool)
    bounds = ll._Bounds(mask, dims, k, dtype, "cpu")
    labels = np.zeros(n, dtype=np.int64)
    sums, counts = torch.zeros_like(C), torch.zeros((k, len(dims)), dtype=dtype)
    Nc, Cw = ll.center_side(C, dims)
    ll._take_fresh(ll._bounded_parts(blocks, Cw, H, Nc, bounds), labels, sums, counts)  # records every sample
    for step in range(4):
        C_new = C + torch.as_tensor(rng.normal(scale=0.3 * (step + 1), size=C.shape), dtype=dtype)
        C_new[0] = C[0]  # a centre that does not move
        bounds.move(C, C_new, H, labels)
        C = C_new
        Cn = C.double().numpy()
        segs = cl.segments(dims)
        true = np.array([[ref_distance([Z[m][i] for m in range(3)], mask[i], [Cn[j, s] for s in segs], [True] * 3)
                          for j in range(k)] for i in range(n)])
        upper = bounds.upper.numpy()
        lower = bounds.lower.double().numpy()
        ok = bounds.valid.numpy()
        assert ok.all()
        assert (upper >= true[np.arange(n), labels]).all()
        others = np.ones((n, k), dtype=bool)
        others[np.arange(n), labels] = False
        assert (lower[others] <= true[others]).all()
        # And the samples the test skips do have their own centre as the unique nearest one.
        skip = ~bounds.candidates(float(ll.block_norms(C, dims).sum(dim=1).max()))
        best = np.argmin(true, axis=1)
        assert (best[skip] == labels[skip]).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bounds_stay_bounds_with_centres_lacking_modalities(dtype, global_random_seed):
    """Centres lacking modalities: each pair's distance is its own seminorm (over the modalities both
    hold), and the bounds stay bounds of it while the centres move; a centre gaining a modality drops the
    bounds of the samples holding it."""
    rng = np.random.default_rng(global_random_seed)
    n, dims, k = 400, [6, 9, 3], 8
    Xs, mask = clustered(rng, n, dims, n_true=4, p_missing=0.3)
    Z = [np.where(mask[:, [m]], X, 0.0) for m, X in enumerate(Xs)]
    blocks = ll.ZBlocks(Z, mask, [np.zeros(d) for d in dims], [np.ones(d) for d in dims], "cpu", dtype, 64)
    segs = cl.segments(dims)
    H = torch.ones((k, len(dims)), dtype=torch.bool)
    H[1, 0] = H[2, 2] = H[3, 1] = False  # three of eight centres lack a modality (the corrected kernel)
    C = blocks.Z_all[rng.choice(n, size=k, replace=False)].clone()
    for j, m in ((1, 0), (2, 2), (3, 1)):
        C[j, segs[m]] = 0.0
    bounds = ll._Bounds(mask, dims, k, dtype, "cpu")
    labels = np.zeros(n, dtype=np.int64)
    sums, counts = torch.zeros_like(C), torch.zeros((k, len(dims)), dtype=dtype)
    Nc, Cw = ll.center_side(C, dims)
    ll._take_fresh(ll._bounded_parts(blocks, Cw, H, Nc, bounds), labels, sums, counts)
    for step in range(4):
        C_new = C + torch.as_tensor(rng.normal(scale=0.3 * (step + 1), size=C.shape), dtype=dtype)
        for j, m in ((1, 0), (2, 2), (3, 1)):
            C_new[j, segs[m]] = 0.0  # absent blocks stay zero
        C_new[0] = C[0]
        bounds.move(C, C_new, H, labels)
        C = C_new
        Cn = C.double().numpy()
        Hn = H.numpy()
        true = np.array([[ref_distance([Z[m][i] for m in range(3)], mask[i], [Cn[j, s] for s in segs], list(Hn[j]))
                          for j in range(k)] for i in range(n)])
        ok = bounds.valid.numpy()
        assert ok.mean() > 0.9  # samples are bounded although some centre lacks one of their modalities
        upper = bounds.upper.numpy()
        lower = bounds.lower.double().numpy()
        assert (upper[ok] >= true[np.arange(n), labels][ok]).all()
        others = np.ones((n, k), dtype=bool)
        others[np.arange(n), labels] = False
        finite = np.isfinite(true)
        assert (lower[others & ok[:, None] & finite] <= true[others & ok[:, None] & finite]).all()
        skip = ~bounds.candidates(float(ll.block_norms(C, dims).sum(dim=1).max()))
        best = np.argmin(true, axis=1)
        assert (best[skip] == labels[skip]).all()
    # Centre 1 gains modality 0: the samples holding modality 0 lose their bounds, the others keep them.
    H_new = H.clone()
    H_new[1, 0] = True
    C_new = C.clone()
    C_new[1, segs[0]] = 0.5
    before = bounds.valid.clone()
    bounds.move(C, C_new, H_new, labels)
    after = bounds.valid.numpy()
    assert not after[mask[:, 0]].any()
    assert np.array_equal(after[~mask[:, 0]], before.numpy()[~mask[:, 0]])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bounds_give_plain_lloyd_when_centres_lack_modalities(dtype, global_random_seed):
    """Two of six true clusters never observe modality 2, so the centres that settle on them lack it for
    the whole fit; the bounded passes (now used for every sample) still give exactly the plain result."""
    rng = np.random.default_rng(global_random_seed)
    n, dims, n_true = 1500, [12, 20, 6], 6
    centres = [rng.normal(scale=2.0, size=(n_true, d)) for d in dims]
    z = rng.integers(n_true, size=n)
    Xs = [c[z] + rng.normal(scale=0.6, size=(n, c.shape[1])) for c in centres]
    mask = rng.random((n, 3)) >= 0.3
    mask[z < 2, 2] = False
    mask[~mask.any(axis=1), 0] = True
    k = 24
    a = PartialModalityKMeans(k, random_state=global_random_seed, dtype=dtype).fit(Xs, mask)
    b = PartialModalityKMeans(k, random_state=global_random_seed, dtype=dtype, bounds=False).fit(Xs, mask)
    assert_same(a, b)
    assert (~a.center_mask_).any(), "no centre lacks a modality: the case is not exercised"
    # About half the samples hold modality 2, which some centre lacks; they are skipped too (before, they
    # were computed in every pass, so no pass computed fewer than half the samples).
    assert a.rows_evaluated_.min() < 0.3 * n, a.rows_evaluated_
