"""Imputation error on the blocks a simulation removed: per-modality MSE and cosine similarity.

Both are computed in standardised units: each modality's features are scaled with the mean and
population std of the observed ground-truth rows, so modalities of different scale are comparable and
every method is judged on the same scale. Only removed blocks (observed in the truth, missing in the
input) count; observed rows would flatter every method.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .scaling import masked_mean_std
from .validation import check_Xs, counted, in_number

__all__ = ["imputation_error", "Truth"]


class Truth:
    """Ground truth checked once, with the statistics its errors are measured in: pass it as ``Xs_true``
    to score many completions of the same data (a sweep) without checking and standardising the truth
    every time.

    Parameters
    ----------
    Xs_true, true_mask : as ``imputation_error``
    """

    def __init__(self, Xs_true, true_mask=None):
        self.Xs, self.mask = check_Xs(Xs_true, true_mask)
        self.stats = [masked_mean_std(T, self.mask[:, m]) if self.mask[:, m].any() else (None, None)
                      for m, T in enumerate(self.Xs)]


def _check_truth(Xs_true, Xs_imputed, removed, true_mask):
    """Checked (truth, completed, truth's mask, removed, statistics per modality); removed blocks must be
    observed in the truth."""
    truth = Xs_true if isinstance(Xs_true, Truth) else None
    if truth is not None:
        Xt, full = truth.Xs, truth.mask
    else:
        Xt, full = check_Xs(Xs_true, true_mask)
    Xi, _ = check_Xs(Xs_imputed, np.ones_like(full), n_modalities=len(Xt), dims=[X.shape[1] for X in Xt])
    removed = np.asarray(removed, dtype=bool)
    if removed.shape != full.shape:
        raise ValueError(f"removed has shape {removed.shape}; expected {full.shape}.")
    unknown = int((removed & ~full).sum())
    if unknown:
        raise ValueError(
            f"{counted(unknown, 'removed block')} {in_number(unknown, 'is', 'are')} "
            "missing in Xs_true; the error can only be "
            "measured where the truth is known."
        )
    stats = truth.stats if truth is not None else [(None, None)] * len(Xt)
    return Xt, Xi, full, removed, stats


def imputation_error(Xs_true, Xs_imputed, removed, modality_names=None, true_mask=None):
    """Per-modality error of imputed blocks against the truth, on removed blocks only.

    Parameters
    ----------
    Xs_true : list of ndarray of shape (n_samples, n_features_m), or a ``Truth``
        Ground truth before values were removed; it may have missing blocks of its own (NaN rows or
        ``true_mask``) as long as every removed block is observed in it. A ``Truth`` is checked and
        standardised already (``true_mask`` is then ignored).
    Xs_imputed : list of ndarray of the same shapes, the completed data
    removed : ndarray of bool of shape (n_samples, n_modalities)
        True where a block was removed (and then imputed).
    modality_names : list of str, default=None
    true_mask : ndarray of bool of shape (n_samples, n_modalities), default=None
        Observed blocks of the truth; by default, rows that are not all NaN.

    Returns
    -------
    pandas.DataFrame
        One row per modality plus an "all" row (slot-weighted), with columns ``modality``,
        ``n_removed``, ``mse`` (mean squared error per feature, standardised units) and ``cosine``
        (mean cosine similarity between imputed and true blocks, standardised units). NaN where
        nothing was removed.
    """
    Xt, Xi, full, removed, stats = _check_truth(Xs_true, Xs_imputed, removed, true_mask)
    names = list(modality_names) if modality_names is not None else [f"m{m}" for m in range(len(Xt))]
    if len(names) != len(Xt):
        raise ValueError(f"modality_names holds {len(names)} names for {len(Xt)} modalities; give one name per "
                         "modality (or None).")
    rows = []
    tot_sq, tot_cos, tot_n = 0.0, 0.0, 0
    for m, (T, I) in enumerate(zip(Xt, Xi)):
        r = removed[:, m]
        k = int(r.sum())
        if k == 0:
            rows.append({"modality": names[m], "n_removed": 0, "mse": np.nan, "cosine": np.nan})
            continue
        mu, sd = stats[m] if stats[m][0] is not None else masked_mean_std(T, full[:, m])
        zt = (T[r].astype(np.float64) - mu) / sd
        zi = (I[r].astype(np.float64) - mu) / sd
        per_row = ((zi - zt) ** 2).mean(axis=1)
        nt = np.linalg.norm(zt, axis=1)
        ni = np.linalg.norm(zi, axis=1)
        denom = nt * ni
        cos = np.where(denom > 0, (zt * zi).sum(axis=1) / np.where(denom > 0, denom, 1.0), 0.0)
        rows.append({"modality": names[m], "n_removed": k, "mse": float(per_row.mean()), "cosine": float(cos.mean())})
        tot_sq += float(per_row.sum())
        tot_cos += float(cos.sum())
        tot_n += k
    rows.append(
        {
            "modality": "all",
            "n_removed": tot_n,
            "mse": tot_sq / tot_n if tot_n else np.nan,
            "cosine": tot_cos / tot_n if tot_n else np.nan,
        }
    )
    return pd.DataFrame(rows)


def block_errors(Xs_true, Xs_imputed, removed, true_mask=None):
    """Error of every imputed block against the truth: MSE per feature in standardised units, as
    ``imputation_error`` computes it (whose per-modality ``mse`` is the mean of these over the removed
    blocks).

    Returns
    -------
    ndarray of float64 of shape (n_samples, n_modalities)
        NaN where the block was not removed.
    """
    Xt, Xi, full, removed, stats = _check_truth(Xs_true, Xs_imputed, removed, true_mask)
    out = np.full(full.shape, np.nan)
    for m, (T, I) in enumerate(zip(Xt, Xi)):
        r = removed[:, m]
        if not r.any():
            continue
        mu, sd = stats[m] if stats[m][0] is not None else masked_mean_std(T, full[:, m])
        zt = (T[r].astype(np.float64) - mu) / sd
        zi = (I[r].astype(np.float64) - mu) / sd
        out[r, m] = ((zi - zt) ** 2).mean(axis=1)
    return out
