import math

import numpy as np

from reference import ref_distance
from ul4m4 import ModalityScaler, partial_distance


def test_hand_computed_distance():
    # Sample observes modalities 0 and 1; centre 0 holds 0 and 1, centre 1 holds 1 only, centre 2 holds 2 only.
    Xs = [np.array([[0.0, 0.0]]), np.array([[1.0, 1.0, 1.0]]), np.array([[np.nan]])]
    C = [
        np.array([[3.0, 4.0], [np.nan, np.nan], [np.nan, np.nan]]),
        np.array([[1.0, 1.0, 4.0], [0.0, 0.0, 0.0], [np.nan, np.nan, np.nan]]),
        np.array([[np.nan], [np.nan], [5.0]]),
    ]
    D = partial_distance(Xs, C)
    # centre 0: (25/2 + 9/3) / 2 = 7.75; centre 1: (3/3) / 1 = 1; centre 2: nothing shared.
    assert np.allclose(D[0], [math.sqrt(7.75), 1.0, math.inf])


def test_matches_reference(global_random_seed):
    rng = np.random.default_rng(global_random_seed)
    dims = [3, 7, 1]
    Xs = [rng.normal(size=(20, d)) for d in dims]
    mask = rng.random((20, 3)) < 0.6
    mask[~mask.any(axis=1), 0] = True
    C = [rng.normal(size=(5, d)) for d in dims]
    H = rng.random((5, 3)) < 0.6
    H[~H.any(axis=1), 1] = True
    D = partial_distance(Xs, C, mask, H)
    for i in range(20):
        for j in range(5):
            ref = ref_distance([X[i] for X in Xs], mask[i], [c[j] for c in C], H[j])
            assert (math.isinf(ref) and math.isinf(D[i, j])) or math.isclose(ref, D[i, j], rel_tol=1e-10, abs_tol=1e-12)


def test_scaler_uses_observed_rows_only_and_floors_std():
    X = np.array([[1.0, 5.0], [3.0, 5.0], [1000.0, 7.0]])
    mask = np.array([[True, True], [True, True], [False, True]])
    sc = ModalityScaler().fit([X, np.ones((3, 1))], mask)
    assert np.allclose(sc.mean_[0], [2.0, 5.0])
    assert np.allclose(sc.scale_[0], [1.0, 1.0])  # std of [1, 3] is 1 (ddof=0); constant feature -> 1
    Z = sc.transform([X, np.ones((3, 1))], mask)[0]
    assert np.allclose(Z[:2], [[-1.0, 0.0], [1.0, 0.0]]) and np.isnan(Z[2]).all()
    assert np.allclose(sc.inverse_transform([Z[:2]])[0], X[:2])


def test_complete_fast_path_equals_general_path_with_exact_ties(global_random_seed):
    import torch

    from ul4m4.distance import column_weights, concat_blocks, nearest_centre, ratio_or_inf, sample_center_terms

    rng = np.random.default_rng(global_random_seed)
    dims = [5, 3]
    Z = [torch.as_tensor(rng.normal(size=(30, d))) for d in dims]
    a = torch.ones((30, 2), dtype=torch.bool)
    Zcat, Nz = concat_blocks(Z, a)
    # Centres: copies of samples 0 and 1 (exact zeros), with centre 3 a duplicate of centre 1 (exact tie).
    Ccat = torch.cat([Zcat[[4]], Zcat[[0]], Zcat[[1]], Zcat[[0]], Zcat[[7]] * 2])
    H = torch.ones((5, 2), dtype=torch.bool)
    Nc = concat_blocks([Ccat[:, :5], Ccat[:, 5:]], H)[1]
    Cw = Ccat * column_weights(dims, Ccat.dtype, Ccat.device)
    fast_val, fast_idx = nearest_centre(Zcat, a, Nz, Cw, H, Nc)
    gen_val, gen_idx = torch.min(ratio_or_inf(*sample_center_terms(Zcat, a, Nz, Cw, H, Nc)), dim=1)
    assert torch.equal(fast_idx, gen_idx)
    assert torch.allclose(fast_val, gen_val)
    assert fast_idx[0] == 1 and fast_val[0] == 0 and fast_idx[1] == 2 and fast_idx[4] == 0


