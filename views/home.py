"""Home: what UL4M4 does, the pipeline, and the current data, mask and run."""


import streamlit as st

from appui import state
from appui.text import plain
from appui.widgets import chart, guard
from ul4m4 import plotting
from ul4m4.experiment import SPLIT_CHOICES
from ul4m4.missing import MECHANISM_LABELS
from ul4m4.summary import imputation_verdict

state.ensure_defaults()
ss = st.session_state

st.title("UL4M4 Explorer")
st.markdown(
    "Multimodal data often arrives with **whole modalities missing**: an image without its caption, a "
    "patient without one of the scans. **UL4M4** (arXiv 2606.15743) fills the missing modality "
    "embeddings **without labels**, before any downstream model: it standardises each modality, "
    "clusters the samples with k-means under a *partial-modality distance* (comparing only the "
    "modalities both sides hold), then completes each sample greedily from the cluster centres. "
    "This app lets you load data, simulate missing modalities, run UL4M4 next to simple baselines, "
    "and see honestly whether it helps."
)

# The pipeline as boxes that wrap onto more rows on a narrow window (the drawing, scaled to a 900 px window,
# had 5 px type).
PIPELINE_STEPS = (("Frozen encoders", "one embedding per modality"),
                  ("Standardise each modality", "on the observed training rows"),
                  ("Partial-modality k-means", "distances over the modalities both sides hold"),
                  ("Greedy cluster-guided completion", "missing blocks taken from the centres"),
                  ("Any downstream model", "fusion model, linear probe, ..."))
PIPELINE_HTML = (
    "<style>.ul4m4-pipe{display:flex;flex-wrap:wrap;align-items:center;gap:.4rem;margin:.2rem 0 .3rem}"
    ".ul4m4-step{flex:1 1 9.5rem;border:1.5px solid #444;border-radius:10px;padding:.45rem .6rem;text-align:center;"
    "background:#f1faee;line-height:1.25}.ul4m4-step b{display:block;font-size:.95rem}"
    ".ul4m4-step span{font-size:.8rem;color:#444}.ul4m4-arrow{font-size:1.2rem;color:#444}"
    ".ul4m4-note{font-size:.85rem;color:#555}.ul4m4-item{display:flex;align-items:center;gap:.4rem;flex:1 1 10.5rem}"
    ".ul4m4-item:first-child{flex-basis:9.5rem}</style>"
    "<div class='ul4m4-note' style='color:#b5651d'>Missing modalities: blocks left empty (NaN) or marked missing "
    "in the mask</div><div class='ul4m4-pipe'>"
    # Each arrow travels with the box it points to: a row that wraps starts with an arrow, none ends with one.
    + "".join(
        f"<div class='ul4m4-item'>{'' if i == 0 else '<span class=ul4m4-arrow>&rarr;</span>'}"
        f"<div class='ul4m4-step'><b>{title}</b><span>{note}</span></div></div>"
        for i, (title, note) in enumerate(PIPELINE_STEPS))
    + "</div><div class='ul4m4-note'>The UL4M4 pipeline. No labels are used before the downstream model.</div>")
st.markdown(PIPELINE_HTML, unsafe_allow_html=True)

st.subheader("Where you are")
# Three blocks in a row that wraps on a narrow window (fixed columns cut the links' labels at 900 px).
row = st.container(horizontal=True, gap="medium")
c1, c2, c3 = (row.container(width=280) for _ in range(3))
ds = ss[state.DATASET]
with c1:
    st.markdown("**Data**")
    st.write(plain(f"{ds.name}: {ds.n_samples} samples, {ds.n_modalities} modalities "
                   f"({', '.join(f'{n} {d}' for n, d in zip(ds.modality_names, ds.dims))})"))
    st.page_link("views/1_Data.py", label="Choose or upload data", icon=":material/database:")
with c2:
    st.markdown("**Missingness**")
    mres = None
    with guard("simulating missingness"):
        mres = state.current_mask()
        cfg = ss[state.MISSING_CFG]
        st.write(f"{MECHANISM_LABELS.get(cfg.mechanism, cfg.mechanism)}, on {SPLIT_CHOICES[cfg.apply_to]}: "
                 f"{100 * mres.report.realized_slot_rate:.1f}% of modality slots missing, "
                 f"{100 * mres.report.realized_incomplete_rate:.1f}% of samples incomplete")
    st.page_link("views/2_Missingness.py", label="Simulate missing modalities", icon=":material/grid_off:")
with c3:
    st.markdown("**UL4M4 run**")
    run = state.current_run()
    if run is None:
        st.write(f"Not run yet for these settings (k = {ss[state.RUN_CFG].n_clusters}).")
    else:
        verdict = imputation_verdict(run.errors, "mse")
        if verdict.best is None:
            result = "Nothing was removed, so there is no imputation error to compare."
        else:
            result = ("Imputation MSE on removed blocks: "
                      + ", ".join(f"{plotting.method_label(m)} {v:.3f}" for m, v in verdict.scores.sort_values().items())
                      + f" (best: {verdict.best_text(plotting.method_label)}).")
        st.write(f"k = {run.model.n_clusters}, {run.model.n_iter_} Lloyd iterations. " + result)
    st.page_link("views/3_Cluster_and_impute.py", label="Cluster & impute", icon=":material/scatter_plot:")

if mres is not None:  # the current mask at a glance: what was asked, what came out, each modality's share
    affected, where = mres.applied_report(cfg.apply_to)
    chart(plotting.fig_rates(affected, ds.modality_names, where), "fig_home_rates")

st.page_link("views/4_Degradation.py", label="Degradation: does imputation help the classifier?",
             icon=":material/trending_down:")
st.caption("UL4M4 does not win everywhere: against mean or kNN imputation, and depending on the downstream "
           "model, it can lose. Every page shows the methods side by side.")
