"""Degradation sweeps: missing rates x seeds x methods (x k) -> a tidy table of downstream scores.

For each seed and rate the data is split (stratified), missingness is simulated on the chosen split(s),
every imputer is fitted on the training split only, and a classifier is trained on the completed
training split and scored on the completed test split. "complete" trains and tests on the data without
any simulated missingness: the ceiling.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .downstream import CLASSIFIERS, make_classifier
from .classification_metrics import classification_scores, flattened_f1_micro
from .experiment import METHODS, SPLIT_CHOICES, MissingConfig, RunConfig, fit_complete, make_mask, split_indices
from .missing import MECHANISMS, complex_pattern_freqs

__all__ = ["SweepConfig", "RATE_MEANING", "rate_config", "check_sweep", "run_sweep", "SWEEP_METHODS", "COLUMNS"]

SWEEP_METHODS = {**METHODS, "complete": "Complete data (no simulated missingness): the ceiling"}
RATE_MEANING = {
    "mcar": "fraction of modality slots removed",
    "mnar_value": "fraction of modality slots removed",
    "mnar_label": "fraction of modality slots removed",
    "mutually_exclusive": "fraction of samples made incomplete",
    "partial": "fraction of samples made incomplete",
    "standard": "1 - keep probability of every modality but the first (always kept, as in the paper)",
    "complex": "1 - frequency of the complete pattern; the rest is spread evenly over 'only modality m' patterns",
    "pepsy": "ps (fraction of samples each lead modality loses), with pm fixed by --pm",
}
COLUMNS = ["method", "rate", "seed", "k", "classifier", "realized_slot_rate", "realized_incomplete_rate",
           "f1_micro", "f1_macro", "accuracy", "flattened_f1_micro", "imputation_mse", "seconds"]


@dataclass(frozen=True)
class SweepConfig:
    """Settings of a sweep (hashable)."""

    mechanism: str = "mcar"
    rates: tuple = (0.0, 0.2, 0.4, 0.6, 0.8)
    seeds: tuple = (0, 1, 2)
    methods: tuple = ("ul4m4", "mean", "zero", "knn")
    classifier: str = "linear"
    k: int = 10
    ks: tuple | None = None
    apply_to: str = "both"
    test_size: float = 0.3
    pm: float = 0.6
    strength: float = 2.0
    device: str = "cpu"
    epochs: int = 15

    def to_dict(self):
        d = asdict(self)
        for key in ("rates", "seeds", "methods", "ks"):
            if d[key] is not None:
                d[key] = list(d[key])
        return d


def rate_config(mechanism, rate, n_modalities, *, pm=0.6, strength=2.0, apply_to="both", test_size=0.3, seed=0):
    """The ``MissingConfig`` that one sweep ``rate`` means for a mechanism (see ``RATE_MEANING``)."""
    M = n_modalities
    common = dict(mechanism=mechanism, strength=strength, apply_to=apply_to, test_size=test_size, seed=seed)
    if mechanism in ("mcar", "mnar_value", "mnar_label", "mutually_exclusive", "partial"):
        return MissingConfig(rate=rate, **common)
    if mechanism == "standard":
        return MissingConfig(rate=None, keep_probs=(1.0,) + (round(1.0 - rate, 10),) * (M - 1), **common)
    if mechanism == "complex":
        return MissingConfig(rate=None, pattern_freqs=tuple(complex_pattern_freqs(M, rate).items()), **common)
    if mechanism == "pepsy":
        return MissingConfig(rate=None, pm=pm, ps=rate, **common)
    raise ValueError(f"mechanism={mechanism!r} is not known; expected one of {sorted(MECHANISMS)}.")


def check_sweep(cfg, dataset):
    """Raise ``ValueError`` (saying what to change) if ``cfg`` cannot run on ``dataset``."""
    if dataset.y is None:
        raise ValueError("a degradation sweep needs labels (y); this dataset has none.")
    if cfg.mechanism not in MECHANISMS:
        raise ValueError(f"mechanism={cfg.mechanism!r} is not known; expected one of {sorted(MECHANISMS)}.")
    bad = [m for m in cfg.methods if m not in SWEEP_METHODS]
    if bad or not cfg.methods:
        raise ValueError(f"methods {bad or '(none)'} not known; choose from {sorted(SWEEP_METHODS)}.")
    if cfg.classifier not in CLASSIFIERS:
        raise ValueError(f"classifier={cfg.classifier!r} is not known; expected one of {sorted(CLASSIFIERS)}.")
    if cfg.apply_to not in SPLIT_CHOICES:
        raise ValueError(f"apply_to={cfg.apply_to!r} should be one of {sorted(SPLIT_CHOICES)}.")
    split_indices(dataset.n_samples, test_size=cfg.test_size)  # both splits need a sample
    if not cfg.rates:
        raise ValueError("give at least one rate.")
    for r in cfg.rates:
        if not (0 <= r < 1):
            raise ValueError(f"rate {r} should be in [0, 1): a rate of 1 would leave nothing observed.")
    if not cfg.seeds:
        raise ValueError("give at least one seed.")
    ks = cfg.ks or (cfg.k,)
    n_train = dataset.n_samples - int(round(cfg.test_size * dataset.n_samples))
    for k in ks:
        if "ul4m4" in cfg.methods and not (1 <= k <= n_train):
            raise ValueError(f"k={k} should be between 1 and the {n_train} training samples.")


def _score(dataset, train_idx, test_idx, completed, classifier, seed, cfg):
    clf = make_classifier(classifier, random_state=seed, device=cfg.device,
                          **({"epochs": cfg.epochs} if classifier == "fusion" else {}))
    clf.fit([X[train_idx] for X in completed], dataset.y[train_idx])
    pred = clf.predict([X[test_idx] for X in completed])
    scores = classification_scores(dataset.y[test_idx], pred)
    scores["flattened_f1_micro"] = flattened_f1_micro(dataset.y[test_idx], pred) if dataset.is_multilabel else np.nan
    return scores


def run_sweep(dataset, cfg: SweepConfig, callback=None):
    """Run a sweep and return its tidy table (columns ``COLUMNS``).

    Parameters
    ----------
    dataset : Dataset with labels
    cfg : SweepConfig
    callback : callable(dict) or None
        Called as {"stage": "sweep", "done": i, "total": n, "text": ...} after each unit of work.
    """
    check_sweep(cfg, dataset)
    ks = tuple(cfg.ks) if cfg.ks else (cfg.k,)
    units = []
    for seed in cfg.seeds:
        for rate in cfg.rates:
            for method in cfg.methods:
                if method == "ul4m4":
                    units += [(seed, rate, method, k) for k in ks]
                else:
                    units.append((seed, rate, method, None))
    total = len(units)
    rows, done = [], 0
    complete_cache = {}
    for seed in cfg.seeds:
        for rate in cfg.rates:
            mcfg = rate_config(cfg.mechanism, float(rate), dataset.n_modalities, pm=cfg.pm, strength=cfg.strength,
                               apply_to=cfg.apply_to, test_size=cfg.test_size, seed=int(seed))
            mres = make_mask(dataset, mcfg)
            tr, te = mres.train_idx, mres.test_idx
            train_mask = mres.mask[tr]
            for method in cfg.methods:
                for k in (ks if method == "ul4m4" else (None,)):
                    t0 = time.perf_counter()
                    base = {"method": method, "rate": float(rate), "seed": int(seed), "k": k,
                            "classifier": cfg.classifier}
                    if method == "complete":
                        if seed not in complete_cache:
                            s = _score(dataset, tr, te, dataset.Xs, cfg.classifier, int(seed), cfg)
                            complete_cache[seed] = (s, time.perf_counter() - t0)
                        s, secs = complete_cache[seed]
                        rows.append({**base, "realized_slot_rate": float((~dataset.mask).mean()),
                                     "realized_incomplete_rate": float((~dataset.mask.all(axis=1)).mean()),
                                     **s, "imputation_mse": np.nan, "seconds": secs})
                    else:
                        if not train_mask.any(axis=0).all():
                            raise ValueError(
                                f"at rate {rate} (seed {seed}) a modality has no observed training sample; "
                                "lower the largest rate."
                            )
                        rc = RunConfig(methods=(method,), n_clusters=int(k or cfg.k), seed=int(seed), device=cfg.device)
                        unit = fit_complete(method, dataset, mres, rc)
                        mse = float(unit.errors.loc[unit.errors["split"] == "all", "mse"].iloc[-1])  # the "all" row
                        s = _score(dataset, tr, te, unit.completed, cfg.classifier, int(seed), cfg)
                        rows.append({**base, "realized_slot_rate": mres.report.realized_slot_rate,
                                     "realized_incomplete_rate": mres.report.realized_incomplete_rate,
                                     **s, "imputation_mse": mse, "seconds": time.perf_counter() - t0})
                    done += 1
                    if callback is not None:
                        kk = f", k={k}" if k is not None and len(ks) > 1 else ""
                        callback({"stage": "sweep", "done": done, "total": total,
                                  "text": f"seed {seed}, rate {rate}: {method}{kk} ({done}/{total})"})
    return pd.DataFrame(rows, columns=COLUMNS)