def test_held_centres_fast_path_equals_general_path_with_exact_ties(global_random_seed):
    """Samples missing modalities, centres holding all: the per-row count path gives the general result."""
    import torch

    from ul4m4.distance import column_weights, concat_blocks, nearest_centre, ratio_or_inf, sample_center_terms

    rng = np.random.default_rng(global_random_seed)
    dims = [5, 3, 4]
    a = torch.as_tensor(rng.random((40, 3)) < 0.6)
    a[~a.any(dim=1), 1] = True
    a[0] = torch.tensor([True, False, True])
    a[1] = torch.tensor([False, True, False])
    Z = [torch.as_tensor(rng.normal(size=(40, d))) for d in dims]
    Zcat, Nz = concat_blocks(Z, a)
    # Centre 1 equals sample 0 on its modalities and differs elsewhere (sample 0 never sees it); centre 3
    # duplicates centre 1 (an exact tie); centre 2 equals sample 1 on modality 1 only.
    C = torch.as_tensor(rng.normal(size=(5, sum(dims))))
    C[1, :5], C[1, 8:] = torch.as_tensor(Z[0][0]), torch.as_tensor(Z[2][0])
    C[3] = C[1]
    C[2, 5:8] = torch.as_tensor(Z[1][1])
    H = torch.ones((5, 3), dtype=torch.bool)
    Nc = concat_blocks([C[:, :5], C[:, 5:8], C[:, 8:]], H)[1]
    Cw = C * column_weights(dims, C.dtype, C.device)
    fast_val, fast_idx, (T, b, s) = nearest_centre(Zcat, a, Nz, Cw, H, Nc, return_all=True)
    full = ratio_or_inf(*sample_center_terms(Zcat, a, Nz, Cw, H, Nc))
    gen_val, gen_idx = torch.min(full, dim=1)
    assert torch.equal(fast_idx, gen_idx)
    assert torch.allclose(fast_val, gen_val)
    assert fast_idx[0] == 1 and fast_val[0] == 0 and fast_idx[1] == 2 and fast_val[1] == 0
    # The affine form the Lloyd bounds read gives every distance.
    assert torch.allclose((T + b[:, None]) * s[:, None], full, atol=1e-12)
    # A centre lacking a modality falls back to the general path, with the same answer.
    H2 = H.clone()
    H2[4, 2] = False
    Cw2 = Cw.clone()
    Cw2[4, 8:] = 0.0
    Nc2 = Nc.clone()
    Nc2[4, 2] = 0.0
    full2 = ratio_or_inf(*sample_center_terms(Zcat, a, Nz, Cw2, H2, Nc2))
    g2, gi2 = torch.min(full2, dim=1)
    for k_lacking in (1, 2):  # one of five centres lacks a modality (corrected columns); two (general path)
        if k_lacking == 2:
            H2[3, 0] = False
            Cw2[3, :5] = 0.0
            Nc2[3, 0] = 0.0
            full2 = ratio_or_inf(*sample_center_terms(Zcat, a, Nz, Cw2, H2, Nc2))
            g2, gi2 = torch.min(full2, dim=1)
        val2, idx2, (T2, b2, s2) = nearest_centre(Zcat, a, Nz, Cw2, H2, Nc2, return_all=True)
        assert torch.equal(idx2, gi2) and torch.allclose(val2, g2)
        assert torch.allclose((T2 + torch.as_tensor(b2)[..., None]) * torch.as_tensor(s2)[..., None], full2,
                              atol=1e-12)
    assert idx2[0] == 1 and val2[0] == 0  # sample 0 lacks modality 1 and so shares with centre 3 less
