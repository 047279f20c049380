"""Missingness: choose a mechanism and rates, and which split loses modalities; see the mask."""

import dataclasses

import pandas as pd
import streamlit as st

from appui import state
from appui.widgets import chart, charts_side_by_side, guard, number_field, refuse
from ul4m4 import plotting
from ul4m4.experiment import SPLIT_CHOICES, MissingConfig
from ul4m4.missing import MECHANISM_LABELS, MECHANISMS, complex_pattern_freqs

state.ensure_defaults()
ss = st.session_state
ds = ss[state.DATASET]
cfg = ss[state.MISSING_CFG]
M = ds.n_modalities
names = ds.modality_names

st.title("Missingness")
st.markdown(
    "Remove whole modalities from some samples to see how the methods cope. A *missing rate* can mean "
    "two things: the fraction of **modality slots** missing, or the fraction of **samples** that are "
    "incomplete. Each mechanism says which one it asks for, and the realised rates of both kinds are "
    "shown next to the request. Every sample keeps at least one modality."
)

LABELS = MECHANISM_LABELS
mech = st.selectbox("Mechanism", list(MECHANISMS), format_func=LABELS.get, key="miss_mechanism",
                    index=list(MECHANISMS).index(cfg.mechanism))
st.caption(MECHANISMS[mech])

bad = []  # fields out of range (number_field): said, and nothing is simulated, until they are mended
with st.form("missing_form"):
    c1, c2, c3 = st.columns(3)
    kw = {"mechanism": mech}
    if mech in ("mcar", "mnar_value", "mnar_label"):
        kw["rate"] = c1.slider("Missing rate (fraction of modality slots)", 0.0, 0.95,
                               float(cfg.rate if cfg.rate is not None else 0.3), 0.05, key="miss_rate")
    if mech in ("mutually_exclusive", "partial"):
        kw["rate"] = c1.slider("Incomplete samples (fraction)", 0.0, 0.95,
                               float(cfg.rate if cfg.rate is not None else 0.3), 0.05, key="miss_rate")
    if mech in ("mnar_value", "mnar_label"):
        kw["strength"] = c1.slider("Strength of the dependence", 0.0, 6.0, float(cfg.strength), 0.5, key="miss_strength")
    if mech == "standard":
        c1.markdown("Keep probability per modality (1 = always kept)")
        kp = cfg.keep_probs if cfg.keep_probs is not None and len(cfg.keep_probs) == M else (1.0,) + (0.5,) * (M - 1)
        kw["keep_probs"] = tuple(
            number_field(c1, n, 0.01, 1.0, float(p), step=0.05, key=f"miss_keep_{m}", problems=bad,
                         name=f"keep probability of {n}", help="0.01 to 1")
            for m, (n, p) in enumerate(zip(names, kp))
        )
    if mech == "complex":
        start = dict(cfg.pattern_freqs) if cfg.pattern_freqs else complex_pattern_freqs(M, 0.4)
        table = pd.DataFrame({"pattern": list(start), "frequency": list(start.values())})
        c1.markdown(f"Patterns: strings of {M} characters, 1 = observed, in the order {', '.join(names)}")
        edited = c1.data_editor(table, num_rows="dynamic", key="miss_patterns", hide_index=True)
        kw["pattern_freqs"] = tuple((str(p).strip(), float(f)) for p, f in zip(edited["pattern"], edited["frequency"])
                                    if str(p).strip() and pd.notna(f))
    if mech == "pepsy":
        kw["pm"] = c1.slider("pm: fraction of modalities that are leads", 0.0, 1.0, float(cfg.pm or 0.6), 0.1, key="miss_pm")
        kw["ps"] = c1.slider("ps: fraction of samples each lead loses", 0.0, 0.95, float(cfg.ps or 0.8), 0.05, key="miss_ps")
    kw["apply_to"] = c2.radio("Which data loses modalities", list(SPLIT_CHOICES), format_func=SPLIT_CHOICES.get,
                              index=list(SPLIT_CHOICES).index(cfg.apply_to), key="miss_apply_to")
    kw["test_size"] = c2.slider("Test split (fraction, stratified by label when possible)", 0.1, 0.5,
                                float(cfg.test_size), 0.05, key="miss_test_size")
    kw["seed"] = int(number_field(c3, "Seed", 0, 2**31 - 1, int(cfg.seed), key="miss_seed", problems=bad,
                                  help="0 to 2,147,483,647: the same seed removes the same blocks."))
    submitted = st.form_submit_button("Simulate", type="primary")

