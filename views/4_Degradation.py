"""Degradation: how much a downstream classifier loses as modalities go missing, per imputation method."""

import time

import numpy as np
import pandas as pd
import streamlit as st

from appui import bigdata, state
from appui.text import plain
from appui.widgets import (Progress, chart, decimals_per_column, guard, number_field, refuse, show_method_warnings,
                           show_sweep_failures)
from ul4m4 import plotting
from ul4m4.downstream import CLASSIFIERS
from ul4m4.classification_metrics import classification_scores, flattened_f1_micro
from ul4m4.experiment import SPLIT_CHOICES
from ul4m4.files import mb
from ul4m4.memory import available_bytes, check_memory, estimate_sweep_bytes
from ul4m4.missing import MECHANISM_LABELS, MECHANISMS
from ul4m4.summary import SWEEP_FAMILY, realised_slot_rate, sweep_verdict
from ul4m4.sweep import COLUMNS, RATE_MEANING, SWEEP_METHODS, SweepConfig, check_sweep, check_sweep_data, iter_sweep
from ul4m4.timing import busy_note, format_seconds, learn
from ul4m4.validation import in_number, parse_list

LIVE_EVERY_S = 2.0  # the live curves are redrawn at most this often while a sweep runs
K_VALUES = (2, 5, 10, 20, 40)  # the k-sensitivity's default k values (those a training split can hold)

state.ensure_defaults()
ss = st.session_state
ds = ss[state.DATASET]
state.sweep_workers()  # start the server's sweep processes now: they are ready by Run
n_workers = state.sweep_worker_count(ds, SweepConfig())  # the form's sweeps run on the CPU

st.title("Downstream degradation")
st.markdown(
    "For each missing rate and seed: split the data (stratified), remove modalities, fit each imputer on the "
    "training split only, train the classifier on the completed training split and score it on the completed "
    "test split. **Complete data** (no removal) is the ceiling. Lines are means over seeds; the band is "
    "±1 standard deviation (not the standard error), with the number of seeds in the title."
)
if ds.y is None:
    st.error("This dataset has no labels, so there is nothing to classify. Load a dataset with labels on the Data page.")
    state.stop_page()
try:  # labels no sweep can use (one class, one class per sample): said before any setting is chosen
    check_sweep_data(ds)
except ValueError as exc:
    st.error(plain(f"No sweep can run on {ds.name}: {exc} Load other data on the Data page."), icon=":material/error:")
    state.stop_page()

mech = st.selectbox("Mechanism", list(MECHANISMS), key="deg_mechanism", format_func=MECHANISM_LABELS.get,
                    index=list(MECHANISMS).index(ss[state.MISSING_CFG].mechanism))
st.caption(f"Here a rate means: {RATE_MEANING[mech]}.")
n_train = ds.n_samples - int(round(SweepConfig().test_size * ds.n_samples))


def read_ks(text):
    """The k values of the form: integers from 1 to the training samples, or a ValueError naming the field."""
    ks = parse_list(text, int, "k values")
    bad = [k for k in ks if not 1 <= k <= n_train]
    if bad:
        raise ValueError(f"k values: {', '.join(map(str, bad))} cannot be used; each k must lie between 1 and the "
                         f"{n_train} training samples.")
    return ks


bad = []  # fields out of range (number_field): said, and no sweep runs, until they are mended
with st.form("degradation_form"):
    # The whole width: six chosen methods fit on one line, none hidden behind the others.
    # The ceiling needs data without gaps of their own (an upload may have some): not preselected otherwise.
    methods = st.multiselect("Methods", list(SWEEP_METHODS),
                             default=[m for m in state.DEFAULT_SWEEP_METHODS if ds.mask.all() or m != "complete"],
                             format_func=plotting.method_label, key="deg_methods")
    c1, c2, c3 = st.columns(3)
    rates_txt = c1.text_input("Rates (comma-separated, each in [0, 1))", "0, 0.2, 0.4, 0.6, 0.8", key="deg_rates")
    n_seeds = number_field(c1, "Seeds (1 to 10)", 1, 10, 3, key="deg_seeds", problems=bad)
    classifier = c2.radio("Classifier", list(CLASSIFIERS), format_func=CLASSIFIERS.get, key="deg_classifier")
    k = number_field(c3, f"UL4M4 clusters k (1 to {max(1, n_train):,})", 1, max(1, n_train),
                     min(int(ss[state.RUN_CFG].n_clusters), max(1, n_train)), key="deg_k", problems=bad)
    apply_to = c3.radio("Which data loses modalities", list(SPLIT_CHOICES), format_func=SPLIT_CHOICES.get,
                        key="deg_apply_to")
    pm = c3.slider("PEPSY pm (lead modalities)", 0.0, 1.0, 0.6, 0.1, key="deg_pm") if mech == "pepsy" else 0.6
    st.markdown("**k-sensitivity** (the paper claims UL4M4 is stable across cluster counts: check it)")
    c1, c2 = st.columns(2)
    do_k = c1.checkbox("Also run UL4M4 at several k", True, key="deg_do_k")
    ks_txt = c1.text_input("k values", ", ".join(str(v) for v in K_VALUES if v <= n_train) or "1", key="deg_ks")
    k_rate = number_field(c2, "at rate (0 to 0.95)", 0.0, 0.95, 0.4, step=0.05, key="deg_k_rate", problems=bad)
    run_clicked = st.form_submit_button("Run sweep", type="primary")


