"""One experiment end to end, shared by the app and the command line: split, simulate missingness on
the chosen split(s), fit imputers on the training split, complete everything, and measure the error on
the blocks that were removed.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
import warnings
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import pandas as pd
import sklearn

from .baselines import IterativeModalityImputer, KNNModalityImputer, MeanImputer, SoftImputeImputer, ZeroImputer
from .impute import SELECTION_PARSIMONY, UL4M4Imputer
from .lowrank import UL4M4LowRankImputer
from .imputation_metrics import imputation_error
from .missing import MECHANISMS, mask_report, simulate_missing
from .memory import check_memory, estimate_run_bytes
from .validation import check_random_state, counted

__all__ = [
    "METHODS",
    "raised_by_methods",
    "fitted_labels",
    "MissingConfig",
    "MaskResult",
    "RunConfig",
    "RunResult",
    "MethodFailure",
    "default_n_clusters",
    "split_indices",
    "make_mask",
    "make_imputer",
    "check_run",
    "MethodRun",
    "fit_complete",
    "complete_split",
    "run_methods",
    "k_curve",
    "holdout_curve",
    "holdout_best",
    "selection_bound",
    "unit_key",
    "UL4M4_METHODS",
    "ul4m4_family",
]

METHODS = {
    "ul4m4": "UL4M4 (partial-modality k-means + greedy cluster-guided completion)",
    "zero": "Zero fill",
    "mean": "Modality mean",
    "knn": "k-nearest neighbours (5, KNNImputer rule)",
    "iterative": "Iterative imputer (BayesianRidge, scikit-learn)",
    "ul4m4_soft": "UL4M4 soft, auto (k and temperature chosen without labels by hold-out)",
    "softimpute": "SoftImpute (low-rank, soft-thresholded SVD; shrinkage chosen by hold-out)",
    "ul4m4_lowrank": "UL4M4 + low rank (soft centres plus SoftImpute of their residual; centre weight chosen by hold-out)",
}
# Methods that are UL4M4 models (they have clusters and a provenance for every filled block).
UL4M4_METHODS = ("ul4m4", "ul4m4_soft")
# Lloyd iterations of the "soft, auto" preset: the soft completion averages over centres, so it does not
# need the partition's last reassignments; the preset stops once at most 1 % of the samples move (on
# mfeat at 60 % MCAR this is 30x faster than running to no change, with the same error to 0.002).
SOFT_AUTO_TOL = 1e-2
SPLIT_CHOICES = {
    "both": "training and test data both incomplete",
    "test": "train on complete data, test incomplete",
    "train": "training data incomplete, test complete",
}


@dataclass(frozen=True)
class MissingConfig:
    """How to simulate missingness. Hashable, so it can key caches.

    ``apply_to`` is "both", "test" or "train" (see ``SPLIT_CHOICES``); ``pattern_freqs`` is a tuple of
    (pattern, frequency) pairs and ``keep_probs`` a tuple, to stay hashable.
    """

    mechanism: str = "mcar"
    rate: float | None = 0.3
    keep_probs: tuple | None = None
    pattern_freqs: tuple | None = None
    pm: float | None = None
    ps: float | None = None
    strength: float = 2.0
    apply_to: str = "both"
    test_size: float = 0.3
    seed: int = 0

    def to_dict(self):
        d = asdict(self)
        if self.pattern_freqs is not None:
            d["pattern_freqs"] = dict(self.pattern_freqs)
        if self.keep_probs is not None:
            d["keep_probs"] = list(self.keep_probs)
        return d


@dataclass
class MaskResult:
    """The mask used for an experiment and what it removed.

    Attributes
    ----------
    mask : ndarray of bool (n_samples, n_modalities), True = observed after simulation
    removed : ndarray of bool, True where a block was observed in the data and removed by simulation
    train_idx, test_idx : ndarray of int
    report, report_train, report_test : MissingReport (whole data, each split)
    stratified : bool, whether the split is stratified by label
    """

    mask: np.ndarray
    removed: np.ndarray
    train_idx: np.ndarray
    test_idx: np.ndarray
    report: object
    report_train: object
    report_test: object
    stratified: bool

    def applied_report(self, apply_to):
        """(report, where) of the data a request with ``apply_to`` (a key of ``SPLIT_CHOICES``) removed
        modalities from: the whole data ("" for ``where``), or one split ("training split", "test split").
        Requested and realised rates compare like with like only there."""
        return {"both": (self.report, ""), "test": (self.report_test, "test split"),
                "train": (self.report_train, "training split")}[apply_to]


@dataclass(frozen=True)
class RunConfig:
    """Settings of the imputers. Hashable."""

    methods: tuple = ("ul4m4", "ul4m4_soft", "zero", "mean", "knn", "softimpute")
    n_clusters: int = 10
    init: str = "k-means++"
    max_iter: int = 300
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float32"
    # Address of a Dask scheduler the UL4M4 methods run on (their fit and completion, chunk by chunk);
    # None: in this process. The baselines always run in this process.
    scheduler: str | None = None


# Errors that say the data or settings do not suit a method (the library's own checks); any other error
# a method raises is unexpected (a bug) and is reported as such.
EXPECTED_ERRORS = (ValueError, TypeError, OSError, MemoryError)


@dataclass(frozen=True)
class MethodFailure:
    """A method that raised inside ``run_methods(..., on_error="skip")``: the error's type name and message,
    whether it is one of ``EXPECTED_ERRORS`` (the data or settings do not suit the method) or unexpected
    (a bug), and the traceback as text for a log. The exception itself is not kept: its traceback would
    hold the method's arrays alive."""

    method: str
    error_type: str
    message: str
    expected: bool
    traceback: str = ""


