"""The partial-modality distance (METHOD.md section 2) and the torch kernels that compute it in blocks.

    d(i, j) = sqrt( (1/|S|) * sum_{m in S} ||z_i^m - c_j^m||^2 / d_m ),   S = modalities both sides hold,

and d = +inf when S is empty. The private kernels assume valid, standardised input.
"""

from __future__ import annotations

import numpy as np
import torch

from .validation import check_Xs, resolve_device, resolve_dtype

__all__ = ["partial_distance", "default_chunk_size"]

# Elements in one (chunk, k) or (chunk, k, k) block; keeps every temporary near 32 MB in float64.
_BLOCK_ELEMENTS = 1 << 22


def default_chunk_size(n_clusters, dims, cube=False):
    """Rows per block so that the (rows, k[, k]) and (rows, d_m) temporaries stay bounded."""
    width = max(n_clusters * (n_clusters if cube else 1), max(dims))
    return int(max(64, min(65536, _BLOCK_ELEMENTS // width)))


def sq_norms(C):
    """Row squared norms of each tensor in a list: list of (k,)."""
    return [(c * c).sum(dim=1) for c in C]


def sample_center_terms(Z, a, C, H, c_norms):
    """Sums of per-modality scaled squared distances between samples and centres.

    Parameters
    ----------
    Z : list of tensor (c, d_m), standardised samples (rows of absent modalities may hold anything
        finite; they are masked out).
    a : bool tensor (c, M), sample presence.
    C : list of tensor (k, d_m), standardised centres (absent rows may hold anything finite).
    H : bool tensor (k, M), centre presence.
    c_norms : list of tensor (k,), squared norms of the centre rows.

    Returns
    -------
    num : tensor (c, k), sum over shared modalities of ||z^m - c^m||^2 / d_m.
    cnt : tensor (c, k), number of shared modalities.
    """
    dt = Z[0].dtype
    af = a.to(dt)
    Hf = H.to(dt)
    cnt = af @ Hf.T  # (c, k)
    num = torch.zeros_like(cnt)
    for m, (z, c) in enumerate(zip(Z, C)):
        # ||z - c||^2 = ||z||^2 - 2 z.c + ||c||^2, clamped at 0 against cancellation.  (c, k)
        d2 = (z * z).sum(dim=1, keepdim=True) - 2.0 * (z @ c.T) + c_norms[m][None, :]
        d2.clamp_(min=0.0)
        share = af[:, m : m + 1] * Hf[None, :, m]  # (c, k)
        num.addcmul_(d2, share, value=1.0 / z.shape[1])
    return num, cnt


def exact_sq_dists(c):
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


def center_center_terms(C, H, patterns):
    """Centre-to-centre parts of the candidate distances, one (k, k) pair per missing pattern.

    For a pattern with missing set Q: num[p, f, j] = sum_{m in Q, f and j hold m} ||c_f^m - c_j^m||^2/d_m,
    cnt[p, f, j] = number of such m.

    Parameters
    ----------
    C, H : centres and their presence, as in ``sample_center_terms``.
    patterns : bool tensor (P, M), True where the pattern observes the modality.

    Returns
    -------
    num, cnt : tensors (P, k, k)
    """
    dt = C[0].dtype
    Hf = H.to(dt)
    P = patterns.shape[0]
    k = H.shape[0]
    num = torch.zeros((P, k, k), dtype=dt, device=C[0].device)
    cnt = torch.zeros_like(num)
    miss = (~patterns).to(dt)  # (P, M)
    for m, c in enumerate(C):
        d2 = exact_sq_dists(c)  # (k, k)
        both = Hf[:, m : m + 1] * Hf[None, :, m]  # (k, k)
        num += miss[:, m, None, None] * (d2 * both / c.shape[1])[None]
        cnt += miss[:, m, None, None] * both[None]
    return num, cnt


def ratio_or_inf(num, cnt):
    """num / cnt with +inf where nothing is shared (cnt == 0)."""
    out = num / cnt.clamp(min=1.0)
    return out.masked_fill_(cnt == 0, float("inf"))


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
    Ct = [torch.as_tensor(np.where(H[:, [m]], c, 0.0), dtype=dt, device=dev) for m, c in enumerate(C)]
    Ht = torch.as_tensor(H, device=dev)
    norms = sq_norms(Ct)
    n = Xs[0].shape[0]
    chunk = default_chunk_size(len(C[0]), [X.shape[1] for X in Xs])
    out = np.empty((n, C[0].shape[0]))
    for s in range(0, n, chunk):
        a = torch.as_tensor(mask[s : s + chunk], device=dev)
        Z = [
            torch.as_tensor(np.where(mask[s : s + chunk, [m]], X[s : s + chunk], 0.0), dtype=dt, device=dev)
            for m, X in enumerate(Xs)
        ]
        num, cnt = sample_center_terms(Z, a, Ct, Ht, norms)
        out[s : s + chunk] = torch.sqrt(ratio_or_inf(num, cnt)).cpu().numpy()
    return out
