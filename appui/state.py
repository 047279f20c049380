"""Session state of the app: every key lives here, with the defaults a newcomer sees.

Results are memoised per session (keyed by their settings), so moving between pages never recomputes
what is known, and one person's data or results never reach another session. Bundled datasets are
shared read-only across sessions.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import streamlit as st

import ul4m4
from ul4m4.datasets import DEFAULT_MAX_BYTES
from ul4m4.experiment import MissingConfig, RunConfig, default_n_clusters, make_mask

# Session-state keys (the only place they are spelled out).
DATASET = "dataset"  # ul4m4.Dataset
DATASET_SPEC = "dataset_spec"  # dict: how the data was obtained (for the manifest)
DATASET_KEY = "dataset_key"  # str: identifies the data for memo keys
MISSING_CFG = "missing_cfg"  # MissingConfig
RUN_CFG = "run_cfg"  # RunConfig
MAP_METHOD = "map_method"  # "pca" | "umap"
MEMO = "memo"  # OrderedDict: settings -> results
UPLOAD_DIGEST = "upload_digest"
SWEEP = "sweep_result"
SWEEP_CFG = "sweep_cfg"

MEMO_SIZE = 12


@st.cache_resource(show_spinner="Loading the bundled dataset...")
def bundled(name):
    """Bundled datasets are read-only and shared by every session."""
    return ul4m4.load_dataset(name)


@st.cache_data(show_spinner="Generating synthetic data...", max_entries=8)
def synthetic(params):
    return ul4m4.make_synthetic(**dict(params))


def set_dataset(ds, spec, key):
    st.session_state[DATASET] = ds
    st.session_state[DATASET_SPEC] = spec
    st.session_state[DATASET_KEY] = key


def ensure_defaults():
    """Bundled mfeat, MCAR 30 % on both splits, UL4M4 with k = number of classes: the first screen."""
    warm_umap()
    ss = st.session_state
    if DATASET not in ss:
        set_dataset(bundled("mfeat"), {"name": "mfeat"}, "bundled:mfeat")
    if MISSING_CFG not in ss:
        ss[MISSING_CFG] = MissingConfig()
    if RUN_CFG not in ss:
        ss[RUN_CFG] = RunConfig(n_clusters=default_n_clusters(ss[DATASET]))
    if MAP_METHOD not in ss:
        ss[MAP_METHOD] = "pca"
    if MEMO not in ss:
        ss[MEMO] = OrderedDict()


def memo_get(key):
    memo = st.session_state[MEMO]
    if key in memo:
        memo.move_to_end(key)
        return memo[key]
    return None


def memo_put(key, value):
    memo = st.session_state[MEMO]
    memo[key] = value
    memo.move_to_end(key)
    while len(memo) > MEMO_SIZE:
        memo.popitem(last=False)
    return value


def current_mask():
    """MaskResult for the current data and missingness settings (memoised)."""
    ss = st.session_state
    key = ("mask", ss[DATASET_KEY], ss[MISSING_CFG])
    got = memo_get(key)
    if got is None:
        got = memo_put(key, make_mask(ss[DATASET], ss[MISSING_CFG]))
    return got


def run_key(cfg=None):
    ss = st.session_state
    return ("run", ss[DATASET_KEY], ss[MISSING_CFG], cfg if cfg is not None else ss[RUN_CFG])


def units():
    """Per-method results on the current data and mask (``experiment.unit_key``), so that a new run
    refits only the methods whose settings changed."""
    ss = st.session_state
    key = ("units", ss[DATASET_KEY], ss[MISSING_CFG])
    got = memo_get(key)
    return got if got is not None else memo_put(key, {})


def current_run():
    """The RunResult for the current settings, or None if it has not been run."""
    return memo_get(run_key())


def digest(data: bytes):
    return hashlib.sha256(data).hexdigest()


def upload_limit_mb():
    """The upload limit, configured in one place: server.maxUploadSize in .streamlit/config.toml."""
    return int(st.get_option("server.maxUploadSize"))


def max_upload_bytes():
    """The loader refuses what the uploader would: the same limit, in bytes."""
    return min(upload_limit_mb() * 2**20, DEFAULT_MAX_BYTES)


@st.cache_resource(show_spinner=False)
def warm_umap():
    """Compile UMAP's numba code once per server, in a background thread, so the first map is quicker."""
    import threading

    def work():
        try:
            import numpy as np

            from ul4m4.projection import project_2d

            project_2d([np.random.default_rng(0).normal(size=(80, 6))], "umap")
        except Exception:  # a failed warm-up only means the first real map compiles instead
            pass

    thread = threading.Thread(target=work, name="umap-warmup", daemon=True)
    thread.start()
    return thread
