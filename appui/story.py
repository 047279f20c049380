"""The five-step story of the current scenario, for presentation mode and the report: a headline, a
plain-language caption computed from the current numbers (including when UL4M4 loses), and a figure."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import streamlit as st

from appui import bigdata, state
from ul4m4 import plotting
from ul4m4.experiment import SPLIT_CHOICES, ul4m4_family
from ul4m4.missing import MECHANISM_LABELS
from ul4m4.projection import project_2d
from ul4m4.summary import SWEEP_FAMILY, failure_summary, imputation_verdict, realised_slot_rate, sweep_verdict
from ul4m4.sweep import SweepConfig, check_sweep, run_sweep, units_per_method
from ul4m4.timing import format_seconds, learn
from ul4m4.validation import in_number

STEPS = ("The problem", "The mask", "The clusters", "The error", "The downstream curves")
# Presentation mode: no sidebar, header or toolbar; larger type; the figure uses the width.
PRESENTATION_CSS = """
<style>
section[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], header[data-testid="stHeader"],
[data-testid="stToolbar"], [data-testid="stDecoration"] { display: none !important; }
.stMainBlockContainer { padding-top: 1.5rem; max-width: 96vw; }
.stMainBlockContainer h1 { font-size: 2.8rem; }
.stMainBlockContainer p, .stMainBlockContainer li, .ul4m4-caption { font-size: 1.45rem; line-height: 1.5; }
</style>
"""
STORY_SWEEP_METHODS = state.DEFAULT_SWEEP_METHODS  # the comparison the Degradation page preselects


def _pct(x):
    return f"{100 * x:.0f}%"


def story_sweep_config():
    """The sweep the story shows when the Degradation page has none: 5 rates x 3 seeds, the linear probe,
    the current mechanism and k, ``STORY_SWEEP_METHODS`` (the ceiling only on data without gaps)."""
    ss = st.session_state
    mcfg = ss[state.MISSING_CFG]
    # The ceiling needs data without gaps of their own (an upload may have some): left out otherwise.
    full = bool(ss[state.DATASET].mask.all())
    methods = tuple(m for m in STORY_SWEEP_METHODS if full or m != "complete")
    return SweepConfig(mechanism=mcfg.mechanism, k=int(ss[state.RUN_CFG].n_clusters), methods=methods,
                       apply_to=mcfg.apply_to, strength=float(mcfg.strength))


def sweep_estimate_words():
    """The story's own sweep's estimated time, in words ("about 2 min")."""
    ss = st.session_state
    cfg, ds = story_sweep_config(), ss[state.DATASET]
    return format_seconds(bigdata.sweep_estimate(ds, [cfg], state.sweep_units(), state.sweep_worker_count(ds, cfg))[0])


def sweep_description():
    c = story_sweep_config()
    return (f"{len(c.rates)} rates x {len(c.seeds)} seeds, "
            + ", ".join(plotting.method_label(m) for m in c.methods) + ", linear probe")


def current_sweep():
    """The sweep table for the current data: the Degradation page's last one, or the story's own; None if neither."""
    ss = st.session_state
    cfgs = ss.get(state.SWEEP_CFG)
    candidates = [cfgs[0]] if cfgs else []
    candidates.append(story_sweep_config())
    for cfg in candidates:
        df = state.memo_get(("sweep", ss[state.DATASET_KEY], cfg))
        if df is not None:
            return cfg, df
    return None, None


def current_k_sweep():
    """The Degradation page's last k-sensitivity sweep (settings, table) when it ran beside the sweep that
    ``current_sweep`` gives (the page's own, not the story's); (None, None) if not."""
    ss = st.session_state
    cfgs = ss.get(state.SWEEP_CFG)
    if not cfgs or cfgs[1] is None or state.memo_get(("sweep", ss[state.DATASET_KEY], cfgs[0])) is None:
        return None, None
    df = state.memo_get(("sweep", ss[state.DATASET_KEY], cfgs[1]))
    return (cfgs[1], df) if df is not None else (None, None)


def run_default_sweep(callback=None):
    ss = st.session_state
    cfg = story_sweep_config()
    ds = ss[state.DATASET]
    check_sweep(cfg, ds)
    store = state.sweep_units()  # units the Degradation page already ran are not run again
    raw = bigdata.sweep_estimate(ds, [cfg], store, state.sweep_worker_count(ds, cfg))[3]
    started = time.perf_counter()
    failed = []  # units left out: a method that cannot run at some rates does not stop the others

    def progress(info):
        if info.get("stage") == "failed":
            failed.append(info["failure"])
        if callback is not None:
            callback(info)

    df = run_sweep(ds, cfg, callback=progress, cache=store, on_error="skip", workers=state.sweep_workers(ds, cfg))
    learn("sweep", raw, time.perf_counter() - started)  # later estimates learn from it, as from the page's sweeps
    state.keep_sweep_units(store)
    if df.empty:  # nothing to draw: say why, as a failed sweep does
        f = failed[0]
        raise ValueError(f"no unit of the sweep could run; {plotting.method_label(f.method)} at {f.where()}: "
                         f"{f.message if f.expected else f'unexpected error ({f.error_type})'}")
    state.keep_sweep_failures(cfg, failed)
    df = state.memo_put(("sweep", ss[state.DATASET_KEY], cfg), df)
    ss[state.SWEEP_CFG] = (cfg, None)  # the Degradation page shows it too
    return df


@dataclass
class Facts:
    """What the story says, gathered once per script run."""

    ds: object
    mres: object
    mcfg: object
    rcfg: object
    run: object
    sweep_cfg: object
    sweep: object
    map_method: str = "pca"
    map_key: tuple = ()
    emb: object = None  # the 2-D map of the UL4M4 completion, when already computed
    sweep_failures: list = field(default_factory=list)  # the sweep's units left out (sweep.UnitFailure)

    @classmethod
    def gather(cls, run):
        """Everything the story needs, read from the session now (so it can be used outside a script run)."""
        ss = st.session_state
        cfg, df = current_sweep()
        method = ss[state.MAP_METHOD]
        key = (state.run_key(), "map", method, "ul4m4")
        failures = state.sweep_failures(cfg) if cfg is not None else []
        return cls(ss[state.DATASET], state.current_mask(), ss[state.MISSING_CFG], ss[state.RUN_CFG], run, cfg, df,
                   method, key, state.memo_get(key), failures)

    # -- words -------------------------------------------------------------------------------------------
    def headline(self, step):
        ds, rep = self.ds, self.mres.report
        if step == 0:
            return f"{ds.n_samples:,} samples, {ds.n_modalities} modalities: what if some go missing?"
        if step == 1:
            return f"{_pct(rep.realized_incomplete_rate)} of the samples lack at least one modality"
        if step == 2:
            return f"UL4M4 finds {self.run.model.n_clusters} clusters using only what each pair of samples shares"
        if step == 3:
            v = imputation_verdict(self.run.errors, "mse")
            if v.best is None:
                return "Nothing was removed, so there is nothing to score"
            return f"Lowest imputation error: {v.best_text(plotting.method_label)}"
        if self.sweep is None:
            return "Does filling the gaps help a classifier?"
        v = sweep_verdict(self.sweep, "f1_micro")
        return (f"With {_pct(realised_slot_rate(self.sweep, v.rate))} of the modality slots missing, the best "
                f"classifier input comes from {v.best_text(plotting.method_label)}")

    def caption(self, step):
        ds, rep, mcfg = self.ds, self.mres.report, self.mcfg
        names = ds.modality_names
        if step == 0:
            mods = ", ".join(f"{n} ({d} features)" for n, d in zip(names, ds.dims))
            return (f"{ds.name} describes each sample by {ds.n_modalities} modalities: {mods}. In practice "
                    "whole modalities go missing (an image without its caption, a patient without a scan), and most "
                    "models need every input. Here modalities are removed on purpose, so the truth is known and every "
                    "way of filling them can be scored honestly.")
        if step == 1:
            common = max(rep.pattern_counts.items(), key=lambda kv: kv[1]) if rep.pattern_counts else None
            pattern = ""
            if common is not None:
                held = [n for n, ch in zip(names, common[0]) if ch == "1"]
                pattern = (f" The most common pattern keeps {', '.join(held) if held else 'nothing'} "
                           f"({common[1]:,} samples).")
            return (f"Mechanism: {MECHANISM_LABELS.get(mcfg.mechanism, mcfg.mechanism)}, on {SPLIT_CHOICES[mcfg.apply_to]}. {_pct(rep.realized_slot_rate)} of "
                    f"the modality slots are missing and {_pct(rep.realized_incomplete_rate)} of the samples are "
                    f"incomplete.{pattern} Blue: observed; orange: missing.")
        if step == 2:
            m = self.run.model
            conv = "converged" if m.converged_ else "stopped before converging"
            soft = self.run.models.get("ul4m4_soft")
            extra = (f" Without labels, its soft variant picked k = {soft.n_clusters_} by hiding observed values and "
                     "checking how well they come back." if soft is not None else "")
            return (f"Standardise each modality, then run k-means in which two samples are compared only on the "
                    f"modalities both hold; k = {m.n_clusters} ({self.rcfg.init}), {m.n_iter_} iterations, {conv}. "
                    "Each incomplete sample (a cross) then takes its missing modalities from the nearest cluster "
                    f"centre that holds them.{extra}")
        if step == 3:
            v = imputation_verdict(self.run.errors, "mse")
            if v.best is None:
                return "Raise the missing rate to compare the methods."
            scores = v.scores.sort_values()
            listing = ", ".join(f"{plotting.method_label(k)} {s:.3f}" for k, s in scores.items())
            family = ul4m4_family(self.run)
            ul = [k for k in family if k in scores.index]
            base = [k for k in scores.index if k not in family]
            verdict = ""
            if ul and base:
                best_ul, best_base = min(ul, key=lambda k: scores[k]), min(base, key=lambda k: scores[k])
                gap = scores[best_ul] / scores[best_base] - 1
                # Said as the error's own change, relative to the baseline's (one reading only).
                if abs(gap) < 0.005:  # under half a percent: as good as each other at this precision
                    verdict = (f" {plotting.method_label(best_ul)} and the best baseline, "
                               f"{plotting.method_label(best_base)}, are level: their errors differ by under 1%.")
                elif gap < 0:
                    verdict = (f" {plotting.method_label(best_ul)} beats the best baseline, "
                               f"{plotting.method_label(best_base)}: its error is {_pct(-gap)} lower.")
                else:
                    verdict = (f" UL4M4 loses here: the error of {plotting.method_label(best_ul)} is {_pct(gap)} "
                               f"higher than that of {plotting.method_label(best_base)}.")
            failed = ", ".join(plotting.method_label(m) for m in self.run.failed)
            tail = f" ({failed} could not run on these data.)" if failed else ""
            return (f"Mean squared error on the removed blocks, in standardised units (lower is better): {listing}."
                    f"{verdict}{tail}")
        if self.sweep is None:
            return ("For every missing rate and seed, each method fills the training and test data, a classifier is "
                    "trained on the filled training data and scored on the filled test data. Not answered yet: no "
                    "degradation sweep has run in this session (press Run sweep on the Degradation page).")
        v = sweep_verdict(self.sweep, "f1_micro")
        ceiling = self.sweep[self.sweep["method"] == "complete"]["f1_micro"].mean()
        listing = ", ".join(f"{plotting.method_label(k)} {s:.3f}" for k, s in v.scores.sort_values(ascending=False).items())
        ours = [m for m in SWEEP_FAMILY if m in v.scores.index and v.scores[m] == v.scores[m]]
        tail = ""
        if ours:
            best_ul = max(ours, key=lambda m: v.scores[m])  # the best UL4M4 variant is the one to compare
            if len(v.tied) > 1 and set(v.tied) & set(ours):
                tail = f" {v.best_text(plotting.method_label)} give the best classifier input here."
            elif v.best in ours:
                tail = f" {plotting.method_label(v.best)} gives the best classifier input here."
            else:
                tail = (f" UL4M4 does not win here: {plotting.method_label(v.best)} scores "
                        f"{v.scores[v.best] - v.scores[best_ul]:.3f} more than the best UL4M4 variant, "
                        f"{plotting.method_label(best_ul)}.")
        if v.close:  # a lead the seeds cannot confirm is said to be one
            close = [plotting.method_label(m) for m in v.close]
            tail += (f" The {len(self.sweep_cfg.seeds)} seeds do not tell {', '.join(close)} apart from "
                     f"{plotting.method_label(v.best)}: {in_number(len(close), 'it trails', 'each trails')} by less "
                     "than one standard deviation of the per-seed differences.")
        clf = "the paper's fusion classifier" if self.sweep_cfg.classifier == "fusion" else "a linear classifier"
        realised = realised_slot_rate(self.sweep, v.rate)
        n_seeds = len(self.sweep_cfg.seeds)
        seeds = f"mean over {n_seeds} seed{'s' if n_seeds != 1 else ''}"
        if self.sweep_failures:
            tail += " Left out where they could not run: " + "; ".join(
                f"{plotting.method_label(g['method'])} " + ("everywhere" if g["everywhere"] else f"at {g['where']}")
                for g in failure_summary(self.sweep_failures, units_per_method(self.sweep_cfg))) + "."
            seeds = "mean over the seeds every method has"
        return (f"F1-micro of {clf} at the sweep's highest rate ({v.rate:g} asked; {_pct(realised)} of the modality slots "
                f"missing in fact, as every sample keeps one), {seeds}: {listing}"
                + (f"; with nothing missing it scores {ceiling:.3f}." if ceiling == ceiling else ".") + tail)

    # -- figures -----------------------------------------------------------------------------------------
    def figure(self, step):
        ds, names = self.ds, self.ds.modality_names
        if step == 0:
            return plotting.fig_dimensions(names, ds.dims)
        if step == 1:
            return plotting.fig_mask_heatmap(self.mres.mask, names)
        if step == 2:
            return self.map_figure()
        if step == 3:
            return plotting.fig_imputation_error(self.run.errors, "mse", "all")
        if self.sweep is None:
            return None
        return plotting.sweep_figures(self.sweep, None)["f1_micro"]

    def map_figure(self, memoise=True):
        """The map; computed if needed, and kept in the session's memo when ``memoise`` (in a script run)."""
        method = self.map_method
        completed = self.run.completed["ul4m4"]
        emb = self.emb
        ids = bigdata.map_ids(self.ds.n_samples, self.rcfg.seed)  # the same samples as the page's map
        if emb is None:
            emb = project_2d([X[ids] for X in completed], method, random_state=int(self.rcfg.seed))
            if memoise:
                state.memo_put(self.map_key, emb)
            self.emb = emb
        model = self.run.model
        labels = model.predict([X[ids] for X in completed])
        mask = self.mres.mask[ids]
        centres = emb.place_centres(model.cluster_centers_, labels)
        axes = (("PC 1 (%.0f%% of variance)" % (100 * emb.explained[0]),
                 "PC 2 (%.0f%% of variance)" % (100 * emb.explained[1])) if method == "pca"
                else ("UMAP 1 (no units)", "UMAP 2 (no units)"))
        return plotting.fig_cluster_map(emb.coords, labels, ~mask.all(axis=1), centres, axis_names=axes,
                                        title=f"{'PCA' if method == 'pca' else 'UMAP'} of the data completed by UL4M4 "
                                              "(paper)<br><sup>circle: observed, x: some modality imputed, star: centre"
                                              + (f"; {ids.size:,} of {self.ds.n_samples:,} samples shown (a random "
                                                 "subsample)" if ids.size < self.ds.n_samples else "") + "</sup>")