def sweep_memory(ks, n_rates=None):
    """Estimated peak memory of a sweep with these settings (the largest k of ``ks``; ``n_rates`` rates, None
    while they cannot be read)."""
    n_classes = ds.y.shape[1] if ds.is_multilabel else int(np.unique(ds.y).size)
    return estimate_sweep_bytes(ds.n_samples, ds.dims, n_train, ks, tuple(methods) or ("mean",), n_classes, classifier,
                                n_rates=n_rates)


def readable_rates():
    """How many rates the form holds, or None while they cannot be read (the form says why on Run)."""
    try:
        return len(parse_list(rates_txt, float, "rates"))
    except ValueError:
        return None


def form_configs():
    """The sweeps the form describes, (main, k-sensitivity or None), as Run builds them; ValueError while
    a field cannot be read (Run says which)."""
    if bad:
        raise ValueError(" ".join(bad))
    rates = parse_list(rates_txt, float, "rates")
    seeds = tuple(range(int(n_seeds)))
    main = SweepConfig(mechanism=mech, rates=rates, seeds=seeds, methods=tuple(methods), classifier=classifier,
                       k=int(k), apply_to=apply_to, pm=float(pm))
    ksens = None
    if do_k and "ul4m4" in methods:
        ksens = SweepConfig(mechanism=mech, rates=(float(k_rate),), seeds=seeds,
                            methods=tuple(m for m in methods if m != "complete"), classifier=classifier,
                            k=int(k), ks=read_ks(ks_txt), apply_to=apply_to, pm=float(pm))
    return main, ksens


def sweep_seconds():
    """Estimated seconds of the units of the form's sweeps that are not finished yet, how many of their
    units are finished (kept from earlier sweeps of this session) and how many there are; None while the
    form cannot be read or names no method (Run says why)."""
    if not methods:
        return None
    try:
        cfgs = [c for c in form_configs() if c is not None]
    except ValueError:
        return None
    return bigdata.sweep_estimate(ds, cfgs, state.sweep_units(), n_workers)


if refuse(bad, "Run sweep"):
    run_clicked = False
else:
    need = sweep_memory((int(k),), readable_rates())
    avail = available_bytes()
    estimate = sweep_seconds()
    if estimate is None:
        when = "unknown until the rates, k values and methods can be read"
    else:
        secs, kept, total, _ = estimate
        when = (format_seconds(secs) + (f" in {n_workers} worker processes" if n_workers > 1 and kept < total else "")
                + (f", {kept} of its {total} units already computed in this session and reused" if kept else ""))
    st.caption(f"Estimated time: {when} (rough, from this machine's measured speed{bigdata.learned_note()}"
               f"{busy_note()}; finished units are kept, so a change reruns only what it touches). Estimated memory: "
               f"{mb(need)}" + (f" of {mb(avail)} available." if avail else "."))


if run_clicked:
    with guard("preparing the sweep"):
        if not methods:
            raise ValueError("choose at least one method")
        main, ksens = form_configs()
        for c in (main, ksens):
            if c is not None:
                check_sweep(c, ds)
                check_memory(sweep_memory(c.ks or (c.k,), len(c.rates)), what="This sweep",
                             hint="use a smaller dataset, fewer methods or smaller k values")
        ss[state.SWEEP_CFG] = (main, ksens)  # only settings that can run replace the previous ones

cfgs = ss.get(state.SWEEP_CFG)
if cfgs is None:
    st.info("Choose the settings and press **Run sweep**.")
    state.stop_page()


def differences(shown, wanted):
    """What the sweeps shown (main, k-sensitivity or None) ran with where the form's differ, in words."""
    out = []
    a, b = shown[0], wanted[0]
    if a.methods != b.methods:
        out.append("methods " + ", ".join(plotting.method_label(m) for m in a.methods))
    for field, words in (("mechanism", "mechanism"), ("rates", "rates"), ("seeds", "seeds"), ("k", "k"),
                         ("classifier", "classifier"), ("apply_to", "split losing modalities"), ("pm", "PEPSY pm"),
                         ("strength", "MNAR strength")):
        if getattr(a, field) != getattr(b, field):
            value = getattr(a, field)
            if isinstance(value, tuple):  # rates, seeds
                value = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
            elif field == "mechanism":
                value = MECHANISM_LABELS.get(value, value)
            out.append(f"{words} {value}")
    if (shown[1] is None) != (wanted[1] is None):
        out.append("no k-sensitivity" if shown[1] is None else "a k-sensitivity sweep")
    elif shown[1] is not None and shown[1].ks != wanted[1].ks:
        out.append("k values " + ", ".join(map(str, shown[1].ks)))
    return out


