"""UL4M4 with a low-rank correction: cluster centres for what the clusters explain, a low-rank model of
what they leave.

A completion from cluster centres alone is piecewise constant: every sample near a centre gets (nearly)
that centre, whatever else its observed modalities say. Low-rank models (SoftImpute) capture the linear
structure shared across samples but no cluster structure. ``UL4M4LowRankImputer`` combines them:

1. a soft UL4M4 model (``UL4M4Imputer(completion="soft")``, k and temperature chosen without labels)
   gives every block of every sample a centre estimate C (``soft_reconstruction``, z-units);
2. on the observed blocks, the residual R = Z - a C is completed by SoftImpute (on the z-units as they
   are, no second standardisation);
3. a missing block is filled with a C + L, L the low-rank completion of its residual.

The centre weight ``a`` is chosen from ``centre_weights`` by the same label-free hold-out as the rest of
the library: a fraction of the observed slots is hidden, the soft model (at the chosen k and temperature)
and the low-rank residual model are fitted on the rest, and the hidden slots are scored. ``a = 0`` is
plain SoftImpute on the z-units and ``a = 1`` the full correction of the centres, so on data where the
centres do not help the hold-out can turn them off; ``centre_weight_`` says what was chosen.
"""

from __future__ import annotations

import time
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions

from .baselines import SoftImputeImputer
from .impute import SELECTION_HOLDOUT, UL4M4Imputer
from .missing import holdout_mask
from .validation import NotFittedError, check_params, check_random_state, check_Xs

__all__ = ["UL4M4LowRankImputer", "CENTRE_WEIGHTS"]

# The centre weights the hold-out chooses from: plain SoftImpute, half and full centre correction.
CENTRE_WEIGHTS = (0.0, 0.5, 1.0)


class _ResidualSoftImpute(SoftImputeImputer):
    """SoftImpute on data already in z-units: no standardisation of its own (a residual whose spread is
    near zero on some feature must not be divided by that spread)."""

    def _scaling(self, Xs, mask):
        return [np.zeros(X.shape[1]) for X in Xs], [np.ones(X.shape[1]) for X in Xs]