@dataclass
class RunResult:
    """Completed data of every method, the fitted UL4M4 models and the error table.

    ``model`` and ``provenance`` are those of the paper's "ul4m4" (None when it did not run);
    ``models`` and ``provenances`` hold every UL4M4 method's (``UL4M4_METHODS``) by name; ``imputers``
    every method's fitted imputer (what the other methods chose, e.g. SoftImpute's shrinkage).
    ``failed`` holds a ``MethodFailure`` per method that raised (only with ``on_error="skip"``); such a
    method is in none of the other fields.
    """

    completed: dict
    model: object
    provenance: object
    errors: pd.DataFrame
    seconds: dict
    warnings: list = field(default_factory=list)
    models: dict = field(default_factory=dict)
    provenances: dict = field(default_factory=dict)
    imputers: dict = field(default_factory=dict)
    failed: dict = field(default_factory=dict)


def ul4m4_family(run):
    """The methods of a ``RunResult`` that are UL4M4's: its models (``UL4M4_METHODS``), and UL4M4 + low rank
    when its hold-out kept the centres (a centre weight of 0 makes it plain SoftImpute)."""
    lowrank = run.imputers.get("ul4m4_lowrank")
    kept = lowrank is not None and lowrank.centre_weight_ > 0
    return tuple(m for m in run.completed if m in UL4M4_METHODS or (m == "ul4m4_lowrank" and kept))


def default_n_clusters(dataset):
    """The k offered by default: the number of classes (2 to 64) for single-label data, else 8."""
    if dataset.y is not None and dataset.y.ndim == 1:
        return int(min(max(2, np.unique(dataset.y).size), 64))
    return 8


def split_indices(n_samples, y=None, test_size=0.3, seed=0):
    """Stratified (when every class has at least two samples) train/test split of ``range(n_samples)``.

    Returns
    -------
    train_idx, test_idx : sorted ndarray of int
    stratified : bool
    """
    from sklearn.model_selection import train_test_split

    if not (0 < test_size < 1):
        raise ValueError(f"test_size={test_size} should be in (0, 1).")
    n_test = int(round(test_size * n_samples))
    if n_test < 1 or n_samples - n_test < 1:
        raise ValueError(
            f"test_size={test_size} leaves {counted(n_samples - n_test, 'training sample')} and "
            f"{counted(n_test, 'test sample')} of {n_samples}; both splits need at least one."
        )
    idx = np.arange(n_samples)
    strat = None
    if y is not None:
        key = np.asarray(y)
        if key.ndim == 2:
            key = np.array(["".join(map(str, r)) for r in key.astype(int)])
        _, counts = np.unique(key, return_counts=True)
        n_classes = counts.size
        if counts.min() >= 2 and n_test >= n_classes and n_samples - n_test >= n_classes:
            strat = key
    tr, te = train_test_split(idx, test_size=n_test, random_state=seed, stratify=strat)
    return np.sort(tr), np.sort(te), strat is not None


