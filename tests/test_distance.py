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
