"""The app's "Report" download: the current scenario as one self-contained HTML file (``ul4m4.report``)."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from appui import scenario, state, story
from appui.widgets import sweep_failure_texts
from ul4m4 import plotting
from ul4m4.downstream import CLASSIFIERS
from ul4m4.experiment import SPLIT_CHOICES, holdout_curve, selection_bound
from ul4m4.missing import MECHANISM_LABELS
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
    # The link reproduces the scenario; presentation mode is how it was looked at, not part of it.
    query = {k: v for k, v in scenario.current().items() if k != "present"}
    ksweep = story.current_k_sweep()
    common = {"spec": dict(ss[state.DATASET_SPEC]), "query": "?" + urlencode(query),
              "upload": scenario.uses_upload(), "ksweep": ksweep,
              "sweep_notes": [text for c in (story.current_sweep()[0], ksweep[0]) if c is not None
                              for text, _ in sweep_failure_texts(state.sweep_failures(c), c)]}
    if run is None:
        cfg, df = story.current_sweep()
        if df is None:
            return None
        return {"facts": None, "ds": ss[state.DATASET], "sweep": (cfg, df), **common}
    return {"facts": story.Facts.gather(run), "k_curve": state.memo_get((state.run_key(), "k_curve")), **common}


# The settings tables in words (the manifest beside them keeps the library's keys, to run it again).
SETTING_WORDS = {
    "mechanism": "mechanism", "rate": "missing rate", "rates": "missing rates",
    "keep_probs": "keep probability per modality", "pattern_freqs": "pattern frequencies",
    "pm": "share of lead modalities (pm)", "ps": "share of samples each lead modality loses (ps)",
    "strength": "MNAR strength", "apply_to": "data that loses modalities", "test_size": "test share",
    "seed": "seed", "seeds": "seeds", "methods": "methods", "n_clusters": "UL4M4 clusters k", "k": "UL4M4 clusters k",
    "ks": "k values (k-sensitivity)", "init": "initialisation", "max_iter": "Lloyd iterations at most",
    "device": "device", "dtype": "precision", "classifier": "classifier", "epochs": "fusion model epochs",
    "scheduler": "Dask scheduler",
}


def _given(settings):
    """The settings that apply (not None; a mechanism's own parameters only with it; the fusion model's epochs
    only with it), keyed and valued in words: what the report's tables show."""
    mech = settings.get("mechanism")
    out = {}
    for k, v in settings.items():
        if v is None or (k == "pm" and mech != "pepsy") or (k == "strength" and not str(mech).startswith("mnar")) \
                or (k == "epochs" and settings.get("classifier") != "fusion"):
            continue
        if k == "mechanism":
            v = MECHANISM_LABELS.get(v, v)
        elif k == "apply_to":
            v = SPLIT_CHOICES.get(v, v)
        elif k == "classifier":
            v = CLASSIFIERS.get(v, v)
        elif k == "methods":
            v = ", ".join(plotting.method_label(m) for m in v)
        elif isinstance(v, (list, tuple)) and all(isinstance(x, (int, float, str)) for x in v):
            v = ", ".join(map(str, v))
        out[SETTING_WORDS.get(k, k)] = v
    return out


def sweep_command(cfg, dataset, out):
    """The ``python -m ul4m4 sweep`` line that runs the sweep ``cfg`` again on ``dataset`` (a name or a file)."""
    seeds = tuple(cfg.seeds)  # "3" means 0, 1, 2 to the command; other seeds are listed
    parts = ["python -m ul4m4 sweep", f"--dataset {dataset}", f"--mechanism {cfg.mechanism}",
             f"--rates {','.join(f'{r:g}' for r in cfg.rates)}",
             f"--seeds {len(seeds) if seeds == tuple(range(len(seeds))) else ','.join(map(str, seeds))}",
             f"--methods {','.join(cfg.methods)}", f"--classifier {cfg.classifier}", f"--k {cfg.k}"]
    if cfg.ks:
        parts.append(f"--ks {','.join(map(str, cfg.ks))}")
    parts += [f"--apply-to {cfg.apply_to}", f"--test-size {cfg.test_size:g}"]
    if cfg.mechanism == "pepsy":
        parts.append(f"--pm {cfg.pm:g}")
    if cfg.mechanism.startswith("mnar"):
        parts.append(f"--strength {cfg.strength:g}")
    if cfg.classifier == "fusion":
        parts.append(f"--epochs {cfg.epochs}")
    return " ".join(parts + [f"--out {out}"])


