"""Baseline imputers with UL4M4Imputer's interface: zero fill, modality mean, kNN and iterative.

kNN and iterative imputation work on the standardised, concatenated modalities (missing blocks as NaN)
and map the result back to original units.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (registers IterativeImputer)
from sklearn.impute import IterativeImputer

from .scaling import modality_stats
from .validation import check_Xs

__all__ = ["ZeroImputer", "MeanImputer", "KNNModalityImputer", "IterativeModalityImputer"]


class _ModalityImputer(BaseEstimator):
    """Shared fit/transform plumbing: validation, standardisation statistics, observed rows kept."""

    def fit(self, Xs, mask=None, y=None):
        """Learn from the observed rows of ``Xs``; returns self."""
        Xs, mask = check_Xs(Xs, mask, allow_empty_modality=False)
        self.mean_, self.scale_ = modality_stats(Xs, mask)
        self.dims_ = [X.shape[1] for X in Xs]
        self._fit(Xs, mask)
        return self

    def _fit(self, Xs, mask):
        """Estimator-specific fitting; inputs are valid."""

    def _check_fitted(self):
        if not hasattr(self, "mean_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet; call fit first.")

    def transform(self, Xs, mask=None):
        """Return completed copies of ``Xs`` (same float dtype; observed rows unchanged)."""
        self._check_fitted()
        Xs, mask = check_Xs(Xs, mask, n_modalities=len(self.dims_), dims=self.dims_)
        out = [X.copy() for X in Xs]
        if (~mask).any():
            fills = self._fill(Xs, mask)
            for m in range(len(out)):
                rows = ~mask[:, m]
                out[m][rows] = fills[m][rows]
        return out

    def fit_transform(self, Xs, mask=None, y=None):
        return self.fit(Xs, mask).transform(Xs, mask)

    def _standardised_concat(self, Xs, mask):
        """(n, sum d_m) float64 with NaN in missing blocks."""
        blocks = []
        for m, X in enumerate(Xs):
            Z = (X.astype(np.float64) - self.mean_[m]) / self.scale_[m]
            Z[~mask[:, m]] = np.nan
            blocks.append(Z)
        return np.hstack(blocks)

    def _split_back(self, Zcat):
        out, s = [], 0
        for m, d in enumerate(self.dims_):
            out.append(Zcat[:, s : s + d] * self.scale_[m] + self.mean_[m])
            s += d
        return out


class ZeroImputer(_ModalityImputer):
    """Fill every missing modality with zeros (in original units)."""

    def _fill(self, Xs, mask):
        return [np.zeros((mask.shape[0], d)) for d in self.dims_]


class MeanImputer(_ModalityImputer):
    """Fill every missing modality with its mean over the observed training rows."""

    def _fill(self, Xs, mask):
        return [np.broadcast_to(mu, (mask.shape[0], mu.size)) for mu in self.mean_]


class KNNModalityImputer(_ModalityImputer):
    """k-nearest-neighbour imputation with scikit-learn's ``KNNImputer`` rule, computed per modality.

    Works on the standardised, concatenated modalities. Distances are scikit-learn's nan-Euclidean
    distances (``sklearn.metrics.pairwise.nan_euclidean_distances``); a missing block is the (uniform or distance-weighted) mean of the
    ``n_neighbors`` nearest training samples that observe the modality, and the training mean where no
    donor shares a feature with the sample. This is exactly what ``KNNImputer`` computes on block-missing
    data (the tests compare the two), but all features of a modality share one neighbour search
    instead of one per feature, and the distances are one matrix product per modality, which makes it
    about 100 times faster on wide embeddings.

    Parameters
    ----------
    n_neighbors : int, default=5
    weights : {"uniform", "distance"}, default="uniform"
    """

    def __init__(self, n_neighbors=5, weights="uniform"):
        self.n_neighbors = n_neighbors
        self.weights = weights

    def _fit(self, Xs, mask):
        if isinstance(self.n_neighbors, bool) or not isinstance(self.n_neighbors, (int, np.integer)) or self.n_neighbors < 1:
            raise ValueError(f"n_neighbors={self.n_neighbors!r} should be an integer >= 1.")
        if self.weights not in ("uniform", "distance"):
            raise ValueError(f"weights={self.weights!r} should be 'uniform' or 'distance'.")
        self.train_ = self._standardised_concat(Xs, mask)
        self.train_mask_ = mask.copy()

    def _distances(self, Zq, mq):
        """scikit-learn's nan_euclidean distance, computed block-wise.

        dist^2 = (n_features / n_shared_features) * sum over shared features of (x - y)^2, NaN when nothing
        is shared; with whole modalities missing, the sums are one matrix product per modality.
        """
        offsets = np.concatenate([[0], np.cumsum(self.dims_)])
        aq = mq.astype(np.float64)
        at = self.train_mask_.astype(np.float64)
        shared = (aq * self.dims_) @ at.T  # (c, n_train) shared features
        sq = np.zeros_like(shared)
        for m in range(len(self.dims_)):
            sl = slice(offsets[m], offsets[m + 1])
            xq = np.nan_to_num(Zq[:, sl])
            xt = np.nan_to_num(self.train_[:, sl])
            d2 = (xq * xq).sum(axis=1)[:, None] + (xt * xt).sum(axis=1)[None, :] - 2.0 * (xq @ xt.T)
            sq += aq[:, m : m + 1] * at[None, :, m] * np.maximum(d2, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.sqrt(sum(self.dims_) / shared * sq)
        out[shared == 0] = np.nan
        return out

    def _fill(self, Xs, mask, block=1024):
        Zq = self._standardised_concat(Xs, mask)
        offsets = np.concatenate([[0], np.cumsum(self.dims_)])
        fills = [np.zeros((mask.shape[0], d)) for d in self.dims_]
        need = np.flatnonzero(~mask.all(axis=1))
        for s in range(0, need.size, block):
            rows = need[s : s + block]
            D = self._distances(Zq[rows], mask[rows])  # (c, n_train), NaN if nothing shared
            for m, d in enumerate(self.dims_):
                recv = ~mask[rows, m]
                if not recv.any():
                    continue
                donors = np.flatnonzero(self.train_mask_[:, m])
                Dm = D[recv][:, donors]  # (r, n_donors)
                valid = ~np.isnan(Dm)
                kk = min(self.n_neighbors, donors.size)
                Dfill = np.where(valid, Dm, np.inf)
                nn = np.argpartition(Dfill, kk - 1, axis=1)[:, :kk]  # (r, kk)
                dnn = np.take_along_axis(Dfill, nn, axis=1)
                ok = np.isfinite(dnn)
                if self.weights == "uniform":
                    w = ok.astype(np.float64)
                else:
                    with np.errstate(divide="ignore"):
                        w = np.where(ok, 1.0 / dnn, 0.0)
                    zero = ok & (dnn == 0)
                    w = np.where(zero.any(axis=1, keepdims=True), zero.astype(np.float64), w)
                vals = self.train_[donors[nn], offsets[m] : offsets[m + 1]]  # (r, kk, d)
                wsum = w.sum(axis=1, keepdims=True)
                est = (w[:, :, None] * vals).sum(axis=1) / np.where(wsum > 0, wsum, 1.0)
                est[wsum[:, 0] == 0] = 0.0  # no donor shares a feature: training mean (0 in z-units)
                fills[m][rows[recv]] = est * self.scale_[m] + self.mean_[m]
        return fills


class IterativeModalityImputer(_ModalityImputer):
    """scikit-learn's ``IterativeImputer`` (BayesianRidge per feature) on the standardised modalities.

    Parameters
    ----------
    max_iter : int, default=5
    n_nearest_features : int or None, default=30
        Predictors per feature; bounds the cost on wide embeddings.
    random_state : int or None, default=0
    """

    def __init__(self, max_iter=5, n_nearest_features=30, random_state=0):
        self.max_iter = max_iter
        self.n_nearest_features = n_nearest_features
        self.random_state = random_state

    def _fit(self, Xs, mask):
        nnf = self.n_nearest_features
        if nnf is not None:
            nnf = min(nnf, sum(self.dims_) - 1) or None
        self.iter_ = IterativeImputer(
            max_iter=self.max_iter,
            n_nearest_features=nnf,
            random_state=self.random_state,
            keep_empty_features=True,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.iter_.fit(self._standardised_concat(Xs, mask))

    def _fill(self, Xs, mask):
        return self._split_back(self.iter_.transform(self._standardised_concat(Xs, mask)))
