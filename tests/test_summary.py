"""Summaries of result tables: mean and spread over seeds, and which method did best."""

import numpy as np
import pandas as pd
import pytest

from ul4m4.summary import best_method, imputation_verdict, summarise, sweep_verdict


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


def test_best_method_ignores_nan_and_can_be_none():
    s = pd.Series({"ul4m4": 0.4, "mean": np.nan, "zero": 0.9})
    assert best_method(s, higher_is_better=False) == "ul4m4"
    assert best_method(s, higher_is_better=True) == "zero"
    assert best_method(pd.Series({"ul4m4": np.nan, "mean": np.nan}), higher_is_better=False) is None


def errors_table(removed=True):
    rows = []
    for method, mse, cos in (("ul4m4", 0.5, 0.7), ("mean", 0.6, 0.8), ("zero", 1.2, 0.1)):
        for split in ("train", "test", "all"):
            for modality in ("a", "all"):
                # On the test split the mean wins on MSE: the verdict must read the split it is asked for.
                m = mse if split != "test" or method != "mean" else 0.1
                rows.append({"method": method, "split": split, "modality": modality, "n_removed": 3 * removed,
                             "mse": m if removed else np.nan, "cosine": cos if removed else np.nan})
    return pd.DataFrame(rows)


def test_imputation_verdict_lower_mse_higher_cosine_per_split():
    err = errors_table()
    v = imputation_verdict(err, "mse")
    assert v.best == "ul4m4" and list(v.scores.index) == ["ul4m4", "mean", "zero"]
    assert v.scores["zero"] == 1.2
    assert imputation_verdict(err, "cosine").best == "mean"
    assert imputation_verdict(err, "mse", "test").best == "mean"
    with pytest.raises(ValueError, match="metric='f1'"):
        imputation_verdict(err, "f1")


def test_imputation_verdict_when_nothing_was_removed():
    v = imputation_verdict(errors_table(removed=False), "mse")
    assert v.best is None and v.scores.isna().all()


def test_sweep_verdict_at_highest_rate_without_the_ceiling():
    v = sweep_verdict(sweep_table(), "f1_micro")
    assert v.rate == 0.4
    assert "complete" not in v.scores  # 0.99 would otherwise win
    assert v.scores.to_dict() == pytest.approx({"mean": 0.70, "ul4m4": 0.60})
    assert v.best == "mean"


def test_sweep_verdict_compares_methods_on_the_seeds_they_all_have():
    """A method left out at some seeds (its units failed) is compared with the others on the seeds every
    method has, not its mean over fewer seeds against theirs over more."""
    import pandas as pd

    from ul4m4.summary import sweep_verdict

    rows = [("a", 0.6, 0, 0.9), ("a", 0.6, 1, 0.5), ("b", 0.6, 0, 0.8), ("complete", 0.6, 0, 1.0),
            ("complete", 0.6, 1, 1.0), ("a", 0.0, 0, 0.1)]
    df = pd.DataFrame(rows, columns=["method", "rate", "seed", "f1_micro"])
    v = sweep_verdict(df)
    assert v.rate == 0.6 and v.scores.to_dict() == {"a": 0.9, "b": 0.8} and v.best == "a"
    # Every method at every seed: the plain mean over seeds, as before.
    v = sweep_verdict(df[df["method"] != "b"])
    assert v.scores.to_dict() == {"a": 0.7} and v.best == "a"


def test_failure_summary_groups_by_method_and_kind_and_says_where():
    from ul4m4.summary import failure_summary
    from ul4m4.sweep import UnitFailure

    fs = [UnitFailure("knn", 0, 0.8, None, "ValueError", "no donor (seed 0)", True),
          UnitFailure("knn", 1, 0.8, None, "ValueError", "no donor (seed 1)", True),
          UnitFailure("knn", 1, 0.6, None, "ValueError", "no donor", True),
          UnitFailure("ul4m4", 0, 0.4, 40, "MemoryError", "", True),
          UnitFailure("knn", 2, 0.8, None, "IndexError", "index 7", False)]
    out = failure_summary(fs, {"knn": 6, "ul4m4": 1})
    assert [(g["method"], g["error_type"], g["n"], g["everywhere"], g["where"], g["message"]) for g in out] == [
        ("knn", "ValueError", 3, False, "rate 0.8 (seeds 0, 1); rate 0.6 (seed 1)", "no donor (seed 0)"),
        ("ul4m4", "MemoryError", 1, True, "k=40 at rate 0.4 (seed 0)", ""),
        ("knn", "IndexError", 1, False, "rate 0.8 (seed 2)", "index 7")]


def test_a_tie_for_the_best_score_is_said_as_a_tie():
    """Two methods with the same score (the same predictions on the test split) share the best place: the
    verdict names both, and a UL4M4 variant tied for it does not 'lose'."""
    import pandas as pd

    from ul4m4.summary import sweep_verdict

    df = pd.DataFrame([("softimpute", 0.4, 0, 0.955), ("ul4m4_soft", 0.4, 0, 0.955), ("mean", 0.4, 0, 0.94)],
                      columns=["method", "rate", "seed", "f1_micro"])
    v = sweep_verdict(df)
    assert set(v.tied) == {"softimpute", "ul4m4_soft"} and v.tied[0] == v.best
    assert v.best_text(str.upper) in ("SOFTIMPUTE and UL4M4_SOFT (tied)", "UL4M4_SOFT and SOFTIMPUTE (tied)")
    v = sweep_verdict(df[df["method"] != "softimpute"])
    assert v.tied == ("ul4m4_soft",) and v.best_text() == "ul4m4_soft"
    assert sweep_verdict(df.iloc[:0]).best_text() == ""


def test_sweep_verdict_names_the_methods_the_seeds_cannot_tell_from_the_best():
    """Per-seed differences from the best: a method whose mean trails by less than their standard deviation is
    not told apart; a consistent gap is, however small; one seed tells nothing apart."""
    rows = []
    for seed, (a, b, c) in enumerate([(0.90, 0.89, 0.80), (0.86, 0.88, 0.79), (0.88, 0.86, 0.81)]):
        for method, v in (("mean", a), ("softimpute", b), ("ul4m4", c)):
            rows.append({"method": method, "rate": 0.8, "seed": seed, "f1_micro": v})
            rows.append({"method": method, "rate": 0.0, "seed": seed, "f1_micro": 0.95})
    df = pd.DataFrame(rows)
    v = sweep_verdict(df)
    assert v.best == "mean" and v.close == ("softimpute",)  # mean leads by 0.0033 +- 0.021: noise
    # UL4M4 trails by about 0.08 at every seed: told apart. A steady small gap is told apart too.
    df.loc[df["method"] == "softimpute", "f1_micro"] -= 0.02
    df.loc[(df["method"] == "softimpute") & (df["rate"] == 0.8), "f1_micro"] = \
        df.loc[(df["method"] == "mean") & (df["rate"] == 0.8), "f1_micro"].to_numpy() - 0.001
    assert sweep_verdict(df).close == ()
    assert sweep_verdict(df[df["seed"] == 0]).close == ()  # one seed: no spread to judge by
