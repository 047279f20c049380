"""The partial-modality distance (METHOD.md section 2) and the torch kernels that compute it in blocks.

    d(i, j) = sqrt( (1/|S|) * sum_{m in S} ||z_i^m - c_j^m||^2 / d_m ),   S = modalities both sides hold,

and d = +inf when S is empty. The private kernels assume valid, standardised input.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .validation import check_Xs, resolve_device, resolve_dtype

__all__ = [
    "partial_distance",
    "default_chunk_size",
    "segments",
    "concat_blocks",
    "block_norms",
    "column_weights",
    "center_side",
    "sample_center_terms",
    "nearest_centre",
    "ratio_or_inf",
    "center_center_terms",
]

# Elements in one (chunk, k) or (chunk, k, k) block; keeps every temporary near 32 MB in float64.
_BLOCK_ELEMENTS = 1 << 22
# On a GPU, blocks this many times larger (temporaries near 0.5-2 GB) where it has at least
# _GPU_FREE_FOR_FULL bytes free, proportionally fewer where it has less: each block costs a few host
# synchronisations, and blocks of a few rows leave the GPU idle (16-row blocks made the greedy
# completion of 10^5 samples take 26 s on an H200, slower than two CPU cores).
_GPU_BLOCK_FACTOR = {"plain": 16, "cube": 64}
_GPU_FREE_FOR_FULL = 16 << 30


def _scale_for(device, kind):
    if device is None or torch.device(device).type != "cuda":
        return 1
    free, _ = torch.cuda.mem_get_info(torch.device(device))
    return max(1, int(_GPU_BLOCK_FACTOR[kind] * min(1.0, free / _GPU_FREE_FOR_FULL)))


def default_chunk_size(n_clusters, dims, cube=False, device=None):
    """Rows per block so that the (rows, k[, k]) and (rows, d_m) temporaries stay bounded.

    On the CPU (``device`` None or "cpu") about 32 MB per temporary in float64; on a GPU larger
    blocks, bounded by its free memory (``_GPU_BLOCK_FACTOR``)."""
    if cube:  # several (rows, k, k) temporaries live at once: smaller blocks
        f = _scale_for(device, "cube")
        return int(max(16, min(65536 * f, (f * _BLOCK_ELEMENTS // 4) // max(1, n_clusters * n_clusters))))
    f = _scale_for(device, "plain")
    return int(max(64, min(65536 * f, f * _BLOCK_ELEMENTS // max(n_clusters, sum(dims)))))


def segments(dims):
    """Column slices of each modality in the concatenated layout."""
    out, s = [], 0
    for d in dims:
        out.append(slice(s, s + d))
        s += d
    return out


def concat_blocks(Z, a):
    """Concatenate standardised blocks into one (c, D) tensor with absent blocks zero.

    Parameters
    ----------
    Z : list of tensor (c, d_m), standardised (absent rows may hold anything, NaN included)
    a : bool tensor (c, M), presence

    Returns
    -------
    Zcat : tensor (c, sum d_m)
    N : tensor (c, M), ||z^m||^2 / d_m of each block (0 where absent)
    """
    c = a.shape[0]
    dims = [z.shape[1] for z in Z]
    Zcat = torch.empty((c, sum(dims)), dtype=Z[0].dtype, device=Z[0].device)
    for m, (z, seg) in enumerate(zip(Z, segments(dims))):
        block = Zcat[:, seg]
        block.copy_(z)
        if not bool(a[:, m].all()):
            block.masked_fill_(~a[:, m : m + 1], 0.0)
    return Zcat, block_norms(Zcat, dims)


def block_norms(Zcat, dims):
    """(c, M) mean squares ||z^m||^2 / d_m of each modality block of a concatenated tensor."""
    return torch.stack([(Zcat[:, seg] * Zcat[:, seg]).sum(dim=1) / (seg.stop - seg.start) for seg in segments(dims)], dim=1)


def column_weights(dims, dtype, device):
    """(D,) weights 1/d_m of each column, for the cross term of the partial distance."""
    return torch.as_tensor(np.repeat(1.0 / np.asarray(dims, dtype=np.float64), dims), dtype=dtype, device=device)


def center_side(Ccat, dims):
    """The centre-side operands of ``sample_center_terms`` and ``nearest_centre``.

    Parameters
    ----------
    Ccat : tensor (k, D), standardised centres, absent blocks zero
    dims : list of int, the width d_m of each modality

    Returns
    -------
    Nc : tensor (k, M), ||c^m||^2 / d_m of each centre and modality
    Cw : tensor (k, D), the centres with each column multiplied by 1/d_m
    """
    return block_norms(Ccat, dims), Ccat * column_weights(dims, Ccat.dtype, Ccat.device)


def sample_center_terms(Zcat, a, Nz, Cw, H, Nc):
    """Sums of per-modality scaled squared distances between samples and centres, and their counts.

    Parameters
    ----------
    Zcat : tensor (c, D), standardised samples, absent blocks zero (``concat_blocks``)
    a : bool tensor (c, M), sample presence
    Nz : tensor (c, M), ||z^m||^2 / d_m of the samples
    Cw : tensor (k, D), centres with absent blocks zero, each column multiplied by 1/d_m
    H : bool tensor (k, M), centre presence
    Nc : tensor (k, M), ||c^m||^2 / d_m of the centres

    Returns
    -------
    num : tensor (c, k), sum over shared modalities of ||z^m - c^m||^2 / d_m. Values within the rounding
        error of the expansion (32 eps sqrt(D) of the norm terms) are set to exactly 0, so a sample equal
        to a centre ties with it exactly and ties break by index, as with direct differences.
    cnt : tensor (c, k), number of shared modalities
    """
    dt = Zcat.dtype
    af = a.to(dt)
    Hf = H.to(dt)
    cnt = af @ Hf.T  # (c, k)
    # ||z||^2 over the modalities the centre holds + ||c||^2 over those the sample holds - 2 z.c; the
    # cross term needs no mask because absent blocks are zero on both sides.  (c, k)
    norms = torch.addmm(Nz @ Hf.T, af, Nc.T)
    num = torch.addmm(norms, Zcat, Cw.T, alpha=-2.0)
    tol = 32.0 * torch.finfo(dt).eps * math.sqrt(Zcat.shape[1])
    return num.masked_fill_(num <= tol * norms, 0.0), cnt


def _exact_sq_dists(c):
    """(k, k) squared distances between rows by direct differences, in blocks of rows.

    Unlike the matrix-product expansion, this gives exact zeros for identical rows, so the structural
    ties between candidates (a candidate compared with its own centre) break by index as specified.
    """
    k, d = c.shape
    out = torch.empty((k, k), dtype=c.dtype, device=c.device)
    step = max(1, _BLOCK_ELEMENTS // max(1, k * d))
    for s in range(0, k, step):
        diff = c[s : s + step, None, :] - c[None, :, :]  # (b, k, d)
        out[s : s + step] = (diff * diff).sum(dim=2)
    return out


def center_center_terms(Ccat, H, dims, patterns):
    """Centre-to-centre parts of the candidate distances, one (k, k) pair per missing pattern.

    For a pattern with missing set Q: num[p, f, j] = sum_{m in Q, f and j hold m} ||c_f^m - c_j^m||^2/d_m,
    cnt[p, f, j] = number of such m.

    Parameters
    ----------
    Ccat : tensor (k, D), standardised centres, absent blocks zero
    H : bool tensor (k, M), centre presence
    dims : list of int
    patterns : bool tensor (P, M), True where the pattern observes the modality

    Returns
    -------
    num, cnt : tensors (P, k, k)
    """
    dt = Ccat.dtype
    Hf = H.to(dt)
    P = patterns.shape[0]
    k = H.shape[0]
    num = torch.zeros((P, k, k), dtype=dt, device=Ccat.device)
    cnt = torch.zeros_like(num)
    miss = (~patterns).to(dt)  # (P, M)
    for m, seg in enumerate(segments(dims)):
        d2 = _exact_sq_dists(Ccat[:, seg]) / (seg.stop - seg.start)  # (k, k)
        both = Hf[:, m : m + 1] * Hf[None, :, m]  # (k, k)
        num += miss[:, m, None, None] * (d2 * both)[None]
        cnt += miss[:, m, None, None] * both[None]
    return num, cnt


def nearest_centre(Zcat, a, Nz, Cw, H, Nc, return_all=False, out=None):
    """Nearest centre of each sample in a block (lowest index on ties) and the squared distance to it.

    Same result as the min over ``ratio_or_inf(*sample_center_terms(...))``. When every centre holds
    every modality, the count of shared modalities is constant along each row (M on complete data), so
    the argmin needs one matrix product and no division, and only rows whose minimum lies within
    rounding of zero are re-examined for exact ties; this is the common case. When at most a quarter of
    the centres lack a modality, those centres' columns are computed by the general terms where they
    differ.

    Returns
    -------
    val : tensor (c,), squared partial distance (+inf where nothing is shared)
    idx : long tensor (c,)
    all : (tensor (c, k), tensor (c,) or 0, float or float64 tensor (c,)), only with ``return_all=True``:
        (T, b, s) with the squared distances to every centre equal to (T + b[:, None]) * s[:, None], for
        the bounds of the Lloyd passes (left in this form to save passes over T; entries near zero are
        not snapped). On the fast paths T is written into ``out`` (c, k) when given.
    """
    M = a.shape[1]
    if bool(a.all()) and bool(H.all()):
        # ||z||^2 is constant along a row, so the argmin needs only ||c||^2 - 2 z.c.  (c, k)
        nz = Nz.sum(dim=1)  # (c,)
        nc = Nc.sum(dim=1)  # (k,)
        part = torch.addmm(nc[None, :].expand(Zcat.shape[0], -1), Zcat, Cw.T, alpha=-2.0, out=out)
        val, idx = torch.min(part, dim=1)
        val += nz
        tol = 32.0 * torch.finfo(Zcat.dtype).eps * math.sqrt(Zcat.shape[1])
        near = val <= tol * (nz + nc[idx])
        if bool(near.any()):
            # Entries equal to 0 up to rounding are exact ties: the lowest index wins.
            zero = part[near] + nz[near, None] <= tol * (nz[near, None] + nc[None, :])  # (r, k)
            idx[near] = zero.to(torch.uint8).argmax(dim=1)
            val[near] = 0.0
        val = val.clamp_(min=0.0) / M
        return (val, idx, (part, nz, 1.0 / M)) if return_all else (val, idx)
    lacking = torch.nonzero(~H.all(dim=1))[:, 0]  # centres that lack some modality
    if lacking.numel() <= H.shape[0] // 4 and bool(a.any(dim=1).all()):
        # A sample shares with every centre that holds all modalities its own modalities, so along a row
        # the count is constant and the argmin needs only ||c||^2 over the sample's modalities - 2 z.c
        # (absent blocks of z are zero): one matrix product, no division.  (c, k)
        dt = Zcat.dtype
        nz = Nz.sum(dim=1)  # (c,)
        cnt = a.sum(dim=1)  # (c,)
        af = a.to(dt)
        nca = af @ Nc.T  # (c, k)
        part = torch.addmm(nca, Zcat, Cw.T, alpha=-2.0, out=out)
        if lacking.numel():
            # The few centres lacking a modality the sample holds share fewer modalities with it: their
            # distances come from the general terms, written back in the row's units (d * cnt - ||z||^2).
            HJ = H[lacking]
            other = (af @ (~HJ).to(dt).T) > 0  # (c, j): the sample holds a modality the centre lacks
            if bool(other.any()):
                dJ = ratio_or_inf(*sample_center_terms(Zcat, a, Nz, Cw[lacking], HJ, Nc[lacking]))
                dJ.mul_(cnt.to(dt)[:, None]).sub_(nz[:, None])
                part[:, lacking] = torch.where(other, dJ, part[:, lacking])
        val, idx = torch.min(part, dim=1)
        val += nz
        tol = 32.0 * torch.finfo(dt).eps * math.sqrt(Zcat.shape[1])
        near = val <= tol * (nz + nca.gather(1, idx[:, None])[:, 0])
        if bool(near.any()):
            zero = part[near] + nz[near, None] <= tol * (nz[near, None] + nca[near])  # (r, k)
            idx[near] = zero.to(torch.uint8).argmax(dim=1)
            val[near] = 0.0
        val = val.clamp_(min=0.0) / cnt.to(val.dtype)
        return (val, idx, (part, nz, 1.0 / cnt.to(torch.float64))) if return_all else (val, idx)
    full = ratio_or_inf(*sample_center_terms(Zcat, a, Nz, Cw, H, Nc))  # (c, k)
    val, idx = torch.min(full, dim=1)
    return (val, idx, (full, 0.0, 1.0)) if return_all else (val, idx)


def ratio_or_inf(num, cnt):
    """num / cnt with +inf where nothing is shared (cnt == 0); overwrites ``num``."""
    zero = cnt == 0
    return num.div_(cnt.clamp_(min=1.0)).masked_fill_(zero, float("inf"))


def partial_distance(Xs, centers, mask=None, center_mask=None, *, device=None, dtype="float64"):
    """Partial-modality distances between samples and centres, in the units given.

    No standardisation is applied: pass standardised data (``ModalityScaler``) to reproduce the
    distance UL4M4 uses.

    Parameters
    ----------
    Xs : list of array-like of shape (n_samples, n_features_m)
    centers : list of array-like of shape (n_centers, n_features_m)
        Rows of NaN where a centre lacks the modality (unless ``center_mask`` is given).
    mask, center_mask : array-like of bool, default=None
        Presence of each modality for samples (n_samples, M) and centres (n_centers, M).
    device : {None, "auto", "cpu", "cuda"}, default=None
    dtype : {"float32", "float64"}, default="float64"

    Returns
    -------
    D : ndarray of shape (n_samples, n_centers)
        +inf where a sample and a centre share no modality.

    Examples
    --------
    >>> import numpy as np
    >>> Xs = [np.array([[0.0, 0.0]]), np.array([[np.nan]])]
    >>> C = [np.array([[3.0, 4.0]]), np.array([[1.0]])]
    >>> partial_distance(Xs, C)  # only modality 0 is shared: sqrt(25 / 2)
    array([[3.53553391]])
    """
    Xs, mask = check_Xs(Xs, mask)
    C, H = check_Xs(centers, center_mask, n_modalities=len(Xs), dims=[X.shape[1] for X in Xs])
    dev = resolve_device(device)
    dt = resolve_dtype(dtype)
    dims = [X.shape[1] for X in Xs]
    Ht = torch.as_tensor(H, device=dev)
    Ccat, Nc = concat_blocks([torch.as_tensor(c, dtype=dt, device=dev) for c in C], Ht)
    Cw = Ccat * column_weights(dims, dt, dev)
    n = Xs[0].shape[0]
    chunk = default_chunk_size(len(C[0]), dims)
    out = np.empty((n, C[0].shape[0]))
    for s in range(0, n, chunk):
        a = torch.as_tensor(mask[s : s + chunk], device=dev)
        Zcat, Nz = concat_blocks([torch.as_tensor(X[s : s + chunk], dtype=dt, device=dev) for X in Xs], a)
        num, cnt = sample_center_terms(Zcat, a, Nz, Cw, Ht, Nc)
        out[s : s + chunk] = torch.sqrt(ratio_or_inf(num, cnt)).cpu().numpy()
    return out