def _simulate(n, M, cfg, Xs, y, rng):
    kw = {"random_state": rng, "strength": cfg.strength}
    if cfg.mechanism in ("mcar", "mutually_exclusive", "partial", "mnar_value", "mnar_label"):
        kw["rate"] = cfg.rate
    if cfg.mechanism == "standard":
        kw["keep_probs"] = list(cfg.keep_probs) if cfg.keep_probs is not None else None
    if cfg.mechanism == "complex":
        kw["pattern_freqs"] = dict(cfg.pattern_freqs) if cfg.pattern_freqs else None
    if cfg.mechanism == "pepsy":
        kw["pm"], kw["ps"] = cfg.pm, cfg.ps
    if cfg.mechanism == "mnar_value":
        kw["Xs"] = Xs
    if cfg.mechanism == "mnar_label":
        kw["y"] = y
    return simulate_missing(n, M, cfg.mechanism, **kw)


def make_mask(dataset, cfg: MissingConfig):
    """Split the data and simulate missingness on the chosen split(s).

    The data's own missing blocks stay missing. Simulated removals only touch observed blocks; a sample
    left with nothing observed gets one of its originally observed modalities back (chosen at random).

    Returns
    -------
    MaskResult
    """
    if cfg.mechanism not in MECHANISMS:
        raise ValueError(f"mechanism={cfg.mechanism!r} is not known; expected one of {sorted(MECHANISMS)}.")
    if cfg.apply_to not in SPLIT_CHOICES:
        raise ValueError(f"apply_to={cfg.apply_to!r} should be one of {sorted(SPLIT_CHOICES)}.")
    rng = check_random_state(cfg.seed)
    n, M = dataset.mask.shape
    tr, te, stratified = split_indices(n, dataset.y, cfg.test_size, cfg.seed)
    target = {"both": np.arange(n), "train": tr, "test": te}[cfg.apply_to]
    base = dataset.mask
    Xs_sub = [X[target] for X in dataset.Xs] if cfg.mechanism == "mnar_value" else None
    if Xs_sub is not None and not base[target].all():
        raise ValueError("mechanism='mnar_value' needs complete data to score values; this dataset already has missing blocks.")
    y_sub = dataset.y[target] if dataset.y is not None else None
    if cfg.mechanism == "mnar_label" and y_sub is None:
        raise ValueError("mechanism='mnar_label' needs labels; this dataset has none.")
    sim, rep = _simulate(target.size, M, cfg, Xs_sub, y_sub, rng)
    mask = base.copy()
    mask[target] &= sim
    empty = np.flatnonzero(~mask.any(axis=1))
    for i in empty:  # only possible where the data itself already lacked modalities
        mask[i, rng.choice(np.flatnonzero(base[i]))] = True
    removed = base & ~mask
    params = rep.params
    return MaskResult(
        mask=mask,
        removed=removed,
        train_idx=tr,
        test_idx=te,
        report=mask_report(mask, cfg.mechanism, params, rep.requested_kind, rep.requested_rate, rep.n_restored + empty.size),
        report_train=mask_report(mask[tr], cfg.mechanism, params, rep.requested_kind, rep.requested_rate),
        report_test=mask_report(mask[te], cfg.mechanism, params, rep.requested_kind, rep.requested_rate),
        stratified=stratified,
    )