def _sweep_parts(cfg, df, spec, ksweep=(None, None)):
    """The sweep's figures (with the k-sensitivity's, when ``ksweep`` holds its settings and table), its verdict
    table, the command lines that run them again and their settings."""
    kcfg, kdf = ksweep
    figs = plotting.sweep_figures(df, kdf)
    captions = {"imputation_mse": "Imputation error (MSE, standardised units) on the removed blocks against the "
                                  "missing rate.",
                "k_sensitivity": (f"k-sensitivity: UL4M4 (paper) at each k of {list(kcfg.ks) if kcfg else []} at "
                                  f"rate {kcfg.rates[0]:g} (the paper claims it is stable across cluster counts)."
                                  if kcfg else "")}
    figures = [(captions.get(k) or f"Downstream {plotting.METRIC_LABELS.get(k, k)} against the missing rate.", f)
               for k, f in figs.items()]
    v = sweep_verdict(df, "f1_micro")
    scores = v.scores.sort_values(ascending=False)
    scores = pd.DataFrame({"method": [plotting.method_label(m) for m in scores.index], "F1-micro": scores.values})
    table = (f"F1-micro at rate {v.rate:g}, mean over seeds (best first)", scores)
    commands = [sweep_command(cfg, spec.get("name"), "sweep/")]
    settings = {"Sweep": _given(cfg.to_dict())}
    if kcfg is not None:
        commands.append(sweep_command(kcfg, spec.get("name"), "k_sensitivity/"))
        settings["k-sensitivity"] = _given(kcfg.to_dict())
    return figures, table, commands, settings


def _rates_args(mres, mcfg, names):
    report, where = mres.applied_report(mcfg.apply_to)
    return report, names, where


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
    figures, table, commands, sweep_settings = _sweep_parts(cfg, df, spec, snap.get("ksweep", (None, None)))
    v = sweep_verdict(df, "f1_micro")
    listing = ", ".join(f"{plotting.method_label(k)} {s:.3f}" for k, s in v.scores.sort_values(ascending=False).items())
    n_seeds = f"{len(cfg.seeds)} seed{'s' if len(cfg.seeds) != 1 else ''}"
    story_text = [(f"Best classifier input at the highest rate: {v.best_text(plotting.method_label)}",
                   f"F1-micro at rate {v.rate:g}, mean over "
                   f"{'the seeds every method has' if snap.get('sweep_notes') else n_seeds}: "
                   f"{listing}. No UL4M4 run on "
                   "Cluster & impute yet: this report holds the degradation sweep only.")]
    settings = {"Data": _data_settings(ds, spec), **sweep_settings}
    figures = [("What each sample holds: features per modality.", plotting.fig_dimensions(ds.modality_names, ds.dims)),
               *figures]
    # Keyed as the command line's own sweep manifest ("sweep"), the k-sensitivity beside it.
    manifest = {"command": "sweep", "sweep": cfg.to_dict(),
                **({"k_sensitivity": snap["ksweep"][0].to_dict()} if snap.get("ksweep", (None,))[0] else {})}
    return build_report(f"UL4M4 Explorer report: {ds.name}", settings=settings, story=story_text, tables=[table],
                        figures=figures, versions=versions(), manifest=manifest,
                        commands=commands, link=snap["query"], notes=_upload_notes(snap) + snap.get("sweep_notes", []))


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
        ("Requested and realised missing rates (of the data that lost modalities).",
         plotting.fig_rates(*_rates_args(mres, mcfg, names))),
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
        ("Seconds per method", pd.Series({plotting.method_label(m): t for m, t in run.seconds.items()},
                                         name="seconds").rename_axis("method")),
    ]
    soft = run.models.get("ul4m4_soft")
    curve = snap.get("k_curve")
    if curve is None and soft is not None:
        curve = holdout_curve(soft)
    if curve is not None and soft is not None:
        figures.append(("Choosing k without labels: UL4M4 soft's hold-out error against k (and the true error on the "
                        "removed blocks, when it was computed on the page).",
                        plotting.fig_k_selection(curve, soft.n_clusters_, selection_bound(soft))))
    commands = ["python -m ul4m4 impute --manifest manifest.json --out completed/"]
    sweep_settings = {}
    if facts.sweep is not None:
        sweep_figs, table, sweep_commands, sweep_settings = _sweep_parts(facts.sweep_cfg, facts.sweep, spec,
                                                                         snap.get("ksweep", (None, None)))
        figures += sweep_figs
        tables.append(table)
        commands += sweep_commands
    notes = _upload_notes(snap) + [
        f"{plotting.method_label(f.method)} failed on these data and is left out of this report: "
        + (f.message if f.expected else f"unexpected error ({f.error_type})") for f in run.failed.values()]
    if facts.sweep is not None:
        notes += snap.get("sweep_notes", [])
    settings = {
        "Data": _data_settings(ds, spec),
        "Missingness": _given(mcfg.to_dict()),
        "Run": _given(rcfg.__dict__),
        "Map": {"projection": facts.map_method},
        **sweep_settings,
    }
    story_text = [(facts.headline(i), facts.caption(i)) for i in range(len(story.STEPS))]
    return build_report(f"UL4M4 Explorer report: {ds.name}", settings=settings, story=story_text, tables=tables,
                        figures=figures, versions=versions(), manifest=manifest, commands=commands,
                        link=snap["query"], notes=notes)


def report_button(key):
    """The download; the file is built only when the button is clicked (from a snapshot taken now)."""
    snap = snapshot()
    st.download_button("Report (one HTML file)", (lambda: report_html(snap)) if snap else b"", _file_name(),
                       "text/html", on_click="ignore", key=key, icon=":material/description:", disabled=snap is None,
                       help="Settings, numbers, every figure, software versions and how to reproduce it; opens "
                            "offline." if snap else "Run UL4M4 (Cluster & impute) or a sweep (Degradation) first: the "
                            "report holds their results.")