try:
    wanted = form_configs()
except ValueError:  # a field that cannot be read: Run says which
    wanted = None
if wanted is not None and methods and tuple(wanted) != tuple(cfgs):
    said = differences(cfgs, wanted)
    st.info("The results below are of the last sweep run" + (f" ({'; '.join(said)})" if said else "")
            + ", not of the settings above: press **Run sweep** to run those.", icon=":material/info:")

results = []
live, drawn = st.empty(), [0.0, 0]
started, computed = time.perf_counter(), False


def draw_live(rows, kind):
    """The curves so far, at most every ``LIVE_EVERY_S`` seconds (each drawing costs the sweep time)."""
    now = time.perf_counter()
    if now - drawn[0] < LIVE_EVERY_S:
        return
    drawn[0], drawn[1] = now, drawn[1] + 1
    part = pd.DataFrame(rows, columns=COLUMNS)
    fig = plotting.fig_k_sensitivity(part) if kind == "k" else plotting.fig_degradation(part, "f1_micro")
    with live.container():
        st.caption(f"Results so far ({len(part)} units classified); the curves grow as the sweep runs.")
        chart(fig, f"fig_deg_live_{drawn[1]}")


for kind, cfg in zip(("main", "k"), cfgs):
    if cfg is None:
        results.append(None)
        continue
    key = ("sweep", ss[state.DATASET_KEY], cfg)
    df = state.memo_get(key)
    if df is None:
        prog = Progress("Running the sweep...")
        computed = True
        store = state.sweep_units()
        said = []  # the methods' warnings, each once (iter_sweep passes each distinct one once)
        failed = []  # units left out: a method that cannot run at some rates does not stop the others

        def progress(info):
            if info.get("stage") == "warning":
                said.append(info["text"])
            elif info.get("stage") == "failed":
                failed.append(info["failure"])
            prog.method_step(info)

        with guard("running the sweep"):
            rows = []
            for row in iter_sweep(ds, cfg, cache=store, callback=progress, on_error="skip",
                                  workers=state.sweep_workers(ds, cfg)):
                rows.append(row)
                draw_live(rows, kind)
            state.memo_put(("sweep_warnings",) + key[1:], said)
            state.keep_sweep_failures(cfg, failed)
            df = state.memo_put(key, pd.DataFrame(rows, columns=COLUMNS))
        state.keep_sweep_units(store)
        prog.done()
        if df is None:
            break
    results.append(df)
live.empty()
if run_clicked and computed and estimate is not None and all(r is not None for r, c in zip(results, cfgs)
                                                             if c is not None):
    # The sweep just run is the one estimated above (the form's settings): later estimates learn from it.
    learn("sweep", estimate[3], time.perf_counter() - started)
results += [None] * (2 - len(results))

df, kdf = results
if df is None:
    st.info("The sweep did not complete; the settings above can be changed and run again.")
    state.stop_page()
# Units left out because their method failed there (one box per method and kind of error).
for c in cfgs:
    if c is not None:
        show_sweep_failures(state.sweep_failures(c), c)
if df.empty:
    st.info("No unit of the sweep could run (see above); change the methods or the rates and run it again.")
    state.stop_page()

cfg = cfgs[0]
seed_words = f"seed{'s' if len(cfg.seeds) > 1 else ''} {', '.join(map(str, cfg.seeds))}"
st.caption(f"{plain(ds.name)}, {MECHANISM_LABELS.get(cfg.mechanism, cfg.mechanism)}, classifier: "
           f"{CLASSIFIERS.get(cfg.classifier, cfg.classifier)}, {seed_words}, {SPLIT_CHOICES[cfg.apply_to]}.")
figs = plotting.sweep_figures(df, kdf)
chart(figs["f1_micro"], "fig_deg_micro")
chart(figs["f1_macro"], "fig_deg_macro")
if "imputation_mse" in figs:
    chart(figs["imputation_mse"], "fig_deg_mse")

