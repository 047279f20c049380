"""Data: pick a bundled dataset, generate synthetic data, or upload a file; see what it holds."""

import io

import numpy as np
import pandas as pd
import streamlit as st

import ul4m4
from appui import state
from appui.text import plain
from appui.widgets import chart, charts_side_by_side, decimals_per_column, guard, number_field, refuse
from ul4m4 import plotting
from ul4m4.experiment import RunConfig, default_n_clusters
from ul4m4.export import to_frame, to_npz_bytes
from ul4m4.files import MAX_MODALITIES, mb
from ul4m4.memory import estimate_synthetic_bytes
from ul4m4.validation import counted, parse_list

state.ensure_defaults()
ss = st.session_state

st.title("Data")
SOURCES = {
    "mfeat": "Bundled: UCI Multiple Features (2,000 digits, 6 views)",
    "breast_cancer": "Bundled: breast cancer (569 samples, 3 views)",
    "synthetic": "Synthetic generator (known ground truth)",
    "upload": "Upload your own file",
}
current = ss[state.DATASET_SPEC].get("source", ss[state.DATASET_SPEC]["name"])
source = st.radio("Source", list(SOURCES), format_func=SOURCES.get, key="data_source",
                  index=list(SOURCES).index(current) if current in SOURCES else 3, horizontal=True)


def adopt(ds, spec, key):
    """Make ``ds`` the current dataset; the default k follows it."""
    if ss[state.DATASET_KEY] != key:
        state.set_dataset(ds, spec, key)
        ss[state.RUN_CFG] = RunConfig(n_clusters=default_n_clusters(ds))


if source in ("mfeat", "breast_cancer"):
    adopt(state.bundled(source), {"name": source, "source": source}, f"bundled:{source}")
elif source == "synthetic":
    bad = []  # fields out of range (number_field): said, and nothing is generated, until they are mended
    with st.form("synthetic_form"):
        st.markdown("Latent clusters shared across modalities; *correlation* sets how much the modalities "
                    "share (1: all see the same latent), *noise* the per-feature noise.")
        c1, c2, c3 = st.columns(3)
        # Each field says its range, and a number outside it is said on Generate (number_field).
        n = number_field(c1, "Samples (20 to 100,000)", 20, 100_000, 600, step=100, key="syn_n", problems=bad)
        M = number_field(c1, "Modalities (1 to 8)", 1, 8, 3, key="syn_m", problems=bad)
        dims_txt = c1.text_input("Features per modality (one number, or one per modality)", "16", key="syn_dims")
        k = number_field(c2, "Latent clusters (1 to 50)", 1, 50, 4, key="syn_k", problems=bad)
        corr = c2.slider("Cross-modal correlation", 0.0, 1.0, 0.8, 0.05, key="syn_corr")
        noise = c2.slider("Noise (std)", 0.0, 3.0, 0.5, 0.1, key="syn_noise")
        sep = c3.slider("Cluster separation", 0.5, 6.0, 2.5, 0.5, key="syn_sep")
        multilabel = c3.checkbox("Multilabel targets", False, key="syn_multilabel")
        n_labels = number_field(c3, "Labels, if multilabel (1 to 30)", 1, 30, 5, key="syn_labels", problems=bad)
        seed = number_field(c3, "Seed", 0, 2**31 - 1, 0, key="syn_seed", problems=bad,
                            help="0 to 2,147,483,647: the same seed gives the same data.")
        go = st.form_submit_button("Generate", type="primary")
    if not refuse(bad, "Generate"):  # the current data stay, and the page goes on
        with guard("generating synthetic data"):
            dims = parse_list(dims_txt, int, "features per modality")
            # Said with the form's own field names (the library's message names its parameters).
            if len(dims) not in (1, int(M)):
                raise ValueError(f"'Features per modality' holds {len(dims)} numbers for {int(M)} modalities; give one "
                                 "number for all, or one per modality.")
            if min(dims) < 1:
                raise ValueError(f"'Features per modality': {', '.join(str(d) for d in dims if d < 1)} cannot be used; "
                                 "each modality needs at least 1 feature.")
            dims = dims[0] if len(dims) == 1 else dims
            params = dict(n_samples=int(n), n_modalities=int(M), dims=dims if isinstance(dims, int) else tuple(dims),
                          n_clusters=int(k), correlation=float(corr), noise=float(noise), separation=float(sep),
                          multilabel=bool(multilabel), n_labels=int(n_labels), random_state=int(seed))
            per_modality = [dims] * int(M) if isinstance(dims, int) else list(dims)
            need = estimate_synthetic_bytes(int(n), sum(per_modality), max(per_modality), 8, int(k),
                                            int(n_labels) if multilabel else 0)
            st.caption(f"Estimated memory to generate these data: {mb(need)} of the {mb(state.free_bytes())} this "
                       "session has left.")
            key = "synthetic:" + repr(sorted(params.items()))
            if (go or ss[state.DATASET_SPEC].get("source") != "synthetic") and ss[state.DATASET_KEY] != key:
                # Generated per session (the library refuses it first if it would not fit the session's memory).
                with st.spinner("Generating synthetic data..."):
                    ds = ul4m4.make_synthetic(**params)
                adopt(ds, {"name": "synthetic", "source": "synthetic", "options": params}, key)
    cur = ss[state.DATASET]
    if ss[state.DATASET_SPEC].get("source") == "synthetic" and not cur.is_multilabel:
        asked = int(ss[state.DATASET_SPEC]["options"]["n_clusters"])
        held = int(np.unique(cur.y).size)
        if held < asked:  # each sample's cluster is drawn at random: some clusters may get none
            st.info(f"{asked} latent clusters were asked for and {held} of them drew samples (each sample's "
                    f"cluster is drawn at random), so these data have {held} classes.")
