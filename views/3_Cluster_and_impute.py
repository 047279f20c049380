"""Cluster & impute: run UL4M4 and the baselines, see the clusters, the imputation error and why each
missing modality got its value."""

import numpy as np
import pandas as pd
import streamlit as st
import torch

from appui import bigdata, state
from appui.reporting import report_button
from appui.text import plain
from appui.widgets import (Progress, chart, charts_side_by_side, decimals_per_column, guard, number_field, refuse,
                           show_method_failures, show_method_warnings)
from ul4m4 import plotting
from ul4m4.projection import METHODS_2D, project_2d
from ul4m4.experiment import (METHODS, RunConfig, holdout_best, holdout_curve, k_curve, selection_bound,
                               ul4m4_family)
from ul4m4.memory import available_bytes
from ul4m4.validation import counted
from ul4m4.timing import estimate_map_seconds, estimate_run_seconds, format_seconds
from ul4m4.export import make_manifest, manifest_json, mask_csv_bytes, to_npz_bytes, to_parquet_bytes
from ul4m4.imputation_metrics import block_errors
from ul4m4.impute import N_CLUSTERS_GRID, SELECTION_PARSIMONY, SELECTION_STOP_AFTER, selection_grid
from ul4m4.summary import imputation_verdict, sample_table

state.ensure_defaults()
ss = st.session_state
ds = ss[state.DATASET]
names = ds.modality_names
rcfg = ss[state.RUN_CFG]

st.title("Cluster & impute")
mres = None
with guard("simulating missingness"):
    mres = state.current_mask()
if mres is None:
    state.stop_page()
n_train = int(mres.train_idx.size)

devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
bad = []  # fields out of range (number_field): said, and nothing runs, until they are mended
with st.form("run_form"):
    c1, c2, c3 = st.columns(3)
    k = number_field(c1, f"Clusters k (1 to {max(1, n_train):,})", 1, max(1, n_train), min(rcfg.n_clusters, n_train),
                     key="run_k", problems=bad, help=f"At most the {n_train:,} training samples.")
    init = c1.selectbox("Initialisation", ["k-means++", "random"], index=["k-means++", "random"].index(rcfg.init),
                        key="run_init")
    seed = number_field(c2, "Seed", 0, 2**31 - 1, int(rcfg.seed), key="run_seed", problems=bad,
                        help="0 to 2,147,483,647: the same seed gives the same run.")
    max_iter = number_field(c2, "Max Lloyd iterations (1 to 1,000)", 1, 1000, int(rcfg.max_iter), key="run_max_iter",
                            problems=bad)
    device = c3.selectbox("Device", devices, index=devices.index(rcfg.device) if rcfg.device in devices else 0,
                          key="run_device", help="CUDA is offered when a GPU is present.")
    baselines = [m for m in METHODS if m != "ul4m4"]
    # The whole width and the short labels: every chosen method shows, none cut (what each one is: the help).
    chosen = st.multiselect("Also run", baselines, default=[m for m in rcfg.methods if m != "ul4m4"],
                            format_func=plotting.method_label, key="run_baselines",
                            help="UL4M4 (paper) always runs with the k above. "
                                 + " ".join(f"{METHODS[m]}." for m in baselines)
                                 + " 'UL4M4 + low rank' takes about 9 s on mfeat; the iterative imputer is slow on "
                                   "wide embeddings (minutes on mfeat).")
    address = bigdata.scheduler_address()
    where = None
    if address is not None:
        where = c3.radio("UL4M4 runs", ["here", "dask"], index=int(rcfg.scheduler is not None), key="run_where",
                         horizontal=True, format_func={"here": "on this server", "dask": "on the Dask cluster"}.get,
                         help=f"The server offers the Dask scheduler at {address}: UL4M4's fit and completion then "
                              "run there, chunk by chunk (same results; float32 sums may differ in the last "
                              "digits). The baselines run on this server.")
    run_clicked = st.form_submit_button("Run", type="primary")
