import numpy as np
import pytest

from ul4m4.classification_metrics import classification_scores, flattened_f1_micro


def test_single_label_hand_computed():
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([0, 1, 1, 1, 2, 0])
    s = classification_scores(y, p)
    assert s["accuracy"] == pytest.approx(4 / 6)
    assert s["f1_micro"] == pytest.approx(4 / 6)  # micro-F1 equals accuracy for single-label data
    # per class F1: class 0: p=1/2, r=1/2 -> 0.5; class 1: p=2/3, r=1 -> 0.8; class 2: p=1, r=1/2 -> 2/3
    assert s["f1_macro"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)


def test_multilabel_hand_computed_and_flattened_inflation():
    y = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
    nothing = np.zeros_like(y)
    s = classification_scores(y, nothing)
    assert s["f1_micro"] == 0.0 and s["f1_macro"] == 0.0 and s["accuracy"] == 0.0
    # Flattened: 9 of the 12 label slots are negatives predicted correctly -> 0.75.
    assert flattened_f1_micro(y, nothing) == pytest.approx(9 / 12)
    half = np.array([[1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]])
    # micro: tp=2, fp=0, fn=1 -> P=1, R=2/3 -> F1=0.8
    assert classification_scores(y, half)["f1_micro"] == pytest.approx(0.8)


def test_mmimdb_like_sparse_labels_give_high_flattened_score():
    rng = np.random.default_rng(0)
    y = (rng.random((2000, 27)) < 2.4 / 27).astype(int)
    assert flattened_f1_micro(y, np.zeros_like(y)) > 0.9
    assert classification_scores(y, np.zeros_like(y))["f1_micro"] == 0.0


def test_errors():
    with pytest.raises(ValueError, match="must match"):
        classification_scores(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="no samples"):
        classification_scores(np.zeros(0), np.zeros(0))


def test_scores_equal_scikit_learn_f1_on_random_labels():
    """Both F1 averages come from one confusion count; they must be scikit-learn's f1_score exactly, for
    single-label and indicator targets, including labels never predicted or never present."""
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    for t in range(200):
        if t % 2:
            y = rng.integers(0, rng.integers(2, 12), rng.integers(1, 60))
            p = rng.integers(0, 12, y.size)
        else:
            y = (rng.random((rng.integers(1, 40), 6)) < 0.2).astype(int)
            p = (rng.random(y.shape) < 0.2).astype(int)
        s = classification_scores(y, p)
        for avg in ("micro", "macro"):
            assert s[f"f1_{avg}"] == pytest.approx(f1_score(y, p, average=avg, zero_division=0), abs=1e-12)
