"""Datasets, all offline: bundled UCI Multiple Features (mfeat), breast cancer, a synthetic generator,
and the user's own ``.npz`` / ``.csv`` / ``.parquet`` files (never unpickled).
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import numpy as np

from .files import (MAX_LABEL_CHARS, MAX_MODALITIES, SUFFIXES, check_regular_file, label_dtype_problem, mb,
                    read_parts, read_regular_file)
from .memory import check_memory, estimate_synthetic_bytes
from .validation import ROW_NUMBER, check_random_state, check_Xs, counted, dtype_name, name_modalities

__all__ = ["Dataset", "load_dataset", "make_synthetic", "digits_quadrants", "BUNDLED", "DEFAULT_MAX_BYTES"]

BUNDLED = {
    "mfeat": "UCI Multiple Features: 2,000 handwritten digits (10 classes), six feature views.",
    "breast_cancer": "Wisconsin breast cancer (scikit-learn): 569 samples; modalities: the mean, standard error and "
                     "worst value of 10 cell-nucleus features.",
    "synthetic": "Generated latent clusters with known ground truth (seeded).",
}
# Largest file, and largest size its data may take once loaded; bigger files are refused before anything
# is decompressed or parsed.
DEFAULT_MAX_BYTES = 1 << 30


@dataclass
class Dataset:
    """Multimodal data with optional labels.

    Attributes
    ----------
    name : str
    Xs : list of ndarray of shape (n_samples, n_features_m)
    mask : ndarray of bool of shape (n_samples, n_modalities), True = observed
    y : ndarray of shape (n_samples,) or (n_samples, n_labels), or None
    modality_names : list of str
    target_names : list of str or None
    description : str
    """

    name: str
    Xs: list
    mask: np.ndarray
    y: np.ndarray | None
    modality_names: list
    target_names: list | None = None
    description: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def n_samples(self):
        return int(self.mask.shape[0])

    @property
    def n_modalities(self):
        return len(self.Xs)

    @property
    def dims(self):
        return [int(X.shape[1]) for X in self.Xs]

    @property
    def is_multilabel(self):
        return self.y is not None and self.y.ndim == 2


def _finish(name, Xs, mask, y, names, target_names=None, description="", meta=None, max_label_bytes=None,
            name_row=None, working_dtype="float32"):
    """Validate the parts of a dataset, naming modalities in error messages, and samples as ``name_row(i)``
    says (a file's line, say) when given; values are held to ``working_dtype``'s limit (``check_Xs``)."""
    try:
        Xs, mask = check_Xs(Xs, mask, working_dtype=working_dtype)
    except (ValueError, TypeError) as exc:
        msg = name_modalities(str(exc), names)
        if name_row is not None:
            msg = ROW_NUMBER.sub(lambda hit: name_row(int(hit.group(1))), msg)
        raise ValueError(msg) from None
    if len(set(names)) != len(names):
        raise ValueError(f"Modality names must be unique; got {names}.")
    if y is not None:
        y = _check_labels(y, mask.shape[0], max_label_bytes)
    return Dataset(name, Xs, mask, y, list(names), target_names, description, dict(meta or {}))


def _check_labels(y, n, max_bytes=None):
    """Labels as classes: integers (bool and integral floats become int64) or text; 2-D means multilabel 0/1.

    Text arrives from tables as Python strings; its size as a numpy text array (n x longest label x 4
    bytes) is checked against ``max_bytes`` before it is built.
    """
    y = np.asarray(y)
    if y.ndim not in (1, 2) or y.shape[0] != n or (y.ndim == 2 and y.shape[1] == 0):
        raise ValueError(
            f"y has shape {y.shape}; expected ({n},) for one label per sample or ({n}, n_labels) with at least one "
            "label for multilabel 0/1 indicators."
        )
    if y.dtype == object:
        flat = y.ravel()
        if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in flat):
            raise ValueError("y has empty cells; every sample needs a label (or drop the labels).")
        longest = max((len(str(v)) for v in flat), default=0)
        if longest > MAX_LABEL_CHARS:
            raise ValueError(f"y holds a label of {longest:,} characters; a label may have at most {MAX_LABEL_CHARS}.")
        need = flat.size * max(longest, 1) * 4
        if max_bytes is not None and need > max_bytes:
            raise ValueError(f"the labels would take {mb(need)} once loaded as text; the limit is {mb(max_bytes)}.")
        y = y.astype(f"<U{max(longest, 1)}")
    problem = label_dtype_problem(y.dtype)
    if problem:
        raise ValueError(f"y has dtype {y.dtype}: {problem}.")
    if y.dtype.kind == "U" and y.dtype.itemsize // 4 > MAX_LABEL_CHARS:
        raise ValueError(f"y holds labels of up to {y.dtype.itemsize // 4:,} characters; a label may have at most "
                         f"{MAX_LABEL_CHARS}.")
    if y.dtype.kind == "b":
        y = y.astype(np.int64)
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            raise ValueError(f"y has {counted((~np.isfinite(y)).sum(), 'NaN or infinite value')}; every sample needs "
                             "a label.")
        fractional = y != np.round(y)
        if fractional.any():
            raise ValueError(f"y holds non-integer numbers (e.g. {y[fractional].flat[0]:g}); labels are classes: give "
                             "integers or text.")
        if np.abs(y.astype(np.float64)).max() > 2**53:
            raise ValueError(f"y holds numbers as large as {np.abs(y.astype(np.float64)).max():g}; class numbers must "
                             "stay below 2**53.")
        y = y.astype(np.int64)
    if y.ndim == 2 and not np.isin(y, (0, 1)).all():
        raise ValueError("A 2-D y must hold multilabel 0/1 indicators.")
    return y


# ---------------------------------------------------------------------------------------------
# Bundled data
# ---------------------------------------------------------------------------------------------
MFEAT_VIEWS = ["fourier", "profile", "karhunen_loeve", "pixel", "zernike", "morphological"]


def load_mfeat():
    """UCI Multiple Features (see ul4m4/data/DATA_CARD.md): 2,000 x [76, 216, 64, 240, 47, 6], 10 classes."""
    # Read through importlib.resources, so it works from an installed package as from the repository.
    with (files("ul4m4") / "data" / "mfeat.npz").open("rb") as fh, np.load(fh, allow_pickle=False) as f:
        Xs = [f[v] for v in MFEAT_VIEWS]
        y = f["y"]
    return _finish(
        "mfeat",
        Xs,
        None,
        y,
        MFEAT_VIEWS,
        [str(d) for d in range(10)],
        BUNDLED["mfeat"],
    )


def load_breast_cancer_views():
    """scikit-learn's breast cancer data as three modalities: mean, error and worst features (10 each)."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    X = data.data
    return _finish(
        "breast_cancer",
        [X[:, 0:10], X[:, 10:20], X[:, 20:30]],
        None,
        data.target,
        # Not "mean", "error", "worst": a modality called "mean" read like the Mean imputer beside it.
        ["mean values", "standard errors", "worst values"],
        [str(t) for t in data.target_names],
        BUNDLED["breast_cancer"],
    )


def make_synthetic(
    n_samples=600,
    n_modalities=3,
    dims=16,
    n_clusters=4,
    correlation=0.8,
    noise=0.5,
    separation=2.5,
    multilabel=False,
    n_labels=5,
    latent_dim=8,
    random_state=0,
):
    """Multimodal data generated from latent clusters, with known ground truth.

    Each sample belongs to one of ``n_clusters`` latent clusters. Its shared latent vector u (cluster
    mean plus unit noise) is mixed with a modality-private latent w^m (modality-specific cluster mean
    plus unit noise): v^m = correlation * u + sqrt(1 - correlation^2) * w^m, projected to d_m features
    by a fixed random matrix, plus Gaussian noise of std ``noise``.

    Parameters
    ----------
    n_samples : int, default=600
    n_modalities : int, default=3
    dims : int or sequence of int, default=16
    n_clusters : int, default=4
    correlation : float in [0, 1], default=0.8
        How much the modalities share (1: every modality sees the same latent).
    noise : float >= 0, default=0.5
    separation : float > 0, default=2.5
        Spread of the cluster means in latent space.
    multilabel : bool, default=False
        False: y is the cluster index. True: y is (n_samples, n_labels) 0/1, each cluster having its
        own label profile with 5 % of labels flipped.
    n_labels : int, default=5
    latent_dim : int, default=8
    random_state : int, default=0

    Returns
    -------
    Dataset
        ``meta["clusters"]`` holds the true latent cluster of each sample.
    """
    def _int(name, v, lo):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo:
            raise ValueError(f"{name}={v!r} should be an integer >= {lo}.")
        return int(v)

    n = _int("n_samples", n_samples, 2)
    M = _int("n_modalities", n_modalities, 1)
    if M > MAX_MODALITIES:  # the limit every loaded data set has, so that the pages stay usable
        raise ValueError(f"n_modalities={M} is more than the {MAX_MODALITIES} modalities a data set may have.")
    k = _int("n_clusters", n_clusters, 1)
    L = _int("latent_dim", latent_dim, 1)
    nl = _int("n_labels", n_labels, 1) if multilabel else 0
    if isinstance(dims, numbers.Integral):
        d = _int("dims", dims, 1)
        check_memory(estimate_synthetic_bytes(n, d * M, d, L, k, nl), what="Generating this synthetic data",
                     hint="choose fewer samples, modalities or features")
        dims = [d] * M
    else:
        dims = list(dims)
        if len(dims) != M:
            raise ValueError(f"dims has {len(dims)} entries; expected n_modalities={M}.")
        dims = [_int("dims[%d]" % m, d, 1) for m, d in enumerate(dims)]
        check_memory(estimate_synthetic_bytes(n, sum(dims), max(dims), L, k, nl), what="Generating this synthetic data",
                     hint="choose fewer samples, modalities or features")
    for name, v, lo, hi in (("correlation", correlation, 0, 1), ("noise", noise, 0, math.inf), ("separation", separation, 0, math.inf)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not (lo <= v <= hi) or not math.isfinite(v):
            finite = " (finite)" if hi == math.inf else ""
            raise ValueError(f"{name}={v!r} should be a number in [{lo}, {hi}]{finite}.")
    rng = check_random_state(random_state)
    clusters = rng.integers(k, size=n)
    mu = rng.normal(scale=separation, size=(k, L))
    u = mu[clusters] + rng.normal(size=(n, L))
    Xs = []
    for d in dims:
        nu = rng.normal(scale=separation, size=(k, L))
        w = nu[clusters] + rng.normal(size=(n, L))
        v = correlation * u + math.sqrt(1 - correlation**2) * w
        W = rng.normal(size=(L, d)) / math.sqrt(L)
        Xs.append(v @ W + noise * rng.normal(size=(n, d)))
    if multilabel:
        profiles = rng.random((k, nl)) < 0.35
        profiles[np.arange(k), rng.integers(nl, size=k)] = True
        y = (profiles[clusters] ^ (rng.random((n, nl)) < 0.05)).astype(np.int64)
        target_names = [f"label_{j}" for j in range(nl)]
    else:
        y = clusters.copy()
        target_names = [f"cluster_{j}" for j in range(k)]
    return _finish(
        "synthetic",
        Xs,
        None,
        y,
        [f"m{m}" for m in range(M)],
        target_names,
        BUNDLED["synthetic"],
        {"clusters": clusters},
    )


def load_dataset(source="mfeat", *, max_bytes=DEFAULT_MAX_BYTES, max_samples=None, working_dtype="float64",
                 **kwargs):
    """Load a bundled dataset, generate the synthetic one, or read a file.

    Parameters
    ----------
    source : str, path or file-like, default="mfeat"
        "mfeat", "breast_cancer", "synthetic" (keyword arguments go to ``make_synthetic``), or a
        ``.npz`` / ``.csv`` / ``.parquet`` file (path or open binary file with a ``name``):

        - ``.npz``: every array is a modality (2-D; bool, integer or float16/32/64) except optional ``y``
          and ``mask``; loaded with ``allow_pickle=False``.
        - ``.csv`` / ``.parquet``: columns ``<modality>__<feature>``, optional ``y`` (one label) or
          ``y__<label>`` columns (multilabel 0/1). A modality whose cells are all empty in a row is
          missing for that sample.

        Only regular files are read (not devices, FIFOs or sockets, also behind symbolic links).
    max_bytes : int, default=1 GiB
        Largest file, and largest size its data may take once loaded (rows x columns x 8 bytes for
        float64; float32 arrays stay float32), checked before anything is decompressed or parsed.
        Loading needs at most about the file plus twice this.
    max_samples : int or None, default=None
        Largest number of samples (rows) accepted from a file.
    working_dtype : {"float32", "float64"}, default="float64"
        A file's observed values are held to this dtype's limit (``check_Xs``: 2.0e149 for float64, 2.8e14
        for float32). Each estimator checks its own dtype's limit again; the app, whose runs compute in
        float32, asks for float32 so that a file it could not run is refused as it is uploaded.

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        Malformed content, a file that is not a regular file, or a limit exceeded, with what is wrong and
        what is expected.
    FileNotFoundError
        A path that does not exist.
    """
    working_dtype = dtype_name(working_dtype)  # "float32" or "float64", else a ValueError naming the value
    for name, v, none_ok in (("max_bytes", max_bytes, False), ("max_samples", max_samples, True)):
        if not (v is None and none_ok) and (isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1):
            raise ValueError(f"{name}={v!r} should be an integer >= 1{' or None' if none_ok else ''}.")
    if isinstance(source, str) and source in BUNDLED:
        if source == "synthetic":
            return make_synthetic(**kwargs)
        if kwargs:
            raise TypeError(f"load_dataset({source!r}) takes no options; got {sorted(kwargs)}.")
        return load_mfeat() if source == "mfeat" else load_breast_cancer_views()
    if kwargs:
        raise TypeError(f"options {sorted(kwargs)} only apply to 'synthetic'.")
    if isinstance(source, str) and not any(source.lower().endswith(s) for s in SUFFIXES) \
            and os.sep not in source and not os.path.exists(source):
        raise ValueError(
            f"'{source}' is neither a bundled dataset ({', '.join(BUNDLED)}) nor a .npz/.csv/.parquet path."
        )
    if isinstance(source, (str, os.PathLike)):
        fname = os.path.basename(os.fspath(source))
    elif hasattr(source, "read"):
        fname = os.path.basename(str(getattr(source, "name", "") or ""))
    else:
        raise TypeError(f"Expected a dataset name, a file path or an open file; got {type(source).__name__}.")
    suffix = Path(fname).suffix.lower()
    if isinstance(source, (str, os.PathLike)):  # what the path is comes first: a device, a FIFO...
        check_regular_file(source, "a .npz, .csv or .parquet file")
    if suffix not in SUFFIXES:  # refused before a byte is read
        raise ValueError(
            f"'{fname}' has an unsupported extension '{suffix}'; expected .npz, .csv or .parquet "
            "(pickles such as .npy with objects or .pkl are never read)."
        )
    data = _read_bytes(source, fname, max_bytes)
    if len(data) == 0:
        raise ValueError(f"'{fname}' is empty (0 bytes).")
    parts = read_parts(data, fname, SUFFIXES[suffix], max_bytes, max_samples)
    del data
    # What the modalities take once validated; the labels may use the rest of the budget.
    used = sum(int(np.prod(X.shape)) * (4 if X.dtype == np.float32 else 8) for X in parts.Xs)
    return _finish(fname, parts.Xs, parts.mask, parts.y, parts.names, description=parts.description,
                   max_label_bytes=max(max_bytes - used, 0), name_row=parts.name_row, working_dtype=working_dtype)


def _read_bytes(source, fname, max_bytes):
    """Bytes of a path (a regular file) or of a file-like object, refusing what is too big to read."""
    if isinstance(source, (str, os.PathLike)):
        return read_regular_file(source, max_bytes, "a .npz, .csv or .parquet file")
    data = source.read(max_bytes + 1)
    if isinstance(data, str):
        data = data.encode()
    if len(data) > max_bytes:
        raise ValueError(f"'{fname}' is larger than the limit of {max_bytes / 2**20:.0f} MB.")
    return bytes(data)


def digits_quadrants():
    """scikit-learn's 8x8 digits (1,797 samples, 10 classes) cut into four 16-pixel quadrant views: a small
    real multi-view data set that the project does not bundle (it ships inside scikit-learn), used by the
    benchmarks and tests as the "not our own data" case."""
    from sklearn.datasets import load_digits

    d = load_digits()
    img = d.data.reshape(-1, 8, 8)
    Xs = [img[:, r:r + 4, c:c + 4].reshape(-1, 16) for r in (0, 4) for c in (0, 4)]
    return Dataset("digits_quadrants", Xs, np.ones((len(d.target), 4), dtype=bool), d.target,
                   ["top_left", "top_right", "bottom_left", "bottom_right"], [str(i) for i in range(10)])
