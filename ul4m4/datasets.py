"""Datasets, all offline: bundled UCI Multiple Features (mfeat), breast cancer, a synthetic generator,
and the user's own ``.npz`` / ``.csv`` / ``.parquet`` files (never unpickled).
"""

from __future__ import annotations

import io
import math
import numbers
import os
import zipfile
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import numpy as np

from .validation import check_random_state, check_Xs

__all__ = ["Dataset", "load_dataset", "make_synthetic", "BUNDLED", "DEFAULT_MAX_BYTES"]

BUNDLED = {
    "mfeat": "UCI Multiple Features: 2,000 handwritten digits (10 classes), six feature views.",
    "breast_cancer": "Wisconsin breast cancer (scikit-learn): 569 samples, mean / error / worst features.",
    "synthetic": "Generated latent clusters with known ground truth (seeded).",
}
# Largest array payload a file may declare; bigger files are refused before anything is decompressed.
DEFAULT_MAX_BYTES = 1 << 30
RESERVED = ("y", "mask")


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


def _finish(name, Xs, mask, y, names, target_names=None, description="", meta=None):
    """Validate the parts of a dataset, naming modalities in error messages."""
    try:
        Xs, mask = check_Xs(Xs, mask)
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        for m in range(len(names) - 1, -1, -1):
            msg = msg.replace(f"Xs[{m}]", f"modality '{names[m]}'")
        raise ValueError(msg) from None
    if len(set(names)) != len(names):
        raise ValueError(f"Modality names must be unique; got {names}.")
    if y is not None:
        y = _check_labels(y, mask.shape[0])
    return Dataset(name, Xs, mask, y, list(names), target_names, description, dict(meta or {}))


