"""Degradation sweeps: missing rates x seeds x methods (x k) -> a tidy table of downstream scores.

For each seed and rate the data is split (stratified), missingness is simulated on the chosen split(s),
every imputer is fitted on the training split only, and a classifier is trained on the completed
training split and scored on the completed test split. "complete" trains and tests on the data without
any simulated missingness: the ceiling.
"""

from __future__ import annotations

import itertools
import os
import time
import traceback
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .classification_metrics import classification_scores, flattened_f1_micro
from .downstream import CLASSIFIERS, linear_probe_predictions, make_classifier
from .experiment import (EXPECTED_ERRORS, METHODS, SPLIT_CHOICES, MissingConfig, RunConfig, complete_split, make_mask,
                         raised_by_methods, split_indices)
from .experiment import unit_key as exp_unit_key
from .imputation_metrics import Truth, imputation_error
from .memory import PROBE_BATCH_BYTES
from .missing import MECHANISMS, complex_pattern_freqs
from .validation import counted

__all__ = ["SweepConfig", "RATE_MEANING", "rate_config", "check_sweep", "check_sweep_data", "plan", "units_per_method",
           "unit_key", "iter_sweep", "run_sweep", "sweep_pool", "default_workers", "workers_suit", "SWEEP_METHODS",
           "COLUMNS", "UnitFailure"]