def make_imputer(method, cfg: RunConfig, callback=None):
    """A fresh imputer for a method name of ``METHODS``."""
    if method == "ul4m4":
        return UL4M4Imputer(
            cfg.n_clusters, init=cfg.init, max_iter=cfg.max_iter, random_state=cfg.seed,
            device=cfg.device, dtype=cfg.dtype, callback=callback,
        )
    if method == "zero":
        return ZeroImputer()
    if method == "mean":
        return MeanImputer()
    if method == "knn":
        return KNNModalityImputer()
    if method == "iterative":
        return IterativeModalityImputer(random_state=cfg.seed)
    if method == "ul4m4_soft":
        return UL4M4Imputer(
            "auto", completion="soft", temperature="auto", init=cfg.init, max_iter=cfg.max_iter,
            tol=SOFT_AUTO_TOL, random_state=cfg.seed, device=cfg.device, dtype=cfg.dtype, callback=callback,
        )
    if method == "softimpute":
        return SoftImputeImputer(random_state=cfg.seed)
    if method == "ul4m4_lowrank":
        return UL4M4LowRankImputer(tol=SOFT_AUTO_TOL, random_state=cfg.seed, device=cfg.device)
    raise ValueError(f"method={method!r} is not known; expected one of {sorted(METHODS)}.")


def masked(Xs, mask):
    """Copies of Xs with NaN in the unobserved blocks (what an imputer is given)."""
    return [np.where(mask[:, [m]], X, np.nan) for m, X in enumerate(Xs)]


_METHOD_PACKAGES = tuple(os.path.dirname(m.__file__) + os.sep for m in (sys.modules[__package__], sklearn))


def raised_by_methods(w):
    """Whether a recorded warning came from the imputers (ul4m4 or scikit-learn code), not from a
    library imported meanwhile by another thread (UMAP's warm-up says TensorFlow is missing)."""
    return not issubclass(w.category, DeprecationWarning) and os.path.abspath(w.filename).startswith(_METHOD_PACKAGES)


def _chosen_factor(model):
    """Mean hold-out MSE per (k, temperature factor) of ``model.selection_`` and the factor chosen at the model's
    k; (None, None) when the hold-out scored nothing."""
    sel = model.selection_
    if sel is None or sel["holdout_mse"].isna().all():
        return None, None
    best = sel.groupby(["n_clusters", "temperature_factor"], dropna=False)["holdout_mse"].mean().reset_index()
    at_k = best[best["n_clusters"] == model.n_clusters_]
    return best, at_k.loc[at_k["holdout_mse"].idxmin(), "temperature_factor"]


def holdout_best(model):
    """The best setting of a model's hold-out search: (k, temperature factor, mean hold-out MSE); the factor is
    NaN for a setting without a temperature. None when the hold-out scored nothing. k was chosen as the
    smallest k whose best temperature comes within ``impute.SELECTION_PARSIMONY`` of this MSE."""
    best, _ = _chosen_factor(model)
    if best is None:
        return None
    row = best.loc[best["holdout_mse"].idxmin()]
    return int(row["n_clusters"]), float(row["temperature_factor"]), float(row["holdout_mse"])


def holdout_curve(model):
    """Hold-out error against k of a model fitted with a search over k, at the temperature factor chosen at the
    chosen k (what chose k, label-free).

    Returns
    -------
    DataFrame with columns ``k``, ``holdout_mse`` and ``holdout_best_mse`` (each k at its own best temperature,
    what the rule compares with ``selection_bound``), or None when the model searched nothing or its hold-out
    scored nothing (every sample observed a single modality).
    """
    return _curve_at(*_chosen_factor(model))


def _curve_at(best, f):
    """The rows of ``best`` (from ``_chosen_factor``) at the temperature factor ``f``, as (k, holdout_mse), with
    each k's lowest hold-out MSE over every factor beside it (``holdout_best_mse``: what the rule compares)."""
    if best is None:
        return None
    same = best["temperature_factor"].isna() if pd.isna(f) else best["temperature_factor"] == f
    curve = best[same].rename(columns={"n_clusters": "k"})[["k", "holdout_mse"]].reset_index(drop=True)
    per_k = best.groupby("n_clusters")["holdout_mse"].min()
    return curve.assign(holdout_best_mse=curve["k"].map(per_k).to_numpy())


def selection_bound(model):
    """The hold-out MSE under which a k's best temperature must come for that k to be chosen: the best setting's
    MSE times 1 + ``impute.SELECTION_PARSIMONY`` (the smallest such k was chosen). None when the hold-out scored
    nothing."""
    best = holdout_best(model)
    return None if best is None else best[2] * (1.0 + SELECTION_PARSIMONY)


