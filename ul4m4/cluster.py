"""k-means with the partial-modality distance: k-means++ seeding and Lloyd iterations (METHOD.md 3-4)."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning

from .distance import default_chunk_size, ratio_or_inf, sample_center_terms, sq_norms
from .scaling import masked_mean_std
from .validation import (
    check_n_clusters,
    check_random_state,
    check_Xs,
    resolve_device,
    resolve_dtype,
)

__all__ = ["PartialModalityKMeans", "partial_kmeans"]

# A standardised copy of the data is kept for the Lloyd passes when it is at most this large;
# larger data is standardised block by block on every pass, so memory stays bounded.
CACHE_LIMIT_BYTES = 1 << 30


class _ZBlocks:
    """Standardised view of (Xs, mask) as torch blocks; absent rows are zero. Assumes valid input."""

    def __init__(self, Xs, mask, mean, scale, device, dtype, chunk, cache=True):
        self.Xs, self.mask, self.device, self.dtype, self.chunk = Xs, mask, device, dtype, chunk
        self.n = mask.shape[0]
        self.mu = [torch.as_tensor(v, dtype=dtype, device=device) for v in mean]
        self.sd = [torch.as_tensor(v, dtype=dtype, device=device) for v in scale]
        itemsize = torch.finfo(dtype).bits // 8
        size = self.n * sum(X.shape[1] for X in Xs) * itemsize
        self.cached = None
        if cache and size <= CACHE_LIMIT_BYTES:
            self.cached = [self._block(s, min(s + chunk, self.n)) for s in range(0, self.n, chunk)]

    def _standardise(self, rows_np, a):
        Z = []
        for m, X in enumerate(rows_np):
            if not X.flags.writeable:
                X = X.copy()
            x = torch.as_tensor(X).to(device=self.device, dtype=self.dtype)
            z = (x - self.mu[m]) / self.sd[m]
            Z.append(torch.where(a[:, m : m + 1], z, torch.zeros((), dtype=self.dtype, device=self.device)))
        return Z

    def _block(self, s, e):
        a = torch.as_tensor(self.mask[s:e], device=self.device)
        return s, e, self._standardise([X[s:e] for X in self.Xs], a), a

    def __iter__(self):
        if self.cached is not None:
            return iter(self.cached)
        return (self._block(s, min(s + self.chunk, self.n)) for s in range(0, self.n, self.chunk))

    def rows(self, idx):
        """Standardised rows ``idx`` (1-D int array): list of (len(idx), d_m) tensors and presence."""
        a = torch.as_tensor(self.mask[idx], device=self.device)
        return self._standardise([X[idx] for X in self.Xs], a), a


def _assign(blocks, C, H):
    """Nearest centre of every sample (first index on ties) and the squared distance to it."""
    norms = sq_norms(C)
    labels = np.empty(blocks.n, dtype=np.int64)
    dist2 = np.empty(blocks.n)
    for s, e, Z, a in blocks:
        q = ratio_or_inf(*sample_center_terms(Z, a, C, H, norms))  # (c, k)
        val, idx = torch.min(q, dim=1)
        labels[s:e] = idx.cpu().numpy()
        dist2[s:e] = val.cpu().numpy()
    return labels, dist2


def _assign_and_accumulate(blocks, C, H):
    """One pass: assignment plus per-cluster sums and counts for the next update."""
    k, M = H.shape
    norms = sq_norms(C)
    sums = [torch.zeros_like(c) for c in C]
    counts = torch.zeros((k, M), dtype=C[0].dtype, device=C[0].device)
    members = torch.zeros(k, dtype=C[0].dtype, device=C[0].device)
    labels = np.empty(blocks.n, dtype=np.int64)
    dist2 = np.empty(blocks.n)
    for s, e, Z, a in blocks:
        q = ratio_or_inf(*sample_center_terms(Z, a, C, H, norms))  # (c, k)
        val, idx = torch.min(q, dim=1)
        for m, z in enumerate(Z):
            sums[m].index_add_(0, idx, z)  # absent rows are zero, so they add nothing
        counts.index_add_(0, idx, a.to(counts.dtype))
        members.index_add_(0, idx, torch.ones_like(val))
        labels[s:e] = idx.cpu().numpy()
        dist2[s:e] = val.cpu().numpy()
    return labels, dist2, sums, counts, members


def _update(C, H, sums, counts, members):
    """New centres: member means per modality; a modality no member observes is lacked; empty clusters stay."""
    has_members = members > 0  # (k,)
    newH = torch.where(has_members[:, None], counts > 0, H)
    newC = []
    for m, (c, sm) in enumerate(zip(C, sums)):
        cnt = counts[:, m : m + 1]
        mean = sm / cnt.clamp(min=1.0)
        keep_old = ~has_members[:, None]
        c_new = torch.where(keep_old, c, torch.where(cnt > 0, mean, torch.zeros_like(mean)))
        newC.append(c_new)
    return newC, newH


def _kmeans_plusplus(blocks, k, rng, callback=None):
    """k-means++ on the partial distance; samples sharing no modality with any chosen centre go first."""
    n = blocks.n
    chosen = [int(rng.integers(n))]
    d2 = np.full(n, np.inf)
    for j in range(1, k + 1):
        Zc, ac = blocks.rows(np.array([chosen[-1]]))
        norms = sq_norms(Zc)
        for s, e, Z, a in blocks:
            q = ratio_or_inf(*sample_center_terms(Z, a, Zc, ac, norms))[:, 0]
            np.minimum(d2[s:e], q.cpu().numpy(), out=d2[s:e])
        if callback is not None:
            callback({"stage": "seeding", "done": j, "total": k})
        if j == k:
            break
        far = np.flatnonzero(np.isinf(d2))
        if far.size:
            chosen.append(int(far[rng.integers(far.size)]))
            continue
        cum = np.cumsum(d2)
        total = cum[-1]
        if not total > 0:  # every sample coincides with a chosen centre
            chosen.append(int(rng.integers(n)))
            continue
        chosen.append(int(min(np.searchsorted(cum, rng.random() * total, side="right"), n - 1)))
    Z, a = blocks.rows(np.array(chosen))
    return Z, a, np.array(chosen)


def check_init_centers(init, n_clusters, dims):
    """Validate explicit initial centres: list of M arrays (k, d_m), NaN rows where a centre lacks m."""
    try:
        C, H = check_Xs(list(init), None, n_modalities=len(dims), dims=dims)
    except (ValueError, TypeError) as exc:
        msg = str(exc).replace("sample(s) observe", "initial centre(s) hold")
        raise type(exc)(f"init: {msg}") from None
    if C[0].shape[0] != n_clusters:
        raise ValueError(
            f"init has {C[0].shape[0]} centres; expected n_clusters={n_clusters} rows in every modality."
        )
    return C, H


class PartialModalityKMeans(BaseEstimator):
    """k-means on incomplete multimodal data under the partial-modality distance.

    Modalities are standardised with statistics of their observed rows; each sample is compared with a
    centre on the modalities both hold (METHOD.md sections 1-4). Centres may lack modalities.

    Parameters
    ----------
    n_clusters : int, default=8
    init : "k-means++", "random" or list of M arrays of shape (n_clusters, n_features_m), default="k-means++"
        Explicit centres are in original units with NaN rows where a centre lacks the modality.
    max_iter : int, default=300
        Maximum number of Lloyd iterations (assignment, convergence check, update).
    random_state : int, numpy Generator or None, default=None
    device : {None, "auto", "cpu", "cuda"}, default=None
        None follows the input (CPU for numpy arrays); "auto" uses CUDA when present.
    dtype : {"float32", "float64"}, default="float32"
    chunk_size : int or None, default=None
        Samples per block; None picks a size that keeps temporaries near 32 MB.
    callback : callable or None, default=None
        Called with a dict ({"stage": "seeding"|"lloyd", ...}) after each step, for progress bars.

    Attributes
    ----------
    cluster_centers_ : list of ndarray of shape (n_clusters, n_features_m)
        Centres in original units; NaN rows where a centre lacks the modality.
    center_mask_ : ndarray of bool of shape (n_clusters, n_modalities)
    labels_ : ndarray of int of shape (n_samples,)
    n_iter_ : int
        Lloyd iterations run (the last one may only have confirmed convergence).
    converged_ : bool
    inertia_ : float
        Sum of squared partial distances of samples to their centres.
    mean_, scale_ : list of ndarray of shape (n_features_m,)
        Standardisation statistics of the observed training rows.
    dims_ : list of int
    init_indices_ : ndarray of int or None
        Training rows used as seeds (None for explicit centres).
    """

    def __init__(
        self,
        n_clusters=8,
        *,
        init="k-means++",
        max_iter=300,
        random_state=None,
        device=None,
        dtype="float32",
        chunk_size=None,
        callback=None,
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.max_iter = max_iter
        self.random_state = random_state
        self.device = device
        self.dtype = dtype
        self.chunk_size = chunk_size
        self.callback = callback

    # -- helpers shared with the imputer -------------------------------------------------------
    def _check_params(self, n_samples):
        k = check_n_clusters(self.n_clusters, n_samples)
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, (int, np.integer)) or self.max_iter < 1:
            raise ValueError(f"max_iter={self.max_iter!r} should be an integer >= 1.")
        if self.chunk_size is not None and (
            not isinstance(self.chunk_size, (int, np.integer)) or self.chunk_size < 1
        ):
            raise ValueError(f"chunk_size={self.chunk_size!r} should be None or an integer >= 1.")
        return k

    def _check_fitted(self):
        if not hasattr(self, "cluster_centers_"):
            raise RuntimeError(
                f"This {type(self).__name__} instance is not fitted yet; call fit before using it."
            )

    def _chunk(self, cube=False):
        if self.chunk_size is not None:
            return int(self.chunk_size)
        return default_chunk_size(self.cluster_centers_[0].shape[0], self.dims_, cube=cube)

    def _centres_tensor(self, device, dtype):
        """Standardised centres (absent rows zero) and presence as tensors."""
        C = [torch.as_tensor(c, dtype=dtype, device=device) for c in self.cluster_centers_z_]
        H = torch.as_tensor(self.center_mask_, device=device)
        return C, H

    def _blocks(self, Xs, mask, device, dtype, chunk, cache=True):
        return _ZBlocks(Xs, mask, self.mean_, self.scale_, device, dtype, chunk, cache)

    # -- fitting ----------------------------------------------------------------------------------
    def fit(self, Xs, mask=None, y=None):
        """Cluster the samples.

        Parameters
        ----------
        Xs : list of array-like of shape (n_samples, n_features_m)
        mask : array-like of bool of shape (n_samples, n_modalities), default=None
            True where observed; without it, all-NaN rows mark missing modalities.
        y : ignored

        Returns
        -------
        self
        """
        raw = Xs
        Xs, mask = check_Xs(Xs, mask, allow_empty_modality=False)
        k = self._check_params(mask.shape[0])
        rng = check_random_state(self.random_state)
        device = resolve_device(self.device, raw)
        dtype = resolve_dtype(self.dtype)
        dims = [X.shape[1] for X in Xs]
        explicit = not isinstance(self.init, str)
        if not explicit and self.init not in ("k-means++", "random"):
            raise ValueError(f"init={self.init!r} should be 'k-means++', 'random' or a list of M arrays.")
        if explicit:
            C0, H0 = check_init_centers(self.init, k, dims)

        self.mean_, self.scale_ = [], []
        for m, X in enumerate(Xs):
            mu, sd = masked_mean_std(X, mask[:, m])
            self.mean_.append(mu)
            self.scale_.append(sd)
        self.dims_ = dims
        chunk = self.chunk_size or default_chunk_size(k, dims)
        blocks = self._blocks(Xs, mask, device, dtype, chunk)

        if explicit:
            C = [
                torch.as_tensor(np.where(H0[:, [m]], (c - self.mean_[m]) / self.scale_[m], 0.0), dtype=dtype, device=device)
                for m, c in enumerate(C0)
            ]
            H = torch.as_tensor(H0, device=device)
            self.init_indices_ = None
        elif self.init == "random":
            idx = rng.choice(mask.shape[0], size=k, replace=False)
            C, H = blocks.rows(idx)
            self.init_indices_ = idx
        else:
            C, H, self.init_indices_ = _kmeans_plusplus(blocks, k, rng, self.callback)

        prev = None
        converged = False
        for it in range(1, self.max_iter + 1):
            labels, dist2, sums, counts, members = _assign_and_accumulate(blocks, C, H)
            n_changed = mask.shape[0] if prev is None else int((labels != prev).sum())
            if self.callback is not None:
                self.callback({"stage": "lloyd", "iteration": it, "max_iter": self.max_iter, "n_changed": n_changed})
            if prev is not None and n_changed == 0:
                converged = True
                break
            C, H = _update(C, H, sums, counts, members)
            prev = labels
        if not converged:
            labels, dist2 = _assign(blocks, C, H)
            warnings.warn(
                f"PartialModalityKMeans did not converge in max_iter={self.max_iter} iterations; "
                "increase max_iter for a stable partition.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self._set_centres(C, H)
        self.labels_ = labels
        self.n_iter_ = it
        self.converged_ = converged
        self.inertia_ = float(dist2.sum())
        return self

    def _set_centres(self, C, H):
        Hn = H.cpu().numpy().astype(bool)
        self.center_mask_ = Hn
        self.cluster_centers_z_ = [np.where(Hn[:, [m]], c.cpu().double().numpy(), 0.0) for m, c in enumerate(C)]
        self.cluster_centers_ = [
            np.where(Hn[:, [m]], cz * self.scale_[m] + self.mean_[m], np.nan)
            for m, cz in enumerate(self.cluster_centers_z_)
        ]

    def _prepare(self, Xs, mask):
        self._check_fitted()
        raw = Xs
        Xs, mask = check_Xs(Xs, mask, n_modalities=len(self.dims_), dims=self.dims_)
        device = resolve_device(self.device, raw)
        dtype = resolve_dtype(self.dtype)
        return Xs, mask, device, dtype

    def predict(self, Xs, mask=None):
        """Index of the nearest centre of each sample (lowest index on ties; 0 if none is reachable).

        Returns
        -------
        labels : ndarray of int of shape (n_samples,)
        """
        Xs, mask, device, dtype = self._prepare(Xs, mask)
        C, H = self._centres_tensor(device, dtype)
        return _assign(self._blocks(Xs, mask, device, dtype, self._chunk()), C, H)[0]

    def distances(self, Xs, mask=None):
        """Partial-modality distances, in standardised units, to every centre.

        Returns
        -------
        D : ndarray of shape (n_samples, n_clusters); +inf where nothing is shared.
        """
        Xs, mask, device, dtype = self._prepare(Xs, mask)
        C, H = self._centres_tensor(device, dtype)
        norms = sq_norms(C)
        out = np.empty((mask.shape[0], len(self.center_mask_)))
        for s, e, Z, a in self._blocks(Xs, mask, device, dtype, self._chunk()):
            out[s:e] = torch.sqrt(ratio_or_inf(*sample_center_terms(Z, a, C, H, norms))).cpu().numpy()
        return out

    def fit_predict(self, Xs, mask=None, y=None):
        """Fit and return ``labels_``."""
        return self.fit(Xs, mask).labels_


def partial_kmeans(Xs, n_clusters, mask=None, **kwargs):
    """One-shot wrapper: ``PartialModalityKMeans(n_clusters, **kwargs).fit(Xs, mask=mask)``.

    Returns
    -------
    centers : list of ndarray (n_clusters, n_features_m), NaN rows where absent
    center_mask : ndarray of bool (n_clusters, n_modalities)
    labels : ndarray of int (n_samples,)
    """
    km = PartialModalityKMeans(n_clusters, **kwargs).fit(Xs, mask=mask)
    return km.cluster_centers_, km.center_mask_, km.labels_