SWEEP_METHODS = {**METHODS, "complete": "Complete data (no simulated missingness): the ceiling"}
RATE_MEANING = {
    "mcar": "fraction of modality slots removed",
    "mnar_value": "fraction of modality slots removed",
    "mnar_label": "fraction of modality slots removed",
    "mutually_exclusive": "fraction of samples made incomplete",
    "partial": "fraction of samples made incomplete",
    "standard": "1 - keep probability of every modality but the first (always kept, as in the paper)",
    "complex": "1 - frequency of the complete pattern; the rest is spread evenly over 'only modality m' patterns",
    "pepsy": "ps (fraction of samples each lead modality loses), with pm (the fraction of modalities that "
             "are leads) set on its own",
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


@dataclass(frozen=True)
class UnitFailure:
    """A unit of a sweep whose method raised, with ``on_error="skip"``: the unit (method, seed, rate, k; k None
    unless the sweep has several), the error's type name and message, whether it is one of
    ``experiment.EXPECTED_ERRORS`` (the data or settings do not suit the method) or unexpected (a bug), and
    the traceback as text for a log."""

    method: str
    seed: int
    rate: float
    k: int | None
    error_type: str
    message: str
    expected: bool
    traceback: str = ""

    def where(self):
        """The unit in words: "rate 0.8, seed 2" (and ", k=5" when the sweep has several)."""
        return f"rate {self.rate:g}, seed {self.seed}" + (f", k={self.k}" if self.k is not None else "")


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


def check_sweep_data(dataset):
    """Raise ``ValueError`` (saying why) if no degradation sweep can run on ``dataset``'s labels, whatever
    the settings."""
    if dataset.y is None:
        raise ValueError("a degradation sweep needs labels (y); this dataset has none.")
    if not dataset.is_multilabel:
        classes = np.unique(dataset.y)
        if classes.size < 2:
            raise ValueError(f"the labels hold a single class ({classes[0].item() if classes.size else 'none'}); a "
                             "classifier needs at least two, so no degradation sweep can run on these data.")
        if classes.size == dataset.n_samples:  # no test sample's class is ever seen in training: every score 0
            raise ValueError(f"every sample has a class of its own ({classes.size} classes for {dataset.n_samples} "
                             "samples), so no test sample's class is seen in training and every score would be 0; "
                             "y looks like sample ids, not classes.")


def check_sweep(cfg, dataset):
    """Raise ``ValueError`` (saying what to change) if ``cfg`` cannot run on ``dataset``."""
    check_sweep_data(dataset)
    if cfg.mechanism not in MECHANISMS:
        raise ValueError(f"mechanism={cfg.mechanism!r} is not known; expected one of {sorted(MECHANISMS)}.")
    bad = [m for m in cfg.methods if m not in SWEEP_METHODS]
    if bad or not cfg.methods:
        raise ValueError(f"methods {bad or '(none)'} not known; choose from {sorted(SWEEP_METHODS)}.")
    if "complete" in cfg.methods and not dataset.mask.all():
        lacking = int((~dataset.mask).sum())
        raise ValueError(f"'complete' (the ceiling: the classifier on the data with nothing removed) needs data "
                         f"without gaps, and these data already lack {counted(lacking, 'modality block')}; leave it "
                         "out (each method's score at rate 0 is that of the data as they are, gaps filled by the "
                         "method).")
    if cfg.classifier not in CLASSIFIERS:
        raise ValueError(f"classifier={cfg.classifier!r} is not known; expected one of {sorted(CLASSIFIERS)}.")
    if cfg.apply_to not in SPLIT_CHOICES:
        raise ValueError(f"apply_to={cfg.apply_to!r} should be one of {sorted(SPLIT_CHOICES)}.")
    split_indices(dataset.n_samples, test_size=cfg.test_size)  # both splits need a sample
    if not cfg.rates:
        raise ValueError("give at least one rate.")
    for r in cfg.rates:
        if r < 0:
            raise ValueError(f"rate {r} is negative; a rate is a fraction in [0, 1).")
        if not r < 1:
            raise ValueError(f"rate {r} should be below 1 (a fraction in [0, 1)): a rate of 1 would leave nothing "
                             "observed.")
    if not cfg.seeds:
        raise ValueError("give at least one seed.")
    for what, values in (("rates", cfg.rates), ("seeds", cfg.seeds), ("k values", cfg.ks or ())):
        twice = sorted({v for v in values if list(values).count(v) > 1})
        if twice:  # each would give the same units twice, as duplicated rows of the table
            raise ValueError(f"{what} list {', '.join(map(str, twice))} more than once; give each once.")
    ks = cfg.ks or (cfg.k,)
    n_train = dataset.n_samples - int(round(cfg.test_size * dataset.n_samples))
    for k in ks:
        if "ul4m4" in cfg.methods and not (1 <= k <= n_train):
            raise ValueError(f"k={k} should be between 1 and the {n_train} training samples.")


def plan(cfg: SweepConfig):
    """The sweep's units in table order: (seed, rate, method, k), k None except for UL4M4."""
    ks = tuple(cfg.ks) if cfg.ks else (cfg.k,)
    return [(seed, rate, method, k) for seed in cfg.seeds for rate in cfg.rates for method in cfg.methods
            for k in (ks if method == "ul4m4" else (None,))]


def units_per_method(cfg: SweepConfig):
    """How many units the sweep plans for each method: {method: count}."""
    counts = {}
    for _, _, method, _ in plan(cfg):
        counts[method] = counts.get(method, 0) + 1
    return counts


def unit_key(cfg: SweepConfig, seed, rate, method, k):
    """Everything one unit's scores depend on, besides the data: equal keys give equal rows, so a cache of
    finished units (kept per dataset by the caller) recomputes only what a change of settings touches.
    The ceiling ("complete") does not depend on the rate or the missingness at all."""
    clf = (cfg.classifier, cfg.epochs if cfg.classifier == "fusion" else None, cfg.device)
    if method == "complete":
        return ("complete", int(seed), cfg.test_size, clf)
    missing = (cfg.mechanism, float(rate), cfg.apply_to, cfg.test_size, int(seed),
               cfg.pm if cfg.mechanism == "pepsy" else None, cfg.strength if cfg.mechanism.startswith("mnar") else None)
    rc = RunConfig(methods=(method,), n_clusters=int(k or cfg.k), seed=int(seed), device=cfg.device)
    return (exp_unit_key(method, rc), missing, clf)


def _check_training_classes(dataset, train, seed):
    """A classifier learns from two classes at least: said of the training split (the data may hold more)."""
    if dataset.is_multilabel:
        return
    held = np.unique(dataset.y[train])
    if held.size < 2:
        raise ValueError(f"(seed {seed}) the training split ({len(train)} samples) holds one class "
                         f"({held[0].item() if held.size else 'none'}): the other classes' samples all went to the "
                         "test split; use a smaller test size, or data with more samples of each class.")


def _scores(dataset, test_idx, pred):
    scores = classification_scores(dataset.y[test_idx], pred)
    scores["flattened_f1_micro"] = flattened_f1_micro(dataset.y[test_idx], pred) if dataset.is_multilabel else np.nan
    return scores


def _fusion_predictions(dataset, pending, cfg):
    out = []
    for u in pending:
        clf = make_classifier("fusion", random_state=u["seed"], device=cfg.device, epochs=cfg.epochs)
        clf.fit([X[u["train"]] for X in u["completed"]], dataset.y[u["train"]])
        out.append(clf.predict([X[u["test"]] for X in u["completed"]]))
    return out


# Precision of the linear probes' matrix products in a sweep: float32 is about 3x faster than float64 on a
# CPU, and the F1 scores stay within 0.005 of scikit-learn's (benchmarks/bench_sweep.py measures it).
PROBE_PRODUCTS = "float32"
# Worker processes a sweep uses at most by default (``default_workers``): each holds the libraries and a copy
# of the data, and four already keep a sweep's cells busy.
MAX_WORKERS = 4
# Data sent to worker processes at most (every task gets its own copy): larger data run in the caller.
WORKER_MAX_BYTES = 64 << 20


def _linear_predictions(dataset, pending, cfg):
    """One batch of linear probes; units on the same data (the observed data of one split) share one."""
    first, jobs = {}, []
    for u in pending:
        key = u["data_key"] if u["data_key"] is not None else id(u)
        if key not in first:
            first[key] = len(jobs)
            X = np.hstack(u["completed"])
            jobs.append((X[u["train"]], dataset.y[u["train"]], X[u["test"]]))
    preds = linear_probe_predictions(jobs, device=cfg.device, products=PROBE_PRODUCTS)
    return [preds[first[u["data_key"] if u["data_key"] is not None else id(u)]] for u in pending]


def _pass_on(caught, method, said, callback):
    """Pass on the warnings one unit's method gave, each distinct one once per sweep: a remark on the data
    (features of near-zero scale, say) would otherwise repeat at every rate and seed. With a callback, it
    gets {"stage": "warning", "method": ..., "text": "method: message"}; without one, the warning is issued
    again as such. Warnings from elsewhere (another thread's imports) are issued again unchanged."""
    for w in caught:
        if not raised_by_methods(w):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            continue
        text = f"{method}: {w.message}"
        if text in said:
            continue
        said.add(text)
        if callback is not None:
            callback({"stage": "warning", "method": method, "text": text, "category": w.category})
        else:
            warnings.warn(text, w.category, stacklevel=4)


def iter_sweep(dataset, cfg: SweepConfig, cache=None, callback=None, on_error="raise", workers=None,
               in_order=True):
    """Run a sweep and yield each unit's row (a dict of ``COLUMNS``) as soon as it is known, in table order.

    For each seed and rate, every method is fitted and completes the data, and the units' classifiers are
    then trained together (the linear probes in batches that may span the rates of a seed,
    ``downstream.linear_probe_predictions``; a batch is fitted once it holds ``PROBE_BATCH_BYTES`` of
    completed data, and after each seed's last rate). Units
    whose data is the observed data (the ceiling, and every method where nothing is missing) share one
    classifier per seed.

    Parameters
    ----------
    dataset : Dataset with labels
    cfg : SweepConfig
    cache : dict or None
        Finished units by ``unit_key``, for this dataset only: units found there are not run again, and
        new ones are added.
    callback : callable(dict) or None
        Called as {"stage": "sweep", "done": i, "total": n, "seed", "rate", "method", "k" (None unless the
        sweep has several), "text": ...} after each unit, and as
        {"stage": "warning", "method": ..., "text": ...} the first time a method gives a warning (each
        distinct warning once per sweep; without a callback it is issued as a warning, once).
    on_error : "raise" or "skip"
        What an error inside one unit's method does (the checks of the whole sweep, a rate that leaves a
        modality with no observed training sample, and the classifiers raise either way): "raise" stops the
        sweep, naming the unit; "skip" leaves that unit out (no row), calls back
        {"stage": "failed", "failure": UnitFailure, "text": ...} (without a callback, issues a warning) and
        goes on, so one method that does not suit some rates does not take the others' curves with it.
        A failed unit is not added to ``cache``: a later sweep tries it again.
    workers : concurrent.futures.Executor or None
        Where the units run: None runs them here, one after another; an executor of worker processes
        (``sweep_pool``) runs them there, a cell (one seed and rate) per task and the cells in parallel, with
        the same rows (each unit's data, methods and classifier depend only on its seed, rate, method and k).
        Rows are still yielded in table order, as soon as every unit before them is done; the callback
        gets each unit as its cell finishes, and the methods' warnings once per sweep, as here.
    in_order : bool, default=True
        With ``workers``: True runs the cells in table order (the last few longest first), so that rows come
        early and steadily, for a chart that grows; False runs them longest first (the highest rates), which
        keeps the workers evenly busy to the end and finishes sooner, while the rows come near the end. The
        rows are the same either way.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error={on_error!r} is not one of 'raise', 'skip'.")
    check_sweep(cfg, dataset)
    units = plan(cfg)
    if workers is None:
        rows = _unit_rows(dataset, cfg, units, cache, callback, on_error)
    else:
        rows = _pooled_rows(dataset, cfg, units, cache, callback, on_error, workers, in_order)
    for _, row in rows:
        if row is not None:
            yield row


def _base(cfg, seed, rate, method, k):
    """The columns of a unit's row that name it."""
    return {"method": method, "rate": float(rate), "seed": int(seed), "k": k, "classifier": cfg.classifier}


def _progress(unit, done, total, ks):
    """The callback's dict for a unit done: done of total, which unit (its k only when the sweep has several)."""
    seed, rate, method, k = unit
    k = k if len(ks) > 1 else None
    return {"stage": "sweep", "done": done, "total": total, "seed": seed, "rate": rate, "method": method, "k": k,
            "text": f"seed {seed}, rate {rate}: {method}{'' if k is None else f', k={k}'} ({done}/{total})"}


def _unit_rows(dataset, cfg, units, cache, callback, on_error):
    """Run ``units`` (some of ``plan(cfg)``, in its order) here; yield (position in ``units``, row or None
    for a unit left out) in that order, each as soon as it and those before it are done."""
    ks = tuple(cfg.ks) if cfg.ks else (cfg.k,)
    total, done, emitted = len(units), 0, 0

    def k_words(k):  # a unit's k is worth naming only when the sweep has several
        return f", k={k}" if k is not None and len(ks) > 1 else ""
    rows = [None] * total
    skipped = object()  # the row of a unit left out (on_error="skip")
    observed = {}  # seed -> predictions on the observed data
    truth = None  # imputation_metrics.Truth of the dataset, made when first needed
    full = bool(dataset.mask.all())

    def finish(i, row):
        nonlocal done
        rows[i] = row
        done += 1
        if callback is not None:
            callback(_progress(units[i], done, total, ks))

    def fail(i, failure):
        """Leave unit ``i`` out: say why (callback or warning), and count it as done."""
        text = f"{failure.method} at {failure.where()} failed and is left out: {failure.message}"
        if callback is not None:
            callback({"stage": "failed", "failure": failure, "text": text})
        else:
            warnings.warn(text, RuntimeWarning, stacklevel=3)
        finish(i, skipped)

    def flush(pending):
        if not pending:
            return
        t0 = time.perf_counter()
        todo = [u for u in pending if not (u["data_key"] is not None and u["data_key"] in observed)]
        predict = _linear_predictions if cfg.classifier == "linear" else _fusion_predictions
        for u, pred in zip(todo, predict(dataset, todo, cfg) if todo else []):
            if u["data_key"] is not None:
                observed.setdefault(u["data_key"], pred)
            u["pred"] = pred
        share = (time.perf_counter() - t0) / len(pending)
        same = {}  # a key met twice in one batch (the ceiling at two rates) gets one row, as from the cache
        for u in pending:
            pred = u.get("pred", observed.get(u["data_key"]))
            measured = same.setdefault(u["key"], {**u["rates"], **_scores(dataset, u["test"], pred),
                                                  "imputation_mse": u["mse"], "seconds": u["seconds"] + share})
            if cache is not None:
                cache[u["key"]] = measured
            finish(u["index"], {**u["base"], **measured})
        pending.clear()

    said = set()  # the methods' warnings passed on so far, each once per sweep
    cells = [list(g) for _, g in itertools.groupby(range(total), key=lambda i: units[i][:2])]  # (seed, rate)
    pending, held = [], 0  # units waiting for their probe: a batch may span cells (fewer, larger batches)
    for c, cell in enumerate(cells):
        seed, rate = units[cell[0]][:2]
        mres = None
        for j in cell:
            method, k = units[j][2:]
            base = _base(cfg, seed, rate, method, k)
            key = unit_key(cfg, seed, rate, method, k)
            if cache is not None and key in cache:
                finish(j, {**base, **cache[key]})
                continue
            t0 = time.perf_counter()
            if method == "complete":
                tr, te, _ = split_indices(dataset.n_samples, dataset.y, cfg.test_size, int(seed))
                _check_training_classes(dataset, tr, seed)
                u = {"completed": dataset.Xs, "data_key": ("observed", int(seed)) if full else None,
                     "rates": {"realized_slot_rate": float((~dataset.mask).mean()),
                               "realized_incomplete_rate": float((~dataset.mask.all(axis=1)).mean())},
                     "mse": np.nan, "train": tr, "test": te}
            else:
                if mres is None:
                    mcfg = rate_config(cfg.mechanism, float(rate), dataset.n_modalities, pm=cfg.pm,
                                       strength=cfg.strength, apply_to=cfg.apply_to, test_size=cfg.test_size,
                                       seed=int(seed))
                    mres = make_mask(dataset, mcfg)
                    if not dataset.mask[mres.train_idx].any(axis=0).all():  # so before anything was removed
                        lone = dataset.modality_names[int(np.flatnonzero(~dataset.mask[mres.train_idx].any(axis=0))[0])]
                        raise ValueError(f"(seed {seed}) modality '{lone}' has no observed sample in the training "
                                         f"split ({mres.train_idx.size} samples) even before any is removed: the data "
                                         "observe it in too few rows; use a smaller test size, or data that observe "
                                         "every modality more often.")
                    if not mres.mask[mres.train_idx].any(axis=0).all():
                        raise ValueError(f"at rate {rate} (seed {seed}) a modality has no observed training "
                                         "sample; lower the largest rate.")
                    _check_training_classes(dataset, mres.train_idx, seed)
                u = {"rates": {"realized_slot_rate": mres.report.realized_slot_rate,
                               "realized_incomplete_rate": mres.report.realized_incomplete_rate},
                     "train": mres.train_idx, "test": mres.test_idx}
                if mres.mask.all():  # nothing missing: every imputer returns the observed data as given
                    u.update(completed=dataset.Xs, data_key=("observed", int(seed)), mse=np.nan)
                else:
                    rc = RunConfig(methods=(method,), n_clusters=int(k or cfg.k), seed=int(seed), device=cfg.device)
                    failure = None
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        try:
                            completed, _, _, _ = complete_split(method, dataset, mres, rc)
                        except Exception as exc:
                            if on_error == "skip":
                                failure = UnitFailure(method, int(seed), float(rate), k if len(ks) > 1 else None,
                                                      type(exc).__name__, str(exc), isinstance(exc, EXPECTED_ERRORS),
                                                      traceback.format_exc())
                            elif not isinstance(exc, (ValueError, TypeError)):
                                raise
                            else:
                                kind = ValueError if isinstance(exc, ValueError) else TypeError
                                raise kind(f"method {method!r} at rate {rate:g} (seed {seed}{k_words(k)}) failed: "
                                           f"{exc}") from exc  # which unit: the message alone may not say
                    if failure is not None:  # its warnings go with it: the unit is left out
                        fail(j, failure)
                        continue
                    _pass_on(caught, method, said, callback)
                    if truth is None:  # checked and standardised once per sweep
                        truth = Truth(dataset.Xs, dataset.mask)
                    err = imputation_error(truth, completed, mres.removed)
                    u.update(completed=completed, data_key=None, mse=float(err["mse"].iloc[-1]))  # the "all" row
            u.update(index=j, key=key, base=base, seed=int(seed), seconds=time.perf_counter() - t0)
            pending.append(u)
            held += 0 if u["data_key"] is not None else sum(X.shape[0] * X.shape[1] for X in u["completed"]) * 8
            if held >= PROBE_BATCH_BYTES:
                flush(pending)
                held = 0
        last_of_seed = c + 1 == len(cells) or units[cells[c + 1][0]][0] != seed
        if last_of_seed or cfg.classifier != "linear":  # rows keep arriving: at least once per seed
            flush(pending)
            held = 0
        while emitted < total and rows[emitted] is not None:
            yield emitted, (None if rows[emitted] is skipped else rows[emitted])
            emitted += 1


def _tasks(cfg, units, keys, known, n_workers):
    """The units still to run, as tasks of unit indices: one per cell (seed and rate), in table order. A key
    met again (the ceiling at every rate) is run once, with its first unit; when there are fewer cells than
    twice the workers, a cell's UL4M4 units at several k (with something missing) are split one per task, so
    that a k-sensitivity sweep at one rate keeps the workers busy."""
    claimed, tasks = set(), []
    for (seed, rate), cell in itertools.groupby(range(len(units)), key=lambda i: units[i][:2]):
        todo = []
        for i in cell:
            if keys[i] not in known and keys[i] not in claimed:
                claimed.add(keys[i])
                todo.append(i)
        if todo:
            tasks.append(todo)
    if len(tasks) < 2 * n_workers:
        split = []
        for task in tasks:
            several = [i for i in task if units[i][2] == "ul4m4"]
            if len(several) > 1 and units[task[0]][1] > 0:  # at rate 0 every unit shares one classifier
                rest = [i for i in task if units[i][2] != "ul4m4"]
                split += ([rest] if rest else []) + [[i] for i in several]
            else:
                split.append(task)
        tasks = split
    return tasks


def _run_units(dataset, cfg, units, on_error):
    """A task in a worker process: run ``units`` as ``_unit_rows`` does; returns their (position, row or
    None) pairs, the cache entries they made, and the warnings and failures called back."""
    events, made = [], {}
    rows = list(_unit_rows(dataset, cfg, units, made, lambda info: info["stage"] != "sweep" and events.append(info),
                           on_error))
    return rows, made, events


def _pooled_rows(dataset, cfg, units, cache, callback, on_error, pool, in_order=True):
    """``_unit_rows`` for the whole plan, with the units run in ``pool``'s worker processes."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    ks = tuple(cfg.ks) if cfg.ks else (cfg.k,)
    total = len(units)
    keys = [unit_key(cfg, *u) for u in units]
    known = {} if cache is None else {key: cache[key] for key in keys if key in cache}  # key -> measured columns
    lost = {}  # key -> True for a unit left out (its failure is said once, by the worker that met it)
    rows, finished = [None] * total, [False] * total
    done, emitted, said = 0, 0, set()
    n_workers = getattr(pool, "_max_workers", 2)
    # At most two tasks per worker are queued at a time: sweeps of several sessions sharing a pool take turns,
    # and a sweep that is stopped leaves little queued behind.
    tasks = _tasks(cfg, units, keys, known, n_workers)
    # Longest first (the most missing, the most units), so that the workers finish together instead of one
    # waiting on a rate-0.8 cell at the end: all of them, or for rows in order only the last few. The rows
    # still come in table order.
    def longest_first(t):
        return -units[t[0]][1] * len(t)

    tail = 2 * n_workers
    if not in_order:
        tasks.sort(key=longest_first)
    elif len(tasks) > tail:
        tasks[-tail:] = sorted(tasks[-tail:], key=longest_first)
    queue = list(reversed(tasks))
    futures = {}

    def submit():
        while queue and len(futures) < 2 * n_workers:
            task = queue.pop()
            futures[pool.submit(_run_units, dataset, cfg, [units[i] for i in task], on_error)] = task

    def finish(i, row):
        nonlocal done
        rows[i], finished[i] = row, True
        done += 1
        if callback is not None:
            callback(_progress(units[i], done, total, ks))

    def settle():
        """Rows of units whose key is now known (from the cache, another rate or a worker)."""
        for i in range(total):
            if not finished[i] and (keys[i] in known or keys[i] in lost):
                finish(i, {**_base(cfg, *units[i]), **known[keys[i]]} if keys[i] in known else None)

    try:
        settle()
        submit()
        while True:
            while emitted < total and finished[emitted]:
                yield emitted, rows[emitted]
                emitted += 1
            if not futures:
                break
            ready, _ = wait(futures, return_when=FIRST_COMPLETED)
            # In table order: of several tasks done at once, the first unit's error (or warning) is the one said
            for future in sorted(ready, key=lambda f: futures[f][0]):
                task = futures.pop(future)
                pairs, made, events = future.result()
                for info in events:
                    if info["stage"] == "warning":
                        if info["text"] in said:
                            continue
                        said.add(info["text"])
                        if callback is None:
                            warnings.warn(info["text"], info.get("category", UserWarning), stacklevel=3)
                    elif callback is None:
                        warnings.warn(info["text"], RuntimeWarning, stacklevel=3)
                    if callback is not None:
                        callback(info)
                if cache is not None:
                    cache.update(made)
                known.update(made)
                for pos, row in pairs:
                    if row is None:
                        lost[keys[task[pos]]] = True
                settle()
            submit()
    except BrokenProcessPool as exc:  # a worker died (the system's out-of-memory killer, most often)
        raise ChildProcessError("a sweep worker process stopped unexpectedly (out of memory, or killed); run the "
                                "sweep again, or with fewer rates, seeds or methods.") from exc
    finally:
        for future in futures:  # the sweep was stopped (an error, or the caller left): drop what has not started
            future.cancel()


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_workers():
    """(worker processes, threads each) for sweeps on this machine's CPUs: one process per core up to four,
    the cores shared out as threads; (0, 0), run here, with a single core. ``UL4M4_SWEEP_WORKERS`` sets the
    number of processes (0: run here)."""
    cores = _cores()
    wanted = os.environ.get("UL4M4_SWEEP_WORKERS", "").strip()
    if wanted:
        try:
            n = int(wanted)
        except ValueError:
            raise ValueError(f"UL4M4_SWEEP_WORKERS={wanted!r} should be a whole number of worker processes "
                             "(0 runs sweeps in the calling process).") from None
        if n < 0:
            raise ValueError(f"UL4M4_SWEEP_WORKERS={n} should be 0 or more.")
    else:
        n = min(cores, MAX_WORKERS) if cores >= 2 else 0
    return (n, max(1, cores // n)) if n else (0, 0)


def workers_suit(dataset, cfg):
    """Whether worker processes (``sweep_pool``) suit a sweep of ``cfg`` on ``dataset``: on the CPU (a GPU is
    shared better by one process), with data of at most ``WORKER_MAX_BYTES`` (each task gets a copy)."""
    size = sum(X.nbytes for X in dataset.Xs) + dataset.mask.nbytes + (0 if dataset.y is None else dataset.y.nbytes)
    return cfg.device == "cpu" and size <= WORKER_MAX_BYTES


def _init_worker(threads):
    """In each worker process: the threads its share of the cores allows (torch, and BLAS for numpy)."""
    import gc
    import signal

    import torch
    from threadpoolctl import threadpool_limits

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle (it stops the pool)
    # What the worker was forked with (the libraries' objects) lives as long as it does: out of the garbage
    # collector's sight, its full collections are quicker and leave those pages shared with the parent.
    gc.freeze()
    torch.set_num_threads(threads)
    threadpool_limits(threads)


def _ready():
    return os.getpid()


def sweep_pool(workers=None, threads=None, start=None):
    """Worker processes for ``iter_sweep(..., workers=...)``: a ``ProcessPoolExecutor`` of ``workers``
    processes (``default_workers()`` when None; None is returned when that is 0) with ``threads`` torch and
    BLAS threads each. The processes are started at once; keep the pool for many sweeps, and ``shutdown()``
    it when done.

    ``start`` is the multiprocessing start method. The default, "forkserver" (or "spawn" where there is
    none), is safe in a threaded program such as a web server: a fresh server process imports the library
    once (a few seconds, in the background) and each worker is forked from it. "fork" starts the workers at
    once from the caller's own imports; use it only from a single-threaded program that has run no torch
    work yet (a command line tool at its start)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    workers = default_workers()[0] if workers is None else int(workers)
    if workers < 1:
        return None
    threads = int(threads or max(1, _cores() // workers))
    if start is None:
        start = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(start)
    if start == "forkserver":
        ctx.set_forkserver_preload([__name__])  # the library, imported once by the server the workers fork from
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(threads,))
    for _ in range(workers):  # start every process now (a pool otherwise starts them as work comes)
        pool.submit(_ready)
    return pool


def run_sweep(dataset, cfg: SweepConfig, callback=None, cache=None, on_error="raise", workers=None):
    """Run a sweep and return its tidy table (columns ``COLUMNS``): ``iter_sweep`` collected.

    Parameters
    ----------
    dataset : Dataset with labels
    cfg : SweepConfig
    callback : callable(dict) or None
        Called as {"stage": "sweep", "done": i, "total": n, "text": ...} after each unit of work.
    cache : dict or None, finished units for this dataset (see ``iter_sweep``)
    on_error : "raise" or "skip", as ``iter_sweep``: with "skip" a unit whose method failed has no row
    workers : executor or None, where the units run (see ``iter_sweep``; ``sweep_pool`` makes one)
    """
    # The rows are wanted all at once: in worker processes the cells run longest first (``in_order=False``).
    return pd.DataFrame(list(iter_sweep(dataset, cfg, cache=cache, callback=callback, on_error=on_error,
                                        workers=workers, in_order=False)), columns=COLUMNS)
