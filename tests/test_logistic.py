"""The batched linear probe against scikit-learn's: the same objective and the same L-BFGS-B steps, so the
same scores, on real data completed by the sweep's own imputers, fitted as one batch per dataset."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import StandardScaler

from ul4m4 import load_dataset, make_synthetic
from ul4m4.datasets import digits_quadrants
from ul4m4.downstream import LinearProbe, linear_probe_predictions
from ul4m4.experiment import RunConfig, complete_split, default_n_clusters, make_mask
from ul4m4.logistic import BatchLogisticRegression
from ul4m4.sweep import rate_config
from ul4m4.validation import NotFittedError, UL4M4Warning


DATASETS = {"mfeat": lambda: load_dataset("mfeat"), "digits": digits_quadrants,
            "breast_cancer": lambda: load_dataset("breast_cancer")}
# (mechanism, rate, imputer, seed) per dataset: complete data, MCAR and other mechanisms, every kind of fill.
SETTINGS = {
    "mfeat": [("mcar", 0.3, "ul4m4", 0), ("mcar", 0.6, "mean", 1), ("mcar", 0.8, "ul4m4", 2), ("standard", 0.5, "knn", 0)],
    "digits": [("mcar", 0.0, "mean", 0), ("mcar", 0.4, "ul4m4", 0), ("mcar", 0.6, "zero", 1),
               ("mutually_exclusive", 0.5, "knn", 2), ("mnar_label", 0.4, "mean", 0)],
    "breast_cancer": [("mcar", 0.0, "mean", 0), ("mcar", 0.2, "ul4m4", 1), ("mcar", 0.6, "zero", 0),
                      ("mcar", 0.8, "knn", 2), ("pepsy", 0.5, "mean", 1), ("complex", 0.6, "ul4m4", 0)],
}


def units(ds, settings):
    """(X_train, y_train, X_test, y_test) of each setting, completed by the sweep's own imputers."""
    out = []
    for mech, rate, method, seed in settings:
        mres = make_mask(ds, rate_config(mech, rate, ds.n_modalities, seed=seed))
        cfg = RunConfig(methods=(method,), n_clusters=default_n_clusters(ds), seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UL4M4Warning)  # mfeat's near-constant features, said at fit
            X = np.hstack(complete_split(method, ds, mres, cfg)[0])
        out.append((X[mres.train_idx], ds.y[mres.train_idx], X[mres.test_idx], ds.y[mres.test_idx]))
    return out


