"""The Dask path: the partial-modality k-means and the UL4M4 completion on ``dask.array`` inputs.

The private engine behind ``PartialModalityKMeans`` and ``UL4M4Imputer`` when a modality or the mask is a
dask array (installed with the ``scale`` extra; nothing else imports dask). Every pass maps the torch
kernels of the in-memory path over the row chunks, as tasks that run where each chunk lives, and adds up
their small per-cluster sums and counts in a tree (``SPLIT_EVERY`` at a time), so it runs on whatever
scheduler is active: a ``distributed.Client`` (local or remote) or Dask's threads. A task holds one chunk
(and its standardised copy); the client holds the centres and one label (8 bytes) per sample at most.

- Standardisation: two passes, float64 sums of the observed rows, then of their squared deviations (the
  arithmetic of ``scaling.masked_mean_std`` within a chunk); the first pass also validates every chunk
  (``check_Xs``) and keeps the mask.
- Seeding: k-means++ (or the random choice) on a uniform sample of ``seed_sample_size(n, k)`` rows drawn
  with ``random_state`` and gathered to the client; all rows when n is at most that.
- Lloyd: each pass assigns every sample (``_lloyd.pass_sums`` on the chunk) and keeps the labels where
  they were computed for the next pass's count of changes; the client updates the centres from the
  reduced sums. The standardised chunks are kept on the workers when the whole standardised copy is
  within the in-memory path's limit (``cluster.cache_limit``), else made anew in every pass. Elkan's
  bounds are not used here.
- Completion, ``predict``, ``distances``, ``candidate_distances``: the in-memory method applied to each
  chunk, lazily.
Everything else (parameters, the rules of METHOD.md) is the estimators' own code.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import operator
import socket
import threading

import dask
import dask.array as da
import numpy as np
from dask.sizeof import sizeof

from ._lloyd import LloydResult, ZBlocks, pass_inertia, pass_sums, update_centres
from .scaling import observed_sq_dev, observed_sum, std_from
from .validation import ROW_NUMBER, check_modality_dtype, check_Xs, counted

__all__ = ["DaskData", "seed_sample_size", "standardised", "lloyd", "map_rows", "SPLIT_EVERY", "SEED_SAMPLE_MIN",
           "SEED_SAMPLE_PER_CLUSTER", "connect", "on_scheduler", "from_arrays"]

# Partial results are added this many at a time, level by level (Dask's own default for reductions).
SPLIT_EVERY = 8
# k-means++ runs on a uniform sample of max(SEED_SAMPLE_MIN, SEED_SAMPLE_PER_CLUSTER * k) rows (all rows
# when there are fewer): its k sequential D^2 draws then cost no pass over the data, a cluster of
# average size (n / k rows) has about 64 rows in the sample, and any of more than n / (64 k) rows is
# expected to have one.
SEED_SAMPLE_MIN = 1 << 14
SEED_SAMPLE_PER_CLUSTER = 64


def seed_sample_size(n, k):
    """Rows k-means++ (or ``init="random"``) draws its seeds from on the Dask path."""
    return int(min(n, max(SEED_SAMPLE_MIN, SEED_SAMPLE_PER_CLUSTER * k)))


# -- the data ---------------------------------------------------------------------------------------
class DaskData:
    """Multimodal dask data: every modality and the mask in the same row chunks, each chunk whole rows.

    Checks the structure at once (list of 2-D arrays of known shape, same rows, accepted dtypes, the
    fitted widths) without reading any value; ``validate`` reads every chunk once with ``check_Xs``.
    Modalities are rechunked to the row chunks of the first dask modality (numpy modalities and a numpy
    mask are wrapped in those chunks; the mask's chunks when only the mask is a dask array).
    """

    def __init__(self, Xs, mask=None, n_modalities=None, dims=None):
        if isinstance(Xs, np.ndarray) or not isinstance(Xs, (list, tuple)):
            raise TypeError(f"Xs should be a list of 2-D arrays, one per modality; got {type(Xs).__name__}.")
        if len(Xs) == 0:
            raise ValueError("Xs is empty; expected at least one modality.")
        if n_modalities is not None and len(Xs) != n_modalities:
            raise ValueError(f"Xs has {len(Xs)} modalities; expected {n_modalities} (as seen in fit).")
        lead = next((X for X in Xs if isinstance(X, da.Array)), None)
        rows = None if lead is None else _row_chunks(lead, "Xs")
        arrays = []
        for m, X in enumerate(Xs):
            if not isinstance(X, da.Array):
                X = np.asarray(X)
            check_modality_dtype(X.dtype, m)
            if X.ndim != 2:
                raise ValueError(f"Xs[{m}] has {counted(X.ndim, 'dimension')} with shape {X.shape}; expected a 2-D "
                                 "array "
                                 "(n_samples, n_features).")
            if X.shape[1] == 0:
                raise ValueError(f"Xs[{m}] has 0 features; expected at least 1.")
            if rows is None:  # only the mask is a dask array
                rows = _row_chunks(mask, "mask")
            if isinstance(X, da.Array):
                _row_chunks(X, f"Xs[{m}]")
            if X.shape[0] != sum(rows):
                raise ValueError(f"All modalities must have the same number of rows; Xs[0] has {sum(rows)}, "
                                 f"Xs[{m}] has {X.shape[0]}.")
            arrays.append(X.rechunk((rows, -1)) if isinstance(X, da.Array) else da.from_array(X, chunks=(rows, -1)))
        self.n = int(sum(rows))
        if self.n == 0:
            raise ValueError("Xs has 0 samples; expected at least 1.")
        self.dims = [int(X.shape[1]) for X in arrays]
        if dims is not None:
            for m, (d, want) in enumerate(zip(self.dims, dims)):
                if d != want:
                    raise ValueError(f"Xs[{m}] has {d} features; expected {want} (as seen in fit).")
        M = len(arrays)
        if mask is not None:
            if not isinstance(mask, da.Array):
                mask = np.asarray(mask)
            if tuple(mask.shape) != (self.n, M):
                raise ValueError(f"mask has shape {tuple(mask.shape)}; expected (n_samples, n_modalities) = "
                                 f"({self.n}, {M}).")
            mask = mask.rechunk((rows, -1)) if isinstance(mask, da.Array) else da.from_array(mask, chunks=(rows, -1))
        self.Xs, self.mask, self.rows = arrays, mask, tuple(int(r) for r in rows)
        self.offsets = np.concatenate([[0], np.cumsum(self.rows)]).astype(np.int64)

    @property
    def n_chunks(self):
        return len(self.rows)

    def chunks(self):
        """Per chunk: (offset, [delayed block of each modality], delayed mask block or None)."""
        xs = [X.to_delayed().ravel() for X in self.Xs]
        ms = self.mask.to_delayed().ravel() if self.mask is not None else [None] * self.n_chunks
        return [(int(self.offsets[i]), [x[i] for x in xs], ms[i]) for i in range(self.n_chunks)]

    def validate(self, allow_empty_modality=True):
        """Read every chunk once: ``check_Xs`` on it (errors name the chunk's rows), the mask (derived
        from all-NaN rows when none was given) kept for the later passes, and the float64 sums and counts
        of the observed rows. Returns (counts (M,), sums [(d_m,)])."""
        parts = [dask.delayed(_validate_chunk, pure=False)(off, xs, a) for off, xs, a in self.chunks()]
        M = len(self.dims)
        mask = _concat([dask.delayed(operator.getitem)(p, 0) for p in parts], self.rows, (M,), bool)
        root = tree_sum([dask.delayed(operator.getitem)(p, 1) for p in parts])
        mask, root = dask.persist(mask, root)
        counts, sums = dask.compute(root)[0]
        if not allow_empty_modality:
            none = np.flatnonzero(counts == 0)
            if none.size:
                raise ValueError(f"Modality {int(none[0])} is observed in no sample; every modality needs at least "
                                 "one observed row to be standardised and clustered.")
        self.mask = mask
        return counts, sums

    def modality_stats(self):
        """Float64 mean and std (ddof=0, below 1e-8 -> 1) of each modality's observed rows: two passes
        (validating in the first, ``validate``), the arithmetic of ``scaling.masked_mean_std``."""
        counts, sums = self.validate(allow_empty_modality=False)
        mean = [s / int(c) for s, c in zip(sums, counts)]
        mean_d = dask.delayed(mean, pure=False)  # shipped once, not once per task
        parts = [dask.delayed(_sq_dev_chunk, pure=False)(xs, a, mean_d) for _, xs, a in self.chunks()]
        sq = dask.compute(tree_sum(parts))[0]
        return mean, [std_from(q, int(c)) for q, c in zip(sq, counts)]

    def take(self, rows):
        """Rows ``rows`` (sorted ints) gathered to the client: (list of ndarray, mask ndarray or None);
        checked only if ``validate`` ran."""
        rows = np.asarray(rows, dtype=np.int64)
        picked = [X[rows] for X in self.Xs] + ([self.mask[rows]] if self.mask is not None else [])
        got = dask.compute(*picked)
        return [_as_float(x) for x in got[: len(self.Xs)]], (got[-1] if self.mask is not None else None)


def _row_chunks(X, name):
    rows = X.chunks[0]
    if any(not np.isfinite(r) for r in rows) or any(not np.isfinite(s) for s in X.shape):
        raise ValueError(f"{name} has chunks of unknown size; call compute_chunk_sizes() on it first.")
    return rows


def _as_float(x):
    """A chunk as ``check_Xs`` returns it (float32/float64 kept, other numbers to float64, native order)."""
    arr = np.asarray(x)
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    elif any(s < 0 for s in arr.strides):
        arr = arr.copy()
    return arr


def _in_rows(exc, offset, xs):
    """The error of a chunk's check, saying which rows the chunk holds and numbering rows globally."""
    n = np.shape(xs[0])[0] if len(xs) else 0
    msg = ROW_NUMBER.sub(lambda m: f"row {int(m.group(1)) + offset}", str(exc))
    return type(exc)(f"rows {offset}-{offset + n - 1}: {msg}")


def _checked(offset, xs, a):
    """``check_Xs`` on one chunk (its errors ``_in_rows``)."""
    try:
        return check_Xs(list(xs), a)
    except ValueError as exc:
        raise _in_rows(exc, offset, xs) from None


def _validate_chunk(offset, xs, a):
    xs, a = _checked(offset, xs, a)
    counts = a.sum(axis=0).astype(np.int64)
    return a, (counts, [observed_sum(X, a[:, m]) for m, X in enumerate(xs)])


def _sq_dev_chunk(xs, a, mean):
    return [observed_sq_dev(_as_float(X), a[:, m], mean[m]) for m, X in enumerate(xs)]


# -- reductions -------------------------------------------------------------------------------------
def _add(*parts):
    """Element-wise sum of equally nested tuples/lists of arrays and numbers."""
    first = parts[0]
    if isinstance(first, (tuple, list)):
        return type(first)(_add(*items) for items in zip(*parts))
    total = first
    for p in parts[1:]:
        total = total + p
    return total


def tree_sum(parts, split_every=SPLIT_EVERY):
    """One delayed sum of delayed partial results, added ``split_every`` at a time, level by level (a
    fixed tree, so the same chunks always give the same rounding)."""
    parts = list(parts)
    while len(parts) > 1:
        parts = [dask.delayed(_add, pure=False)(*parts[i : i + split_every]) if len(parts[i : i + split_every]) > 1
                 else parts[i] for i in range(0, len(parts), split_every)]
    return parts[0]


def _concat(blocks, rows, tail, dtype):
    """One dask array (n, *tail) from delayed per-chunk arrays of ``rows`` rows each."""
    return da.concatenate([da.from_delayed(b, shape=(r, *tail), dtype=dtype) for b, r in zip(blocks, rows)])


# -- Lloyd ------------------------------------------------------------------------------------------
def _chunk_blocks(xs, a, mean, scale, device, dtype, sub):
    xs = [_as_float(X) for X in xs]
    return ZBlocks(xs, np.asarray(a, dtype=bool), mean, scale, device, dtype, sub, cache=True)


@sizeof.register(ZBlocks)
def _sizeof_blocks(blocks):
    """Bytes a kept standardised chunk holds: the scheduler places tasks and steals work by these sizes
    (its default, ``sys.getsizeof``, took them for a few bytes and shipped them between workers)."""
    held = [*blocks.Xs, blocks.mask]
    total = sum(int(getattr(x, "nbytes", 0)) for x in held)
    if blocks.cached is not None:
        total += sum(t.element_size() * t.nelement() for t in (blocks.Z_all, blocks.N_all, blocks.a_all))
    return total


def standardised(data, mean, scale, device, dtype, sub, keep=False):
    """Per chunk, a delayed ``ZBlocks`` (the chunk standardised, in the working dtype). With ``keep``
    they are computed once and persisted where they were made (memory: one standardised copy of the
    data over the workers); otherwise every pass that uses them standardises each chunk anew."""
    stats = dask.delayed((mean, scale), pure=False)  # shipped once, not once per task
    parts = [dask.delayed(_chunk_blocks, pure=False)(xs, a, stats[0], stats[1], str(device), dtype, sub)
             for _, xs, a in data.chunks()]
    return list(dask.persist(*parts)) if keep else parts


def _lloyd_chunk(blocks, prev, C, H):
    import torch

    dev = blocks.device
    return pass_sums(blocks, torch.as_tensor(C, device=dev), torch.as_tensor(H, device=dev), prev)


def _inertia_chunk(blocks, labels, C, H):
    import torch

    dev = blocks.device
    return pass_inertia(blocks, torch.as_tensor(C, device=dev), torch.as_tensor(H, device=dev), labels)


def _pass(func, data, blocks, labels, C, H):
    """``func`` (``_lloyd_chunk`` or ``_inertia_chunk``) on every chunk's ``blocks``, with the chunk's
    ``labels`` (a dask array, or None): (its labels as a persisted dask array, its reduced second output)."""
    Cn = dask.delayed(C.cpu().numpy(), pure=False)  # each shipped once, not once per task
    Hn = dask.delayed(H.cpu().numpy(), pure=False)
    prev = labels.to_delayed().ravel() if labels is not None else [None] * data.n_chunks
    parts = [dask.delayed(func, pure=False)(b, p, Cn, Hn) for b, p in zip(blocks, prev)]
    new = _concat([dask.delayed(operator.getitem)(p, 0) for p in parts], data.rows, (), np.int64)
    new, root = dask.persist(new, tree_sum([dask.delayed(operator.getitem)(p, 1) for p in parts]))
    return new, dask.compute(root)[0]


def lloyd(data, blocks, C, H, max_iter, callback=None, tol=0.0):
    """Lloyd iterations over validated ``DaskData`` standardised in ``blocks`` (``standardised``), with
    the rules of ``_lloyd.lloyd`` (METHOD.md 4).

    ``C`` (k, D) and ``H`` (k, M) are the standardised initial centres (torch, in the working dtype).
    Returns a ``LloydResult`` whose ``labels`` is a persisted dask array of int64. As in memory, a last
    pass computes the inertia (and, without convergence, the labels under the last centres).
    """
    n = data.n
    labels = None
    for it in range(1, max_iter + 1):
        new, (sums, counts, members, changed) = _pass(_lloyd_chunk, data, blocks, labels, C, H)
        n_changed = n if labels is None else int(changed)
        if callback is not None:
            callback({"stage": "lloyd", "iteration": it, "max_iter": max_iter, "n_changed": n_changed})
        if labels is not None and n_changed <= tol * n:
            _, inertia = _pass(_inertia_chunk, data, blocks, new, C, H)
            return LloydResult(C, H, new, it, True, float(inertia), np.full(it, n))
        C, H = update_centres(C, H, sums, counts, members, data.dims)
        labels = new
    new, inertia = _pass(_inertia_chunk, data, blocks, None, C, H)
    return LloydResult(C, H, new, max_iter, C.shape[0] == 1, float(inertia), np.full(max_iter, n))  # as _lloyd._result


# -- lazy per-chunk methods -------------------------------------------------------------------------
def light_copy(estimator):
    """A copy of a fitted estimator to ship to the tasks: without its (dask) labels and its callback."""
    est = copy.copy(estimator)
    est.__dict__.pop("labels_", None)
    est.callback = None
    return est


def _call_chunk(est, method, offset, xs, a, kwargs):
    """``est.method(chunk)``; the data is validated by the method itself (its errors ``_in_rows``)."""
    try:
        return getattr(est, method)(list(xs), a, **kwargs)
    except ValueError as exc:
        raise _in_rows(exc, offset, xs) from None


def map_rows(estimator, method, data, specs, flatten=None, per_row=None, **kwargs):
    """Apply ``estimator.method(Xs_chunk, mask_chunk, **kwargs)`` to every chunk, lazily.

    ``specs`` lists, for each output, (trailing shape, dtype); ``flatten`` turns the method's result into
    the tuple of those outputs (default: the result is the one output). ``per_row`` maps keyword names
    to arrays (numpy or dask) of one entry per sample: each chunk gets its rows' entries under that
    name. Returns one dask array (n, *shape) per spec.
    """
    est = dask.delayed(light_copy(estimator), pure=False)
    extra = {}
    for name, arr in (per_row or {}).items():
        arr = arr if isinstance(arr, da.Array) else np.asarray(arr)
        if arr.ndim != 1 or arr.shape[0] != data.n:
            raise ValueError(f"{name} has shape {tuple(arr.shape)}; expected one entry per sample ({data.n}).")
        arr = arr.rechunk((data.rows,)) if isinstance(arr, da.Array) else da.from_array(arr, chunks=(data.rows,))
        extra[name] = arr.to_delayed().ravel()
    parts = [dask.delayed(_call_chunk, pure=False)(est, method, off, xs, a, {**kwargs, **{k: v[i] for k, v in extra.items()}})
             for i, (off, xs, a) in enumerate(data.chunks())]
    parts = [dask.delayed(flatten or _one, pure=False)(p) for p in parts]
    return [_concat([dask.delayed(operator.getitem)(p, j) for p in parts], data.rows, tail, dt)
            for j, (tail, dt) in enumerate(specs)]


def _one(result):
    return (result,)


def map_reduce(estimator, method, data, extra, n_rows_out=None):
    """``estimator.method(Xs_chunk, mask_chunk, extra_chunk)`` on every validated chunk, returning
    (per-row array (n_rows_out tail, dtype) or None, summable tuple); gives (dask array or None, sums)."""
    est = dask.delayed(light_copy(estimator), pure=False)
    ex = extra.to_delayed().ravel()
    parts = [dask.delayed(_call_chunk, pure=False)(est, method, off, xs, a, {"labels": e})
             for (off, xs, a), e in zip(data.chunks(), ex)]
    root = tree_sum([dask.delayed(operator.getitem)(p, 1) for p in parts])
    if n_rows_out is None:
        return None, dask.compute(root)[0]
    tail, dt = n_rows_out
    rows = _concat([dask.delayed(operator.getitem)(p, 0) for p in parts], data.rows, tail, dt)
    rows, total = dask.compute(rows, root)
    return rows, total


# -- running on a scheduler by address (the app's and the experiment's "scheduler" setting) -------------
_CLIENTS = {}
_CLIENTS_LOCK = threading.Lock()
CONNECT_TIMEOUT = "10s"
# Beyond the connect timeout, the most a connection may take in all (distributed bounds the TCP connect by
# the timeout but waits for the peer's handshake without limit), and the most a failed one may take to close.
CONNECT_GRACE = 2.0
CLOSE_TIMEOUT = 2.0


@functools.cache
def _bounded_client():
    """``distributed.Client`` whose start, in the client's event loop, ends within ``_ul4m4_limit`` seconds
    whatever the peer does (silent, or not speaking Dask's protocol), and which, when its start fails in any
    way, closes itself and stops its event loop thread before the constructor raises: no half-made client
    is left to be closed (and time out) when garbage-collected."""
    import asyncio

    from distributed import Client

    class BoundedClient(Client):
        _ul4m4_limit = None

        def __init__(self, *args, limit, **kwargs):
            self._ul4m4_limit = limit
            try:
                super().__init__(*args, **kwargs)
            except BaseException:
                runner = getattr(self, "_loop_runner", None)  # None: it failed before making its loop
                if runner is not None:
                    with contextlib.suppress(Exception):
                        runner.stop(timeout=CLOSE_TIMEOUT)
                raise

        async def _start(self, *args, **kwargs):
            try:
                return await asyncio.wait_for(super()._start(*args, **kwargs), self._ul4m4_limit)
            except BaseException as exc:
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(self._close(fast=True), CLOSE_TIMEOUT)
                self.status = "closed"  # so that neither close() nor __del__ waits on it again
                if isinstance(exc, asyncio.TimeoutError):  # not the builtin TimeoutError before Python 3.11
                    raise TimeoutError(f"no answer within {self._ul4m4_limit:g} s") from None
                raise

    return BoundedClient


def _address_error(address):
    """Why ``address`` cannot be a scheduler's address (scheme, host, port), or None; nothing is contacted."""
    from distributed.comm import parse_address, parse_host_port
    from distributed.comm.registry import get_backend

    try:
        scheme, loc = parse_address(address)
        get_backend(scheme)
        if scheme in ("tcp", "tls", "ws", "wss"):
            host, _ = parse_host_port(loc)
            if not host:
                raise ValueError(f"no host in address {address!r}")
    except (ValueError, TypeError) as exc:
        return " ".join(str(exc).split())[:200] or type(exc).__name__
    return None


def _why_not(exc, seconds):
    """The reason a connection failed with ``exc``, for the one-line error."""
    cause = exc
    for _ in range(10):  # the chain of causes (distributed keeps the last attempt's error as the cause)
        if cause is None:
            break
        if isinstance(cause, socket.gaierror):
            return f"its host name could not be resolved ({str(cause)[:100]})"
        cause = cause.__cause__ or cause.__context__
    from distributed.comm import CommClosedError

    if isinstance(exc, CommClosedError):  # accepted, then closed at once
        return "what answered there closed the connection before a Dask scheduler's handshake"
    if isinstance(exc, (OSError, TimeoutError)):  # refused, unreachable, silent: retried until the timeout
        return f"no Dask scheduler answered there within {seconds:g} s"
    detail = "" if isinstance(exc, MemoryError) else " ".join(str(exc).split())[:120]  # a length read from garbage
    return f"what answered there is not a Dask scheduler ({type(exc).__name__}{': ' if detail else ''}{detail})"


def connect(address, timeout=None):
    """A ``distributed.Client`` of the scheduler at ``address`` (``tcp://host:8786``, or ``inproc://...`` of a
    cluster in this process), made once per process and address and kept. It is not made the process's
    default scheduler: work runs on it inside ``on_scheduler``. ``timeout`` defaults to ``CONNECT_TIMEOUT``.

    Connecting takes at most the timeout plus ``CONNECT_GRACE`` in all, whatever answers (or not) at the
    address; a connection that fails leaves no client or thread behind.

    Raises
    ------
    ValueError
        The ``scale`` extra is not installed, or the scheduler cannot be reached (the message says which:
        a malformed address, a host name that does not resolve, nothing answering within the timeout, or
        something that is not a Dask scheduler answering).
    """
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"scheduler={address!r} should be the address of a Dask scheduler, e.g. 'tcp://host:8786'.")
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ValueError("running on a Dask scheduler needs the 'scale' extra (pip install 'ul4m4[scale]').") from None
    from dask.utils import parse_timedelta

    seconds = float(parse_timedelta(timeout or CONNECT_TIMEOUT, default="s"))
    head = f"could not reach the Dask scheduler at {address!r}"
    bad = _address_error(address)
    if bad is not None:
        raise ValueError(f"{head}: it is not the address of a scheduler ({bad}); expected e.g. 'tcp://host:8786'.")
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(address)
        if client is not None and client.status == "running":
            return client
        try:
            client = _bounded_client()(address, timeout=seconds, set_as_default=False, limit=seconds + CONNECT_GRACE)
        except Exception as exc:  # whatever the peer sent (garbage reads as MemoryError, KeyError, ...)
            raise ValueError(f"{head}: {_why_not(exc, seconds)}; check the address and that `dask scheduler` runs "
                             "there, or run in this process.") from None
        _CLIENTS[address] = client
        return client


@contextlib.contextmanager
def on_scheduler(address):
    """Run the dask computations of the block on the scheduler at ``address`` (see ``connect``)."""
    client = connect(address)
    with dask.config.set(scheduler=client):
        yield client


def from_arrays(Xs, mask, chunk_rows=None):
    """In-memory modalities and mask as dask arrays cut into the same row chunks (about 64 MB of every
    modality together per chunk, ``stores.default_chunk_rows``, unless ``chunk_rows`` is given)."""
    from .stores import default_chunk_rows

    n = int(mask.shape[0])
    rows = int(chunk_rows or default_chunk_rows([X.shape[1] for X in Xs], max(X.dtype.itemsize for X in Xs)))
    rows = max(1, min(rows, n))
    return [da.from_array(X, chunks=(rows, X.shape[1])) for X in Xs], da.from_array(mask, chunks=(rows, mask.shape[1]))