else:
    st.markdown(
        f"""
**Formats** (files up to {state.upload_limit_mb()} MB, holding at most {state.MAX_SAMPLES:,} samples and
{MAX_MODALITIES} modalities; never unpickled, kept only in your session):
- **`.npz`** (`numpy.savez`): one 2-D numeric array per modality, named as you like; optional `y` (labels:
  one per sample, or a 0/1 matrix for multilabel) and `mask` (bool, samples x modalities, True = observed).
  Without `mask`, a row of NaN marks a missing modality.
- **`.csv` / `.parquet`**: one row per sample, columns named `<modality>__<feature>` (e.g. `image__0`,
  `text__12`), optional `y` column or `y__<label>` columns. A modality whose cells are all empty in a
  row is missing for that sample; partly empty rows are refused.
"""
    )
    ex = ul4m4.make_synthetic(n_samples=60, n_modalities=2, dims=[4, 3], random_state=0)
    exX = [X.round(4) for X in ex.Xs]
    exX[1][:6] = np.nan  # six samples miss modality 'text'
    names = ["image", "text"]
    c1, c2 = st.columns(2)
    c1.download_button("Example CSV", to_frame(exX, names, ex.y).to_csv(index=False).encode(), "example.csv",
                       "text/csv", on_click="ignore", key="dl_example_csv")
    c2.download_button("Example NPZ", to_npz_bytes(exX, names, ex.y), "example.npz", "application/octet-stream",
                       on_click="ignore", key="dl_example_npz")
    st.caption(f"Once loaded, an upload may take up to {mb(state.max_upload_bytes())} of memory (what this session "
               "has left, a third of it, as loading needs about twice the data; numbers become float64).")
    up = st.file_uploader("Upload a .npz, .csv or .parquet file", type=["npz", "csv", "parquet"], key="upload")
    dg = None
    if up is not None:
        data = up.getvalue()
        dg = state.digest(data)
        if ss.get(state.UPLOAD_DIGEST) != dg:
            with guard(f"reading '{up.name}'"):
                buf = io.BytesIO(data)
                buf.name = up.name
                # The app's runs compute in float32: values beyond its limit are refused now, not at Run.
                ds = ul4m4.load_dataset(buf, max_bytes=state.max_upload_bytes(), max_samples=state.MAX_SAMPLES,
                                        working_dtype="float32")
                if ds.n_samples < state.MIN_SAMPLES:
                    raise ValueError(f"the file holds {counted(ds.n_samples, 'sample')} (rows); the app needs at least "
                                     f"{state.MIN_SAMPLES}, so that a training and a test split each keep samples "
                                     "to cluster, complete and score.")
                adopt(ds, {"name": up.name, "source": "upload", "sha256": dg}, f"upload:{dg}")
                ss[state.UPLOAD_DIGEST] = dg
                st.success(f"Loaded '{plain(up.name)}'.")
    spec = ss[state.DATASET_SPEC]
    in_use = spec.get("source") == "upload" and (up is None or spec.get("sha256") == dg)
    if not in_use:  # also when an earlier upload is still in use: say which data the pages use
        what = (f"'{plain(up.name)}' was not loaded (see the message above)" if up is not None
                else "No file uploaded yet")
        st.info(f"{what}: the pages keep using the previous dataset ({plain(ss[state.DATASET].name)}).")

