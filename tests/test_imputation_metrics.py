import numpy as np
import pandas as pd
import pytest

from ul4m4 import imputation_error


def test_hand_computed_imputation_error():
    # Modality 0 truth has mean 0 and std 1 per feature, so standardised units equal original units.
    T0 = np.array([[1.0, -1.0], [-1.0, 1.0], [1.0, 1.0], [-1.0, -1.0]])
    T1 = np.array([[2.0], [4.0], [6.0], [8.0]])  # mean 5, std sqrt(5)
    I0 = T0.copy()
    I0[0] = [1.0, 1.0]  # one removed block: squared errors (0, 4) -> per-row MSE 2, cosine 0
    I1 = T1.copy()
    I1[3] = [5.0]  # removed and filled with the mean: z error (3/sqrt 5)^2 = 1.8; cosine with 0 -> 0
    removed = np.array([[True, False], [False, False], [False, False], [False, True]])
    df = imputation_error([T0, T1], [I0, I1], removed, ["a", "b"]).set_index("modality")
    assert df.loc["a", "mse"] == pytest.approx(2.0) and df.loc["a", "cosine"] == pytest.approx(0.0)
    assert df.loc["b", "mse"] == pytest.approx(1.8) and df.loc["b", "cosine"] == pytest.approx(0.0)
    assert df.loc["all", "mse"] == pytest.approx(1.9) and df.loc["all", "n_removed"] == 2


def test_only_removed_blocks_count_and_nothing_removed_is_nan():
    rng = np.random.default_rng(0)
    T = [rng.normal(size=(10, 3))]
    wrong = [T[0] + 100.0]
    df = imputation_error(T, wrong, np.zeros((10, 1), bool))
    assert np.isnan(df["mse"]).all() and (df["n_removed"] == 0).all()
    perfect = imputation_error(T, T, np.ones((10, 1), bool))
    assert perfect["mse"].iloc[0] == 0 and perfect["cosine"].iloc[0] == pytest.approx(1.0)


def test_errors():
    T = [np.ones((3, 2))]
    with pytest.raises(ValueError, match="removed has shape"):
        imputation_error(T, T, np.ones((2, 1), bool))
    with pytest.raises(ValueError, match="1 removed block.* missing in Xs_true"):
        imputation_error([np.array([[np.nan, np.nan], [1, 1]]), np.ones((2, 1))], [np.ones((2, 2)), np.ones((2, 1))], np.ones((2, 2), bool))
    ok = imputation_error([np.array([[np.nan, np.nan], [1, 3]]), np.ones((2, 1))], [np.ones((2, 2)), np.ones((2, 1))],
                          np.array([[False, False], [True, False]]))
    assert ok["n_removed"].iloc[0] == 1


def test_a_checked_truth_gives_the_same_table():
    """``Truth`` (checked and standardised once, as a sweep uses it) scores exactly as the plain call."""
    from ul4m4.imputation_metrics import Truth

    rng = np.random.default_rng(4)
    Xs = [rng.normal(size=(40, 3)) * 5 + 2, rng.normal(size=(40, 2))]
    true_mask = np.ones((40, 2), bool)
    true_mask[:5, 1] = False
    removed = np.zeros((40, 2), bool)
    removed[10:20, 0] = True
    removed[20:30, 1] = True
    filled = [X + rng.normal(size=X.shape) for X in Xs]
    plain = imputation_error(Xs, filled, removed, true_mask=true_mask)
    truth = Truth(Xs, true_mask)
    pd.testing.assert_frame_equal(imputation_error(truth, filled, removed), plain)
    bad = removed.copy()
    bad[0, 1] = True  # a block the truth does not hold
    with pytest.raises(ValueError, match="missing in Xs_true"):
        imputation_error(truth, filled, bad)