def k_curve(dataset, mres: MaskResult, cfg: RunConfig, model, callback=None):
    """Hold-out error and true error against k for a fitted "ul4m4_soft" model.

    For every k of the model's selection table: the mean hold-out MSE at the chosen temperature factor
    (what chose k, label-free), and the true MSE on the removed blocks (all samples) of UL4M4 soft at
    that k and of the paper's greedy completion at that k, both fitted on the training split with the
    preset's stopping rule (``SOFT_AUTO_TOL``).

    Returns
    -------
    DataFrame with columns ``k``, ``holdout_mse``, ``holdout_best_mse`` (each k at its best temperature),
    ``true_mse_soft``, ``true_mse_paper``
    """
    best, f = _chosen_factor(model)
    if best is None:
        raise ValueError("the model's hold-out scored no setting (every sample observes a single modality), so "
                         "there is no curve against k.")
    hold = _curve_at(best, f).set_index("k")
    per_k = hold["holdout_best_mse"]
    hold = hold["holdout_mse"]
    Xin = masked(dataset.Xs, mres.mask)
    Xtr = [X[mres.train_idx] for X in Xin]
    rows = []
    ks = sorted(int(k) for k in hold.index)
    for i, k in enumerate(ks):
        row = {"k": k, "holdout_mse": float(hold[k]), "holdout_best_mse": float(per_k[k])}
        if mres.removed.any():
            for name, kw in (("true_mse_soft", {"completion": "soft"}), ("true_mse_paper", {})):
                imp = UL4M4Imputer(k, init=cfg.init, max_iter=cfg.max_iter, tol=SOFT_AUTO_TOL, random_state=cfg.seed,
                                   device=cfg.device, dtype=cfg.dtype, **kw)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    imp.fit(Xtr, mres.mask[mres.train_idx])
                    if name == "true_mse_soft":
                        imp.temperature_ = float(f) * imp.typical_distance_
                    out = imp.transform(Xin, mres.mask,
                                        fitted_labels=fitted_labels(mres.mask.shape[0], mres.train_idx, imp.labels_))
                err = imputation_error(dataset.Xs, out, mres.removed, true_mask=dataset.mask)
                row[name] = float(err["mse"].iloc[-1])
        rows.append(row)
        if callback is not None:
            callback({"stage": "k_curve", "done": i + 1, "total": len(ks)})
    return pd.DataFrame(rows, columns=["k", "holdout_mse", "holdout_best_mse", "true_mse_soft", "true_mse_paper"])


def check_run(dataset, mres: MaskResult, cfg: RunConfig, available_memory=None):
    """Raise ``ValueError`` (saying what to change) if ``cfg`` cannot run on ``dataset`` with ``mres``.

    Checks the method names, k against the training samples, that every modality keeps an observed
    training sample, that the Dask scheduler (``cfg.scheduler``) answers, and the estimated memory (a run
    estimated to need more than 80 % of ``available_memory``, default the machine's available memory, is
    refused).
    """
    for m in cfg.methods:
        if m not in METHODS:
            raise ValueError(f"method={m!r} is not known; expected one of {sorted(METHODS)}.")
    n_train = mres.train_idx.size
    if "ul4m4" in cfg.methods and cfg.n_clusters > n_train:
        raise ValueError(
            f"k={cfg.n_clusters} clusters is more than the {n_train} training samples; choose k <= {n_train}."
        )
    train_mask = mres.mask[mres.train_idx]
    lacking = np.flatnonzero(~train_mask.any(axis=0))
    if lacking.size:
        names = [dataset.modality_names[m] for m in lacking]
        raise ValueError(
            f"modality {names[0]!r} has no observed training sample, so it cannot be standardised or "
            "learned; lower the missing rate or keep that modality in training."
        )
    check_memory(estimate_run_bytes(mres.mask.shape[0], dataset.dims, n_train, cfg.n_clusters, cfg.methods),
                 available_memory)
    if cfg.scheduler is not None and any(m in UL4M4_METHODS for m in cfg.methods):
        try:
            from . import _dask
        except ImportError:
            raise ValueError("running on a Dask scheduler needs the 'scale' extra (pip install 'ul4m4[scale]').") from None
        _dask.connect(cfg.scheduler)  # before any method runs: an unreachable scheduler is said at once


