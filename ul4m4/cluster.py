"""k-means with the partial-modality distance: the estimator and k-means++ seeding (METHOD.md 3-4).

The Lloyd iterations themselves live in the private engine ``_lloyd``.
"""

from __future__ import annotations

import contextlib
import math
import threading
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import ThreadpoolController

from ._lloyd import ZBlocks, assign, lloyd, lloyd_bounded
from .distance import (
    center_side,
    column_weights,
    concat_blocks,
    default_chunk_size,
    ratio_or_inf,
    sample_center_terms,
    segments,
)
from .scaling import modality_stats
from .validation import (
    check_n_clusters,
    dtype_name,
    check_params,
    check_random_state,
    check_Xs,
    is_dask_input,
    resolve_device,
    resolve_dtype,
)

__all__ = ["PartialModalityKMeans", "partial_kmeans"]

# A standardised copy of the data is kept for the Lloyd passes when it is at most this large;
# larger data is standardised block by block on every pass, so memory stays bounded.
CACHE_LIMIT_BYTES = 1 << 30


def cache_limit(device):
    """Bytes of standardised data kept as one copy on ``device``: CACHE_LIMIT_BYTES in host memory; on a
    GPU, half of its free memory (the copy lives there, and streaming it over PCIe every pass would cost
    more than the whole pass)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return max(CACHE_LIMIT_BYTES, free // 2)
    return CACHE_LIMIT_BYTES


# Lloyd keeps Elkan's bounds (``lloyd_bounded``) only for data where a pass costs at least this many
# multiply-adds (n * D * k): below it their bookkeeping costs more than the skipped work saves
# (measured in benchmarks/RESULTS.md).
BOUNDS_MIN_WORK = 1 << 27
# Largest chunk_size accepted: beyond it a block's row count overflows 32-bit indexing.
MAX_CHUNK_SIZE = 1 << 31


class _PlusPlus:
    """k-means++ on the partial distance, one seed at a time; samples sharing no modality with any chosen
    centre go first. The first k seeds are those of a run for k alone (the same draws in the same
    order), so one seeder serves every k of a grid."""

    def __init__(self, blocks, rng):
        self.blocks, self.rng = blocks, rng
        self.chosen = [int(rng.integers(blocks.n))]
        self.d2 = np.full(blocks.n, np.inf)  # squared distance to the nearest of the first `folded` seeds
        self.folded = 0
        self.colw = column_weights(blocks.dims, blocks.dtype, blocks.device)
        # In host memory with one standardised copy, a fold is one matrix-vector product and a few
        # operations on (n,) and (n, M) arrays (``_one_centre_host``), in numpy, whose BLAS runs the
        # product 2x faster than torch's here; ``seeds`` keeps that BLAS on one thread (``_OneBlasThread``).
        self.host = None
        if blocks.cached is not None and torch.device(blocks.device).type == "cpu":
            af = blocks.a_all.to(blocks.dtype)
            self.host = (blocks.Z_all.numpy(), torch.cat([af, blocks.N_all], dim=1).numpy(), self.colw.numpy())

    def _fold(self):
        blocks = self.blocks
        row = self.chosen[self.folded]
        if self.host is not None:
            self.d2 = np.minimum(self.d2, self._one_centre_host(row), out=self.d2)
        else:
            Cc, ac, Nc = blocks.rows(np.array([row]))
            Cw = Cc * self.colw
            for s, e, Zcat, a, Nz in blocks:
                q = ratio_or_inf(*sample_center_terms(Zcat, a, Nz, Cw, ac, Nc))[:, 0]
                np.minimum(self.d2[s:e], q.cpu().numpy(), out=self.d2[s:e])
        self.folded += 1

    def _one_centre_host(self, row):
        """``ratio_or_inf(*sample_center_terms(...))`` of every sample against the sample ``row`` as a
        centre, in numpy on the host copy: the same terms in the same precision."""
        Z, AN, colw = self.host
        M = AN.shape[1] // 2
        ac, nc = AN[row, :M], AN[row, M:]
        # [a, Nz] (n, 2M) by [[ac, nc], [0, ac]]: the shared count and ||z||^2 + ||c||^2 over shared modalities.
        V = np.zeros((2 * M, 2), dtype=AN.dtype)
        V[:M, 0], V[:M, 1], V[M:, 1] = ac, nc, ac
        cnt, norms = (AN @ V).T
        num = Z @ (Z[row] * colw)
        num *= -2.0
        num += norms
        tol = 32.0 * np.finfo(Z.dtype).eps * math.sqrt(Z.shape[1])
        num[num <= tol * norms] = 0.0
        num /= np.maximum(cnt, 1.0)
        num[cnt == 0] = np.inf
        return num

    def _draw(self):
        rng, d2, n = self.rng, self.d2, self.blocks.n
        far = np.flatnonzero(np.isinf(d2))
        if far.size:
            self.chosen.append(int(far[rng.integers(far.size)]))
            return
        cum = np.cumsum(d2)
        total = cum[-1]
        if not total > 0:  # every sample coincides with a chosen centre
            self.chosen.append(int(rng.integers(n)))
            return
        self.chosen.append(int(min(np.searchsorted(cum, rng.random() * total, side="right"), n - 1)))

    def seeds(self, k, callback=None):
        """Row indices of the first k seeds (drawing those not drawn yet)."""
        with _OneBlasThread() if self.host is not None and len(self.chosen) < k else contextlib.nullcontext():
            while len(self.chosen) < k:
                while self.folded < len(self.chosen):
                    self._fold()
                    if callback is not None:
                        callback({"stage": "seeding", "done": self.folded, "total": k})
                self._draw()
        if callback is not None:
            callback({"stage": "seeding", "done": k, "total": k})
        return np.array(self.chosen[:k])


class _OneBlasThread:
    """Context in which numpy's BLAS (and any other BLAS ``threadpoolctl`` finds) runs on one thread.

    After a threaded call, OpenBLAS's threads spin for a while waiting for the next one; on the cores
    torch's threads need next, that slowed the Lloyd passes after k-means++ by 2-3x here
    (benchmarks/RESULTS.md). Nested and concurrent uses share one limit, taken by the first to enter
    and restored by the last to leave, so the process's own setting always comes back."""

    _lock = threading.Lock()
    _depth = 0
    _limiter = None
    _controller = None

    def __enter__(self):
        cls = type(self)
        with cls._lock:
            if cls._depth == 0:
                if cls._controller is None:
                    cls._controller = ThreadpoolController()
                cls._limiter = cls._controller.limit(limits=1, user_api="blas")
            cls._depth += 1
        return self

    def __exit__(self, *exc):
        cls = type(self)
        with cls._lock:
            cls._depth -= 1
            if cls._depth == 0:
                cls._limiter.restore_original_limits()
                cls._limiter = None
        return False