if not refuse(bad, "Run"):
    form_cfg = RunConfig(methods=("ul4m4", *chosen), n_clusters=int(k), init=init, max_iter=int(max_iter),
                         seed=int(seed), device=device, scheduler=address if where == "dask" else None)
    est_secs, est_total, need = bigdata.run_estimates(ds, n_train, form_cfg)
    st.caption(bigdata.describe_estimates(est_secs, est_total, need, available_bytes()))

    if run_clicked:
        new_cfg = form_cfg
        if state.memo_get(state.run_key(new_cfg)) is None:
            prog = Progress("Running UL4M4 and the baselines...")
            with guard("running the imputers"):
                state.run_and_remember(new_cfg, callback=prog.method_step)
            prog.done()
        if state.memo_get(state.run_key(new_cfg)) is not None:
            ss[state.RUN_CFG] = new_cfg  # a run that failed leaves the previous settings and results in place
        else:
            st.info("The results below are those of the previous settings.")
rcfg = ss[state.RUN_CFG]

run = state.current_run()
if run is None and not bigdata.runs_on_open(ds, n_train, rcfg):
    st.info(bigdata.waiting_message(ds, bigdata.run_estimates(ds, n_train, rcfg)[1]), icon=":material/hourglass_empty:")
    state.stop_page()
if run is None:  # first visit with these data and mask: run the current settings
    prog = Progress("Running UL4M4 and the baselines...")
    with guard("running the imputers"):
        run = state.run_and_remember(rcfg, callback=prog.method_step)
    prog.done()
if run is None:
    st.info("Change the settings above and press Run.")
    state.stop_page()

model = run.model
soft = run.models.get("ul4m4_soft")
lowrank = run.imputers.get("ul4m4_lowrank")
mask = mres.mask
st.success(
    f"UL4M4 (paper) with k = {model.n_clusters} ({rcfg.init}, seed {rcfg.seed}, {rcfg.device}"
    + (f", on the Dask cluster at {rcfg.scheduler}" if rcfg.scheduler else "") + "): "
    + ("one cluster, whose centre is the mean of the training samples. " if model.n_clusters == 1 else
       f"{model.n_iter_} Lloyd iteration{'s' if model.n_iter_ != 1 else ''}, "
       f"{'converged' if model.converged_ else 'NOT converged (raise Max Lloyd iterations)'}. ")
    + (f"UL4M4 soft, auto sets its own k and temperature, without labels: it hid some observed blocks, filled "
       "them with each candidate setting and kept the one that filled them best: k = "
       f"{soft.n_clusters_} (the k above is the paper's method's) and temperature {soft.temperature_:.3g} "
       f"({soft.temperature_ / soft.typical_distance_:.2g} x the typical sample-to-centre distance), from "
       f"{soft.selection_['n_clusters'].nunique() * soft.selection_['repeat'].nunique()} hold-out fits "
       f"({soft.selection_['n_clusters'].nunique()} values of k x {soft.selection_['repeat'].nunique()} hold-outs, "
       f"each scored at {soft.selection_['temperature_factor'].nunique()} temperatures). "
       if soft is not None else "")
    + (f"UL4M4 + low rank weighs its centres by {lowrank.centre_weight_:g} (chosen by hold-out from "
       f"{', '.join(f'{a:g}' for a in lowrank.centre_weights)}{'; 0 turns the centres off: it is then SoftImpute' if lowrank.centre_weight_ == 0 else ''}). "
       if lowrank is not None else "")
    + "Time: " + ", ".join(f"{plotting.method_label(m)} {t:.2f} s" for m, t in run.seconds.items()) + "."
)
show_method_warnings(run.warnings, names)  # one box per message, naming every method that gave it
show_method_failures(run.failed)  # a method that failed is left out; the others' results stand
for name, mdl in run.models.items():
    prov_m = run.provenances[name]
    if mdl.suspect_centres_.size:
        hit = int(np.isin(prov_m.source, mdl.suspect_centres_).sum())
        n_sus = mdl.suspect_centres_.size
        st.warning(f"{plotting.method_label(name)}: {counted(n_sus, 'centre')} "
                   f"{'summarises a tiny cluster' if n_sus == 1 else 'summarise tiny clusters'} far from the data "
                   f"(centre{'s' if n_sus > 1 else ''} {', '.join(map(str, mdl.suspect_centres_[:8]))}); "
                   f"{'it' if n_sus == 1 else 'they'} filled {counted(hit, 'block')}. Greedy completion copies such a centre whole; the soft completion weighs it by "
                   "its size.")

# ---- Imputation error, first: the honest comparison -----------------------------------------------------
st.subheader("Imputation error on the removed blocks")
err = run.errors
if err.empty or err["n_removed"].max() == 0:
    st.info("Nothing was removed, so there is no imputation error to measure. Raise the missing rate.")
