"""Lloyd iterations of the partial-modality k-means (METHOD.md section 4), plain or with Elkan's bounds.

The private engine of ``PartialModalityKMeans``, in the manner of scikit-learn's ``_kmeans_single_lloyd``
and ``_kmeans_single_elkan``: two entry points, each with its own loop and the same result. ``lloyd``
computes every distance in every pass; ``lloyd_bounded`` keeps Elkan's bounds once few samples change
cluster and skips the samples they prove keep their centre. Both run over ``ZBlocks`` (the standardised
data, kept whole or streamed in blocks). ``pass_sums``, ``update_centres`` and ``pass_inertia`` are the map, update and
closing steps of the passes for an engine that reduces over many ``ZBlocks`` (the Dask path, ``_dask``). Everything
here assumes valid input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .distance import block_norms, center_side, nearest_centre, ratio_or_inf, segments

__all__ = ["ZBlocks", "LloydResult", "lloyd", "lloyd_bounded", "assign", "pass_sums", "pass_inertia", "update_centres"]

# Streamed blocks hold about this many elements, so per-pass temporaries stay a few MB.
STREAM_BLOCK_ELEMENTS = 1 << 20
# Per-cluster sums are recomputed from scratch every this many passes (against drift); in between, only
# the samples that changed cluster are added and subtracted.
RECOMPUTE_EVERY = 10
# Bounds are kept once fewer than this fraction of the samples changed cluster in a pass: while many
# samples move, nearly all would need computing and the bounds only cost time.
BOUNDS_FROM_CHANGED = 1 / 16
# Rows standardised at a time: a few MB of each modality, so a slice is scaled and squared in cache,
# in slices large enough that the per-operation thread start-up stays small.
STANDARDISE_ROWS = 4096
# A block is computed whole when at least this fraction of its samples needs computing; below it, only
# those samples are gathered (with those of the next sparse blocks) and computed: gathering and
# recording a row costs about 0.6 of computing it.
DENSE_FRACTION = 0.6


class ZBlocks:
    """Standardised data as concatenated torch blocks, absent blocks zero. Assumes valid input.

    Iterating yields blocks (start, stop, Zcat (c, D), a (c, M), Nz (c, M)); see ``distance.concat_blocks``.
    With ``cache``, one standardised copy is kept and the blocks are views of it; otherwise every block
    is standardised when it is needed, so memory stays bounded.
    """

    def __init__(self, Xs, mask, mean, scale, device, dtype, chunk, cache=True):
        self.Xs, self.mask, self.device, self.dtype = Xs, mask, device, dtype
        self.n = mask.shape[0]
        self.chunk = max(1, min(int(chunk), self.n))  # a block never holds more than the data
        self.dims = [X.shape[1] for X in Xs]
        self.segs = segments(self.dims)
        self.mu = [torch.as_tensor(v, dtype=dtype, device=device) for v in mean]
        self.sd = [torch.as_tensor(v, dtype=dtype, device=device) for v in scale]
        self.cached = None
        self._buf = None
        if cache:
            # One standardised copy; the blocks are views of it, so rows can also be gathered directly.
            a_all = torch.as_tensor(mask, device=device)
            self.Z_all, self.N_all = self._standardise(Xs, a_all)
            self.a_all = a_all
            self.cached = [(s, min(s + self.chunk, self.n), self.Z_all[s : s + self.chunk], a_all[s : s + self.chunk],
                            self.N_all[s : s + self.chunk]) for s in range(0, self.n, self.chunk)]
        else:
            # Streaming: small blocks, so the per-pass temporaries (which the allocator tends to keep)
            # stay a few MB instead of hundreds.
            self.chunk = min(self.chunk, max(256, STREAM_BLOCK_ELEMENTS // sum(self.dims)))

    def _standardise(self, rows_np, a):
        """(x - mean) / std of the given rows into one (c, D) tensor, absent blocks zero, and its norms.

        Done a slice of rows at a time, so each slice is scaled and squared while in cache and the
        squares need only a small reused buffer; every row gets exactly the arithmetic of doing it whole.
        """
        c = a.shape[0]
        Zcat = _empty((c, sum(self.dims)), self.dtype, self.device)
        Nz = torch.empty((c, len(self.dims)), dtype=self.dtype, device=self.device)
        xs = [torch.as_tensor(X if X.flags.writeable else X.copy()) for X in rows_np]
        partial = [not bool(a[:, m].all()) for m in range(len(xs))]
        # On a GPU, large slices: each costs a host-to-device copy and a few kernel launches.
        rows = STANDARDISE_ROWS if torch.device(self.device).type != "cuda" else 16 * STANDARDISE_ROWS
        squares = torch.empty(min(c, rows) * max(self.dims), dtype=self.dtype, device=self.device)
        for s, e in _spans(c, rows):
            for m, x in enumerate(xs):
                block = Zcat[s:e, self.segs[m]]
                # Converted a slice at a time (the same values as converting the whole array first).
                torch.sub(x[s:e].to(device=self.device, dtype=self.dtype), self.mu[m], out=block)
                block.div_(self.sd[m])  # (x - mean) / std, the same arithmetic as numpy's
                if partial[m]:
                    block.masked_fill_(~a[s:e, m : m + 1], 0.0)
                sq = torch.mul(block, block, out=squares[: (e - s) * self.dims[m]].view(e - s, self.dims[m]))
                Nz[s:e, m] = sq.sum(dim=1) / self.dims[m]  # as distance.block_norms computes it
        return Zcat, Nz

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


@dataclass
class LloydResult:
    """Outcome of a Lloyd run, in standardised units.

    Attributes
    ----------
    centers : tensor (k, D), absent blocks zero
    center_mask : bool tensor (k, M)
    labels : ndarray of int64 (n,), nearest centre of every sample under ``centers``
    n_iter : int, passes run (the last one may only have confirmed convergence)
    converged : bool, whether the last pass changed no label (always, for one centre)
    inertia : float, sum of squared partial distances of the samples to their centres (direct differences)
    rows_evaluated : ndarray of int (n_iter,), samples whose distances were computed in each pass
    """

    centers: torch.Tensor
    center_mask: torch.Tensor
    labels: np.ndarray
    n_iter: int
    converged: bool
    inertia: float
    rows_evaluated: np.ndarray


def lloyd(blocks, C, H, max_iter, callback=None, tol=0.0):
    """Lloyd iterations computing every distance in every pass.

    Each iteration assigns every sample to its nearest centre (lowest index on ties), stops if no label
    changed, and otherwise moves each centre to the mean of its members, modality by modality.

    Parameters
    ----------
    blocks : ZBlocks
    C : tensor (k, D), initial standardised centres, absent blocks zero
    H : bool tensor (k, M), which modalities each centre holds
    max_iter : int >= 1
    callback : callable or None
        Called after each pass with {"stage": "lloyd", "iteration", "max_iter", "n_changed"}.
    tol : float in [0, 1), default 0
        Stop once at most tol * n labels changed in a pass (0: none, the paper's rule).

    Returns
    -------
    LloydResult
    """
    n = blocks.n
    col_mod = _column_modality(blocks.dims, C.device)
    prev = sums = counts = None
    for it in range(1, max_iter + 1):
        labels = np.empty(n, dtype=np.int64)
        Nc, Cw = center_side(C, blocks.dims)
        parts = _plain_parts(blocks, Cw, H, Nc)
        if (it - 1) % RECOMPUTE_EVERY == 0:
            sums, counts = _zero_sums(C, H)
            _take_fresh(parts, labels, sums, counts)
        else:
            _take_moves(parts, labels, prev, sums, counts)
        n_changed = n if prev is None else int((labels != prev).sum())
        _report(callback, it, max_iter, n_changed)
        if prev is not None and n_changed <= tol * n:
            return _result(blocks, C, H, labels, it, [n] * it)
        C, H = _update(C, H, sums, counts, labels, col_mod)
        prev = labels
    return _result(blocks, C, H, None, max_iter, [n] * max_iter)


def lloyd_bounded(blocks, C, H, max_iter, callback=None, tol=0.0):
    """Lloyd iterations with Elkan's bounds: the result of ``lloyd``, skipping samples proven to stay.

    Passes compute every sample until fewer than ``BOUNDS_FROM_CHANGED`` of them change cluster. The
    next pass records bounds for every sample; each centre update loosens them by how far the centres
    moved, and every later pass computes only the samples the bounds cannot vouch for (whole blocks
    where most of a block needs computing), recording fresh bounds for those. Parameters and result as
    in ``lloyd``.
    """
    n, k = blocks.n, C.shape[0]
    col_mod = _column_modality(blocks.dims, C.device)
    prev = sums = counts = bounds = None
    recorded = False  # bounds kept up to date since the previous pass
    evaluated = []
    for it in range(1, max_iter + 1):
        labels = np.empty(n, dtype=np.int64) if prev is None else prev.copy()
        Nc, Cw = center_side(C, blocks.dims)
        need = bounds.candidates(_max_norm(Nc)) if recorded else None
        if bounds is None:
            parts = _plain_parts(blocks, Cw, H, Nc)
        else:
            parts = _bounded_parts(blocks, Cw, H, Nc, bounds, need)
        if (it - 1) % RECOMPUTE_EVERY != 0:
            evaluated.append(_take_moves(parts, labels, prev, sums, counts))
        elif need is None:  # every block whole and in order: accumulate while it is in cache
            sums, counts = _zero_sums(C, H)
            evaluated.append(_take_fresh(parts, labels, sums, counts))
        else:
            evaluated.append(_take_labels(parts, labels))
            sums, counts = _zero_sums(C, H)
            _block_sums(blocks, labels, sums, counts)
        recorded = bounds is not None
        n_changed = n if prev is None else int((labels != prev).sum())
        _report(callback, it, max_iter, n_changed)
        if prev is not None and n_changed <= tol * n:
            return _result(blocks, C, H, labels, it, evaluated)
        C_new, H_new = _update(C, H, sums, counts, labels, col_mod)
        if bounds is not None:
            bounds.move(C, C_new, H_new, labels)
        elif prev is not None and n_changed < BOUNDS_FROM_CHANGED * n:
            bounds = _Bounds(blocks.mask, blocks.dims, k, blocks.dtype, C.device)
        C, H = C_new, H_new
        prev = labels
    return _result(blocks, C, H, None, max_iter, evaluated)


def assign(blocks, Ccat, H):
    """Nearest centre of every sample (first index on ties): ndarray of int64 (n,)."""
    Nc, Cw = center_side(Ccat, blocks.dims)
    labels = np.empty(blocks.n, dtype=np.int64)
    for s, e, Zcat, a, Nz in blocks:
        labels[s:e] = nearest_centre(Zcat, a, Nz, Cw, H, Nc)[1].cpu().numpy()
    return labels


def pass_sums(blocks, Ccat, H, prev=None):
    """One assignment pass over ``blocks`` with everything a centre update needs: the map step of a
    Lloyd pass whose sums are reduced over many ``ZBlocks`` (one per chunk of a larger data set).

    Parameters
    ----------
    blocks : ZBlocks
    Ccat : tensor (k, D), standardised centres, absent blocks zero
    H : bool tensor (k, M)
    prev : ndarray of int64 (n,) or None, the previous labels of these samples

    Returns
    -------
    labels : ndarray of int64 (n,), nearest centre of every sample (lowest index on ties)
    reductions : tuple, each to be summed over the ZBlocks
        sums (k, D) and counts (k, M), float64 (added in the working dtype within the blocks, as ``lloyd``
        does, then widened); members (k,) int64; changed, the number of labels differing from ``prev``
        (n when None).
    """
    Nc, Cw = center_side(Ccat, blocks.dims)
    labels = np.empty(blocks.n, dtype=np.int64)
    sums, counts = _zero_sums(Ccat, H)
    for s, e, Zcat, a, Nz in blocks:
        idx = nearest_centre(Zcat, a, Nz, Cw, H, Nc)[1]
        labels[s:e] = idx.cpu().numpy()
        sums.index_add_(0, idx, Zcat)  # absent blocks are zero, so they add nothing
        counts.index_add_(0, idx, a.to(counts.dtype))
    changed = blocks.n if prev is None else int((labels != prev).sum())
    members = np.bincount(labels, minlength=Ccat.shape[0])
    return labels, (sums.double().cpu().numpy(), counts.double().cpu().numpy(), members, changed)


def pass_inertia(blocks, Ccat, H, labels=None):
    """The closing pass of a run, as in ``lloyd``: squared partial distances of the samples to their
    centres ``labels`` (assigned first when None), by direct differences.

    Returns
    -------
    labels : ndarray of int64 (n,)
    inertia : float, their float64 sum (to be summed over the ZBlocks)
    """
    if labels is None:
        labels, dist2 = _assign_own_dist2(blocks, Ccat, H)
    else:
        dist2 = _own_dist2(blocks, Ccat, H, np.asarray(labels))
    return labels, float(dist2.sum())


def update_centres(Ccat, H, sums, counts, members, dims):
    """New centres from reduced ``pass_sums``: member means per modality (in float64, then in the
    centres' dtype); a modality no member observes is lacked; an empty cluster keeps its centre.

    Parameters
    ----------
    Ccat : tensor (k, D), H : bool tensor (k, M), the centres of the pass
    sums, counts : float64 arrays (k, D) and (k, M); members : int array (k,)
    dims : list of int

    Returns
    -------
    Ccat, H : the new centres and their presence
    """
    dev = Ccat.device
    sums = torch.as_tensor(sums, dtype=torch.float64, device=dev)
    counts = torch.as_tensor(counts, dtype=torch.float64, device=dev)
    has_members = torch.as_tensor(np.asarray(members) > 0, device=dev)
    cnt_cols = counts[:, _column_modality(dims, dev)]  # (k, D)
    mean = sums / cnt_cols.clamp(min=1.0)
    newH = torch.where(has_members[:, None], counts > 0, H)
    fresh = torch.where(cnt_cols > 0, mean, torch.zeros_like(mean)).to(Ccat.dtype)
    newC = torch.where(has_members[:, None], fresh, Ccat)
    return newC, newH


def _result(blocks, C, H, labels, n_iter, evaluated):
    """The run's outcome; ``labels`` None means the run stopped at max_iter, so they are assigned anew. One
    centre has converged whenever it stops: every sample is its member, so a next pass would change nothing."""
    converged = labels is not None or C.shape[0] == 1
    if labels is not None:
        dist2 = _own_dist2(blocks, C, H, labels)
    else:
        labels, dist2 = _assign_own_dist2(blocks, C, H)
    inertia = float(dist2.sum())
    return LloydResult(C, H, labels, n_iter, converged, inertia, np.asarray(evaluated))


def _empty(shape, dtype, device):
    """torch.empty, for large CPU tensors in numpy's memory: numpy asks the kernel for huge pages for
    large arrays (madvise), so touching hundreds of MB for the first time costs far fewer page faults."""
    if torch.device(device).type != "cpu":
        return torch.empty(shape, dtype=dtype, device=device)
    return torch.from_numpy(np.empty(shape, dtype={torch.float32: np.float32, torch.float64: np.float64}[dtype]))


def _spans(n, step):
    """(start, stop) of consecutive row ranges of ``step`` rows; a last range of one row joins the one before.

    (A reduction over a single row may be split across threads, so it could round differently.)
    """
    starts = list(range(0, n, step))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    return [(s, e) for s, e in zip(starts, starts[1:] + [n])]


def _report(callback, it, max_iter, n_changed):
    if callback is not None:
        callback({"stage": "lloyd", "iteration": it, "max_iter": max_iter, "n_changed": n_changed})


def _column_modality(dims, device):
    """(D,) index of the modality of each column."""
    return torch.as_tensor(np.repeat(np.arange(len(dims)), dims), device=device)


def _max_norm(Nc):
    """Largest ||c||^2 over the modalities of a centre, summed (for the rounding error of the bounds)."""
    return float(Nc.sum(dim=1).max())


def _zero_sums(C, H):
    """Zero per-cluster sums (k, D) and member counts per modality (k, M)."""
    return torch.zeros_like(C), torch.zeros(H.shape, dtype=C.dtype, device=C.device)


# -- one pass: parts of the data with their nearest centres, and what is taken from them -------------
def _plain_parts(blocks, Cw, H, Nc):
    """Every block in order with the nearest centre of each sample: yields (rows, Zcat, a, idx)."""
    for s, e, Zcat, a, Nz in blocks:
        yield slice(s, e), Zcat, a, nearest_centre(Zcat, a, Nz, Cw, H, Nc)[1]


def _bounded_parts(blocks, Cw, H, Nc, bounds, need=None):
    """Like ``_plain_parts`` for the samples in ``need`` (bool ndarray (n,); None: all), recording bounds.

    Every computed sample gets fresh bounds. Rows come as whole blocks where at least ``DENSE_FRACTION``
    of a block is needed, else as gathered rows (a long tensor of sample indices); parts come in sample
    order either way.
    """
    nc_max = _max_norm(Nc)
    bounds.start_pass(H)
    for sel, Zcat, a, Nz in _needed_parts(blocks, need):
        # Whole float32 blocks: the distances land straight in the bounds' storage.
        out = bounds.lower[sel] if isinstance(sel, slice) and Zcat.dtype == torch.float32 else None
        val, idx, affine = nearest_centre(Zcat, a, Nz, Cw, H, Nc, return_all=True, out=out)
        bounds.record(sel if isinstance(sel, slice) else torch.as_tensor(sel, device=idx.device),
                      val, idx, affine, Nz.sum(dim=1), nc_max)
        yield sel, Zcat, a, idx


def _needed_parts(blocks, need):
    """(rows, Zcat, a, Nz) in sample order: whole blocks, or gathered rows of sparse ones."""
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


def _take_labels(parts, labels):
    """Write each part's nearest centres into ``labels``; returns how many samples were computed."""
    taken = 0
    for sel, Zcat, _, idx in parts:
        labels[sel] = idx.cpu().numpy()
        taken += Zcat.shape[0]
    return taken


def _take_fresh(parts, labels, sums, counts):
    """``_take_labels``, adding each part to ``sums`` and ``counts`` (zeros) while it is in cache.

    The parts must be whole blocks in sample order, so the sums are exactly those of ``_block_sums``.
    """
    taken = 0
    for sel, Zcat, a, idx in parts:
        labels[sel] = idx.cpu().numpy()
        sums.index_add_(0, idx, Zcat)  # absent blocks are zero, so they add nothing
        counts.index_add_(0, idx, a.to(counts.dtype))
        taken += Zcat.shape[0]
    return taken


def _take_moves(parts, labels, prev, sums, counts):
    """``_take_labels``, moving the samples that changed cluster from their old to their new sums.

    What joins and leaves each cluster is gathered while in cache and accumulated in sample order, then
    added to ``sums`` and ``counts`` once, so the result depends neither on the parts nor on which
    samples were computed.
    """
    gain, loss = torch.zeros_like(sums), torch.zeros_like(sums)
    gain_n, loss_n = torch.zeros_like(counts), torch.zeros_like(counts)
    buf = None  # reused: fresh large allocations cost page faults
    taken = 0
    for sel, Zcat, a, idx in parts:
        taken += Zcat.shape[0]
        new = idx.cpu().numpy()
        labels[sel] = new
        moved = np.flatnonzero(new != prev[sel])
        if moved.size:
            m = torch.as_tensor(moved, device=idx.device)
            if buf is None or buf.shape[0] < moved.size:
                buf = torch.empty((Zcat.shape[0], Zcat.shape[1]), dtype=Zcat.dtype, device=Zcat.device)
            Zm = torch.index_select(Zcat, 0, m, out=buf[: moved.size])
            am = a.index_select(0, m).to(counts.dtype)
            new_l = idx.index_select(0, m)
            old_l = torch.as_tensor(prev[sel][moved], device=idx.device)
            gain.index_add_(0, new_l, Zm)
            loss.index_add_(0, old_l, Zm)
            gain_n.index_add_(0, new_l, am)
            loss_n.index_add_(0, old_l, am)
    sums.add_(gain).sub_(loss)
    counts.add_(gain_n).sub_(loss_n)
    return taken


def _block_sums(blocks, labels, sums, counts):
    """Add every block to ``sums`` and ``counts`` under ``labels``, block by block in sample order."""
    for s, e, Zcat, a, _ in blocks:
        lab = torch.as_tensor(labels[s:e], device=Zcat.device)
        sums.index_add_(0, lab, Zcat)
        counts.index_add_(0, lab, a.to(counts.dtype))


def _update(Ccat, H, sums, counts, labels, col_mod):
    """New centres: member means per modality; a modality no member observes is lacked; empty clusters stay."""
    has_members = torch.as_tensor(np.bincount(labels, minlength=Ccat.shape[0]) > 0, device=Ccat.device)
    cnt_cols = counts[:, col_mod]  # (k, D)
    mean = sums / cnt_cols.clamp(min=1.0)
    newH = torch.where(has_members[:, None], counts > 0, H)
    fresh = torch.where(cnt_cols > 0, mean, torch.zeros_like(mean))
    newC = torch.where(has_members[:, None], fresh, Ccat)
    return newC, newH


class _OwnDist2:
    """Squared partial distance of samples to their own centre, by direct differences (exact zeros)."""

    def __init__(self, Ccat, H, dims):
        self.C, self.H, self.dims = Ccat, H, dims
        self.segs = segments(dims)
        self.buf = None  # reused: fresh large allocations cost page faults

    def __call__(self, Zcat, a, own):
        """(c,) ndarray for samples ``Zcat`` (c, D) with presence ``a`` and centres ``own`` (long (c,))."""
        c = Zcat.shape[0]
        if self.buf is None or self.buf.shape[0] < c:
            self.buf = _empty((c, self.C.shape[1]), self.C.dtype, self.C.device)
        diff = torch.index_select(self.C, 0, own, out=self.buf[:c])
        torch.sub(Zcat, diff, out=diff)
        sq = diff.mul_(diff)  # (c, D)
        per_mod = torch.stack([sq[:, seg].sum(dim=1) / d for seg, d in zip(self.segs, self.dims)], dim=1)  # (c, M)
        shared = a & self.H.index_select(0, own)
        return ratio_or_inf(per_mod.mul_(shared).sum(dim=1), shared.sum(dim=1).to(per_mod.dtype)).cpu().numpy()


def _own_dist2(blocks, Ccat, H, labels):
    """Squared partial distance of every sample to its own centre ``labels``, by direct differences."""
    out = np.empty(blocks.n)
    lab = torch.as_tensor(labels, device=Ccat.device)
    own = _OwnDist2(Ccat, H, blocks.dims)
    for s, e, Zcat, a, _ in blocks:
        out[s:e] = own(Zcat, a, lab[s:e])
    return out


def _assign_own_dist2(blocks, Ccat, H):
    """``assign`` and ``_own_dist2`` in one pass over the data, each block taken while in cache."""
    Nc, Cw = center_side(Ccat, blocks.dims)
    labels = np.empty(blocks.n, dtype=np.int64)
    out = np.empty(blocks.n)
    own = _OwnDist2(Ccat, H, blocks.dims)
    for s, e, Zcat, a, Nz in blocks:
        idx = nearest_centre(Zcat, a, Nz, Cw, H, Nc)[1]
        labels[s:e] = idx.cpu().numpy()
        out[s:e] = own(Zcat, a, idx)
    return labels, out


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
    sample with modalities A and one centre j with modalities H_j, the distance is a fixed weighted
    Euclidean seminorm of z - c_j over A and H_j (each block divided by its width and by |A & H_j|), so
    the triangle inequality holds for that pair while H_j stays: when the centres move, d(z, c_j) changes
    by at most the move of centre j measured in that seminorm (one value per missing pattern and
    centre). Each sample keeps an upper bound on the distance to its own centre and a lower bound on the
    distance to every other; with E the rounding error of a computed squared distance, a sample is
    skipped when upper^2 + 2E < min lower^2: then the full computation would pick the same centre too,
    uniquely, so the labels are exactly those of plain Lloyd. Only whole samples are skipped (a computed
    sample gets all k distances from one matrix product). A centre gaining or losing a modality changes
    the seminorms of the samples holding it, whose bounds are then dropped (they are computed next
    pass). Every rounding step of the bounds is widened in the safe direction (upper bounds up, lower
    bounds down).
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
        self.H = None  # the centres' modalities the recorded bounds were made with
        # What a sample's squared-distance error is divided by: its count of modalities while every centre
        # holds them all (every distance averages that many), else 1 (a centre may share one modality).
        self.err_div = self.n_obs.clone()
        # Error of a computed squared distance relative to ||z||^2 + ||c||^2: the worst-case bound of a
        # length-D dot product in any summation order (D eps) for the cross term and both norms, plus the
        # zero-snapping tolerance of the kernels, each doubled.
        D = sum(dims)
        self.rel_err = torch.finfo(dtype).eps * (4.0 * D + 64.0 * math.sqrt(D) + 64.0)

    def _err(self, rows, nc_max):
        return self.rel_err * (self.nz[rows] + nc_max) / self.err_div[rows]

    def start_pass(self, H):
        """The centres' modalities for the samples recorded in this pass, and their error divisors."""
        self.H = H.clone()
        common = H.all(dim=0).cpu().numpy()
        held = torch.as_tensor((self.patterns <= common).all(axis=1), device=self.valid.device)
        self.err_div = torch.where(held[self.inverse], self.n_obs, torch.ones_like(self.n_obs))

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
        # At most ~3 eps of rounding so far: 4 eps covers it.
        if isinstance(scale, float):
            low.mul_(math.sqrt(scale) * self.SHRINK)
        else:  # one scale per row (float64), rounded to float32 like the scalar above
            low.mul_((scale.sqrt() * self.SHRINK).to(low.dtype)[:, None])
        low.scatter_(1, idx[:, None], float("inf"))
        if isinstance(rows, slice):
            if low.data_ptr() != self.lower[rows].data_ptr():  # T may already be the bounds' storage
                self.lower[rows] = low
        else:
            self.lower.index_copy_(0, rows, low)
        self.valid[rows] = torch.isfinite(val)

    def candidates(self, nc_max):
        """Whether each sample's nearest centre may have changed (bool numpy array)."""
        err = self._err(slice(None), nc_max)
        low = self.lower.min(dim=1).values.double().clamp_(min=0.0)
        keep = self.valid & (self.upper * self.upper + 2.0 * err < low * low)
        return (~keep).cpu().numpy()

    def move(self, C_old, C_new, H_new, labels):
        """Loosen the bounds by how far each centre moved (in each pattern's and centre's seminorm)."""
        changed = (H_new != self.H).any(dim=0).cpu().numpy()  # (M,) modalities some centre gained or lost
        if changed.any():
            dropped = torch.as_tensor((self.patterns & changed).any(axis=1), device=self.valid.device)
            self.valid &= ~dropped[self.inverse]
        self.H = H_new.clone()
        step = block_norms(C_new.double() - C_old.double(), self.dims).cpu().numpy()  # (k, M), 0 where absent
        P = self.patterns.astype(np.float64)
        shared = P @ H_new.cpu().numpy().astype(np.float64).T  # (P, k) modalities each pair shares
        drift = np.sqrt(np.maximum(P @ step.T, 0.0) / np.maximum(shared, 1.0))  # (P, k)
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
