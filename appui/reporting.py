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
    later, outside it, where st.session_state cannot be read. None when nothing has been run yet; with
    only a sweep (no UL4M4 run), a report of the sweep ("facts" None)."""
    ss = st.session_state
    run = state.current_run()
    common = {"spec": dict(ss[state.DATASET_SPEC]), "query": "?" + urlencode(scenario.current()),
              "upload": scenario.uses_upload()}
    if run is None:
        cfg, df = story.current_sweep()
        if df is None:
            return None
        return {"facts": None, "ds": ss[state.DATASET], "sweep": (cfg, df), **common}
    return {"facts": story.Facts.gather(run), **common}


def _sweep_parts(cfg, df, spec):
    """The sweep's figures, its verdict table and the command line that runs it again."""
    figs = plotting.sweep_figures(df, None)
    figures = [(f"Imputation error (MSE, standardised units) on the removed blocks against the missing rate."
                if k.startswith("imputation") else f"Downstream {k.replace('_', '-')} against the missing rate.", f)
               for k, f in figs.items()]
    v = sweep_verdict(df, "f1_micro")
    scores = v.scores.rename("F1-micro").rename(index=plotting.method_label).rename_axis("method")
    table = (f"F1-micro at rate {v.rate}, mean over seeds", scores)
    command = (f"python -m ul4m4 sweep --dataset {spec.get('name')} --mechanism {cfg.mechanism} "
               f"--rates {','.join(map(str, cfg.rates))} --seeds {len(cfg.seeds)} --methods {','.join(cfg.methods)} "
               f"--k {cfg.k} --out sweep/")
    return figures, table, command


def _upload_notes(snap):
    spec = snap["spec"]
    if snap["upload"]:
        return [f"The data are an uploaded file ({spec.get('name')}, sha256 {spec.get('sha256', '?')}); "
                "the link and the commands need that file."]
    return []


def _data_settings(ds, spec):
    return {"name": ds.name, "samples": ds.n_samples,
            "modalities": ", ".join(f"{n} ({d})" for n, d in zip(ds.modality_names, ds.dims)),
            **{k: v for k, v in spec.items() if k != "name"}}


def _sweep_report(snap):
    """The report when only a sweep ran: its settings, figures, verdict and how to run it again."""
    ds, spec = snap["ds"], snap["spec"]
    cfg, df = snap["sweep"]
    figures, table, command = _sweep_parts(cfg, df, spec)
    v = sweep_verdict(df, "f1_micro")
    listing = ", ".join(f"{plotting.method_label(k)} {s:.3f}" for k, s in v.scores.sort_values(ascending=False).items())
    story_text = [(f"Best classifier input at the highest rate: {plotting.method_label(v.best)}",
                   f"F1-micro at rate {v.rate:g}, mean over {len(cfg.seeds)} seeds: {listing}. No UL4M4 run on "
                   "Cluster & impute yet: this report holds the degradation sweep only.")]
    settings = {"Data": _data_settings(ds, spec), "Sweep": cfg.to_dict()}
    figures = [("What each sample holds: features per modality.", plotting.fig_dimensions(ds.modality_names, ds.dims)),
               *figures]
    return build_report(f"UL4M4 Explorer report: {ds.name}", settings=settings, story=story_text, tables=[table],
                        figures=figures, versions=versions(), manifest={"command": "sweep", "sweep": cfg.to_dict()},
                        commands=[command], link=snap["query"], notes=_upload_notes(snap))


def report_html(snap):
    """The report (an HTML string) for a ``snapshot()``."""
    if snap["facts"] is None:
        return _sweep_report(snap)
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
        sweep_figs, table, command = _sweep_parts(facts.sweep_cfg, facts.sweep, spec)
        figures += sweep_figs
        tables.append(table)
        commands.append(command)
    notes = _upload_notes(snap)
    settings = {
        "Data": _data_settings(ds, spec),
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
                            "offline." if snap else "Run UL4M4 (Cluster & impute) or a sweep (Degradation) first: the "
                            "report holds their results.")
