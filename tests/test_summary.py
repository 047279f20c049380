"""Summaries of result tables: mean and spread over seeds."""

import numpy as np
import pandas as pd
import pytest

from ul4m4.summary import summarise


def sweep_table():
    """A hand-made sweep table: two seeds, two rates, UL4M4 at one k, mean, and the ceiling."""
    rows = []
    for seed, (u0, u4, m0, m4) in enumerate([(0.90, 0.70, 0.90, 0.80), (0.80, 0.50, 0.80, 0.60)]):
        rows += [
            {"method": "ul4m4", "rate": 0.0, "seed": seed, "k": 3, "realized_slot_rate": 0.0, "f1_micro": u0},
            {"method": "ul4m4", "rate": 0.4, "seed": seed, "k": 3, "realized_slot_rate": 0.38 + 0.02 * seed,
             "f1_micro": u4},
            {"method": "mean", "rate": 0.0, "seed": seed, "k": None, "realized_slot_rate": 0.0, "f1_micro": m0},
            {"method": "mean", "rate": 0.4, "seed": seed, "k": None, "realized_slot_rate": 0.38 + 0.02 * seed,
             "f1_micro": m4},
            {"method": "complete", "rate": 0.4, "seed": seed, "k": None, "realized_slot_rate": 0.0,
             "f1_micro": 0.99},
        ]
    return pd.DataFrame(rows)


def test_summarise_by_hand():
    out = summarise(sweep_table(), "f1_micro")
    assert list(out["method"]) == ["ul4m4", "ul4m4", "mean", "mean", "complete"]  # order of appearance
    u = out[(out["method"] == "ul4m4") & (out["rate"] == 0.4)].iloc[0]
    assert u["mean"] == pytest.approx(0.60) and u["std"] == pytest.approx(np.std([0.7, 0.5], ddof=1))
    assert u["n"] == 2 and u["x"] == pytest.approx(0.39) and u["k"] == 3
    assert out.loc[out["method"] == "mean", "k"].isna().all()  # no k for the baselines