ds = ss[state.DATASET]
st.divider()
# The bundled data by their names in words (not the ids "mfeat", "breast_cancer"); an upload by its file name.
SHOWN_NAMES = {"mfeat": "UCI Multiple Features (mfeat)", "breast_cancer": "breast cancer (Wisconsin diagnostic)",
               "synthetic": "synthetic"}
shown_name = SHOWN_NAMES.get(ds.name, ds.name) if ss[state.DATASET_SPEC].get("source") != "upload" else ds.name
st.subheader(f"Current dataset: {plain(shown_name)}")
if ds.description:
    st.caption(ds.description)
n_classes = None if ds.y is None else (ds.y.shape[1] if ds.is_multilabel else int(np.unique(ds.y).size))
# Short values: a metric cuts what does not fit its column ("multilabel, 3..." once).
labels = "none" if ds.y is None else (f"{n_classes} label{'s' * (n_classes != 1)}" if ds.is_multilabel
                                      else f"{n_classes} class{'es' * (n_classes != 1)}")
# One row that wraps on a narrow window (four fixed columns cut values and labels at 900 px).
row = st.container(horizontal=True, gap="medium")
row.metric("Samples", f"{ds.n_samples:,}", width=180)
row.metric("Modalities", ds.n_modalities, width=180)
row.metric("Labels (multilabel)" if ds.is_multilabel else "Labels", labels, width=180)
row.metric("Missing slots, as loaded", f"{100 * (~ds.mask).mean():.1f}%", width=180,
           help="Share of the modality slots missing in the data themselves, before any simulated missingness.")

summary = pd.DataFrame({
    "modality": ds.modality_names,
    "features": ds.dims,
    "observed samples": ds.mask.sum(axis=0),
    "mean of features": [float(np.mean(X[ds.mask[:, m]])) for m, X in enumerate(ds.Xs)],
    "median feature std": [float(np.median(X[ds.mask[:, m]].std(axis=0))) for m, X in enumerate(ds.Xs)],
})
st.dataframe(decimals_per_column(summary), hide_index=True, width="stretch")
charts_side_by_side("data", (plotting.fig_dimensions(ds.modality_names, ds.dims), "fig_dims"),
                    (plotting.fig_scales(ds.modality_names, ds.Xs, ds.mask), "fig_scales"))
MAX_BARS = 200
if ds.y is not None and n_classes > MAX_BARS:
    st.info(f"The labels hold {n_classes:,} classes: too many to draw one bar each (at most {MAX_BARS}).")
elif ds.y is not None:
    chart(plotting.fig_label_balance(ds.y, ds.target_names), "fig_labels")
with st.expander("Preview (first 10 samples, first 6 features of each modality)"):
    preview = to_frame([X[:10, :6] for X in ds.Xs], ds.modality_names, None if ds.y is None else ds.y[:10])
    st.dataframe(preview, width="stretch")
