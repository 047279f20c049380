"""The one-file HTML report, per-block errors and the selection table."""

import re

import numpy as np
import plotly.graph_objects as go
import pytest

from ul4m4 import UL4M4Imputer, simulate_missing
from ul4m4.imputation_metrics import block_errors, imputation_error
from ul4m4.report import build_report
from ul4m4.summary import sample_table


def figure(title):
    fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2]))
    fig.update_layout(title=title, xaxis_title="x (units)", yaxis_title="y (units)")
    return fig


def test_report_is_one_self_contained_file_with_every_figure():
    figs = [(f"caption {i}", figure(f"Figure {i}")) for i in range(4)]
    out = build_report("A report", settings={"Data": {"name": "mfeat"}}, story=[("Head", "Caption")],
                       figures=figs,
                       versions={"numpy": np.__version__}, manifest={"a": 1}, commands=["python -m ul4m4 impute"],
                       link="?data=mfeat")
    assert out.startswith("<!DOCTYPE html>")
    scripts = re.findall(r"<script\b[^>]*>", out, flags=re.I)
    assert scripts and not any("src=" in s.lower() for s in scripts)  # nothing fetched
    assert not re.search(r"<link\b[^>]*href=", out, flags=re.I)
    assert out.count("Plotly.newPlot") == len(figs)
    assert out.count("plotly.js v") <= 2  # the library inlined once (its banner)
    assert len(out) > 1_000_000  # plotly.js itself is in the file
    for i in range(len(figs)):
        assert f"Figure {i}" in out and f"figure-{i}" in out


def test_report_escapes_every_text_from_data_or_settings():
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    out = build_report(evil, settings={evil: {evil: evil}}, story=[(evil, evil)], notes=[evil],
                       manifest={"name": evil}, commands=[evil], link=evil)
    assert "<script>alert(1)" not in out and "<img src=x" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out


def test_block_errors_average_to_the_per_modality_error():
    rng = np.random.default_rng(0)
    Xs = [rng.normal(size=(200, 5)) * 3 + 1, rng.normal(size=(200, 4))]
    mask, _ = simulate_missing(200, 2, "mcar", rate=0.4, random_state=0)
    holed = [np.where(mask[:, [m]], X, np.nan) for m, X in enumerate(Xs)]
    out = UL4M4Imputer(4, random_state=0).fit_transform(holed, mask)
    removed = ~mask
    be = block_errors(Xs, out, removed)
    table = imputation_error(Xs, out, removed)
    assert np.isnan(be[mask]).all() and np.isfinite(be[removed]).all()
    for m in range(2):
        assert be[removed[:, m], m].mean() == pytest.approx(table.loc[m, "mse"], rel=1e-12)


def test_sample_table_lists_every_block_of_the_selected_samples():
    rng = np.random.default_rng(1)
    Xs = [rng.normal(size=(60, 3)), rng.normal(size=(60, 2))]
    mask, _ = simulate_missing(60, 2, "mcar", rate=0.5, random_state=1)
    holed = [np.where(mask[:, [m]], X, np.nan) for m, X in enumerate(Xs)]
    model = UL4M4Imputer(3, random_state=0).fit(holed, mask)
    out, prov = model.transform(holed, mask, return_provenance=True)
    be = block_errors(Xs, out, ~mask)
    ids = [int(i) for i in np.flatnonzero(~mask.all(axis=1))[:3]] + [int(np.flatnonzero(mask.all(axis=1))[0])]
    t = sample_table(ids, ["a", "b"], mask, ~mask, {"ul4m4": prov}, {"ul4m4": be}, labels=np.arange(60) % 3,
                     method_labels={"ul4m4": "UL4M4"})
    assert len(t) == 2 * len(ids) and list(t["sample"].unique()) == ids
    imputed = t[t["status"] == "imputed"]
    assert (imputed["UL4M4: filled from"].str.startswith("centre")).all()
    assert imputed["UL4M4: error (MSE)"].notna().all() and imputed["UL4M4: confidence"].between(0, 1).all()
    observed = t[t["status"] == "observed"]
    assert observed["UL4M4: error (MSE)"].isna().all() and (observed["UL4M4: filled from"] == "").all()
    row = imputed.iloc[0]
    m = ["a", "b"].index(row["modality"])
    assert row["UL4M4: error (MSE)"] == pytest.approx(be[row["sample"], m])
    assert row["UL4M4: filled from"] == f"centre {prov.source[row['sample'], m]}"


def test_the_reports_settings_are_in_words_and_only_those_that_apply():
    """The settings tables are for readers (the manifest beside them keeps the library's keys): words for
    keys and values, and a mechanism's or the fusion model's own parameters only where they apply."""
    from appui.reporting import _given
    from ul4m4.experiment import MissingConfig, RunConfig
    from ul4m4.sweep import SweepConfig

    assert _given(MissingConfig().to_dict()) == {
        "mechanism": "MCAR (each slot independently)", "missing rate": 0.3,
        "data that loses modalities": "training and test data both incomplete", "test share": 0.3, "seed": 0}
    pepsy = _given(MissingConfig(mechanism="pepsy", rate=None, pm=0.5, ps=0.4, apply_to="test").to_dict())
    assert pepsy["share of lead modalities (pm)"] == 0.5 and "MNAR strength" not in pepsy
    assert pepsy["data that loses modalities"] == "train on complete data, test incomplete"
    assert _given(MissingConfig(mechanism="mnar_value").to_dict())["MNAR strength"] == 2.0
    run = _given(RunConfig(methods=("ul4m4", "knn")).__dict__)
    assert run["methods"] == "UL4M4 (paper), kNN" and run["UL4M4 clusters k"] == 10 and "Dask scheduler" not in run
    sweep = _given(SweepConfig(ks=(2, 5)).to_dict())
    assert sweep["missing rates"] == "0.0, 0.2, 0.4, 0.6, 0.8" and sweep["k values (k-sensitivity)"] == "2, 5"
    assert sweep["classifier"].startswith("Linear probe") and "fusion model epochs" not in sweep
    assert "share of lead modalities (pm)" not in sweep
    assert _given(SweepConfig(classifier="fusion").to_dict())["fusion model epochs"] == 15
