"""k-means with the partial-modality distance: k-means++ seeding and Lloyd iterations (METHOD.md 3-4)."""

from __future__ import annotations

import math
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
# Bounds are kept once fewer than this fraction of the samples changed cluster in a pass, and only for
# data where a pass costs at least this many multiply-adds (n * D * k): below it their bookkeeping costs
# more than the skipped work saves (measured in benchmarks/RESULTS.md).
BOUNDS_FROM_CHANGED = 1 / 16
BOUNDS_MIN_WORK = 1 << 27


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
        self._buf = None
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

    def ranges(self):
        """(start, stop) of every block, in order."""
        return [(s, min(s + self.chunk, self.n)) for s in range(0, self.n, self.chunk)]

    def block(self, s, e):
        """The block starting at ``s`` (as yielded by iteration)."""
        if self.cached is not None:
            return self.cached[s // self.chunk]
        return self._block(s, e)

    def rows(self, idx, reuse=False):
        """Rows ``idx`` (1-D int array) as (Zcat, a, Nz).

        With ``reuse``, Zcat is gathered into a buffer kept for the next call (valid until then): fresh
        large allocations cost page faults on every pass.
        """
        if self.cached is not None:
            t = torch.as_tensor(idx, device=self.device)
            if reuse:
                if self._buf is None or self._buf.shape[0] < t.numel():
                    self._buf = torch.empty((max(t.numel(), self.chunk), self.Z_all.shape[1]),
                                            dtype=self.dtype, device=self.device)
                Z = torch.index_select(self.Z_all, 0, t, out=self._buf[: t.numel()])
            else:
                Z = self.Z_all.index_select(0, t)
            return Z, self.a_all.index_select(0, t), self.N_all.index_select(0, t)
        a = torch.as_tensor(self.mask[idx], device=self.device)
        Zcat, Nz = self._standardise([X[idx] for X in self.Xs], a)
        return Zcat, a, Nz


def _centre_side(Ccat, dims):
    """Centre norms (k, M) and the 1/d_m-weighted centres (k, D) used by ``sample_center_terms``."""
    return block_norms(Ccat, dims), Ccat * column_weights(dims, Ccat.dtype, Ccat.device)


def _assign(blocks, Ccat, H):
    """Nearest centre of every sample (first index on ties)."""
    Nc, Cw = _centre_side(Ccat, blocks.dims)
    labels = np.empty(blocks.n, dtype=np.int64)
    for s, e, Zcat, a, Nz in blocks:
        labels[s:e] = nearest_centre(Zcat, a, Nz, Cw, H, Nc)[1].cpu().numpy()
    return labels


def _own_dist2(blocks, Ccat, H, labels):
    """Squared partial distance of every sample to its own centre, by direct differences (exact zeros)."""
    out = np.empty(blocks.n)
    lab = torch.as_tensor(labels, device=Ccat.device)
    seg = torch.zeros((Ccat.shape[1], len(blocks.dims)), dtype=Ccat.dtype, device=Ccat.device)  # (D, M)
    for m, sl in enumerate(segments(blocks.dims)):
        seg[sl, m] = 1.0 / (sl.stop - sl.start)
    buf = None
    for s, e, Zcat, a, _ in blocks:
        own = lab[s:e]
        if buf is None or buf.shape[0] < e - s:
            buf = torch.empty((e - s, Ccat.shape[1]), dtype=Ccat.dtype, device=Ccat.device)
        diff = torch.index_select(Ccat, 0, own, out=buf[: e - s])
        torch.sub(Zcat, diff, out=diff)  # (c, D)
        per_mod = diff.mul_(diff) @ seg  # (c, M): ||z^m - c^m||^2 / d_m
        shared = a & H.index_select(0, own)
        out[s:e] = ratio_or_inf(per_mod.mul_(shared).sum(dim=1), shared.sum(dim=1).to(per_mod.dtype)).cpu().numpy()
    return out


def _patterns(mask):
    """Distinct rows of a bool mask (n, M) and the index of each sample's row among them."""
    M = mask.shape[1]
    if M > 62:
        patterns, inverse = np.unique(mask, axis=0, return_inverse=True)
        return patterns, inverse.reshape(-1)
    codes = mask.astype(np.int64) @ (np.int64(1) << np.arange(M, dtype=np.int64))  # one integer per row
    uniq, inverse = np.unique(codes, return_inverse=True)
    return (uniq[:, None] >> np.arange(M)) & 1 == 1, inverse.reshape(-1)


class _Bounds:
    """Elkan's bounds for the Lloyd passes: they skip only samples proven to keep their centre.

    The partial distance is no metric across different modality sets (METHOD.md section 2), but for one
    sample whose modalities A every centre holds, the distance to every centre is the same weighted
    Euclidean seminorm of z - c over A, so the triangle inequality holds for that sample: when the
    centres move, d(z, c_j) changes by at most the move of centre j measured in that seminorm (one value
    per missing pattern and centre). Each such sample keeps an upper bound on the distance to its own
    centre and a lower bound on the distance to every other; with E the rounding error of a computed
    squared distance, a sample is skipped when upper^2 + 2E < min lower^2: then the full computation
    would pick the same centre too, uniquely, so the labels are exactly those of plain Lloyd. Only
    whole samples are skipped (a computed sample gets all k distances from one matrix product). Samples
    some centre lacks a modality of are always computed. Every rounding step of the bounds is widened in
    the safe direction (upper bounds up, lower bounds down).
    """

    UP = 1.0 + 2.0**-50  # float64 steps
    SHRINK = 1.0 - 4.0 * torch.finfo(torch.float32).eps  # float32 steps

    def __init__(self, mask, dims, k, dtype, device):
        n = mask.shape[0]
        patterns, inverse = _patterns(mask)
        self.patterns = patterns
        self.inverse = torch.as_tensor(inverse.reshape(-1), device=device)
        self.n_obs = torch.as_tensor(mask.sum(axis=1), dtype=torch.float64, device=device)
        self.dims = dims
        self.upper = torch.full((n,), float("inf"), dtype=torch.float64, device=device)
        # Lower bounds in float32 (n * k of them, +inf at the own centre) to halve their memory traffic.
        self.lower = torch.zeros((n, k), dtype=torch.float32, device=device)
        self.valid = torch.zeros(n, dtype=torch.bool, device=device)
        self.nz = torch.zeros(n, dtype=torch.float64, device=device)
        self.held = None
        # Error of a computed squared distance relative to ||z||^2 + ||c||^2: the worst-case bound of a
        # length-D dot product in any summation order (D eps) for the cross term and both norms, plus the
        # zero-snapping tolerance of the kernels, each doubled.
        D = sum(dims)
        self.rel_err = torch.finfo(dtype).eps * (4.0 * D + 64.0 * math.sqrt(D) + 64.0)

    def _err(self, rows, nc_max):
        return self.rel_err * (self.nz[rows] + nc_max) / self.n_obs[rows]

    def _held(self, H):
        common = H.all(dim=0).cpu().numpy()
        return torch.as_tensor((self.patterns <= common).all(axis=1), device=self.valid.device)

    def start_pass(self, H):
        """Which patterns every centre holds, for the samples recorded in this pass."""
        self.held = self._held(H)

    def record(self, rows, val, idx, affine, nz, nc_max):
        """Fresh bounds for ``rows`` (slice or long tensor) from a pass of ``nearest_centre``.

        ``affine`` = (T, b, s): squared distances (T + b) * s, as ``nearest_centre`` returns them; T is
        overwritten.
        """
        T, b, scale = affine
        self.nz[rows] = nz.double()
        err = self._err(rows, nc_max)  # (c,)
        val = val.double()
        self.upper[rows] = torch.sqrt(val + err).mul_(self.UP)
        # sqrt(max(d2 - err, 0)) = sqrt(max(T + b - err / s, 0)) * sqrt(s), then rounded down.
        shift = (b - err / scale) if isinstance(b, float) else (b.double() - err / scale)
        if T.dtype == torch.float64:
            low = T.add_(shift[:, None]).clamp_(min=0.0).sqrt_().float()
        else:  # shift lowered by more than its float32 rounding; the later steps round relatively
            shift = shift - shift.abs() * torch.finfo(torch.float32).eps
            low = T.add_(shift.float()[:, None]).clamp_(min=0.0).sqrt_()
        low.mul_(math.sqrt(scale) * self.SHRINK)  # at most ~3 eps of rounding so far: 4 eps covers it
        low.scatter_(1, idx[:, None], float("inf"))
        if isinstance(rows, slice):
            if low.data_ptr() != self.lower[rows].data_ptr():  # T may already be the bounds' storage
                self.lower[rows] = low
        else:
            self.lower.index_copy_(0, rows, low)
        self.valid[rows] = self.held[self.inverse[rows]] & torch.isfinite(val)

    def candidates(self, nc_max):
        """Whether each sample's nearest centre may have changed (bool numpy array)."""
        err = self._err(slice(None), nc_max)
        low = self.lower.min(dim=1).values.double().clamp_(min=0.0)
        keep = self.valid & (self.upper * self.upper + 2.0 * err < low * low)
        return (~keep).cpu().numpy()

    def move(self, C_old, C_new, H_new, labels):
        """Loosen the bounds by how far each centre moved (in each pattern's seminorm)."""
        self.valid &= self._held(H_new)[self.inverse]
        step = block_norms(C_new.double() - C_old.double(), self.dims).cpu().numpy()  # (k, M)
        P = self.patterns.astype(np.float64)
        drift = np.sqrt(np.maximum(P @ step.T, 0.0) / np.maximum(P.sum(axis=1), 1.0)[:, None])  # (P, k)
        drift *= 1.0 + 4.0 * (sum(self.dims) + 8) * 2.0**-53  # the float64 sums' worst-case rounding
        drift = torch.as_tensor(drift, device=self.valid.device)
        self.upper.add_(drift[self.inverse, torch.as_tensor(labels, device=self.valid.device)]).mul_(self.UP)
        # In float32: subtract the drift rounded up, then shrink (a positive difference rounds up by at
        # most eps/2 of itself; a negative one stays negative), so every bound stays a lower bound.
        up = (drift * (1.0 + 8.0 * torch.finfo(torch.float32).eps)).float()
        if len(self.patterns) == 1:
            self.lower.sub_(up[0]).mul_(self.SHRINK)
        else:
            step_rows = max(1, (1 << 22) // up.shape[1])
            for s in range(0, self.lower.shape[0], step_rows):
                blk = self.lower[s : s + step_rows]
                blk.sub_(up.index_select(0, self.inverse[s : s + step_rows])).mul_(self.SHRINK)


# A block is computed whole when at least this fraction of its samples needs computing; below it, only
# those samples are gathered (with those of the next sparse blocks) and computed: gathering and
# recording a row costs about 0.6 of computing it.
DENSE_FRACTION = 0.6


def _lloyd_pass(blocks, Ccat, H, labels, prev, bounds, prune, sums, counts, fresh):
    """One assignment pass, writing into ``labels``; also brings the per-cluster sums up to date.

    With ``bounds``, every computed sample gets fresh bounds; with ``prune`` too, samples the bounds
    vouch for keep their label and are not computed, unless their block is mostly to be computed
    anyway. With ``fresh``, ``sums`` and ``counts`` (zeros) are accumulated from scratch, block by block
    in sample order with the final labels; otherwise the samples that changed cluster are added to and
    taken from them (gathered while in cache, accumulated in sample order). Either way the sums depend
    neither on the block size nor on which samples were computed. Returns how many samples were
    computed.
    """
    Nc, Cw = _centre_side(Ccat, blocks.dims)
    nc_max = float(Nc.sum(dim=1).max())
    need = bounds.candidates(nc_max) if bounds is not None and prune else None
    if bounds is not None:
        bounds.start_pass(H)
    if not fresh:  # what joins and leaves each cluster, accumulated in sample order whatever the blocks
        gain, loss = torch.zeros_like(sums), torch.zeros_like(sums)
        gain_n, loss_n = torch.zeros_like(counts), torch.zeros_like(counts)

    def parts():
        """(selection, Zcat, a, Nz) in sample order: whole blocks, or gathered rows of sparse ones."""
        pending = []

        def gathered():
            rows = np.concatenate(pending)
            pending.clear()
            return (rows, *blocks.rows(rows, reuse=True))

        for s, e in blocks.ranges():
            if need is None or need[s:e].mean() >= DENSE_FRACTION:
                if pending:
                    yield gathered()
                yield (slice(s, e), *blocks.block(s, e)[2:])
            else:
                pending.append(s + np.flatnonzero(need[s:e]))
                if sum(p.size for p in pending) >= blocks.chunk:
                    yield gathered()
        if pending and sum(p.size for p in pending):
            yield gathered()

    computed = 0
    moved_buf = [None]  # reused: fresh large allocations cost page faults
    for sel, Zcat, a, Nz in parts():
        computed += Zcat.shape[0]
        if bounds is None:
            idx = nearest_centre(Zcat, a, Nz, Cw, H, Nc)[1]
        else:
            # Whole float32 blocks: the distances land straight in the bounds' storage.
            out = bounds.lower[sel] if isinstance(sel, slice) and Zcat.dtype == torch.float32 else None
            val, idx, affine = nearest_centre(Zcat, a, Nz, Cw, H, Nc, return_all=True, out=out)
            bounds.record(sel if isinstance(sel, slice) else torch.as_tensor(sel, device=idx.device),
                          val, idx, affine, Nz.sum(dim=1), nc_max)
        new = idx.cpu().numpy()
        labels[sel] = new
        if fresh:
            if need is None:  # every block whole and in order: accumulate while it is in cache
                sums.index_add_(0, idx, Zcat)  # absent blocks are zero, so they add nothing
                counts.index_add_(0, idx, a.to(counts.dtype))
            continue
        moved = np.flatnonzero(new != prev[sel])
        if moved.size:
            m = torch.as_tensor(moved, device=idx.device)
            if moved_buf[0] is None or moved_buf[0].shape[0] < moved.size:
                moved_buf[0] = torch.empty((max(moved.size, blocks.chunk), Zcat.shape[1]), dtype=Zcat.dtype, device=Zcat.device)
            Zm = torch.index_select(Zcat, 0, m, out=moved_buf[0][: moved.size])
            am = a.index_select(0, m).to(counts.dtype)
            new_l = idx.index_select(0, m)
            old_l = torch.as_tensor(prev[sel][moved], device=idx.device)
            gain.index_add_(0, new_l, Zm)
            loss.index_add_(0, old_l, Zm)
            gain_n.index_add_(0, new_l, am)
            loss_n.index_add_(0, old_l, am)
    if fresh and need is not None:  # the same accumulation, block by block, with the final labels
        for s, e, Zcat, a, _ in blocks:
            lab = torch.as_tensor(labels[s:e], device=Zcat.device)
            sums.index_add_(0, lab, Zcat)
            counts.index_add_(0, lab, a.to(counts.dtype))
    if not fresh:
        sums.add_(gain).sub_(loss)
        counts.add_(gain_n).sub_(loss_n)
    return computed


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
    tol : float in [0, 1), default=0.0
        Stop once at most this fraction of the samples changed cluster in a pass (the labels are then
        the assignment to the current centres). 0 is the paper's rule: stop when none changed.
    random_state : int, numpy Generator or None, default=None
    device : {None, "auto", "cpu", "cuda"}, default=None
        None follows the input (CPU for numpy arrays); "auto" uses CUDA when present.
    dtype : {"float32", "float64"}, default="float32"
    chunk_size : int or None, default=None
        Samples per block; None picks a size that keeps temporaries near 32 MB.
    bounds : bool, default=True
        Skip, in each Lloyd pass, the samples that triangle-inequality bounds prove keep their centre
        (Elkan's bounds, applied per sample where every centre holds the sample's modalities, with the
        rounding error accounted for). The result is exactly that of plain Lloyd. They are used once
        fewer than 1/16 of the samples change cluster in a pass, and only when a pass is large enough
        (n_samples * n_features * n_clusters >= 2**27) to repay their bookkeeping; False computes every
        distance in every pass.
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
        Sum of squared partial distances of samples to their centres (by direct differences).
    rows_evaluated_ : ndarray of int of shape (n_iter_,)
        Samples whose distances to every centre were computed in each Lloyd pass; with ``bounds`` the
        others were proven to keep their centre.
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
        tol=0.0,
        random_state=None,
        device=None,
        dtype="float32",
        chunk_size=None,
        bounds=True,
        callback=None,
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.device = device
        self.dtype = dtype
        self.chunk_size = chunk_size
        self.bounds = bounds
        self.callback = callback

    # -- helpers shared with the imputer -------------------------------------------------------
    def _check_params(self, n_samples, n_clusters):
        k = check_n_clusters(n_clusters, n_samples)
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, (int, np.integer)) or self.max_iter < 1:
            raise ValueError(f"max_iter={self.max_iter!r} should be an integer >= 1.")
        if isinstance(self.tol, bool) or not isinstance(self.tol, (int, float, np.floating)) or not 0 <= self.tol < 1:
            raise ValueError(f"tol={self.tol!r} should be a number in [0, 1).")
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
        return self._fit_clusters(Xs, mask, self.n_clusters)

    def _modality_stats(self, Xs, mask):
        """Standardisation statistics (a hook: the imputer can floor the scales)."""
        return modality_stats(Xs, mask)

    def _fit_clusters(self, Xs, mask, n_clusters):
        """``fit`` with an explicit k (the imputer may have chosen it)."""
        raw = Xs
        Xs, mask = check_Xs(Xs, mask, allow_empty_modality=False)
        k = self._check_params(mask.shape[0], n_clusters)
        rng = check_random_state(self.random_state)
        device = resolve_device(self.device, raw)
        dtype = resolve_dtype(self.dtype)
        dims = [X.shape[1] for X in Xs]
        explicit = not isinstance(self.init, str)
        if not explicit and self.init not in ("k-means++", "random"):
            raise ValueError(f"init={self.init!r} should be 'k-means++', 'random' or a list of M arrays.")
        if explicit:
            C0, H0 = check_init_centers(self.init, k, dims)

        self.mean_, self.scale_ = self._modality_stats(Xs, mask)
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
        n = mask.shape[0]
        use_bounds = bool(self.bounds) and n * sum(dims) * k >= BOUNDS_MIN_WORK
        bounds = None
        active = False  # bounds kept up to date since the previous pass
        prev = None
        converged = False
        sums = counts = None
        evaluated = []
        for it in range(1, self.max_iter + 1):
            labels = np.zeros(n, dtype=np.int64) if prev is None else prev.copy()
            # Sums from scratch on the first pass and every RECOMPUTE_EVERY iterations (against drift);
            # in between, only the samples that changed cluster are added and subtracted.
            fresh = prev is None or it % RECOMPUTE_EVERY == 1
            if fresh:
                sums = torch.zeros_like(C)
                counts = torch.zeros((k, len(dims)), dtype=C.dtype, device=device)
            evaluated.append(_lloyd_pass(blocks, C, H, labels, prev, bounds, active, sums, counts, fresh))
            active = bounds is not None
            n_changed = n if prev is None else int((labels != prev).sum())
            if self.callback is not None:
                self.callback({"stage": "lloyd", "iteration": it, "max_iter": self.max_iter, "n_changed": n_changed})
            if prev is not None and n_changed <= self.tol * n:
                converged = True
                break
            has_members = torch.as_tensor(np.bincount(labels, minlength=k) > 0, device=device)
            C_new, H_new = _update(C, H, sums, counts, has_members, col_mod)
            if bounds is not None:
                bounds.move(C, C_new, H_new, labels)
            elif use_bounds and prev is not None and n_changed < BOUNDS_FROM_CHANGED * n:
                # While many samples move, nearly all would need computing and the bounds only cost
                # time; from now on every pass records them and the next ones use them.
                bounds = _Bounds(mask, dims, k, dtype, device)
            C, H = C_new, H_new
            prev = labels
        if not converged:
            labels = _assign(blocks, C, H)
            warnings.warn(
                f"PartialModalityKMeans did not converge in max_iter={self.max_iter} iterations; "
                "increase max_iter for a stable partition.",
                ConvergenceWarning,
                stacklevel=3,
            )
        dist2 = _own_dist2(blocks, C, H, labels)
        self.rows_evaluated_ = np.asarray(evaluated)
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
        return _assign(self._blocks(Xs, mask, device, dtype, self._chunk(), cache=False), C, H)

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