else:
    c1, c2 = st.columns([1, 1])
    metric = c1.radio("Metric", ["mse", "cosine"], horizontal=True, key="err_metric",
                      format_func={"mse": "MSE (lower is better)", "cosine": "cosine similarity (higher is better)"}.get)
    split = c2.radio("Samples", ["all", "train", "test"], horizontal=True, key="err_split",
                     format_func={"all": "all", "train": "training split", "test": "test split"}.get)
    verdict = imputation_verdict(err, metric, split)
    if verdict.best is not None:
        msg = (f"Over every removed block ({split}): " +
               ", ".join(f"{plotting.method_label(m)} {v:.3f}" for m, v in verdict.scores.items()) +
               f". Best: **{verdict.best_text(plotting.method_label)}**.")
        if set(verdict.tied) & set(ul4m4_family(run)):
            st.success(msg)
        else:
            st.warning(msg + " UL4M4 loses to a baseline here.")
    chart(plotting.fig_imputation_error(err, metric, split), "fig_error")
    st.caption("Errors are measured only where a block was removed by the simulation, in standardised units "
               "(each feature scaled by the mean and std of the true observed values).")
    st.dataframe(decimals_per_column(plotting.errors_wide(err, metric, split), 4), width="stretch")

# ---- Choosing k without labels ------------------------------------------------------------------------------
hold_curve = holdout_curve(soft) if soft is not None and soft.selection_ is not None else None
if soft is not None and soft.selection_ is not None and hold_curve is None:
    st.subheader("Choosing k without labels")
    st.info("Every training sample observes a single modality, so the hold-out could hide nothing and k was not "
            f"chosen by it: UL4M4 soft, auto used k = {soft.n_clusters_}, the smallest of its grid.")
elif soft is not None and soft.selection_ is not None:
    st.subheader("Choosing k without labels")
    curve_key = (state.run_key(), "k_curve")
    curve = state.memo_get(curve_key)
    if curve is None:
        curve = hold_curve
        button_slot = st.empty()
        # Two fits and completions per k, each counted as the paper's (an upper bound for the soft one: its
        # completion has no (k, k) blocks; the rough figure says "minutes" or "seconds" before it starts).
        curve_secs = sum(2 * estimate_run_seconds(ds.n_samples, ds.dims, n_train, int(kk), ("ul4m4",),
                                                  max_iter=rcfg.max_iter, device=rcfg.device, learned=True)["ul4m4"]
                         for kk in sorted(set(soft.selection_["n_clusters"])))
        if button_slot.button(f"Add the true error at every k (fits two models per k on the training split; "
                              f"{format_seconds(curve_secs)})", key="k_curve_btn"):
            button_slot.empty()  # done once: the button goes as the curve comes
            prog = Progress("Fitting UL4M4 at every k of the grid...")
            with guard("computing the error against k"):
                curve = state.memo_put(curve_key, k_curve(ds, mres, rcfg, soft))
            prog.done()
    chart(plotting.fig_k_selection(curve, soft.n_clusters_, selection_bound(soft)), "fig_k_selection")
    sel = soft.selection_
    reps = sel["repeat"].nunique()
    tried = sorted(sel["n_clusters"].unique())
    grid = selection_grid(N_CLUSTERS_GRID, int(sel["n_rows"].iloc[0]))
    best = holdout_best(soft)  # what the rule compares each k's best temperature with
    best_words = "" if best is None else (f" ({best[2]:.3f}, at k = {best[0]}"
                                          + (f" and temperature factor {best[1]:g})" if best[1] == best[1] else ")"))
    msg = (f"A fraction of the *observed* training slots (15 %, never a sample's last) was hidden "
           f"({reps} time{'s' if reps > 1 else ''}, different slots each time), UL4M4 soft was fitted on the rest "
           f"at each k, and its completion of the hidden slots was scored at every temperature: k = "
           f"{soft.n_clusters_} was chosen, the smallest k whose best temperature comes within "
           f"{SELECTION_PARSIMONY:.0%} of the best hold-out error of all settings{best_words}: the open circles are "
           f"each k at its best temperature, the dotted line that bound. The solid curve shows every k at the "
           f"temperature factor chosen at k = {soft.n_clusters_}." + (f" The search stopped after k = {tried[-1]}: the error had risen at {SELECTION_STOP_AFTER} "
                        f"successive k." if tried == grid[: len(tried)] and len(tried) < len(grid) else "") +
           f" The paper reports UL4M4 as stable across k; here the hold-out error ranges from "
           f"{curve['holdout_mse'].min():.3f} to {curve['holdout_mse'].max():.3f} over the grid.")
    if "true_mse_paper" in curve and curve["true_mse_paper"].notna().any():
        msg += (f" On the removed blocks, the paper's greedy completion ranges from {curve['true_mse_paper'].min():.3f} "
                f"to {curve['true_mse_paper'].max():.3f} over the same k.")
    st.caption(msg)