def sklearn_probe(Xtr, ytr):
    """The linear probe as it was: StandardScaler, then LogisticRegression with its lbfgs defaults."""
    scaler = StandardScaler().fit(Xtr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the fixed 100-iteration budget
        return scaler, LogisticRegression(max_iter=100).fit(scaler.transform(Xtr), ytr)


@pytest.mark.parametrize("products", ["float64", "float32"])
@pytest.mark.parametrize("name", list(SETTINGS))
def test_every_unit_scores_as_scikit_learn(name, products):
    # float32 products (the sweep's) take slightly different steps near the optimum: the scores must still
    # be within the 0.005 of scikit-learn's.
    ds = DATASETS[name]()
    us = units(ds, SETTINGS[name])
    preds = linear_probe_predictions([(Xtr, ytr, Xte) for Xtr, ytr, Xte, _ in us], products=products)  # one batch
    for (Xtr, ytr, Xte, yte), pred in zip(us, preds):
        scaler, ref = sklearn_probe(Xtr, ytr)
        want = f1_score(yte, ref.predict(scaler.transform(Xte)), average="macro")
        got = f1_score(yte, pred, average="macro")
        assert abs(got - want) <= 0.005, (name, got, want)


@pytest.mark.parametrize("name", ["digits", "breast_cancer"])
def test_same_steps_and_coefficients_as_scikit_learn(name):
    # Stronger than the scores: each problem of the batch takes scikit-learn's iterations and lands on its
    # coefficients (multinomial on digits, binomial on breast cancer).
    ds = DATASETS[name]()
    us = units(ds, SETTINGS[name])
    Z = np.stack([StandardScaler().fit_transform(Xtr) for Xtr, *_ in us])
    clf = BatchLogisticRegression().fit(Z, np.stack([ytr for _, ytr, *_ in us]))
    for b, (Xtr, ytr, *_) in enumerate(us):
        _, ref = sklearn_probe(Xtr, ytr)
        assert clf.n_iter_[b, 0] == ref.n_iter_[0]
        np.testing.assert_allclose(clf.coef_[b], ref.coef_, rtol=1e-6, atol=1e-8 * np.abs(ref.coef_).max())
        np.testing.assert_allclose(clf.intercept_[b], ref.intercept_, rtol=1e-6, atol=1e-8)


def test_linear_probe_alone_is_one_problem_of_the_batch():
    ds = digits_quadrants()
    us = units(ds, SETTINGS["digits"][1:3])
    batch = linear_probe_predictions([(Xtr, ytr, Xte) for Xtr, ytr, Xte, _ in us])
    split = [np.split(Xtr, np.cumsum(ds.dims)[:-1], axis=1) for Xtr, *_ in us]
    for (Xtr, ytr, Xte, _), parts, pred in zip(us, split, batch):
        alone = LinearProbe().fit(parts, ytr).predict(np.split(Xte, np.cumsum(ds.dims)[:-1], axis=1))
        assert np.array_equal(alone, pred)


def test_multilabel_is_one_vs_rest_with_constant_labels_kept():
    ds = make_synthetic(n_samples=300, n_modalities=2, dims=6, n_clusters=3, multilabel=True, n_labels=4,
                        random_state=2)
    y = ds.y.copy()
    y[:, 3] = 1  # a label every training sample has: OneVsRestClassifier predicts it for everyone
    X = np.hstack(ds.Xs)
    jobs = [(X[:220], y[:220], X[220:]), (X[:220] * 2.0 + 1.0, y[:220], X[220:] * 2.0 + 1.0)]
    preds = linear_probe_predictions(jobs)
    for Xtr, ytr, Xte in jobs[:1]:
        scaler = StandardScaler().fit(Xtr)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Label 3 is present in all training examples"
            ref = OneVsRestClassifier(LogisticRegression()).fit(scaler.transform(Xtr), ytr)
        want = ref.predict(scaler.transform(Xte))
        assert np.array_equal(preds[0], want)
    assert (preds[0][:, 3] == 1).all()
    assert np.array_equal(preds[0], preds[1])  # standardising makes an affine change of the features moot


def test_problems_with_other_classes_are_fitted_apart():
    ds = load_dataset("breast_cancer")
    X = np.hstack(ds.Xs)
    y3 = ds.y.copy()
    y3[:30] = 2  # a third class in one unit only
    jobs = [(X[:400], ds.y[:400], X[400:]), (X[:400], y3[:400], X[400:])]
    preds = linear_probe_predictions(jobs)
    assert set(np.unique(preds[0])) <= {0, 1}
    assert np.array_equal(preds[0], linear_probe_predictions(jobs[:1])[0])


@pytest.mark.parametrize("X, y, message", [
    (np.zeros((5, 3)), np.zeros(5), r"X has shape \(5, 3\); expected \(n_problems, n_samples, n_features\)"),
    (np.full((1, 4, 2), np.nan), [[0, 1, 0, 1]], "X holds NaN or infinite values"),
    (np.zeros((1, 4, 2)), [[1, 1, 1, 1]], "y holds one class"),
    (np.zeros((2, 4, 2)), [[0, 1, 0, 1], [0, 1, 2, 2]], "problem 0's labels hold 2 of the 3 classes"),
    (np.zeros((1, 4, 2)), [[0, 1, 0]], r"y has shape \(1, 3\); expected \(1, 4\)"),
    (np.zeros((1, 4, 2)), np.full((1, 4, 2), 3), "indicator targets y should hold only 0 and 1"),
])
def test_bad_input_is_one_line(X, y, message):
    with pytest.raises(ValueError, match=message) as err:
        BatchLogisticRegression().fit(X, y)
    assert "\n" not in str(err.value)


def test_parameters_and_fittedness_are_checked():
    with pytest.raises(ValueError, match="C"):
        BatchLogisticRegression(C=0).fit(np.zeros((1, 4, 2)), [[0, 1, 0, 1]])
    with pytest.raises(NotFittedError):
        BatchLogisticRegression().predict(np.zeros((1, 4, 2)))
    with pytest.raises(NotFittedError):
        LinearProbe().predict([np.zeros((4, 2))])
    clf = BatchLogisticRegression().fit(np.random.default_rng(0).normal(size=(1, 8, 2)), [[0, 1] * 4])
    with pytest.raises(ValueError, match=r"X has shape \(1, 3, 5\); expected \(1, n_samples, 2\)"):
        clf.predict(np.zeros((1, 3, 5)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_gives_the_cpu_predictions():
    ds = digits_quadrants()
    jobs = [(Xtr, ytr, Xte) for Xtr, ytr, Xte, _ in units(ds, SETTINGS["digits"])]
    cpu = linear_probe_predictions(jobs, device="cpu")
    gpu = linear_probe_predictions(jobs, device="cuda")
    for a, b in zip(cpu, gpu):
        assert (a == b).mean() >= 0.995