def _check_labels(y, n):
    y = np.asarray(y)
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise ValueError(
            f"y has shape {y.shape}; expected ({n},) for one label per sample or ({n}, n_labels) "
            "for multilabel 0/1 indicators."
        )
    if y.dtype == object:
        if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in y.ravel()):
            raise ValueError("y has empty cells; every sample needs a label (or drop the labels).")
        y = y.astype(str)
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            raise ValueError(f"y has {int((~np.isfinite(y)).sum())} NaN/infinite value(s); every sample needs a label.")
        if (y == np.round(y)).all():
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
        ["mean", "error", "worst"],
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
    k = _int("n_clusters", n_clusters, 1)
    L = _int("latent_dim", latent_dim, 1)
    dims = [dims] * M if isinstance(dims, numbers.Integral) else list(dims)
    if len(dims) != M:
        raise ValueError(f"dims has {len(dims)} entries; expected n_modalities={M}.")
    dims = [_int("dims[%d]" % m, d, 1) for m, d in enumerate(dims)]
    for name, v, lo, hi in (("correlation", correlation, 0, 1), ("noise", noise, 0, math.inf), ("separation", separation, 0, math.inf)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not (lo <= v <= hi):
            raise ValueError(f"{name}={v!r} should be a number in [{lo}, {hi}].")
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
        nl = _int("n_labels", n_labels, 1)
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


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------
def _read_bytes(source, max_bytes):
    """Bytes and file name of a path or a file-like object, refusing what is too big to read."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"No such file: '{path}'.")
        if path.is_dir():
            raise ValueError(f"'{path}' is a directory; expected a .npz, .csv or .parquet file.")
        size = path.stat().st_size
        if size > max_bytes:
            raise ValueError(f"'{path.name}' is {size / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB.")
        return path.read_bytes(), path.name
    if hasattr(source, "read"):
        name = getattr(source, "name", "") or ""
        data = source.read(max_bytes + 1)
        if isinstance(data, str):
            data = data.encode()
        if len(data) > max_bytes:
            raise ValueError(f"'{name}' is larger than the limit of {max_bytes / 2**20:.0f} MB.")
        return bytes(data), os.path.basename(name)
    raise TypeError(f"Expected a dataset name, a file path or an open file; got {type(source).__name__}.")


def _npz_arrays(data, max_bytes):
    """Arrays of an .npz archive, in file order, after checking every header against its stored size."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise ValueError(f"not a readable .npz archive ({exc}); expected numpy.savez output.") from None
    if not infos:
        raise ValueError("the .npz archive holds no arrays; expected one array per modality.")
    total = 0
    for info in infos:
        if not info.filename.endswith(".npy"):
            raise ValueError(f"entry '{info.filename}' is not a .npy array; an .npz must hold numpy arrays only.")
        try:
            with zf.open(info) as fp:
                version = np.lib.format.read_magic(fp)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
                else:
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
                header_len = fp.tell()
        except Exception as exc:  # corrupt zip entries raise many types
            raise ValueError(f"entry '{info.filename}' is not a valid .npy array ({exc}).") from None
        if dtype.hasobject:
            raise ValueError(
                f"array '{info.filename[:-4]}' has dtype object (pickled Python objects), which is never "
                "loaded; save numeric arrays only."
            )
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if info.file_size < header_len + nbytes:
            raise ValueError(
                f"array '{info.filename[:-4]}' declares shape {shape} ({nbytes} bytes) but holds only "
                f"{info.file_size - header_len} bytes; the file is truncated or corrupt."
            )
        total += nbytes
        if total > max_bytes:
            raise ValueError(f"the arrays need {total / 2**20:.0f} MB; the limit is {max_bytes / 2**20:.0f} MB.")
    out = {}
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as f:
            for key in f.files:
                out[key] = f[key]
    except ValueError as exc:
        raise ValueError(f"could not read the .npz archive: {exc}") from None
    except Exception as exc:
        raise ValueError(f"the .npz archive is corrupt ({type(exc).__name__}: {exc}).") from None
    return out


def _from_npz(data, name, max_bytes):
    arrays = _npz_arrays(data, max_bytes)
    names = [k for k in arrays if k not in RESERVED]
    if not names:
        raise ValueError("the .npz holds no modality arrays (only 'y'/'mask'); add one array per modality.")
    Xs = []
    for key in names:
        a = arrays[key]
        if a.dtype.kind not in "fiub":
            raise ValueError(f"array '{key}' has dtype {a.dtype}; modalities must be numeric.")
        if a.ndim != 2:
            raise ValueError(f"array '{key}' has shape {a.shape}; a modality must be 2-D (n_samples, n_features).")
        Xs.append(a)
    mask = arrays.get("mask")
    if mask is not None and mask.shape != (Xs[0].shape[0], len(Xs)):
        raise ValueError(
            f"'mask' has shape {mask.shape}; expected (n_samples, n_modalities) = ({Xs[0].shape[0]}, {len(Xs)})."
        )
    return _finish(name, Xs, mask, arrays.get("y"), names, description="Uploaded .npz file.")


def _from_table(df, name, kind):
    if df.shape[1] == 0 or df.shape[0] == 0:
        raise ValueError(f"the {kind} file has {df.shape[0]} rows and {df.shape[1]} columns; expected data rows.")
    cols = [str(c) for c in df.columns]
    if len(set(cols)) != len(cols):
        dup = sorted({c for c in cols if cols.count(c) > 1})
        raise ValueError(f"duplicated column name(s) {dup[:5]}; every column must be unique.")
    groups, y_cols = {}, []
    for c in cols:
        if c == "y" or c.startswith("y__"):
            y_cols.append(c)
            continue
        mod, sep, feat = c.partition("__")
        if not sep or not mod or not feat:
            raise ValueError(
                f"column '{c}' is not named '<modality>__<feature>' (for example 'image__0'); "
                "only 'y' or 'y__<label>' may stand alone."
            )
        groups.setdefault(mod, []).append(c)
    if not groups:
        raise ValueError("no modality columns found; name them '<modality>__<feature>'.")
    if "y" in y_cols and len(y_cols) > 1:
        raise ValueError("use either one 'y' column or several 'y__<label>' columns, not both.")
    Xs = []
    for mod, cs in groups.items():
        block = df[cs]
        numeric = block.apply(lambda s: s.dtype.kind in "fiub")
        if not numeric.all():
            bad = numeric.index[~numeric.to_numpy()][0]
            sample = df[bad].dropna().astype(str)
            example = f" (e.g. {sample.iloc[0]!r})" if len(sample) else ""
            raise ValueError(f"column '{bad}' holds text{example}; modality columns must be numeric.")
        Xs.append(block.to_numpy(dtype=np.float64))
    y = None
    if y_cols == ["y"]:
        y = df["y"].to_numpy()
    elif y_cols:
        y = df[y_cols].to_numpy()
    return _finish(name, Xs, None, y, list(groups), description=f"Uploaded {kind} file.")


def _from_csv(data, name):
    import pandas as pd

    import csv

    try:
        first = data[: data.find(b"\n") if b"\n" in data else len(data)].decode("utf-8-sig")
        header = next(csv.reader([first]), [])
    except UnicodeDecodeError:
        raise ValueError("the CSV file is not UTF-8 text; expected comma-separated numbers with a header.") from None
    if len(header) == 1:
        for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "'|'")):
            if sep in header[0]:
                raise ValueError(f"the header has one column '{header[0][:40]}': the file seems to be separated by "
                                 f"{name}; expected commas.")
    dup = sorted({c for c in header if header.count(c) > 1})
    if dup:  # pandas would silently rename them to 'name.1'
        raise ValueError(f"duplicated column name(s) {dup[:5]}; every column must be unique.")
    try:
        # pandas pads short rows with NaN, which would look like missing modalities: refuse ragged rows.
        for i, row in enumerate(csv.reader(io.StringIO(data.decode("utf-8-sig"))), start=1):
            if row and len(row) != len(header):
                raise ValueError(f"row {i} has {len(row)} field(s) but the header has {len(header)}; every row "
                                 "needs one value per column (leave a cell empty for a missing value).")
    except UnicodeDecodeError:
        raise ValueError("the CSV file is not UTF-8 text; expected comma-separated numbers with a header.") from None
    except csv.Error as exc:
        raise ValueError(f"the CSV file could not be parsed ({exc}); expected comma-separated numbers.") from None
    try:
        df = pd.read_csv(io.BytesIO(data), low_memory=False)
    except pd.errors.EmptyDataError:
        raise ValueError("the CSV file is empty; expected a header row and data rows.") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"the CSV file could not be parsed ({first}); expected comma-separated numbers with a header.") from None
    return _from_table(df, name, "CSV")