# ---- Linked selection: the map's selected samples, in a table ------------------------------------------------
SELECTION_SHOWN = 500  # samples listed in the table (the download holds them all)


def selected_ids(event, n):
    """Sample ids of the points selected on the map (their customdata), sorted, without duplicates."""
    points = (event or {}).get("selection", {}).get("points", []) if hasattr(event, "get") else []
    ids = []
    for p in points:
        cd = p.get("customdata")
        if isinstance(cd, (list, tuple)):
            cd = cd[0] if cd else None
        if cd is not None and 0 <= int(cd) < n:
            ids.append(int(cd))
    return sorted(set(ids))


def show_selection(ids, shown, clusters):
    """The table of the selected samples; a single clicked sample also opens in the per-sample panel."""
    if not ids:
        return
    if len(ids) == 1 and ss.get("inspect_clicked") != ids[0]:
        ss["inspect_clicked"] = ids[0]
        ss["inspect_sample"] = ids[0]  # the per-sample panel below opens on the clicked point
    truth_errors = {}
    if mres.removed.any():
        truth_errors = {m: block_errors(ds.Xs, run.completed[m], mres.removed, true_mask=ds.mask) for m in run.provenances}
    split = np.full(ds.n_samples, "train", dtype=object)
    split[mres.test_idx] = "test"
    labels = None if ds.y is None else (ds.y if ds.y.ndim == 1 else np.array([",".join(map(str, np.flatnonzero(r)))
                                                                             for r in ds.y], dtype=object))
    table = sample_table(ids, names, mask, mres.removed, run.provenances, truth_errors, labels=labels,
                         clusters=clusters, split=split, method_labels=plotting.METHOD_LABELS)
    n_imp = int((~mask[ids]).any(axis=1).sum())
    with st.container(key="selection"):
        _selection_body(ids, table, n_imp, shown)


def _selection_body(ids, table, n_imp, shown):
    st.markdown(f"**{counted(len(ids), 'sample')} selected** ({n_imp} with a filled modality; cluster from "
                f"{plotting.method_label(shown)}). Errors are those of the removed blocks, where the truth is known.")
    shown_rows = table[table["sample"].isin(ids[:SELECTION_SHOWN])]
    styled = shown_rows.style.map(lambda v: f"color: {plotting.STATUS_COLOURS.get(v, 'inherit')}; font-weight: 600"
                                  if v in plotting.STATUS_COLOURS else "", subset=["status"]).format(precision=3, na_rep="")
    st.dataframe(styled, hide_index=True, width="stretch", key="selection_table", placeholder="–",
                 column_config={"missing because": st.column_config.TextColumn(width="medium")})
    if len(ids) > SELECTION_SHOWN:
        st.caption(f"The table lists the first {SELECTION_SHOWN} of them; the download holds all {len(ids)}.")
    st.download_button("Selected samples (.csv)", table.to_csv(index=False).encode(), "selected_samples.csv",
                       "text/csv", on_click="ignore", key="dl_selection")


# ---- Map ---------------------------------------------------------------------------------------------------
st.subheader("Samples and clusters")
c1, c2, c3 = st.columns(3)
map_method = c1.radio("Map", list(METHODS_2D), format_func=METHODS_2D.get, horizontal=True, key=state.MAP_METHOD)
shown = c2.radio("Completion shown", list(run.models), format_func=plotting.method_label, horizontal=True,
                 key="map_model")
colour = c3.radio("Colour by", ["cluster", "confidence"] + (["label"] if ds.y is not None else []), horizontal=True,
                  key="map_colour")
