"""Modality-wise standardisation fitted on observed training rows only (METHOD.md section 1)."""

from __future__ import annotations

import os

import numpy as np

from .validation import check_Xs

__all__ = ["ModalityScaler", "masked_mean_std", "modality_stats", "observed_sum", "observed_sq_dev", "std_from"]

STD_FLOOR = 1e-8


def masked_mean_std(X, observed, block=2048):
    """Mean and population std (ddof=0) per feature over the observed rows, in float64, block by block.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    observed : ndarray of bool of shape (n_samples,)

    Returns
    -------
    mean, std : ndarray of float64 of shape (n_features,)
        A feature whose std is below 1e-8 gets std 1, so it is centred but not scaled.

    Raises
    ------
    ValueError
        If no row is observed.
    """
    count = int(observed.sum())
    if count == 0:
        raise ValueError("Cannot standardise a modality with no observed row.")
    mean = observed_sum(X, observed, block) / count
    return mean, std_from(observed_sq_dev(X, observed, mean, block), count)


def _observed_rows(X, observed, block):
    """The observed rows of ``X``, ``block`` rows at a time (views when every row is observed)."""
    every = bool(observed.all())  # no row to leave out: blocks are views, not copies
    for s in range(0, X.shape[0], block):
        yield X[s : s + block] if every else X[s : s + block][observed[s : s + block]]


def observed_sum(X, observed, block=2048):
    """Sum per feature of the observed rows (float64, added block by block in row order): (n_features,)."""
    total = np.zeros(X.shape[1])
    for r in _observed_rows(X, observed, block):
        total += r.sum(axis=0, dtype=np.float64)
    return total


def observed_sq_dev(X, observed, mean, block=2048):
    """Sum per feature of the squared deviations of the observed rows from ``mean`` (float64): (n_features,)."""
    sq = np.zeros(X.shape[1])
    buf = np.empty((min(block, X.shape[0]), X.shape[1]))  # float64 differences, reused
    for r in _observed_rows(X, observed, block):
        diff = np.subtract(r, mean, out=buf[: r.shape[0]])
        sq += np.multiply(diff, diff, out=diff).sum(axis=0)
    return sq


def std_from(sq, count):
    """Population std from the summed squared deviations of ``count`` rows; below 1e-8 it becomes 1."""
    std = np.sqrt(sq / count)
    std[std < STD_FLOOR] = 1.0
    return std


# Modalities whose statistics are computed in threads of their own above this many entries in all
# (numpy's reductions release the GIL; each modality keeps its own row order, so the values are the same).
PARALLEL_STATS_ENTRIES = 1 << 22


def modality_stats(Xs, mask):
    """Per-modality ``masked_mean_std`` over the observed rows: lists of means and of stds (float64).

    On large data the modalities are done in parallel threads: each one's arithmetic is unchanged (the
    same blocks in the same order), so the results are identical bit for bit."""
    work = [(X, mask[:, m]) for m, X in enumerate(Xs)]
    if len(Xs) > 1 and sum(X.size for X in Xs) >= PARALLEL_STATS_ENTRIES:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(len(Xs), os.cpu_count() or 1)) as pool:
            stats = list(pool.map(lambda w: masked_mean_std(*w), work))
    else:
        stats = [masked_mean_std(X, obs) for X, obs in work]
    return [mu for mu, _ in stats], [sd for _, sd in stats]


class ModalityScaler:
    """Standardise each modality with statistics of its observed training rows.

    Attributes (after ``fit``)
    --------------------------
    mean_ : list of ndarray of float64 of shape (n_features_m,)
    scale_ : list of ndarray of float64 of shape (n_features_m,)
    dims_ : list of int
    """

    def fit(self, Xs, mask=None):
        Xs, mask = check_Xs(Xs, mask, allow_empty_modality=False)
        self.mean_, self.scale_ = modality_stats(Xs, mask)
        self.dims_ = [X.shape[1] for X in Xs]
        return self

    def _check_fitted(self):
        if not hasattr(self, "mean_"):
            raise RuntimeError("This ModalityScaler is not fitted yet; call fit first.")

    def transform(self, Xs, mask=None):
        """Standardised copies (float64); unobserved rows become NaN."""
        self._check_fitted()
        Xs, mask = check_Xs(Xs, mask, n_modalities=len(self.dims_), dims=self.dims_)
        out = []
        for m, X in enumerate(Xs):
            Z = (X.astype(np.float64) - self.mean_[m]) / self.scale_[m]
            Z[~mask[:, m]] = np.nan
            out.append(Z)
        return out

    def inverse_transform(self, Zs):
        """Map standardised arrays back to original units (float64)."""
        self._check_fitted()
        return [np.asarray(Z, dtype=np.float64) * self.scale_[m] + self.mean_[m] for m, Z in enumerate(Zs)]