def _from_parquet(data, name):
    import pandas as pd

    try:
        df = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises its own error types for garbage
        raise ValueError(f"not a readable Parquet file ({type(exc).__name__}); expected a Parquet table.") from None
    return _from_table(df, name, "Parquet")


def load_dataset(source="mfeat", *, max_bytes=DEFAULT_MAX_BYTES, **kwargs):
    """Load a bundled dataset, generate the synthetic one, or read a file.

    Parameters
    ----------
    source : str, path or file-like, default="mfeat"
        "mfeat", "breast_cancer", "synthetic" (keyword arguments go to ``make_synthetic``), or a
        ``.npz`` / ``.csv`` / ``.parquet`` file (path or open binary file with a ``name``):

        - ``.npz``: every array is a modality (2-D, numeric) except optional ``y`` and ``mask``;
          loaded with ``allow_pickle=False``.
        - ``.csv`` / ``.parquet``: columns ``<modality>__<feature>``, optional ``y`` (one label) or
          ``y__<label>`` columns (multilabel 0/1). A modality whose cells are all empty in a row is
          missing for that sample.
    max_bytes : int, default=1 GiB
        Largest file, and largest declared array payload, that will be read.

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        Malformed content, with what is wrong and what is expected.
    FileNotFoundError
        A path that does not exist.
    """
    if isinstance(source, str) and source in BUNDLED:
        if source == "synthetic":
            return make_synthetic(**kwargs)
        if kwargs:
            raise TypeError(f"load_dataset({source!r}) takes no options; got {sorted(kwargs)}.")
        return load_mfeat() if source == "mfeat" else load_breast_cancer_views()
    if kwargs:
        raise TypeError(f"options {sorted(kwargs)} only apply to 'synthetic'.")
    if isinstance(source, str) and not any(source.lower().endswith(s) for s in (".npz", ".csv", ".parquet", ".pq")) \
            and os.sep not in source and not os.path.exists(source):
        raise ValueError(
            f"'{source}' is neither a bundled dataset ({', '.join(BUNDLED)}) nor a .npz/.csv/.parquet path."
        )
    data, fname = _read_bytes(source, max_bytes)
    suffix = Path(fname).suffix.lower()
    if len(data) == 0:
        raise ValueError(f"'{fname}' is empty (0 bytes).")
    if suffix == ".npz":
        return _from_npz(data, fname, max_bytes)
    if suffix == ".csv":
        return _from_csv(data, fname)
    if suffix in (".parquet", ".pq"):
        return _from_parquet(data, fname)
    raise ValueError(
        f"'{fname}' has an unsupported extension '{suffix}'; expected .npz, .csv or .parquet "
        "(pickles such as .npy with objects or .pkl are never read)."
    )