class UL4M4LowRankImputer(BaseEstimator):
    """Soft UL4M4 centres plus a low-rank (SoftImpute) completion of their residual.

    Parameters
    ----------
    n_clusters : int or "auto", default="auto"
        k of the soft UL4M4 model; "auto" chooses it by hold-out (``select_parameters``).
    temperature : float, "auto" or None, default="auto"
        Temperature of the soft weights, as ``UL4M4Imputer``.
    centre_weights : sequence of float in [0, 1], default=CENTRE_WEIGHTS
        Candidates for the weight ``a`` of the centre estimate; one value skips the hold-out.
    shrinkage : "auto" or float in (0, 1), default="auto"
        SoftImpute's shrinkage of the residual, as ``SoftImputeImputer``.
    max_rank : int or None, default=None
        SoftImpute's rank cap, as ``SoftImputeImputer``.
    holdout : float in (0, 1), default=0.15
        Fraction of the observed slots hidden to choose ``a``.
    tol : float, default=1e-2
        Lloyd stopping rule of the soft model (the "soft, auto" preset's: it averages over centres and
        does not need the partition's last moves).
    random_state : int or None, default=0
    device : {None, "auto", "cpu", "cuda"}, default=None
        Where the soft UL4M4 model computes.

    Attributes
    ----------
    soft_ : UL4M4Imputer, the soft model fitted on all observed training slots
    lowrank_ : SoftImputeImputer, the residual model
    centre_weight_ : float, the chosen ``a``
    n_clusters_, temperature_ : the soft model's
    selection_ : pandas.DataFrame or None, one row per candidate weight: ``centre_weight``,
        ``holdout_mse`` (per hidden entry, z-units), ``n_hidden``, ``seconds``
    mean_, scale_ : lists of ndarray, the z-units (the soft model's)
    """

    _parameter_constraints = {
        "n_clusters": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "temperature": [None, StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "shrinkage": [StrOptions({"auto"}), Interval(Real, 0, 1, closed="neither")],
        "max_rank": [None, Interval(Integral, 1, None, closed="left")],
        "holdout": [Interval(Real, 0, 1, closed="neither")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": [None, Interval(Integral, 0, None, closed="left")],
    }

    def __init__(self, n_clusters="auto", *, temperature="auto", centre_weights=CENTRE_WEIGHTS, shrinkage="auto",
                 max_rank=None, holdout=SELECTION_HOLDOUT, tol=1e-2, random_state=0, device=None):
        self.n_clusters = n_clusters
        self.temperature = temperature
        self.centre_weights = centre_weights
        self.shrinkage = shrinkage
        self.max_rank = max_rank
        self.holdout = holdout
        self.tol = tol
        self.random_state = random_state
        self.device = device

    def _check_weights(self):
        w = self.centre_weights
        if isinstance(w, (str, bytes)) or not hasattr(w, "__len__") or not len(w) or any(
                isinstance(a, bool) or not isinstance(a, Real) or not 0.0 <= float(a) <= 1.0 for a in w):
            raise ValueError(f"centre_weights={w!r} should be a non-empty list of numbers in [0, 1].")
        return [float(a) for a in w]

    def _soft(self, n_clusters, temperature, seed):
        return UL4M4Imputer(n_clusters, completion="soft", temperature=temperature, tol=self.tol,
                            random_state=seed, device=self.device)

    def _lowrank(self, seed):
        return _ResidualSoftImpute(shrinkage=self.shrinkage, max_rank=self.max_rank, random_state=seed)

    @staticmethod
    def _z(model, Xs, mask):
        """Observed blocks in the model's z-units (float64), 0 elsewhere."""
        return [np.where(mask[:, [m]], (np.asarray(X, dtype=np.float64) - model.mean_[m]) / model.scale_[m], 0.0)
                for m, X in enumerate(Xs)]

    def _residual(self, model, Xs, mask, weight):
        """(residual blocks with NaN where unobserved, centre estimate C), z-units of ``model``."""
        C = model.soft_reconstruction(Xs, mask)
        Z = self._z(model, Xs, mask)
        R = [np.where(mask[:, [m]], Z[m] - weight * C[m], np.nan) for m in range(len(Z))]
        return R, C

    def fit(self, Xs, mask=None, y=None):
        """Fit the soft model, choose the centre weight by hold-out, fit the residual model; returns self."""
        check_params(self.get_params(deep=False), self._parameter_constraints)
        weights = self._check_weights()
        Xs, mask = check_Xs(Xs, mask, allow_empty_modality=False)
        rng = check_random_state(self.random_state)
        seed = int(rng.integers(2**31))
        self.soft_ = self._soft(self.n_clusters, self.temperature, seed).fit(Xs, mask)
        self.selection_ = None
        weight = weights[-1]
        if len(weights) > 1:
            hidden = holdout_mask(mask, self.holdout, rng)
            fit_mask = mask & ~hidden
            if hidden.any() and fit_mask.any(axis=0).all():
                self.selection_ = self._select(Xs, fit_mask, hidden, weights, seed)
                best = self.selection_["holdout_mse"].idxmin()  # the first (smallest) weight on ties
                weight = float(self.selection_.loc[best, "centre_weight"])
        self.centre_weight_ = weight
        R, _ = self._residual(self.soft_, Xs, mask, weight)
        self.lowrank_ = self._lowrank(seed).fit(R, mask)
        self.n_clusters_, self.temperature_ = self.soft_.n_clusters_, self.soft_.temperature_
        self.mean_, self.scale_ = self.soft_.mean_, self.soft_.scale_
        self.dims_ = list(self.soft_.dims_)
        return self

    def _select(self, Xs, fit_mask, hidden, weights, seed):
        """Hold-out MSE of each centre weight: the soft model (at the chosen k and temperature) and the
        residual model are fitted on ``fit_mask`` only; the hidden slots' values are never seen by them."""
        t0 = time.perf_counter()
        Xfit = [np.where(fit_mask[:, [m]], X, np.nan) for m, X in enumerate(Xs)]
        with warnings.catch_warnings():  # this refit only scores weights: its partition's last moves do not matter
            warnings.simplefilter("ignore", ConvergenceWarning)
            soft = self._soft(self.soft_.n_clusters_, self.soft_.temperature_, seed).fit(Xfit, fit_mask)
        C = soft.soft_reconstruction(Xfit, fit_mask)
        Z = self._z(soft, Xfit, fit_mask)
        truth = self._z(soft, Xs, hidden)  # the hidden slots, in the same z-units
        shared = time.perf_counter() - t0
        rows = []
        for a in weights:
            t1 = time.perf_counter()
            R = [np.where(fit_mask[:, [m]], Z[m] - a * C[m], np.nan) for m in range(len(Z))]
            L = self._lowrank(seed).fit(R, fit_mask).transform(R, fit_mask)
            num, cnt = 0.0, 0
            for m in range(len(Z)):
                h = hidden[:, m]
                if h.any():
                    num += float((((a * C[m][h] + L[m][h]) - truth[m][h]) ** 2).mean(axis=1).sum())
                    cnt += int(h.sum())
            rows.append({"centre_weight": a, "holdout_mse": num / cnt if cnt else np.nan, "n_hidden": cnt,
                         "seconds": shared / len(weights) + time.perf_counter() - t1})
        return pd.DataFrame(rows, columns=["centre_weight", "holdout_mse", "n_hidden", "seconds"])

    def transform(self, Xs, mask=None):
        """Completed copies of ``Xs`` (same float dtype; observed blocks unchanged)."""
        if not hasattr(self, "lowrank_"):
            raise NotFittedError("This UL4M4LowRankImputer instance is not fitted yet; call fit first.")
        Xs, mask = check_Xs(Xs, mask, n_modalities=len(self.dims_), dims=self.dims_)
        out = [X.copy() for X in Xs]
        if mask.all():
            return out
        a = self.centre_weight_
        R, C = self._residual(self.soft_, Xs, mask, a)
        L = self.lowrank_.transform(R, mask)
        for m in range(len(out)):
            rows = ~mask[:, m]
            if rows.any():
                out[m][rows] = (a * C[m][rows] + L[m][rows]) * self.scale_[m] + self.mean_[m]
        return out

    def fit_transform(self, Xs, mask=None, y=None):
        return self.fit(Xs, mask).transform(Xs, mask)
