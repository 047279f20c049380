"""Label-free selection: the hold-out of observed slots and select_parameters / n_clusters="auto"."""

import numpy as np
import pytest

from conftest import random_incomplete, with_nan
from ul4m4 import UL4M4Imputer, select_parameters
from ul4m4.missing import holdout_mask


def test_holdout_hides_only_observed_slots_and_never_the_last(global_random_seed):
    rng = np.random.default_rng(global_random_seed)
    mask = rng.random((500, 4)) < 0.5
    mask[~mask.any(axis=1), 0] = True
    hidden = holdout_mask(mask, 0.3, random_state=global_random_seed)
    assert not (hidden & ~mask).any()
    assert (mask & ~hidden).any(axis=1).all()  # every sample keeps an observed slot
    single = mask.sum(axis=1) == 1
    assert not hidden[single].any()
    frac = hidden.sum() / mask.sum()
    assert 0.2 < frac < 0.4
    assert np.array_equal(hidden, holdout_mask(mask, 0.3, random_state=global_random_seed))


def test_holdout_on_single_modality_samples_hides_nothing():
    mask = np.eye(3, dtype=bool)[np.arange(30) % 3]
    assert not holdout_mask(mask, 0.5, random_state=0).any()


@pytest.mark.parametrize("fraction", [0, 1, -0.1, float("nan"), "half", True])
def test_holdout_bad_fraction(fraction):
    with pytest.raises(ValueError, match="fraction"):
        holdout_mask(np.ones((5, 2), dtype=bool), fraction)


def test_selection_never_uses_blocks_that_were_not_observed():
    """Whatever sits in the unobserved (removed) blocks, the selection table is the same."""
    rng = np.random.default_rng(0)
    Xs, mask = random_incomplete(rng, 150, [3, 4, 2])
    nan_in = with_nan(Xs, mask)
    junk = [np.where(mask[:, [m]], X, rng.normal(scale=1e3, size=X.shape)) for m, X in enumerate(Xs)]
    kw = dict(n_clusters=(2, 4, 8), temperatures=(0.3, 1.0), n_repeats=2, random_state=3)
    a = select_parameters(nan_in, mask, **kw)
    b = select_parameters(junk, mask, **kw)
    cols = [c for c in a.columns if c != "seconds"]
    assert len(a) == 3 * 2 * 2
    assert a[cols].equals(b[cols])


def test_selection_hidden_slots_are_what_is_scored():
    """Changing the value of an observed slot changes the table (so the hold-out really scores them)."""
    rng = np.random.default_rng(1)
    Xs, mask = random_incomplete(rng, 120, [3, 3])
    kw = dict(n_clusters=(4,), temperatures=(0.3,), n_repeats=1, random_state=0)
    a = select_parameters(with_nan(Xs, mask), mask, **kw)
    Xs2 = [X * 2.0 + 1.0 for X in Xs]  # standardisation makes this the same problem...
    b = select_parameters(with_nan(Xs2, mask), mask, **kw)
    assert a["holdout_mse"].iloc[0] == pytest.approx(b["holdout_mse"].iloc[0], rel=1e-4)
    Xs3 = [X.copy() for X in Xs]
    Xs3[0] = rng.normal(size=Xs3[0].shape)  # ...but different data is a different score
    c = select_parameters(with_nan(Xs3, mask), mask, **kw)
    assert c["holdout_mse"].iloc[0] != pytest.approx(a["holdout_mse"].iloc[0], rel=1e-3)


def test_auto_fit_uses_the_best_grid_point():
    rng = np.random.default_rng(2)
    Xs, mask = random_incomplete(rng, 200, [4, 3])
    Xin = with_nan(Xs, mask)
    imp = UL4M4Imputer("auto", completion="soft", temperature="auto", random_state=0).fit(Xin, mask)
    table = imp.selection_
    assert set(table["n_clusters"]) <= {8, 16, 32} and table["n_clusters"].max() <= 200 // 4
    mean = table.groupby(["n_clusters", "temperature_factor"])["holdout_mse"].mean()
    k, f = mean.idxmin()
    assert imp.n_clusters_ == k == len(imp.center_mask_)
    assert imp.temperature_ == pytest.approx(f * imp.typical_distance_)
    # A grid of k and greedy completion: only k is searched.
    g = UL4M4Imputer([2, 5], random_state=0).fit(Xin, mask)
    assert set(g.selection_["n_clusters"]) == {2, 5} and g.n_clusters_ in (2, 5)
    assert g.selection_["temperature"].isna().all()


def test_plain_fit_has_no_selection():
    rng = np.random.default_rng(3)
    Xs, mask = random_incomplete(rng, 50, [2, 2])
    imp = UL4M4Imputer(3, random_state=0).fit(with_nan(Xs, mask), mask)
    assert imp.selection_ is None and imp.n_clusters_ == 3


@pytest.mark.parametrize("bad, match", [
    ({"n_clusters": []}, "n_clusters"), ({"n_clusters": [0, 2]}, "n_clusters"),
    ({"temperatures": [-1.0]}, "temperatures"), ({"completion": "x"}, "completion"),
    ({"n_repeats": 0}, "n_repeats"), ({"max_samples": 1}, "max_samples"), ({"holdout": 1.0}, "fraction"),
])
def test_select_parameters_bad_arguments(bad, match):
    rng = np.random.default_rng(0)
    Xs, mask = random_incomplete(rng, 40, [2, 2])
    with pytest.raises(ValueError, match=match):
        select_parameters(with_nan(Xs, mask), mask, **bad)