if refuse(bad, "Simulate"):
    submitted = False
if submitted:
    new = MissingConfig(**{**{f.name: f.default for f in dataclasses.fields(MissingConfig)}, **kw})
    with guard("simulating missingness"):
        previous = ss[state.MISSING_CFG]
        ss[state.MISSING_CFG] = new
        try:
            state.current_mask()
        except Exception:
            ss[state.MISSING_CFG] = previous  # keep the last good settings
            raise

cfg = ss[state.MISSING_CFG]
mres = None
with guard("simulating missingness"):
    mres = state.current_mask()
if mres is not None:
    rep = mres.report
    # The request applies to the split(s) that lose modalities: requested and realised rates are compared there.
    affected, where = mres.applied_report(cfg.apply_to)
    st.subheader("Result")
    st.caption(f"Current settings: {LABELS[cfg.mechanism]}; {SPLIT_CHOICES[cfg.apply_to]}; seed {cfg.seed}; "
               f"{mres.train_idx.size} training and {mres.test_idx.size} test samples"
               f"{' (stratified)' if mres.stratified else ' (not stratified: a class is too small)'}.")
    c1, c2, c3 = st.columns(3)
    req = f"{100 * affected.requested_rate:.1f}% requested ({affected.requested_kind})"
    on = f" ({where})" if where else ""
    c1.metric("Missing modality slots" + on, f"{100 * affected.realized_slot_rate:.1f}%", help=req)
    c2.metric("Incomplete samples" + on, f"{100 * affected.realized_incomplete_rate:.1f}%")
    c3.metric("Samples given one modality back", rep.n_restored,
              help="Samples the mechanism would have emptied get one modality back (chosen at random); "
                   "this lowers the realised rate below the requested one.")
    if cfg.apply_to != "both":
        st.info(f"Only the {where} loses modalities; the rates above are of that split (the table below gives "
                "both). "
                + ("UL4M4 and the baselines are then fitted on complete training data, as the published "
                   "MOSI script does by default." if cfg.apply_to == "test" else ""))
    if cfg.mechanism == "pepsy" and not rep.params.get("leads") and (cfg.ps or 0) > 0:
        st.warning(f"PEPSY's pm = {cfg.pm:g} makes no lead modality out of {M} (the leads are floor({M} x pm) = 0), "
                   f"so nothing is removed: raise pm to at least 1/{M} = {1 / M:.2f}.", icon=":material/warning:")
    chart(plotting.fig_rates(affected, names, where), "fig_rates")
    charts_side_by_side("missingness", (plotting.fig_mask_heatmap(mres.mask, names), "fig_mask"),
                        (plotting.fig_patterns(rep.pattern_counts, names), "fig_patterns"))
    # One row per measure, one column per split: as many modalities as the data have, none cut off at the side.
    splits = pd.DataFrame({
        s: {"samples": len(idx), "missing slots (%)": round(100 * r.realized_slot_rate, 1),
            "incomplete samples (%)": round(100 * r.realized_incomplete_rate, 1),
            **{f"{n} missing (%)": round(100 * v, 1) for n, v in zip(names, r.per_modality_missing)}}
        for s, idx, r in (("training split", mres.train_idx, mres.report_train),
                          ("test split", mres.test_idx, mres.report_test))
    })
    # Counts as whole numbers, shares with one decimal each (a shared float column would show 96 beside 94.8).
    shares = [r for r in splits.index if r != "samples"]
    st.dataframe(splits.style.format("{:.0f}", subset=pd.IndexSlice[["samples"], :])
                 .format("{:.1f}", subset=pd.IndexSlice[shares, :]), width="stretch")
    with st.expander("Pattern table"):
        st.dataframe(plotting.pattern_table(rep, names), hide_index=True, width="stretch")
    st.page_link("views/3_Cluster_and_impute.py", label="Next: cluster & impute", icon=":material/arrow_forward:")
