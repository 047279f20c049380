import numpy as np
import pytest
import torch

from ul4m4 import make_synthetic
from ul4m4.downstream import FusionClassifier, LinearProbe, make_classifier
from ul4m4.classification_metrics import classification_scores


def split(ds, n_train):
    tr = [X[:n_train] for X in ds.Xs]
    te = [X[n_train:] for X in ds.Xs]
    return tr, ds.y[:n_train], te, ds.y[n_train:]


def test_fusion_deterministic_and_beats_chance():
    ds = make_synthetic(n_samples=400, n_modalities=3, dims=8, n_clusters=4, random_state=0)
    Xtr, ytr, Xte, yte = split(ds, 300)
    state = torch.random.get_rng_state()
    a = FusionClassifier(epochs=8, random_state=1).fit(Xtr, ytr)
    assert torch.equal(state, torch.random.get_rng_state())  # the caller's torch RNG is untouched
    b = FusionClassifier(epochs=8, random_state=1).fit(Xtr, ytr)
    pa, pb = a.predict(Xte), b.predict(Xte)
    assert np.array_equal(pa, pb)
    for p1, p2 in zip(a.model_.parameters(), b.model_.parameters()):
        assert torch.equal(p1, p2)
    assert classification_scores(yte, pa)["accuracy"] > 0.5  # chance is 0.25


def test_fusion_and_probe_multilabel():
    ds = make_synthetic(n_samples=300, n_modalities=2, dims=6, n_clusters=3, multilabel=True, n_labels=4,
                        random_state=2)
    Xtr, ytr, Xte, yte = split(ds, 220)
    for clf in (FusionClassifier(epochs=10, random_state=0), LinearProbe()):
        p = clf.fit(Xtr, ytr).predict(Xte)
        assert p.shape == yte.shape and set(np.unique(p)) <= {0, 1}
        assert classification_scores(yte, p)["f1_micro"] > 0.5


def test_string_labels_round_trip():
    ds = make_synthetic(n_samples=120, n_modalities=2, dims=4, n_clusters=2, random_state=0)
    y = np.where(ds.y == 0, "cat", "dog")
    p = FusionClassifier(epochs=3).fit(ds.Xs, y).predict(ds.Xs)
    assert set(p) <= {"cat", "dog"}


def test_errors():
    ds = make_synthetic(n_samples=60, n_modalities=2, dims=4, random_state=0)
    with pytest.raises(ValueError, match="width=30 should be divisible by heads=4"):
        FusionClassifier(width=30).fit(ds.Xs, ds.y)
    with pytest.raises(ValueError, match="needs complete data"):
        Xs = [ds.Xs[0].copy(), ds.Xs[1]]
        Xs[0][0] = np.nan
        LinearProbe().fit(Xs, ds.y)
    with pytest.raises(RuntimeError, match="not fitted"):
        FusionClassifier().predict(ds.Xs)
    with pytest.raises(ValueError, match="classifier='svm' is not known"):
        make_classifier("svm")
