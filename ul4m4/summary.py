"""Summaries of result tables, shared by the figures, the pages and the command line: mean and spread
over seeds of a sweep, and which method did best.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["summarise", "Verdict", "best_method", "imputation_verdict", "sweep_verdict", "failure_summary",
           "sample_table"]


def summarise(df, metric):
    """Mean, std and count over seeds of ``metric`` per method, rate (and k) of a sweep table.

    Parameters
    ----------
    df : DataFrame with columns method, rate, k, realized_slot_rate and ``metric`` (``sweep.COLUMNS``)
    metric : str

    Returns
    -------
    DataFrame with columns method, rate, k, mean, std, n (seeds with a value) and x (mean realised
    missing-slot rate), in the order the groups first appear.
    """
    keys = ["method", "rate", "k"]
    d = df.assign(k=df["k"].fillna(-1))
    g = d.groupby(keys, sort=False)
    out = g.agg(mean=(metric, "mean"), std=(metric, "std"), n=(metric, "count"),
                x=("realized_slot_rate", "mean")).reset_index()
    out["k"] = out["k"].where(out["k"] >= 0, np.nan)
    return out


@dataclass(frozen=True)
class Verdict:
    """Each method's score and the best method (None when no method has a score).

    ``rate`` is the missing rate the scores were taken at, for sweeps; None otherwise.
    """

    scores: pd.Series
    best: str | None
    rate: float | None = None
    close: tuple = ()  # sweeps: methods not told apart from the best by the seeds (``sweep_verdict``)

    @property
    def tied(self):
        """Every method whose score equals the best one's (within 1e-9), the best first; more than one is a tie
        (two methods giving the same predictions on the test split score exactly alike)."""
        if self.best is None:
            return ()
        b = float(self.scores[self.best])
        return (self.best,) + tuple(m for m, v in self.scores.items()
                                    if m != self.best and abs(float(v) - b) <= 1e-9 * max(1.0, abs(b)))

    def best_text(self, label=str):
        """The best method in words, ``label`` naming each: "X", or "X and Y (tied)"; "" when there is none."""
        names = [label(m) for m in self.tied]
        if len(names) <= 1:
            return names[0] if names else ""
        return ", ".join(names[:-1]) + f" and {names[-1]} (tied)"


def best_method(scores, higher_is_better):
    """The method (index label) with the best score of a Series; NaN scores are ignored; None if none is left."""
    s = pd.Series(scores, dtype=float).dropna()
    if s.empty:
        return None
    return s.idxmax() if higher_is_better else s.idxmin()


def imputation_verdict(errors, metric="mse", split="all"):
    """Imputation error of each method over every removed block of one split, and the best method.

    Parameters
    ----------
    errors : DataFrame, ``RunResult.errors`` (columns method, split, modality, n_removed, mse, cosine)
    metric : "mse" (lower is better) or "cosine" (higher is better)
    split : "all", "train" or "test"

    Returns
    -------
    Verdict; ``best`` is None when nothing was removed (every score is NaN).
    """
    if metric not in ("mse", "cosine"):
        raise ValueError(f"metric={metric!r} should be 'mse' or 'cosine'.")
    sel = errors[(errors["split"] == split) & (errors["modality"] == "all")]
    scores = sel.set_index("method")[metric]
    return Verdict(scores, best_method(scores, higher_is_better=metric == "cosine"))


def sweep_verdict(df, metric="f1_micro"):
    """Each imputer's mean score over seeds at the highest rate of a sweep table, and the best one.

    The ceiling "complete" is left out: it is no imputer. Scores are higher-is-better metrics
    (``f1_micro``, ``f1_macro``, ``accuracy``); methods come in alphabetical order.

    Returns
    -------
    Verdict with ``rate`` the highest rate of the table.
    """
    rate = df["rate"].max()
    top = df[(df["rate"] == rate) & (df["method"] != "complete")]
    # Like for like: when units were left out (a method that failed at some seeds, ``iter_sweep``'s
    # on_error="skip"), the methods are compared on the seeds every one of them has.
    seeds = top.groupby("method")["seed"].apply(set)
    common = set.intersection(*seeds) if len(seeds) else set()
    if common and any(s != common for s in seeds):
        top = top[top["seed"].isin(common)]
    scores = top.groupby("method")[metric].mean()
    best = best_method(scores, higher_is_better=True)
    return Verdict(scores, best, rate, _within_spread(top, metric, best))


def _within_spread(top, metric, best):
    """The methods (not tied with ``best``) whose mean score trails the best one's by less than one standard
    deviation of their per-seed differences from it: on these seeds they are not told apart. Methods are
    compared seed by seed (each seed's split and mask are the same for all); with fewer than two common
    seeds nothing can be told apart, and nothing is listed."""
    if best is None:
        return ()
    per_seed = top.groupby(["method", "seed"])[metric].mean().unstack("seed")
    out = []
    for m in per_seed.index:
        if m == best:
            continue
        diff = (per_seed.loc[best] - per_seed.loc[m]).dropna()
        if len(diff) >= 2 and 1e-9 < diff.mean() < diff.std(ddof=1):
            out.append(m)
    return tuple(out)


def failure_summary(failures, planned):
    """The units a sweep left out (``sweep.UnitFailure``s), one entry per method and kind of error.

    Parameters
    ----------
    failures : list of UnitFailure
    planned : dict, method -> number of units the sweep planned for it

    Returns
    -------
    list of dict with keys method, error_type, message (the first unit's), expected, n (units), everywhere
    (every planned unit of the method failed) and where (the units in words: "rate 0.8 (seeds 0, 1, 2)",
    "; "-separated, with "k=5 at " in front when the sweep has several k), in the order first met.
    """
    groups = {}
    for f in failures:
        groups.setdefault((f.method, f.error_type, f.expected), []).append(f)
    out = []
    for (method, error_type, expected), fs in groups.items():
        cells = {}
        for f in fs:
            cells.setdefault((f.k, f.rate), []).append(f.seed)
        parts = []
        for (k, rate), seeds in cells.items():
            seeds = sorted(set(seeds))
            words = f"rate {rate:g} (seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))})"
            parts.append(words if k is None else f"k={k} at {words}")
        n = len(fs)
        out.append({"method": method, "error_type": error_type, "message": fs[0].message, "expected": expected,
                    "n": n, "everywhere": n >= planned.get(method, n + 1), "where": "; ".join(parts)})
    return out


def realised_slot_rate(df, rate):
    """Mean share of modality slots missing in fact in a sweep table's imputed units at ``rate`` (the
    requested rate; each sample keeps a modality, so the realised share can be lower); NaN if none."""
    sub = df[(df["rate"] == rate) & (df["method"] != "complete")]["realized_slot_rate"]
    return float(sub.mean()) if sub.notna().any() else float("nan")


SWEEP_FAMILY = ("ul4m4", "ul4m4_soft", "ul4m4_lowrank")  # a sweep's UL4M4 methods


def sample_table(ids, names, mask, removed, provenances, block_errors=None, labels=None, clusters=None,
                 split=None, method_labels=None):
    """One row per (sample, modality) of the samples ``ids``: whether the block was observed or imputed
    (and why it was missing), and for each method which centre filled it, its error and its confidence.

    Parameters
    ----------
    ids : sequence of int, sample indices
    names : list of str, modality names
    mask : (n, M) bool, True where the block was observed (after simulation)
    removed : (n, M) bool, True where the simulation removed an observed block (the truth is known)
    provenances : dict method -> ``Provenance`` (source, confidence, weight, ...)
    block_errors : dict method -> (n, M) float, error of each removed block (NaN elsewhere), or None
    labels, clusters, split : (n,) arrays or None (split holds "train"/"test")
    method_labels : dict method -> readable name, or None

    Returns
    -------
    DataFrame with columns sample, [split], [label], [cluster], modality, status ("observed" or
    "imputed"), missing because, then per method "<name>: filled from", "<name>: error (MSE)" and
    "<name>: confidence".
    """
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    mask = np.asarray(mask, dtype=bool)
    removed = np.asarray(removed, dtype=bool)
    label_of = method_labels or {}
    rows = []
    for i in ids:
        for m, name in enumerate(names):
            row = {"sample": int(i)}
            if split is not None:
                row["split"] = split[i]
            if labels is not None:
                row["label"] = labels[i]
            if clusters is not None:
                row["cluster"] = int(clusters[i])
            observed = bool(mask[i, m])
            row.update(modality=name, status="observed" if observed else "imputed",
                       **{"missing because": "" if observed else
                          ("removed by the simulation" if removed[i, m] else "missing in the data")})
            for method, prov in provenances.items():
                tag = label_of.get(method, method)
                src = int(prov.source[i, m])
                if observed:
                    filled = ""
                elif src < 0:
                    filled = "training mean"
                else:
                    w = prov.weight[i, m]
                    filled = f"centre {src}" + (f" (weight {w:.2f})" if np.isfinite(w) and w < 1.0 else "")
                err = block_errors.get(method) if block_errors else None
                row[f"{tag}: filled from"] = filled
                row[f"{tag}: error (MSE)"] = np.nan if err is None else float(err[i, m])
                row[f"{tag}: confidence"] = np.nan if observed else float(prov.confidence[i, m])
            rows.append(row)
    return pd.DataFrame(rows)
