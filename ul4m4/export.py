"""Exports: completed data (.npz, .parquet, in the formats ``load_dataset`` reads back), the mask (.csv)
and a run manifest (JSON) from which the run can be repeated with ``python -m ul4m4 impute``.
"""

from __future__ import annotations

import io
import json
import platform
from datetime import datetime, timezone

import numpy as np
import pandas as pd

__all__ = ["to_npz_bytes", "to_parquet_bytes", "mask_csv_bytes", "versions", "make_manifest", "manifest_json"]


def to_npz_bytes(Xs, names, y=None, mask=None):
    """Compressed .npz: one array per modality (named), plus ``y`` and ``mask`` when given."""
    arrays = {name: np.asarray(X) for name, X in zip(names, Xs)}
    if y is not None:
        arrays["y"] = np.asarray(y)
    if mask is not None:
        arrays["mask"] = np.asarray(mask, dtype=bool)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def to_frame(Xs, names, y=None):
    """DataFrame with columns ``<modality>__<feature index>`` and ``y`` (or ``y__<j>`` if multilabel)."""
    cols = {}
    for name, X in zip(names, Xs):
        for j in range(X.shape[1]):
            cols[f"{name}__{j}"] = X[:, j]
    if y is not None:
        y = np.asarray(y)
        if y.ndim == 2:
            for j in range(y.shape[1]):
                cols[f"y__{j}"] = y[:, j]
        else:
            cols["y"] = y
    return pd.DataFrame(cols)


def to_parquet_bytes(Xs, names, y=None):
    """Parquet table in the ``<modality>__<feature>`` layout."""
    buf = io.BytesIO()
    to_frame(Xs, names, y).to_parquet(buf, index=False)
    return buf.getvalue()


def mask_csv_bytes(mask, names):
    """CSV with one 0/1 column per modality (1 = observed after simulation)."""
    return pd.DataFrame(np.asarray(mask, dtype=int), columns=list(names)).to_csv(index_label="sample").encode()


def versions():
    """Versions of the software that produced a result."""
    import sklearn
    import torch

    from . import __version__

    return {
        "ul4m4": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "scikit-learn": sklearn.__version__,
        "pandas": pd.__version__,
    }


def make_manifest(dataset_spec, missing_cfg, run_cfg, mres=None, seconds=None, extra=None):
    """Everything needed to repeat a run, plus what it realised.

    Parameters
    ----------
    dataset_spec : dict
        {"name": ..., "options": {...}} for bundled/synthetic data, or {"name": file name,
        "sha256": ...} for a file.
    missing_cfg : MissingConfig
    run_cfg : RunConfig
    mres : MaskResult or None
    seconds : dict or None
    extra : dict or None
    """
    from dataclasses import asdict

    out = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset": dataset_spec,
        "missingness": missing_cfg.to_dict(),
        "run": {**asdict(run_cfg), "methods": list(run_cfg.methods)},
        "versions": versions(),
    }
    if mres is not None:
        out["realised"] = {
            "all": _report_dict(mres.report),
            "train": _report_dict(mres.report_train),
            "test": _report_dict(mres.report_test),
            "stratified_split": bool(mres.stratified),
            "n_train": int(mres.train_idx.size),
            "n_test": int(mres.test_idx.size),
        }
    if seconds:
        out["seconds"] = {k: round(float(v), 4) for k, v in seconds.items()}
    if extra:
        out.update(extra)
    return out


def _report_dict(rep):
    d = rep.to_dict()
    d.pop("pattern_counts", None)
    return d


def manifest_json(manifest):
    return json.dumps(manifest, indent=2, default=_json_default).encode()


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
