"""Parameter checks of the estimators: declared in one place, refused with name, value and what is expected."""

import re
from numbers import Integral

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import Interval, InvalidParameterError

from conftest import random_incomplete
from ul4m4 import PartialModalityKMeans, UL4M4Imputer
from ul4m4.validation import check_params


def data():
    rng = np.random.default_rng(0)
    return random_incomplete(rng, 40, [3, 2])


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("chunk_size", True, "None or an integer in [1, 2147483648]"),  # a bool is no integer
        ("chunk_size", np.True_, "None or an integer in [1, 2147483648]"),
        ("chunk_size", 10**12, "None or an integer in [1, 2147483648]"),
        ("chunk_size", 2**31 + 1, "None or an integer in [1, 2147483648]"),
        ("chunk_size", -1, "None or an integer in [1, 2147483648]"),
        ("chunk_size", 64.0, "None or an integer in [1, 2147483648]"),
        ("chunk_size", "64", "None or an integer in [1, 2147483648]"),
        ("max_iter", True, "an integer >= 1"),
        ("max_iter", 2.5, "an integer >= 1"),
        ("max_iter", None, "an integer >= 1"),
        ("init", "kmeans", "'k-means++', 'random', a list or a tuple"),
        ("random_state", True, "None, an integer >= 0 or a numpy.Generator"),
        ("random_state", np.random.RandomState(0), "None, an integer >= 0 or a numpy.Generator"),
        ("bounds", 1, "a bool"),
        ("bounds", "yes", "a bool"),
        ("callback", 3, "None or a callable"),
        ("device", 0, "None, a str or a torch.device"),
        ("dtype", 32, "a str, a numpy.dtype or a torch.dtype"),
    ],
)
@pytest.mark.parametrize("estimator", [PartialModalityKMeans, UL4M4Imputer])
def test_refused_with_name_value_and_expectation(estimator, name, value, expected):
    Xs, mask = data()
    est = estimator(2, **{name: value})
    message = f"{name}={' '.join(repr(value).split())} should be {expected}."
    with pytest.raises(InvalidParameterError, match=re.escape(message)):
        est.fit(Xs, mask)
    with pytest.raises(ValueError):  # InvalidParameterError is a ValueError, as scikit-learn's is
        est.fit(Xs, mask)
    assert not hasattr(est, "labels_")


def test_long_values_are_shortened_in_the_message():
    Xs, mask = data()
    with pytest.raises(InvalidParameterError, match=r"^init=array\(\[\[0\., .{40,}\.\.\. should be 'k-means\+\+'"):
        PartialModalityKMeans(2, init=np.zeros((2, 30))).fit(Xs, mask)


def test_accepted_edge_values_give_the_default_result():
    Xs, mask = data()
    ref = PartialModalityKMeans(3, random_state=0, dtype="float64").fit(Xs, mask)
    for kwargs in (
        {"chunk_size": 2**31},  # the cap itself: one block, as large as the data
        {"chunk_size": np.int64(7)},
        {"max_iter": np.int32(300)},
        {"random_state": np.int64(0)},
        {"bounds": np.bool_(False)},
        {"dtype": np.dtype("float64")},
    ):
        params = {"random_state": 0, "dtype": "float64", **kwargs}
        km = PartialModalityKMeans(3, **params).fit(Xs, mask)
        assert np.array_equal(km.labels_, ref.labels_), kwargs
        assert km.inertia_ == ref.inertia_, kwargs


@pytest.mark.parametrize("estimator", [PartialModalityKMeans, UL4M4Imputer])
def test_every_parameter_has_a_constraint(estimator):
    assert set(estimator._parameter_constraints) == set(estimator().get_params(deep=False))


def test_a_subclass_extends_the_constraints():
    class Extended(PartialModalityKMeans):
        _parameter_constraints = {
            **PartialModalityKMeans._parameter_constraints,
            "n_neighbours": [Interval(Integral, 1, 10, closed="both")],
        }

        def __init__(self, n_clusters=8, *, max_iter=300, random_state=None, n_neighbours=3):
            super().__init__(n_clusters, max_iter=max_iter, random_state=random_state)
            self.n_neighbours = n_neighbours

    Xs, mask = data()
    Extended(2, n_neighbours=4, random_state=0).fit(Xs, mask)
    with pytest.raises(InvalidParameterError, match=r"n_neighbours=11 should be an integer in \[1, 10\]\."):
        Extended(2, n_neighbours=11).fit(Xs, mask)
    with pytest.raises(InvalidParameterError, match=r"max_iter=0 should be an integer >= 1\."):
        Extended(2, max_iter=0).fit(Xs, mask)


def test_check_params_open_and_half_bounded_intervals():
    constraints = {
        "a": [Interval(Integral, 0, None, closed="neither")],
        "b": [Interval(Integral, None, 5, closed="right")],
        "c": [Interval(Integral, 1, 5, closed="left")],
        "unchecked": "no_validation",
    }
    check_params({"a": 1, "b": -3, "c": 4, "unchecked": object(), "undeclared": "anything"}, constraints)
    for params, message in [
        ({"a": 0}, "a=0 should be an integer > 0."),
        ({"b": 6}, "b=6 should be an integer <= 5."),
        ({"c": 5}, "c=5 should be an integer >= 1 and < 5."),
        ({"c": False}, "c=False should be an integer >= 1 and < 5."),
    ]:
        with pytest.raises(InvalidParameterError, match=re.escape(message)):
            check_params(params, constraints)


@pytest.mark.parametrize(
    "call",
    [
        lambda est, Xs, mask: est.predict(Xs, mask),
        lambda est, Xs, mask: est.distances(Xs, mask),
        lambda est, Xs, mask: est.transform(Xs, mask),
        lambda est, Xs, mask: est.explain(Xs, mask),
        lambda est, Xs, mask: est.candidate_distances(Xs, mask),
    ],
)
def test_use_before_fit_raises_not_fitted_error(call):
    Xs, mask = data()
    with pytest.raises(NotFittedError, match="not fitted yet") as info:
        call(UL4M4Imputer(2), Xs, mask)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("make, match", [
    (lambda: __import__("ul4m4").KNNModalityImputer(n_neighbors=True), "n_neighbors=True should be"),
    (lambda: __import__("ul4m4").KNNModalityImputer(weights="cosine"), "weights='cosine' should be"),
    (lambda: __import__("ul4m4").IterativeModalityImputer(max_iter=0), "max_iter=0 should be"),
    (lambda: __import__("ul4m4").SoftImputeImputer(shrinkage=1.5), "shrinkage=1.5 should be"),
    (lambda: __import__("ul4m4").SoftImputeImputer(max_rank=2.5), "max_rank=2.5 should be"),
])
def test_baseline_parameters_are_checked_declaratively(make, match):
    import numpy as np

    Xs = [np.arange(20.0).reshape(10, 2), np.arange(10.0).reshape(10, 1)]
    with pytest.raises(ValueError, match=match):
        make().fit(Xs)
