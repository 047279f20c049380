"""The app's "Report" download: the current scenario as one self-contained HTML file (``ul4m4.report``)."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from appui import scenario, state, story
from ul4m4 import plotting
from ul4m4.export import make_manifest, versions
from ul4m4.report import build_report
from ul4m4.summary import sweep_verdict


def _file_name():
    ds = st.session_state[state.DATASET]
    return "ul4m4_report_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", ds.name)[:60] + ".html"


def snapshot():
    """What the report needs, read from the session during the script run: the download's callable runs
    later, outside it, where st.session_state cannot be read. None when nothing has been run yet."""
    ss = st.session_state
    run = state.current_run()
    if run is None:
        return None
    return {"facts": story.Facts.gather(run), "spec": dict(ss[state.DATASET_SPEC]),
            "query": "?" + urlencode(scenario.current()), "upload": scenario.uses_upload()}


def report_html(snap):
    """The report (an HTML string) for a ``snapshot()``."""
    facts, spec = snap["facts"], snap["spec"]
    run, ds, mres, mcfg, rcfg = facts.run, facts.ds, facts.mres, facts.mcfg, facts.rcfg
    names = ds.modality_names
    manifest = make_manifest(spec, mcfg, rcfg, mres, run.seconds,
                             {"n_iter": int(run.model.n_iter_), "converged": bool(run.model.converged_)})
    figures = [
        ("What each sample holds: features per modality.", plotting.fig_dimensions(names, ds.dims)),
        ("Requested and realised missing rates.", plotting.fig_rates(mres.report, names)),
        ("The mask after simulation (blue observed, orange missing).", plotting.fig_mask_heatmap(mres.mask, names)),
        ("Missing patterns.", plotting.fig_patterns(mres.report.pattern_counts, names)),
        ("Imputation error on the removed blocks, standardised units.",
         plotting.fig_imputation_error(run.errors, "mse", "all")),
        ("The samples completed by UL4M4 (paper), in 2-D.", facts.map_figure(memoise=False)),
        ("Training samples per cluster.", plotting.fig_cluster_sizes(run.model.labels_, run.model.n_clusters_)),
        ("Modalities held by each centre.", plotting.fig_centre_presence(run.model.center_mask_, names)),
    ]
    tables = [
        ("Imputation MSE on the removed blocks, per modality and method (lower is better)",
         plotting.errors_wide(run.errors, "mse", "all")),
        ("Missing patterns", plotting.pattern_table(mres.report, names).set_index("pattern")),
        ("Seconds per method", pd.Series({plotting.method_label(m): round(t, 3) for m, t in run.seconds.items()},
                                         name="seconds")),
    ]
    commands = ["python -m ul4m4 impute --manifest manifest.json --out completed/"]
    if facts.sweep is not None:
        cfg = facts.sweep_cfg
        figs = plotting.sweep_figures(facts.sweep, None)
        figures += [(f"Downstream {k.replace('_', '-')} against the missing rate.", f) for k, f in figs.items()]
        v = sweep_verdict(facts.sweep, "f1_micro")
        tables.append((f"F1-micro at rate {v.rate}, mean over seeds", v.scores.rename("f1_micro")))
        commands.append(
            f"python -m ul4m4 sweep --dataset {spec.get('name')} --mechanism {cfg.mechanism} "
            f"--rates {','.join(map(str, cfg.rates))} --seeds {len(cfg.seeds)} --methods {','.join(cfg.methods)} "
            f"--k {cfg.k} --out sweep/")
    notes = []
    if snap["upload"]:
        notes.append(f"The data are an uploaded file ({spec.get('name')}, sha256 {spec.get('sha256', '?')}); "
                     "the link and the commands need that file.")
    settings = {
        "Data": {"name": ds.name, "samples": ds.n_samples,
                 "modalities": ", ".join(f"{n} ({d})" for n, d in zip(names, ds.dims)),
                 **{k: v for k, v in spec.items() if k != "name"}},
        "Missingness": mcfg.to_dict(),
        "Run": {k: (list(v) if isinstance(v, tuple) else v) for k, v in rcfg.__dict__.items()},
        "Map": {"projection": facts.map_method},
    }
    story_text = [(facts.headline(i), facts.caption(i)) for i in range(len(story.STEPS))]
    return build_report(f"UL4M4 Explorer report: {ds.name}", settings=settings, story=story_text, tables=tables,
                        figures=figures, versions=versions(), manifest=manifest, commands=commands,
                        link=snap["query"], notes=notes)


def report_button(key):
    """The download; the file is built only when the button is clicked (from a snapshot taken now)."""
    snap = snapshot()
    st.download_button("Report (one HTML file)", (lambda: report_html(snap)) if snap else b"", _file_name(),
                       "text/html", key=key, icon=":material/description:", disabled=snap is None,
                       help="Settings, numbers, every figure, software versions and how to reproduce it; opens "
                            "offline." if snap else "Run UL4M4 first (Cluster & impute): the report holds its results.")
