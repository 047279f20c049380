"""Memory estimates of a run before it starts, and a refusal that says what to change when it won't fit."""

from __future__ import annotations

import os

__all__ = ["estimate_run_bytes", "available_bytes", "check_memory"]


def estimate_run_bytes(n_samples, dims, n_train, n_clusters, methods):
    """Upper estimate of the peak memory of ``experiment.run_methods`` (bytes).

    Counts the float64 copies a run keeps (the masked input, the training slice, one completed copy per
    method), each method's working set (UL4M4: its standardised float32 cache, (k, k) blocks and the Lloyd
    bounds, k float32 and three float64 per training sample plus two gather buffers; kNN: its
    standardised training and query copies and distance blocks; iterative: scikit-learn's copies), and
    the error measurement (a standardised copy of the truth).
    """
    D = int(sum(dims))
    f8 = 8
    total = n_samples * D * f8 + n_train * D * f8  # masked input + training slice
    total += len(methods) * n_samples * D * f8  # completed data kept per method
    total += 2 * n_samples * max(dims) * f8  # error measurement on one modality at a time
    work = 0
    for m in methods:
        if m in ("ul4m4", "ul4m4_soft"):
            if m == "ul4m4_soft":  # the largest k its search may fit
                n_clusters = max(n_clusters, min(512, max(1, n_train // 4)))
            bounds = n_train * (4 * n_clusters + 3 * f8 + 1) + 2 * 2**22 * f8
            work = max(work, n_train * D * 4 + 4 * 2**22 * f8 + n_samples * D * f8 + bounds)
        elif m == "knn":
            work = max(work, (n_train + n_samples) * D * f8 + 4 * 1024 * n_train * f8)
        elif m == "softimpute":  # dense filled matrix, low-rank estimate, SVD factors, fold-in copy
            work = max(work, 5 * n_train * D * f8 + n_samples * D * f8)
        elif m == "iterative":
            work = max(work, 4 * n_samples * D * f8)
    return int(total + work)


def available_bytes():
    """Memory a run may use: the machine's available memory (MemAvailable on Linux), capped by the
    environment variable UL4M4_MEMORY_LIMIT_MB when it is set (for shared servers); None if unknown."""
    cap = os.environ.get("UL4M4_MEMORY_LIMIT_MB")
    machine = _machine_available()
    if cap:
        try:
            cap_bytes = int(float(cap) * 2**20)
        except ValueError:
            raise ValueError(f"UL4M4_MEMORY_LIMIT_MB={cap!r} should be a number of megabytes.") from None
        return cap_bytes if machine is None else min(cap_bytes, machine)
    return machine


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


def check_memory(needed, available=None, fraction=0.8, what="This run"):
    """Raise ``ValueError`` explaining what to change if ``needed`` exceeds ``fraction`` of available memory."""
    available = available_bytes() if available is None else available
    if available is None:
        return
    if needed > fraction * available:
        raise ValueError(
            f"{what} needs about {needed / 2**30:.1f} GB of memory but only {available / 2**30:.1f} GB are "
            "available; use fewer methods (kNN and iterative imputation take the most), a smaller dataset, or "
            "run it from the command line on a larger machine."
        )