shown_model = run.models[shown]
shown_prov = run.provenances[shown]
completed = run.completed[shown]
emb_key = (state.run_key(), "map", map_method, shown)
emb = state.memo_get(emb_key)
ids = bigdata.map_ids(ds.n_samples, rcfg.seed)  # the samples the map draws
if emb is None:
    secs = format_seconds(estimate_map_seconds(ids.size, ds.dims, map_method))
    label = (f"Computing the UMAP map of {ids.size:,} samples ({secs}; the first UMAP in this server also compiles "
             "numba code: 10-20 s)..." if map_method == "umap" else f"Computing the PCA map ({secs})...")
    working = st.empty()  # the status says what is being computed, and goes once the map is drawn
    with guard("computing the 2-D map"), working.status(label, expanded=False):
        emb = state.memo_put(emb_key, project_2d([X[ids] for X in completed], map_method, random_state=int(rcfg.seed)))
    working.empty()
if emb is not None:
    labels_all = shown_model.predict(completed)  # every sample's cluster, training and test
    imputed = ~mask.all(axis=1)
    filled_conf = np.where(mask, np.nan, shown_prov.confidence)
    n_filled = (~mask).sum(axis=1)
    conf_sample = np.where(n_filled > 0, np.nansum(filled_conf, axis=1) / np.maximum(n_filled, 1), np.nan)
    if colour == "label" and ds.y is not None:
        cb = ds.y if ds.y.ndim == 1 else ds.y.argmax(axis=1)
        ctitle = "label"
    elif colour == "confidence":
        cb, ctitle = conf_sample, "confidence"
    else:
        cb, ctitle = labels_all, "cluster"
    centres = emb.place_centres(shown_model.cluster_centers_, labels_all[ids])
    axes = ("PC 1 (%.0f%% of variance)" % (100 * emb.explained[0]), "PC 2 (%.0f%% of variance)" % (100 * emb.explained[1])) \
        if map_method == "pca" else ("UMAP 1 (no units)", "UMAP 2 (no units)")
    hover = [f"sample {i}, cluster {labels_all[i]}" + (f", label {ds.y[i]}" if ds.y is not None and ds.y.ndim == 1 else "")
             + (", imputed: " + ", ".join(n for m, n in enumerate(names) if not mask[i, m])
                + f", confidence {conf_sample[i]:.2f}" if imputed[i] else "")
             for i in ids]
    fig = plotting.fig_cluster_map(
        emb.coords, cb[ids], imputed[ids], centres,
        # The key on a line of its own: one long line ran under the chart's toolbar.
        title=f"{'PCA' if map_method == 'pca' else 'UMAP'} of the data completed by {plotting.method_label(shown)}"
              "<br><sup>circle: observed, x: some modality imputed, star: centre"
              + (f"; {ids.size:,} of {ds.n_samples:,} samples shown (a random subsample)" if ids.size < ds.n_samples
                 else "") + "</sup>",
        axis_names=axes, colour_title=ctitle, hover=hover,
        centre_note="(projected)" if map_method == "pca" else "(mean of members)", ids=ids,
    )
    event = chart(fig, "fig_map", on_select="rerun", selection_mode=("points", "box", "lasso"))
    selected = selected_ids(event, ds.n_samples)
    notice = bigdata.map_notice(ds.n_samples)
    if notice:
        st.info(notice, icon=":material/scatter_plot:")
    st.caption("Click a point, or drag a box or a lasso (toolbar) to list those samples below; double-click "
               "the map to clear the selection.")
    show_selection(selected, shown, labels_all)

if colour == "confidence":
    st.caption("Confidence of a filled block = 1 / (1 + its expected squared error per entry, in standardised "
               "units), from how far apart the plausible centres are and how spread their members are: 0.5 means "
               "no better expected than the training mean. The map shows each sample's mean over its filled blocks.")
charts_side_by_side("clusters", (plotting.fig_cluster_sizes(shown_model.labels_, shown_model.n_clusters_), "fig_sizes"),
                    (plotting.fig_centre_presence(shown_model.center_mask_, names), "fig_presence"))
st.caption("Cluster sizes count the training samples the clustering was fitted on.")

# ---- Why did this sample get these values? ----------------------------------------------------------------


