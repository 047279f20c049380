"""k-means with the partial-modality distance: k-means++ seeding and Lloyd iterations (METHOD.md 3-4)."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning

from .distance import (
    block_norms,
    default_chunk_size,
    nearest_centre,
    ratio_or_inf,
    sample_center_terms,
    column_weights,
    concat_blocks,
    segments,
)
from .scaling import modality_stats
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
STREAM_BLOCK_ELEMENTS = 1 << 20
RECOMPUTE_EVERY = 10


class _ZBlocks:
    """Standardised data as concatenated torch blocks, absent blocks zero. Assumes valid input.

    Each block is (start, stop, Zcat (c, D), a (c, M), Nz (c, M)); see ``distance.concat_blocks``.
    """

    def __init__(self, Xs, mask, mean, scale, device, dtype, chunk, cache=True):
        self.Xs, self.mask, self.device, self.dtype, self.chunk = Xs, mask, device, dtype, chunk
        self.n = mask.shape[0]
        self.dims = [X.shape[1] for X in Xs]
        self.segs = segments(self.dims)
        self.mu = [torch.as_tensor(v, dtype=dtype, device=device) for v in mean]
        self.sd = [torch.as_tensor(v, dtype=dtype, device=device) for v in scale]
        itemsize = torch.finfo(dtype).bits // 8
        size = self.n * sum(self.dims) * itemsize
        self.cached = None
        if cache and size <= CACHE_LIMIT_BYTES:
            # One standardised copy; the blocks are views of it, so rows can also be gathered directly.
            a_all = torch.as_tensor(mask, device=device)
            self.Z_all, self.N_all = self._standardise(Xs, a_all)
            self.a_all = a_all
            self.cached = [(s, min(s + chunk, self.n), self.Z_all[s : s + chunk], a_all[s : s + chunk],
                            self.N_all[s : s + chunk]) for s in range(0, self.n, chunk)]
        else:
            # Streaming: small blocks, so the per-pass temporaries (which the allocator tends to keep)
            # stay a few MB instead of hundreds.
            self.chunk = min(chunk, max(256, STREAM_BLOCK_ELEMENTS // sum(self.dims)))

    def _standardise(self, rows_np, a):
        Zcat = torch.empty((a.shape[0], sum(self.dims)), dtype=self.dtype, device=self.device)
        for m, X in enumerate(rows_np):
            if not X.flags.writeable:
                X = X.copy()
            x = torch.as_tensor(X).to(device=self.device, dtype=self.dtype)
            block = Zcat[:, self.segs[m]]
            torch.sub(x, self.mu[m], out=block)
            block.div_(self.sd[m])  # (x - mean) / std, the same arithmetic as numpy's
            if not bool(a[:, m].all()):
                block.masked_fill_(~a[:, m : m + 1], 0.0)
        return Zcat, block_norms(Zcat, self.dims)

    def _block(self, s, e):
        a = torch.as_tensor(self.mask[s:e], device=self.device)
        Zcat, Nz = self._standardise([X[s:e] for X in self.Xs], a)
        return s, e, Zcat, a, Nz

    def __iter__(self):
        if self.cached is not None:
            return iter(self.cached)
        return (self._block(s, min(s + self.chunk, self.n)) for s in range(0, self.n, self.chunk))

    def rows(self, idx):
        """Rows ``idx`` (1-D int array) as (Zcat, a, Nz)."""
        if self.cached is not None:
            t = torch.as_tensor(idx, device=self.device)
            return self.Z_all.index_select(0, t), self.a_all.index_select(0, t), self.N_all.index_select(0, t)
        a = torch.as_tensor(self.mask[idx], device=self.device)
        Zcat, Nz = self._standardise([X[idx] for X in self.Xs], a)
        return Zcat, a, Nz


def _centre_side(Ccat, dims):
    """Centre norms (k, M) and the 1/d_m-weighted centres (k, D) used by ``sample_center_terms``."""
    return block_norms(Ccat, dims), Ccat * column_weights(dims, Ccat.dtype, Ccat.device)


def _assign(blocks, Ccat, H):
    """Nearest centre of every sample (first index on ties) and the squared distance to it."""
    Nc, Cw = _centre_side(Ccat, blocks.dims)
    labels = np.empty(blocks.n, dtype=np.int64)
    dist2 = np.empty(blocks.n)
    for s, e, Zcat, a, Nz in blocks:
        val, idx = nearest_centre(Zcat, a, Nz, Cw, H, Nc)
        labels[s:e] = idx.cpu().numpy()
        dist2[s:e] = val.cpu().numpy()
    return labels, dist2


def _assign_and_accumulate(blocks, Ccat, H, prev=None, sums=None, counts=None):
    """One pass: assignment plus per-cluster sums and counts for the next update.

    With the previous labels and their sums and counts, only samples that changed cluster are added and
    subtracted (after the first iterations few move, so this saves a full pass over the data);
    without them, the sums are computed from scratch.
    """
    k, M = H.shape
    Nc, Cw = _centre_side(Ccat, blocks.dims)
    incremental = prev is not None
    if not incremental:
        sums = torch.zeros_like(Ccat)
        counts = torch.zeros((k, M), dtype=Ccat.dtype, device=Ccat.device)
    labels = np.empty(blocks.n, dtype=np.int64)
    dist2 = np.empty(blocks.n)
    for s, e, Zcat, a, Nz in blocks:
        val, idx = nearest_centre(Zcat, a, Nz, Cw, H, Nc)
        if not incremental:
            sums.index_add_(0, idx, Zcat)  # absent blocks are zero, so they add nothing
            counts.index_add_(0, idx, a.to(counts.dtype))
        labels[s:e] = idx.cpu().numpy()
        dist2[s:e] = val.cpu().numpy()
    if incremental:
        # Applied after the pass, in sample order, so the result does not depend on the block size.
        moved = np.flatnonzero(labels != prev)
        if moved.size:
            Zm, am, _ = blocks.rows(moved)
            new_l = torch.as_tensor(labels[moved], device=Ccat.device)
            old_l = torch.as_tensor(prev[moved], device=Ccat.device)
            am = am.to(counts.dtype)
            sums.index_add_(0, new_l, Zm)
            sums.index_add_(0, old_l, Zm, alpha=-1.0)
            counts.index_add_(0, new_l, am)
            counts.index_add_(0, old_l, am, alpha=-1.0)
    members = torch.as_tensor(np.bincount(labels, minlength=k) > 0, device=Ccat.device)
    return labels, dist2, sums, counts, members


def _update(Ccat, H, sums, counts, has_members, col_mod):
    """New centres: member means per modality; a modality no member observes is lacked; empty clusters stay."""
    cnt_cols = counts[:, col_mod]  # (k, D)
    mean = sums / cnt_cols.clamp(min=1.0)
    newH = torch.where(has_members[:, None], counts > 0, H)
    fresh = torch.where(cnt_cols > 0, mean, torch.zeros_like(mean))
    newC = torch.where(has_members[:, None], fresh, Ccat)
    return newC, newH


def _kmeans_plusplus(blocks, k, rng, callback=None):
    """k-means++ on the partial distance; samples sharing no modality with any chosen centre go first."""
    n = blocks.n
    chosen = [int(rng.integers(n))]
    d2 = np.full(n, np.inf)
    for j in range(1, k + 1):
        Cc, ac, Nc = blocks.rows(np.array([chosen[-1]]))
        Cw = Cc * column_weights(blocks.dims, Cc.dtype, Cc.device)
        for s, e, Zcat, a, Nz in blocks:
            q = ratio_or_inf(*sample_center_terms(Zcat, a, Nz, Cw, ac, Nc))[:, 0]
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
    Ccat, H, _ = blocks.rows(np.array(chosen))
    return Ccat, H, np.array(chosen)


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
        """Centres as one (k, D) tensor (absent blocks zero) and their presence."""
        H = torch.as_tensor(self.center_mask_, device=device)
        Ccat, _ = concat_blocks([torch.as_tensor(c, dtype=dtype, device=device) for c in self.cluster_centers_z_], H)
        return Ccat, H

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

        self.mean_, self.scale_ = modality_stats(Xs, mask)
        self.dims_ = dims
        chunk = self.chunk_size or default_chunk_size(k, dims)
        blocks = self._blocks(Xs, mask, device, dtype, chunk)

        if explicit:
            H = torch.as_tensor(H0, device=device)
            Cz = [torch.as_tensor(np.where(H0[:, [m]], (c - self.mean_[m]) / self.scale_[m], 0.0), dtype=dtype, device=device)
                  for m, c in enumerate(C0)]
            C, _ = concat_blocks(Cz, H)
            self.init_indices_ = None
        elif self.init == "random":
            idx = rng.choice(mask.shape[0], size=k, replace=False)
            C, H, _ = blocks.rows(idx)
            self.init_indices_ = idx
        else:
            C, H, self.init_indices_ = _kmeans_plusplus(blocks, k, rng, self.callback)

        col_mod = torch.as_tensor(np.repeat(np.arange(len(dims)), dims), device=device)
        prev = None
        converged = False
        sums = counts = None
        for it in range(1, self.max_iter + 1):
            # Incremental sums, recomputed from scratch every RECOMPUTE_EVERY iterations against drift.
            inc = prev is not None and it % RECOMPUTE_EVERY != 1
            labels, dist2, sums, counts, has_members = _assign_and_accumulate(
                blocks, C, H, prev if inc else None, sums if inc else None, counts if inc else None
            )
            n_changed = mask.shape[0] if prev is None else int((labels != prev).sum())
            if self.callback is not None:
                self.callback({"stage": "lloyd", "iteration": it, "max_iter": self.max_iter, "n_changed": n_changed})
            if prev is not None and n_changed == 0:
                converged = True
                break
            C, H = _update(C, H, sums, counts, has_members, col_mod)
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

    def _set_centres(self, Ccat, H):
        """Store centres given as one (k, D) tensor."""
        C = Ccat.cpu().double().numpy()
        self._set_centres_z([C[:, seg] for seg in segments(self.dims_)], H.cpu().numpy())

    def _set_centres_z(self, Cz, H):
        """Store centres given per modality in standardised units, with their presence (k, M)."""
        Hn = np.asarray(H, dtype=bool)
        self.center_mask_ = Hn
        self.cluster_centers_z_ = [np.where(Hn[:, [m]], np.asarray(c, dtype=np.float64), 0.0) for m, c in enumerate(Cz)]
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
        return _assign(self._blocks(Xs, mask, device, dtype, self._chunk(), cache=False), C, H)[0]

    def distances(self, Xs, mask=None):
        """Partial-modality distances, in standardised units, to every centre.

        Returns
        -------
        D : ndarray of shape (n_samples, n_clusters); +inf where nothing is shared.
        """
        Xs, mask, device, dtype = self._prepare(Xs, mask)
        C, H = self._centres_tensor(device, dtype)
        Nc, Cw = _centre_side(C, self.dims_)
        out = np.empty((mask.shape[0], len(self.center_mask_)))
        for s, e, Zcat, a, Nz in self._blocks(Xs, mask, device, dtype, self._chunk(), cache=False):
            out[s:e] = torch.sqrt(ratio_or_inf(*sample_center_terms(Zcat, a, Nz, Cw, H, Nc))).cpu().numpy()
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
