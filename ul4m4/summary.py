"""Summaries of result tables, shared by the figures, the pages and the command line: mean and spread
over seeds of a sweep.
"""

from __future__ import annotations

import numpy as np

__all__ = ["summarise"]


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