@dataclass
class MethodRun:
    """One method fitted on the training split and applied to every sample.

    Attributes
    ----------
    method : str
    completed : list of ndarray of shape (n_samples, n_features_m)
    errors : DataFrame, imputation error on removed blocks (columns method, split, modality, n_removed,
        mse, cosine; splits "train", "test" and "all")
    seconds : float, time to fit and complete (the error measurement not included)
    model : the fitted imputer
    provenance : Provenance for the UL4M4 methods (``UL4M4_METHODS``), else None
    """

    method: str
    completed: list
    errors: pd.DataFrame
    seconds: float
    model: object
    provenance: object = None


def fit_complete(method, dataset, mres: MaskResult, cfg: RunConfig, callback=None):
    """Fit one method on the training split, complete every sample and measure the error on the removed
    blocks: the unit of work of ``run_methods`` and of the degradation sweep.

    The settings are assumed checked (``check_run``; the sweep checks its own); an unknown method raises
    ``ValueError``.

    Parameters
    ----------
    method : str, a key of ``METHODS``
    dataset : Dataset
    mres : MaskResult
    cfg : RunConfig, the imputer settings (``cfg.methods`` is not read)
    callback : callable(dict) or None, passed to UL4M4's fit

    Returns
    -------
    MethodRun
    """
    out, imp, prov, seconds = complete_split(method, dataset, mres, cfg, callback)
    rows = []
    for split, idx in (("train", mres.train_idx), ("test", mres.test_idx), ("all", slice(None))):
        err = imputation_error([X[idx] for X in dataset.Xs], [X[idx] for X in out], mres.removed[idx],
                               dataset.modality_names, true_mask=dataset.mask[idx])
        err.insert(0, "split", split)
        err.insert(0, "method", method)
        rows.append(err)
    return MethodRun(method, out, pd.concat(rows, ignore_index=True), seconds, imp, prov)


def complete_split(method, dataset, mres: MaskResult, cfg: RunConfig, callback=None):
    """Fit one method on the training split and complete every sample, measuring nothing: the part of
    ``fit_complete`` a sweep needs (settings assumed checked).

    Returns
    -------
    completed : list of ndarray of shape (n_samples, n_features_m)
    model : the fitted imputer
    provenance : Provenance for the UL4M4 methods, else None
    seconds : float, time to fit and complete
    """
    Xin = masked(dataset.Xs, mres.mask)
    if cfg.scheduler is not None and method in UL4M4_METHODS:
        return _complete_split_dask(method, Xin, mres, cfg, callback)
    t = time.perf_counter()
    imp = make_imputer(method, cfg, callback)
    imp.fit([X[mres.train_idx] for X in Xin], mres.mask[mres.train_idx])
    prov = None
    if method in UL4M4_METHODS:  # the training rows completed out of sample, as by fit_transform
        out, prov = imp.transform(Xin, mres.mask, return_provenance=True,
                                  fitted_labels=fitted_labels(mres.mask.shape[0], mres.train_idx, imp.labels_))
    else:
        out = imp.transform(Xin, mres.mask)
    return out, imp, prov, time.perf_counter() - t


def fitted_labels(n_samples, train_idx, labels):
    """``UL4M4Imputer.transform``'s ``fitted_labels`` for all samples of a model fitted on the rows
    ``train_idx``: their clusters ``labels`` there, -1 for the other rows."""
    out = np.full(n_samples, -1, dtype=np.int64)
    out[train_idx] = np.asarray(labels)
    return out