def _kmeans_plusplus(blocks, k, rng, callback=None):
    """k-means++ seeds (``_PlusPlus``): standardised centres (k, D), their presence (k, M), row indices."""
    idx = _PlusPlus(blocks, rng).seeds(k, callback)
    Ccat, H, _ = blocks.rows(idx)
    return Ccat, H, idx


def check_init_centers(init, n_clusters, dims, working_dtype="float32"):
    """Validate explicit initial centres: list of M arrays (k, d_m), NaN rows where a centre lacks m; their
    values are held to ``working_dtype``'s limit, as the data are (``check_Xs``)."""
    try:
        C, H = check_Xs(list(init), None, n_modalities=len(dims), dims=dims, working_dtype=working_dtype)
    except (ValueError, TypeError) as exc:
        msg = str(exc).replace("samples observe", "initial centres hold").replace("sample observes",
                                                                                  "initial centre holds")
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

    Dask input (any modality or the mask a ``dask.array``; the ``scale`` extra): every step is a pass
    over the row chunks on the active Dask scheduler (a ``distributed.Client`` or Dask's threads), each
    task holding one chunk, the per-cluster sums and counts added in a tree (module ``_dask``). The
    modalities and the mask are rechunked to the row chunks of the first dask modality, whole rows per
    chunk. Seeding is k-means++ (or the random choice) on a uniform sample of max(16384, 64 k) rows
    drawn with ``random_state`` (all rows when n is at most that, giving the in-memory seeds): the k
    sequential draws then need no pass over the data, which k-means|| would replace by several passes
    and a reclustering that is not METHOD.md's seeding. Elkan's bounds are not used. With explicit
    ``init`` in float64 the labels and the iteration count are those of the in-memory fit, and the
    centres the same means with sums added in another order (chunk by chunk, then in a tree): within
    1e-12 (relative, z-units). In float32 the centres agree within 1e-4 (the in-memory sums, added row
    by row in float32, are the less exact; here float32 within a chunk, float64 across), and a sample
    within that rounding of a boundary may end in another cluster (127 of 200,000 after 10 passes).
    ``labels_`` is then a persisted dask array, and ``predict``/``distances`` return dask arrays.

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
        Samples per block, at most 2**31; None picks a size that keeps temporaries near 32 MB.
    bounds : bool, default=True
        Skip, in each Lloyd pass, the samples that triangle-inequality bounds prove keep their centre
        (Elkan's bounds, applied per sample where every centre holds the sample's modalities, with the
        rounding error accounted for). The result is exactly that of plain Lloyd. They are used once
        fewer than 1/16 of the samples change cluster in a pass, and only when a pass is large enough
        (n_samples * n_features * n_clusters >= 2**27) to repay their bookkeeping, and never on a GPU
        (there a whole pass costs less than the bookkeeping); False computes every distance in every pass.
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

    # Parameters, declared in one place in scikit-learn's form; a subclass extends them with
    # ``{**PartialModalityKMeans._parameter_constraints, "its_parameter": [...]}``. They are checked by
    # ``validation.check_params``, not scikit-learn's ``_validate_params``: it takes the same constraint
    # objects, but scikit-learn (1.9) lets True pass as the integer 1 and words its messages unlike the
    # rest of this library ("max_iter=0 should be an integer >= 1."). Beyond these, fit checks
    # n_clusters against the number of samples (``check_n_clusters``, first, for its message), and
    # ``resolve_device``/``resolve_dtype`` check which devices and dtypes exist, as for every entry point.
    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"k-means++", "random"}), list, tuple],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, 1, closed="left")],
        "random_state": [None, Interval(Integral, 0, None, closed="left"), np.random.Generator],
        "device": [None, str, torch.device],
        "dtype": [str, np.dtype, torch.dtype],
        "chunk_size": [None, Interval(Integral, 1, MAX_CHUNK_SIZE, closed="both")],
        "bounds": ["boolean"],
        "callback": [None, callable],
    }

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
    def _validate_params(self):
        """Check every parameter against ``_parameter_constraints`` (InvalidParameterError, a ValueError)."""
        check_params({name: getattr(self, name) for name in self._parameter_constraints}, self._parameter_constraints)

    def _check_params(self, n_samples, n_clusters):
        """Validate the parameters for data of ``n_samples`` rows; returns ``n_clusters`` as an int."""
        k = check_n_clusters(n_clusters, n_samples)
        self._validate_params()
        return k

    def _check_fitted(self):
        """NotFittedError (a ValueError) before fit."""
        check_is_fitted(self, "cluster_centers_")

    def _chunk(self, cube=False, device=None):
        if self.chunk_size is not None:
            return int(self.chunk_size)
        return default_chunk_size(self.cluster_centers_[0].shape[0], self.dims_, cube=cube, device=device)

    def _centres_tensor(self, device, dtype):
        """Centres as one (k, D) tensor (absent blocks zero) and their presence."""
        H = torch.as_tensor(self.center_mask_, device=device)
        Ccat, _ = concat_blocks([torch.as_tensor(c, dtype=dtype, device=device) for c in self.cluster_centers_z_], H)
        return Ccat, H

    def _blocks(self, Xs, mask, device, dtype, chunk, cache=True):
        """The standardised data in blocks; kept as one copy when ``cache`` and it fits CACHE_LIMIT_BYTES."""
        nbytes = mask.shape[0] * sum(self.dims_) * (torch.finfo(dtype).bits // 8)
        return ZBlocks(Xs, mask, self.mean_, self.scale_, device, dtype, chunk, cache and nbytes <= cache_limit(device))

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

    def _seeder(self, Xs, mask, shared=None):
        """A k-means++ seeder (``_PlusPlus``) on valid in-memory ``Xs`` and ``mask`` with this estimator's
        standardisation, device, dtype and ``random_state``: ``.seeds(k)`` gives the row indices ``fit``
        with ``init="k-means++"`` would seed k clusters from when ``random_state`` is an int (the same
        draws). Sets ``mean_``, ``scale_`` and ``dims_``. ``shared`` as in ``_fit_clusters``."""
        self.dims_ = [X.shape[1] for X in Xs]
        device, dtype = resolve_device(self.device, Xs), resolve_dtype(self.dtype)
        blocks = self._standardised(Xs, mask, device, dtype,
                                    self.chunk_size or default_chunk_size(1, self.dims_, device=device), shared)
        return _PlusPlus(blocks, check_random_state(self.random_state))

    def _standardised(self, Xs, mask, device, dtype, chunk, shared=None):
        """Set ``mean_`` and ``scale_`` from valid ``Xs`` and return the standardised ``ZBlocks``; with a
        ``shared`` dict, both are computed once per data set and block size and kept there, for other
        estimators of the same settings to reuse (the label-free search fits every k on one hold-out)."""
        if shared is None:
            self.mean_, self.scale_ = self._modality_stats(Xs, mask)
            return self._blocks(Xs, mask, device, dtype, chunk)
        if "stats" not in shared:
            shared["stats"] = self._modality_stats(Xs, mask)
        self.mean_, self.scale_ = shared["stats"]
        # ZBlocks caps the chunk at the rows, so chunks beyond them give the same blocks.
        key = ("blocks", str(device), dtype, min(int(chunk), mask.shape[0]))
        if key not in shared:
            shared[key] = self._blocks(Xs, mask, device, dtype, chunk)
        return shared[key]

    def _modality_stats(self, Xs, mask):
        """Standardisation statistics of the observed rows, through ``_adjust_stats``."""
        return self._adjust_stats(*modality_stats(Xs, mask))

    def _adjust_stats(self, mean, scale):
        """A hook on the standardisation statistics (the imputer can floor the scales)."""
        return mean, scale

    def _fit_clusters(self, Xs, mask, n_clusters, init=None, warn=True, max_iter=None, shared=None):
        """``fit`` with an explicit k (the imputer may have chosen it) and, when given, explicit initial
        centres ``init`` (as the ``init`` parameter's arrays) in place of the parameter's; ``warn=False``
        keeps a run that did not converge quiet (the label-free search's capped fits); ``max_iter``, when
        given, replaces the parameter's. ``shared``, a dict kept with one data set (in memory), holds its
        validated arrays, statistics and standardised blocks for other fits of the same settings."""
        if is_dask_input(Xs, mask):
            from . import _dask

            return self._fit_clusters_dask(_dask.DaskData(Xs, mask), n_clusters, init, warn, max_iter)
        raw = Xs
        if shared is not None and "valid" in shared:
            Xs, mask = shared["valid"]
        else:
            Xs, mask = check_Xs(Xs, mask, allow_empty_modality=False, working_dtype=self._limit_dtype())
            if shared is not None:
                shared["valid"] = (Xs, mask)
        k = self._check_params(mask.shape[0], n_clusters)
        rng = check_random_state(self.random_state)
        device = resolve_device(self.device, raw)
        dtype = resolve_dtype(self.dtype)
        dims = [X.shape[1] for X in Xs]
        init = check_init_centers(self.init if init is None else init, k, dims, self._limit_dtype()) if (
            init is not None or not isinstance(self.init, str)) else None

        self.dims_ = dims
        blocks = self._standardised(Xs, mask, device, dtype,
                                    self.chunk_size or default_chunk_size(k, dims, device=device), shared)
        C, H = self._initial_centres(blocks, k, init, rng)
        # Bounds pay on the CPU, where a pass is compute-bound; on a GPU a whole pass costs less than
        # their host-side bookkeeping (0.86 s a pass at n = 10^6, k = 256 on an H200).
        bounded = self.bounds and device.type != "cuda" and mask.shape[0] * sum(dims) * k >= BOUNDS_MIN_WORK
        run = lloyd_bounded if bounded else lloyd
        res = run(blocks, C, H, self.max_iter if max_iter is None else max_iter, self.callback, tol=self.tol)
        return self._adopt(res, stacklevel=2, warn=warn)

    def _fit_clusters_dask(self, data, n_clusters, init=None, warn=True, max_iter=None):
        """``_fit_clusters`` on ``_dask.DaskData``: the same steps, each a pass over the chunks (module
        ``_dask``); seeds come from a sample of ``_dask.seed_sample_size(n, k)`` rows."""
        from . import _dask

        k = self._check_params(data.n, n_clusters)
        rng = check_random_state(self.random_state)
        device = resolve_device(self.device)
        dtype = resolve_dtype(self.dtype)
        dims = data.dims
        init = check_init_centers(self.init if init is None else init, k, dims, self._limit_dtype()) if (
            init is not None or not isinstance(self.init, str)) else None
        mean, scale = data.modality_stats()
        self.mean_, self.scale_ = self._adjust_stats(mean, scale)
        self.dims_ = dims
        sub = self.chunk_size or default_chunk_size(k, dims, device=device)
        if init is None:  # seeds from a uniform sample of rows (all rows when n is at most its size)
            size = _dask.seed_sample_size(data.n, k)
            rows = np.arange(data.n) if size == data.n else np.sort(rng.choice(data.n, size=size, replace=False))
            where = self._blocks(*data.take(rows), device, dtype, sub)
        else:
            where = _Where(device, dtype)
        C, H = self._initial_centres(where, k, init, rng)
        if self.init_indices_ is not None:
            self.init_indices_ = rows[self.init_indices_]
        # The standardised chunks are kept (on the workers) under the in-memory rule: up to cache_limit.
        keep = data.n * sum(dims) * (torch.finfo(dtype).bits // 8) <= cache_limit(device)
        blocks = _dask.standardised(data, self.mean_, self.scale_, device, dtype, sub, keep=keep)
        res = _dask.lloyd(data, blocks, C, H, self.max_iter if max_iter is None else max_iter, self.callback, self.tol)
        return self._adopt(res, stacklevel=3, warn=warn)

    def _adopt(self, res, stacklevel, warn=True):
        """Take a Lloyd run's outcome as the fitted state; warn (if ``warn``) if it did not converge
        (``stacklevel`` as at the caller of ``_adopt``)."""
        if warn and not res.converged:
            warnings.warn(
                f"PartialModalityKMeans did not converge in max_iter={self.max_iter} iterations; "
                "increase max_iter for a stable partition.",
                ConvergenceWarning,
                stacklevel=stacklevel + 1,
            )
        self._set_centres(res.centers, res.center_mask)
        self.labels_ = res.labels
        self.n_iter_ = res.n_iter
        self.converged_ = res.converged
        self.inertia_ = res.inertia
        self.rows_evaluated_ = res.rows_evaluated
        return self

    def _initial_centres(self, blocks, k, init, rng):
        """Standardised initial centres (k, D) and their presence (k, M); sets ``init_indices_``.

        ``init`` is (values, presence) of explicit centres in original units, or None to seed from
        the data as ``self.init`` says.
        """
        if init is not None:
            C0, H0 = init
            H = torch.as_tensor(H0, device=blocks.device)
            Cz = [torch.as_tensor(np.where(H0[:, [m]], (c - self.mean_[m]) / self.scale_[m], 0.0),
                                  dtype=blocks.dtype, device=blocks.device) for m, c in enumerate(C0)]
            self.init_indices_ = None
            return concat_blocks(Cz, H)[0], H
        if self.init == "random":
            idx = rng.choice(blocks.n, size=k, replace=False)
            C, H, _ = blocks.rows(idx)
            self.init_indices_ = idx
            return C, H
        C, H, self.init_indices_ = _kmeans_plusplus(blocks, k, rng, self.callback)
        return C, H

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

    def _limit_dtype(self):
        """The dtype whose value limit the data are held to (``check_Xs``): the estimator's, or float32's
        while ``dtype`` is not valid (its parameter check then says so)."""
        return dtype_name(self.dtype, "float32")

    def _prepare(self, Xs, mask):
        self._check_fitted()
        raw = Xs
        Xs, mask = check_Xs(Xs, mask, n_modalities=len(self.dims_), dims=self.dims_,
                            working_dtype=self._limit_dtype())
        device = resolve_device(self.device, raw)
        dtype = resolve_dtype(self.dtype)
        return Xs, mask, device, dtype

    def predict(self, Xs, mask=None):
        """Index of the nearest centre of each sample (lowest index on ties; 0 if none is reachable).

        Returns
        -------
        labels : ndarray of int of shape (n_samples,)
            A dask array for dask input, computed chunk by chunk when asked.
        """
        if is_dask_input(Xs, mask):
            return self._lazy("predict", Xs, mask, [((), np.int64)])[0]
        Xs, mask, device, dtype = self._prepare(Xs, mask)
        C, H = self._centres_tensor(device, dtype)
        return assign(self._blocks(Xs, mask, device, dtype, self._chunk(device=device), cache=False), C, H)

    def distances(self, Xs, mask=None):
        """Partial-modality distances, in standardised units, to every centre.

        Returns
        -------
        D : ndarray of shape (n_samples, n_clusters); +inf where nothing is shared.
            A dask array for dask input, computed chunk by chunk when asked.
        """
        if is_dask_input(Xs, mask):
            return self._lazy("distances", Xs, mask, [((len(self.center_mask_),), np.float64)])[0]
        Xs, mask, device, dtype = self._prepare(Xs, mask)
        C, H = self._centres_tensor(device, dtype)
        Nc, Cw = center_side(C, self.dims_)
        out = np.empty((mask.shape[0], len(self.center_mask_)))
        for s, e, Zcat, a, Nz in self._blocks(Xs, mask, device, dtype, self._chunk(device=device), cache=False):
            out[s:e] = torch.sqrt(ratio_or_inf(*sample_center_terms(Zcat, a, Nz, Cw, H, Nc))).cpu().numpy()
        return out

    def _lazy(self, method, Xs, mask, specs, flatten=None, per_row=None, **kwargs):
        """``method`` applied to every chunk of dask input, lazily (``_dask.map_rows``); ``per_row`` maps
        keyword names to arrays of one entry per sample, passed chunk by chunk."""
        from . import _dask

        self._check_fitted()
        data = _dask.DaskData(Xs, mask, n_modalities=len(self.dims_), dims=self.dims_)
        return _dask.map_rows(self, method, data, specs, flatten, per_row=per_row, **kwargs)

    def fit_predict(self, Xs, mask=None, y=None):
        """Fit and return ``labels_``."""
        return self.fit(Xs, mask).labels_


class _Where:
    """Where explicit initial centres go (all ``_initial_centres`` reads of the data then)."""

    def __init__(self, device, dtype):
        self.device, self.dtype = device, dtype


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