# Plain-words verdict at the highest rate.
verdict = sweep_verdict(df, "f1_micro")
ours = [m for m in SWEEP_FAMILY if m in verdict.scores.index]
if len(verdict.scores) > 1 and ours and verdict.best is not None:
    msg = (f"At rate {verdict.rate:g} ({realised_slot_rate(df, verdict.rate):.2f} of the modality slots missing in "
           "fact, as every sample keeps one): "
           + ", ".join(f"{plotting.method_label(m)} {v:.3f}" for m, v in verdict.scores.sort_values(ascending=False).items())
           + f" (F1-micro, mean over seeds). Best: {verdict.best_text(plotting.method_label)}.")
    if verdict.close:  # 3 seeds cannot tell these from the best: say so rather than crown one
        close = [plotting.method_label(m) for m in verdict.close]
        msg += (f" {', '.join(close)} {in_number(len(close), 'trails', 'trail')} it by less than one standard "
                "deviation of the per-seed differences: the seeds do not tell "
                f"{in_number(len(close), 'it', 'them')} apart from the best.")
    absent = [plotting.method_label(m) for m in cfg.methods if m != "complete" and m not in verdict.scores.index]
    if absent:  # units left out (see the boxes above)
        msg += f" Not compared, as they did not run at this rate: {', '.join(absent)}."
    if set(verdict.tied) & set(ours):
        st.success(msg)
    else:
        st.warning(msg + " UL4M4 does not win here.")

if "k_sensitivity" in figs:
    chart(figs["k_sensitivity"], "fig_deg_k")

# What the methods warned about while this sweep computed its units (units reused from an earlier sweep
# were reported then): one box per message, naming every method that gave it.
show_method_warnings([w for c in cfgs if c is not None
                      for w in state.memo_get(("sweep_warnings", ss[state.DATASET_KEY], c)) or []], ds.modality_names)

READABLE = {"method": "method", "rate": "rate", "seed": "seed", "k": "k", "classifier": "classifier",
            "realized_slot_rate": "slots missing in fact", "realized_incomplete_rate": "samples incomplete",
            "f1_micro": "F1-micro", "f1_macro": "F1-macro", "accuracy": "accuracy",
            "flattened_f1_micro": "flattened F1-micro", "imputation_mse": "imputation MSE", "seconds": "seconds"}
with st.expander("Results table"):
    # Method names and columns in words; columns empty for every unit (flattened F1 on single-label data) left
    # out. The CSV download below keeps the table as computed.
    shown_df = df.dropna(axis=1, how="all").assign(method=df["method"].map(plotting.method_label))
    st.dataframe(decimals_per_column(shown_df.rename(columns=READABLE), 4), hide_index=True, width="stretch")

# On multilabel data this explains the figure below it; on single-label data it is background, folded away.
with st.expander("Why 'F1-micro' in the published scripts looks so good (multilabel data such as MM-IMDb)",
                 expanded=bool(ds.is_multilabel)):
    st.markdown(
        "The published MM-IMDb script computes its 'F1-micro' on **flattened** label vectors: every "
        "(sample, genre) slot counts, including the many negatives, so it is really the accuracy over label "
        "slots. On sparse multilabel data, predicting no label at all scores high. Real micro-F1 counts only "
        "the positive labels."
    )
    rng = np.random.default_rng(0)
    y_demo = (rng.random((1000, 27)) < 2.4 / 27).astype(int)  # about 2.4 genres per film out of 27
    nothing = np.zeros_like(y_demo)
    demo = pd.DataFrame([
        {"prediction": "no genre at all", "flattened 'F1-micro' (published)": flattened_f1_micro(y_demo, nothing),
         "real F1-micro": classification_scores(y_demo, nothing)["f1_micro"]},
        {"prediction": "the true genres", "flattened 'F1-micro' (published)": flattened_f1_micro(y_demo, y_demo),
         "real F1-micro": classification_scores(y_demo, y_demo)["f1_micro"]},
    ])
    st.dataframe(demo.round(3), hide_index=True, width="stretch")
    st.caption("Computed live on 1,000 random label vectors with 27 labels and about 2.4 positives each.")
    if "flattened_f1_micro" in figs:
        chart(figs["flattened_f1_micro"], "fig_deg_flat")

st.subheader("Downloads")
# Payloads are built only when a button is clicked (callables), not on every rerun of the page.
# One row that wraps on a narrow window (fixed columns cut the labels: "Complete..." twice at 900 px).
c1 = c2 = c3 = st.container(horizontal=True)
c1.download_button("Results (.csv)", lambda: df.to_csv(index=False).encode(), f"{ds.name}_degradation.csv",
                   "text/csv", on_click="ignore", key="dl_deg_csv")
if kdf is not None:
    c2.download_button("k-sensitivity (.csv)", lambda: kdf.to_csv(index=False).encode(),
                       f"{ds.name}_k_sensitivity.csv", "text/csv", on_click="ignore", key="dl_deg_k_csv")
c3.download_button("Figures (.html, offline)",
                   lambda: plotting.figures_html(list(figs.values()), f"UL4M4 degradation: {ds.name}").encode(),
                   f"{ds.name}_degradation.html", "text/html", on_click="ignore", key="dl_deg_html")