def inspect_sample(i):
    """Which centre filled each missing modality of sample i, how sure it is, and how close the runner-up was."""
    prov = run.provenance
    rows = []
    for name, p in run.provenances.items():
        for m, n in enumerate(names):
            if mask[i, m]:
                continue
            src = int(p.source[i, m])
            rows.append({
                "method": plotting.method_label(name),
                "modality": n,
                "filled from": "training mean (no centre could fill it)" if src < 0 else
                ("centre %d" % src if name == "ul4m4" else "centre %d (weight %.2f)" % (src, p.weight[i, m])),
                "confidence": p.confidence[i, m],
                "distance": p.distance[i, m],
                "runner-up": "none" if p.runner_up[i, m] < 0 else f"centre {int(p.runner_up[i, m])}",
                "runner-up distance": p.runner_up_distance[i, m],
            })
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", placeholder="–")
    st.caption("Paper: distance is r, the candidate's distance to its nearest centre; the runner-up is the next "
               "candidate whose centre holds the modality. Soft: the sample's distance to the centre with the "
               "largest weight, and the runner-up is the centre with the second largest; the fill is the weighted "
               "mean of the centres that hold the modality, a centre's weight growing with its members and "
               "falling with its distance (members x exp(-distance / temperature)), so a large centre may outweigh "
               "a nearer, smaller one. Confidence in (0, 1]: 0.5 = no better expected than the training mean.")
    r = model.candidate_distances([X[[i]] for X in ds.Xs], mask[[i]])[0]
    chosen_src = {m: int(prov.source[i, m]) for m in range(len(names)) if not mask[i, m] and prov.source[i, m] >= 0}
    chart(plotting.fig_candidates(r, chosen_src, names), "fig_candidates")
    st.caption("Candidate f copies the sample's observed modalities and takes centre f's values for the missing "
               "ones; candidates are taken in order of r, and each missing modality comes from the first "
               "candidate whose centre holds it. When the table's runner-up distance is close to the distance, the "
               "runner-up was almost as close, and the fill could as well have come from its centre.")


st.subheader("Inspect one sample")
incomplete = np.flatnonzero(~mask.all(axis=1))
if incomplete.size == 0:
    st.info("No sample is incomplete.")
else:
    if not 0 <= int(ss.get("inspect_sample", -1)) < ds.n_samples:
        ss["inspect_sample"] = int(incomplete[0])
    i = int(st.number_input(f"Sample index (0-{ds.n_samples - 1}; {incomplete.size} samples are incomplete; or click "
                            "a point on the map)", 0, ds.n_samples - 1, key="inspect_sample"))
    missing_names = [n for m, n in enumerate(names) if not mask[i, m]]
    if missing_names:
        st.caption(f"Sample {i} misses: {plain(', '.join(missing_names))}.")
        inspect_sample(i)
    else:
        later = incomplete[incomplete > i]
        st.info(f"Sample {i} observes every modality, so nothing was imputed."
                + (f" The next incomplete sample is {int(later[0])}." if later.size else ""))

# ---- Downloads ----------------------------------------------------------------------------------------------
st.subheader("Downloads")
method = st.selectbox("Completed data of", list(run.completed), format_func=plotting.method_label, key="dl_method")
spec = ss[state.DATASET_SPEC]
manifest = make_manifest(spec, ss[state.MISSING_CFG], rcfg, mres, run.seconds,
                         {"n_iter": int(model.n_iter_), "converged": bool(model.converged_),
                          "repeat_with": "python -m ul4m4 impute --manifest manifest.json --out DIR"})
# One row that wraps on a narrow window (fixed columns cut the labels: "Complete..." twice at 900 px).
c1 = c2 = c3 = c4 = st.container(horizontal=True)
# Payloads are built only when a button is clicked (callables), not on every rerun of the page.
completed_m = run.completed[method]
c1.download_button("Completed data (.npz)", lambda: to_npz_bytes(completed_m, names, ds.y, mask),
                   f"{ds.name}_{method}_completed.npz", on_click="ignore", key="dl_npz")
c2.download_button("Completed data (.parquet)", lambda: to_parquet_bytes(completed_m, names, ds.y),
                   f"{ds.name}_{method}_completed.parquet", on_click="ignore", key="dl_parquet")
c3.download_button("Mask (.csv)", lambda: mask_csv_bytes(mask, names), f"{ds.name}_mask.csv", "text/csv",
                   on_click="ignore", key="dl_mask")
c4.download_button("Run manifest (.json)", lambda: manifest_json(manifest), "manifest.json", "application/json",
                   on_click="ignore", key="dl_manifest")
report_button("dl_report")
st.caption("The .npz holds the completed modalities, y and the mask (True = observed before imputation); the "
           "manifest holds every setting and the software versions, so the run can be repeated headless.")