def _complete_split_dask(method, Xin, mres: MaskResult, cfg: RunConfig, callback=None):
    """``complete_split`` of a UL4M4 method on the Dask scheduler at ``cfg.scheduler``: the data cut into
    row chunks, the fit and the completion run there (the library's Dask path), the results (and the
    training labels, ``labels_``) gathered."""
    import dask

    from . import _dask
    from .impute import Provenance

    t = time.perf_counter()
    with _dask.on_scheduler(cfg.scheduler):
        imp = make_imputer(method, cfg, callback)
        imp.fit(*_dask.from_arrays([X[mres.train_idx] for X in Xin], mres.mask[mres.train_idx]))
        imp.labels_ = np.asarray(dask.compute(imp.labels_)[0])  # then used like a model fitted in memory
        out, prov = imp.transform(*_dask.from_arrays(Xin, mres.mask), return_provenance=True,
                                  fitted_labels=fitted_labels(mres.mask.shape[0], mres.train_idx, imp.labels_))
        out, parts = dask.compute(list(out), [getattr(prov, f.name) for f in fields(Provenance)])
    return list(out), imp, Provenance(*parts), time.perf_counter() - t


def unit_key(method, cfg: RunConfig):
    """The settings one method's result depends on: results under equal keys can be reused (changing k
    refits the paper's UL4M4 only, not the baselines)."""
    if method == "ul4m4":
        return (method, cfg.n_clusters, cfg.init, cfg.max_iter, cfg.seed, cfg.device, cfg.dtype, cfg.scheduler)
    if method == "ul4m4_soft":
        return (method, cfg.init, cfg.max_iter, cfg.seed, cfg.device, cfg.dtype, cfg.scheduler)
    if method in ("iterative", "softimpute"):
        return (method, cfg.seed)
    if method == "ul4m4_lowrank":
        return (method, cfg.seed, cfg.device)
    return (method,)


def run_methods(dataset, mres: MaskResult, cfg: RunConfig, callback=None, available_memory=None, reuse=None,
                on_error="raise"):
    """Fit every method on the training split, complete all samples, measure errors on removed blocks.

    Parameters
    ----------
    dataset : Dataset
    mres : MaskResult
    cfg : RunConfig
    callback : callable(dict) or None
        Progress: {"stage": "method", "method": name, "done": i, "total": n} plus UL4M4's own stages.
    available_memory : int or None
        Bytes the run may use; None reads the machine's available memory. A run estimated to need more
        than 80 % of it is refused before it starts (``check_run``).
    reuse : dict or None
        Results of earlier runs on the same data and mask, by ``unit_key``: a method found there is not
        fitted again, and new results are added to it.
    on_error : "raise" or "skip"
        What an error inside one method does (the checks of the whole run raise either way): "raise" stops
        the run; "skip" records a ``MethodFailure`` in ``RunResult.failed`` and goes on with the next
        method, so one method that does not suit the data does not take the others' results with it.
        A failed method is not added to ``reuse``: a later run tries it again.

    Returns
    -------
    RunResult
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error={on_error!r} is not one of 'raise', 'skip'.")
    check_run(dataset, mres, cfg, available_memory)
    completed, seconds, caught = {}, {}, []
    models, provs, imputers, failed = {}, {}, {}, {}
    rows = []
    for i, method in enumerate(cfg.methods):
        if callback is not None:
            callback({"stage": "method", "method": method, "done": i, "total": len(cfg.methods)})
        key = unit_key(method, cfg)
        if reuse is not None and key in reuse:
            unit, said = reuse[key]
        else:
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                try:
                    unit = fit_complete(method, dataset, mres, cfg, callback if method in UL4M4_METHODS else None)
                except Exception as exc:
                    if on_error == "raise":
                        raise
                    failed[method] = MethodFailure(method, type(exc).__name__, str(exc),
                                                   isinstance(exc, EXPECTED_ERRORS), traceback.format_exc())
                    continue
            said = [f"{method}: {x.message}" for x in w if raised_by_methods(x)]
            if reuse is not None:
                reuse[key] = (unit, said)
        caught += said
        completed[method] = unit.completed
        seconds[method] = unit.seconds
        rows.append(unit.errors)
        imputers[method] = unit.model
        if method in UL4M4_METHODS:
            models[method], provs[method] = unit.model, unit.provenance
    if callback is not None:
        callback({"stage": "method", "method": None, "done": len(cfg.methods), "total": len(cfg.methods)})
    errors = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["method", "split", "modality", "n_removed", "mse", "cosine"])
    return RunResult(completed, models.get("ul4m4"), provs.get("ul4m4"), errors, seconds, caught, models, provs,
                     imputers, failed)
