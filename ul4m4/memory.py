"""Memory estimates of work before it starts (runs, sweeps, synthetic data), a refusal that says what to
change when it won't fit, and a memory limit that a caller (the app: one per session) can set for its own
thread of work.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import os
import sys
import types

import numpy as np

__all__ = [
    "estimate_run_bytes",
    "estimate_sweep_bytes",
    "estimate_synthetic_bytes",
    "available_bytes",
    "check_memory",
    "memory_limit",
    "set_memory_limit",
    "deep_nbytes",
    "PROBE_BATCH_BYTES",
]

# Completed data (float64, every sample) a sweep holds for one batch of linear probes; a batch is fitted
# as soon as it would hold more (``sweep.iter_sweep``).
PROBE_BATCH_BYTES = 64 << 20

# A limit set by the caller for its own context (a thread): the app sets its session's budget here, so
# every check of the library made while serving that session (runs, generation, sweeps) respects it.
_LIMIT = contextvars.ContextVar("ul4m4_memory_limit", default=None)


def estimate_run_bytes(n_samples, dims, n_train, n_clusters, methods):
    """Upper estimate of the peak memory of ``experiment.run_methods`` (bytes).

    Counts the float64 copies a run keeps (the masked input, the training slice, one completed copy per
    method), each method's working set (UL4M4: its standardised float32 cache, (k, k) blocks and the Lloyd
    bounds, k float32 and three float64 per training sample plus two gather buffers; kNN: its
    standardised training and query copies, the training side of its distance product and distance
    blocks; iterative: scikit-learn's copies), and
    the error measurement (a standardised copy of the truth).
    """
    D = int(sum(dims))
    f8 = 8
    total = n_samples * D * f8 + n_train * D * f8  # masked input + training slice
    total += len(methods) * n_samples * D * f8  # completed data kept per method
    total += 2 * n_samples * max(dims) * f8  # error measurement on one modality at a time
    work = 0
    for m in methods:
        if m == "ul4m4_lowrank":  # its soft model (as ul4m4_soft), then SoftImpute on residual copies
            work = max(work, estimate_run_bytes(n_samples, dims, n_train, n_clusters, ("ul4m4_soft",)) - total,
                       5 * n_train * D * f8 + 4 * n_samples * D * f8)
        elif m in ("ul4m4", "ul4m4_soft"):
            if m == "ul4m4_soft":  # the largest k its search may fit
                n_clusters = max(n_clusters, min(512, max(1, n_train // 4)))
            bounds = n_train * (4 * n_clusters + 3 * f8 + 1) + 2 * 2**22 * f8
            work = max(work, n_train * D * 4 + 4 * 2**22 * f8 + n_samples * D * f8 + bounds)
        elif m == "knn":
            # standardised training and query copies, the training side of the distance product (a NaN-free
            # copy with 2M more columns), a block of queries with theirs, and the distance blocks
            work = max(work, (2 * n_train + n_samples) * D * f8 + 1024 * D * f8 + 4 * 1024 * n_train * f8)
        elif m == "softimpute":  # dense filled matrix, low-rank estimate, SVD factors, fold-in copy
            work = max(work, 5 * n_train * D * f8 + n_samples * D * f8)
        elif m == "iterative":
            work = max(work, 4 * n_samples * D * f8)
    return int(total + work)


def estimate_sweep_bytes(n_samples, dims, n_train, ks, methods, n_classes, classifier="linear", n_rates=None):
    """Upper estimate of the peak memory of one degradation sweep (``sweep.iter_sweep``), in bytes.

    A sweep runs one imputer at a time, so its peak is the largest single-method run (``estimate_run_bytes``
    at the largest k) plus the classifiers. The linear probes are fitted in batches: the completed data of
    the units in a batch (at most ``PROBE_BATCH_BYTES`` and one unit more), each unit's standardised
    features (about three copies while they are made), its scores and the L-BFGS state of its coefficients
    (n_classes x D, about 30 copies). A batch may span the rates of a seed: ``n_rates`` (None: not known)
    bounds it by one seed's units. The fusion model holds per-modality embeddings (n x 64 x M, a few
    copies).
    """
    D = int(sum(dims))
    imputers = [m for m in methods if m != "complete"] or ["mean"]
    k = max(ks) if ks else 1
    run = max(estimate_run_bytes(n_samples, dims, n_train, k, (m,)) for m in imputers)
    if classifier == "fusion":
        clf = 4 * n_samples * 64 * len(dims) * 4 + 2 * D * 64 * 4
    else:
        unit = n_samples * D * 8
        batch = PROBE_BATCH_BYTES // max(unit, 1) + 1
        if n_rates is not None:  # a batch holds at most one seed's units (it may span the seed's rates)
            batch = max(1, min(batch, int(n_rates) * (len(methods) + len(ks or ()))))
        K = max(n_classes, 2)
        clf = batch * (4 * unit + 30 * K * (D + 1) * 8 + 3 * n_samples * K * 8)
    return int(run + clf)


def estimate_synthetic_bytes(n_samples, total_features, max_features, latent_dim, n_clusters, n_labels=0):
    """Upper estimate of the peak memory of ``datasets.make_synthetic`` (bytes): the modalities (float64),
    the latent vectors and the per-modality temporaries (noise, projection), and the labels."""
    n, f8 = n_samples, 8
    latent = 4 * n * latent_dim * f8 + 2 * n_clusters * latent_dim * f8
    temporaries = 2 * n * max_features * f8 + latent_dim * max_features * f8
    labels = n * f8 + 2 * n * n_labels * f8
    return int(n * total_features * f8 + latent + temporaries + labels)


def available_bytes():
    """Memory work may use: the machine's available memory (MemAvailable on Linux), capped by the
    environment variable UL4M4_MEMORY_LIMIT_MB when it is set (for shared servers) and by the limit set
    for the current context (``memory_limit``); None if nothing is known."""
    limits = [_machine_available(), _LIMIT.get()]
    cap = os.environ.get("UL4M4_MEMORY_LIMIT_MB")
    if cap:
        try:
            limits.append(int(float(cap) * 2**20))
        except (ValueError, OverflowError):
            raise ValueError(f"UL4M4_MEMORY_LIMIT_MB={cap!r} should be a number of megabytes.") from None
    known = [v for v in limits if v is not None]
    return min(known) if known else None


def set_memory_limit(nbytes):
    """Cap ``available_bytes`` at ``nbytes`` (None removes the cap) for the current context: the current
    thread, or the current asyncio task. Returns a token for ``contextvars.ContextVar.reset``."""
    return _LIMIT.set(None if nbytes is None else max(int(nbytes), 0))


@contextlib.contextmanager
def memory_limit(nbytes):
    """``with memory_limit(2**30): ...`` caps ``available_bytes`` at ``nbytes`` inside the block."""
    token = set_memory_limit(nbytes)
    try:
        yield
    finally:
        _LIMIT.reset(token)


def _machine_available():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


DEFAULT_HINT = ("use fewer methods (kNN and iterative imputation take the most), a smaller dataset, or run it from "
                "the command line on a larger machine")


def check_memory(needed, available=None, fraction=0.8, what="This run", hint=DEFAULT_HINT):
    """Raise ``ValueError`` saying what to change (``hint``) if ``needed`` bytes exceed ``fraction`` of the
    available memory (``available_bytes()`` unless given)."""
    available = available_bytes() if available is None else available
    if available is None:
        return
    if needed > fraction * available:
        raise ValueError(
            f"{what} needs about {_size(needed)} of memory but only {_size(available)} are available; {hint}."
        )


def _size(nbytes):
    return f"{nbytes / 2**30:,.1f} GB" if nbytes >= 2**30 else f"{nbytes / 2**20:,.0f} MB"


def deep_nbytes(obj, _seen=None, _depth=0):
    """Approximate bytes held by ``obj``: numpy arrays, torch tensors and pandas objects counted by their
    buffers, walking lists, tuples, dicts, dataclasses and object attributes (each object counted once)."""
    seen = set() if _seen is None else _seen
    if id(obj) in seen or _depth > 12:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        base = obj
        while isinstance(base.base, np.ndarray):
            base = base.base
        if base is not obj and id(base) in seen:
            return 0
        seen.add(id(base))
        return int(base.nbytes) if obj.dtype != object else int(base.nbytes) + sum(
            deep_nbytes(v, seen, _depth + 1) for v in obj.ravel()[:10_000])
    if type(obj).__module__.startswith("torch") and hasattr(obj, "element_size") and hasattr(obj, "nelement"):
        return int(obj.element_size() * obj.nelement())
    if type(obj).__module__.startswith("pandas") and hasattr(obj, "memory_usage"):
        try:
            usage = obj.memory_usage(deep=True)
            return int(usage.sum() if hasattr(usage, "sum") else usage)
        except Exception:  # an exotic pandas object: count it as small
            return sys.getsizeof(obj)
    if isinstance(obj, (str, bytes, bytearray, int, float, complex, bool)) or obj is None:
        return sys.getsizeof(obj)
    if isinstance(obj, dict):
        return sys.getsizeof(obj) + sum(deep_nbytes(k, seen, _depth + 1) + deep_nbytes(v, seen, _depth + 1)
                                        for k, v in obj.items())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return sys.getsizeof(obj) + sum(deep_nbytes(v, seen, _depth + 1) for v in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return sum(deep_nbytes(getattr(obj, f.name, None), seen, _depth + 1) for f in dataclasses.fields(obj))
    if hasattr(obj, "__dict__") and not isinstance(obj, (type, types.FunctionType, types.MethodType, types.ModuleType)):
        return sys.getsizeof(obj) + deep_nbytes(vars(obj), seen, _depth + 1)
    return sys.getsizeof(obj)
