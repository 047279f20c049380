"""Session state of the app: every key lives here, with the defaults a newcomer sees, and each session's
memory budget.

Results are memoised per session (keyed by their settings), so moving between pages never recomputes
what is known, and one person's data or results never reach another session. Bundled datasets are
shared read-only across sessions; nothing else is cached across sessions.

Memory: each session may hold at most ``session_budget_bytes()`` (its data, its memo, and the work it
starts). Every page sets the library's memory limit for its thread to what the session has left, so every
estimate the library checks before work starts (a run, a sweep, synthetic data) is checked against it,
and the upload limit follows it; the memo is bounded in bytes and evicts its oldest entries.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import OrderedDict

import streamlit as st

import ul4m4
from appui import housekeeping
from ul4m4.datasets import DEFAULT_MAX_BYTES
from ul4m4.experiment import MissingConfig, RunConfig, default_n_clusters, make_mask, run_methods
from ul4m4.experiment import unit_key as exp_unit_key
from ul4m4.timing import estimate_run_seconds, learn
from ul4m4.memory import deep_nbytes, set_memory_limit

log = logging.getLogger("ul4m4.app")

# Session-state keys (the only place they are spelled out).
DATASET = "dataset"  # ul4m4.Dataset
DATASET_SPEC = "dataset_spec"  # dict: how the data was obtained (for the manifest)
DATASET_KEY = "dataset_key"  # str: identifies the data for memo keys
MISSING_CFG = "missing_cfg"  # MissingConfig
RUN_CFG = "run_cfg"  # RunConfig
MAP_METHOD = "map_method"  # "pca" | "umap"
MEMO = "memo"  # OrderedDict: settings -> results
MEMO_SIZES = "memo_sizes"  # dict: settings -> bytes held by that result
UPLOAD_DIGEST = "upload_digest"
SWEEP = "sweep_result"
SWEEP_CFG = "sweep_cfg"
PRESENT = "present"  # bool: presentation mode
PRESENT_STEP = "present_step"  # int: the story step shown (0-based)
PRESENT_FROM = "present_from"  # the page file presentation mode was entered from (its exit goes back there)
PRESENT_LEAVING = "present_leaving"  # bool: Exit presentation was just clicked

MEMO_SIZE = 12
# The methods a degradation sweep compares unless the user chooses others: the Degradation page's preselection
# and the presentation's own sweep, so that both show the same comparison (the paper's method, the soft one,
# the usual baselines and the strongest peer, SoftImpute; the ceiling on data without gaps of their own).
DEFAULT_SWEEP_METHODS = ("ul4m4", "ul4m4_soft", "mean", "knn", "softimpute", "complete")
SWEEP_UNITS_MAX = 5000  # finished sweep units kept per dataset (each a row of a dozen numbers)
MEMO_SHARE = 0.25  # the memo may hold at most this share of the session's budget (the newest entry always)
BUDGET_ENV = "UL4M4_SESSION_MEMORY_MB"
DEFAULT_BUDGET_MB = 2048
# Samples an upload may hold: every page draws every sample (maps, hovers), so the app caps them.
MAX_SAMPLES = 100_000
# ... and needs: a training and a test split at every split size, clusters and a classifier to fit (the
# synthetic generator's smallest size too).
MIN_SAMPLES = 20


@st.cache_resource(show_spinner="Loading the bundled dataset...")
def bundled(name):
    """Bundled datasets are read-only and shared by every session."""
    return ul4m4.load_dataset(name)


def session_budget_bytes():
    """Memory one session may hold: UL4M4_SESSION_MEMORY_MB (default 2048 MB)."""
    raw = os.environ.get(BUDGET_ENV, str(DEFAULT_BUDGET_MB))
    try:
        mb = float(raw)
    except ValueError:
        mb = float("nan")
    if not mb > 0 or mb == float("inf"):
        raise ValueError(f"{BUDGET_ENV}={raw!r} should be a positive number of megabytes.")
    return int(mb * 2**20)


def dataset_bytes():
    """Bytes the session's own dataset holds (bundled data is shared, so it counts nothing)."""
    ss = st.session_state
    if DATASET not in ss or str(ss.get(DATASET_KEY, "")).startswith("bundled:"):
        return 0
    ds = ss[DATASET]
    return sum(X.nbytes for X in ds.Xs) + ds.mask.nbytes + (0 if ds.y is None else ds.y.nbytes)


def memo_bytes():
    return sum(st.session_state.get(MEMO_SIZES, {}).values())


def free_bytes():
    """What this session may still use: its budget less its data and memoised results."""
    return max(session_budget_bytes() - dataset_bytes() - memo_bytes(), 0)


def apply_budget():
    """Cap the library's memory checks, for this script run's thread, at what the session has left."""
    set_memory_limit(free_bytes())


def set_dataset(ds, spec, key):
    st.session_state[DATASET] = ds
    st.session_state[DATASET_SPEC] = spec
    st.session_state[DATASET_KEY] = key
    apply_budget()


def ensure_defaults():
    """Bundled mfeat, MCAR 30 % on both splits, UL4M4 with k = number of classes: the first screen."""
    housekeeping.start()
    ss = st.session_state
    if DATASET not in ss:
        set_dataset(bundled("mfeat"), {"name": "mfeat"}, "bundled:mfeat")
    if MISSING_CFG not in ss:
        ss[MISSING_CFG] = MissingConfig()
    if RUN_CFG not in ss:
        ss[RUN_CFG] = RunConfig(n_clusters=default_n_clusters(ss[DATASET]))
    if MAP_METHOD not in ss:
        ss[MAP_METHOD] = "pca"
    if ss[MAP_METHOD] == "umap":  # a scenario asked for UMAP maps: compile now (see warm_umap)
        warm_umap()
    if MEMO not in ss:
        ss[MEMO] = OrderedDict()
        ss[MEMO_SIZES] = {}
    apply_budget()


def memo_get(key):
    memo = st.session_state[MEMO]
    if key in memo:
        memo.move_to_end(key)
        return memo[key]
    return None


def memo_put(key, value):
    """Keep ``value`` for ``key``; the oldest entries go while the memo holds more than ``MEMO_SIZE``
    entries or more than ``MEMO_SHARE`` of the session's budget (the newest entry always stays)."""
    memo, sizes = st.session_state[MEMO], st.session_state[MEMO_SIZES]
    memo[key] = value
    memo.move_to_end(key)
    sizes[key] = deep_nbytes(value)
    cap = MEMO_SHARE * session_budget_bytes()
    while len(memo) > 1 and (len(memo) > MEMO_SIZE or sum(sizes.values()) > cap):
        old, _ = memo.popitem(last=False)
        sizes.pop(old, None)
    apply_budget()
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


def sweep_failures(cfg):
    """The units the current dataset's sweep ``cfg`` left out (``sweep.UnitFailure``s), [] if none or not run."""
    return memo_get(("sweep_failures", st.session_state[DATASET_KEY], cfg)) or []


def keep_sweep_failures(cfg, failures):
    """Remember the units sweep ``cfg`` left out, beside its table; the unexpected ones (bugs) go to the log."""
    for f in failures:
        if not f.expected:
            log.error("unexpected error in %s during a sweep (%s):\n%s", f.method, f.where(), f.traceback)
    memo_put(("sweep_failures", st.session_state[DATASET_KEY], cfg), list(failures))


class PageDone(BaseException):
    """A page that has shown all it can for now ends with ``stop_page()``, not ``st.stop()``: after st.stop()
    Streamlit runs none of the app's own code that follows the page (the scenario written to the address,
    the sidebar's report), so a link copied there would hold no scenario. A BaseException, so that no
    ``except Exception`` on the way (``widgets.guard``) takes it for an error; app.py catches it."""


def stop_page():
    """End the current page here (see ``PageDone``)."""
    raise PageDone


class MethodFailed(Exception):
    """The paper's UL4M4 failed in a run: without it the page has nothing to show (``widgets.guard`` says why)."""

    def __init__(self, failure):
        super().__init__(failure.message)
        self.failure = failure


def run_and_remember(cfg, callback=None):
    """Run ``cfg`` on the current data and mask, reusing the per-method results already held, and keep
    the result. The per-method store is measured again afterwards, since the run filled it in place.

    A method that fails is left out of the result (``RunResult.failed`` says why; the page shows it) and
    the others are kept; if the paper's UL4M4 fails, ``MethodFailed`` is raised and nothing is kept."""
    ss = st.session_state
    store = units()
    before = set(store)
    mres = current_mask()
    result = run_methods(ss[DATASET], mres, cfg, callback=callback, reuse=store, on_error="skip")
    memo_put(("units", ss[DATASET_KEY], ss[MISSING_CFG]), store)
    # What the methods computed now took, against their estimates: later estimates on this server learn from it.
    fresh = [m for m in result.seconds if exp_unit_key(m, cfg) not in before]
    if fresh:
        ds = ss[DATASET]
        raw = estimate_run_seconds(ds.n_samples, ds.dims, int(mres.train_idx.size), cfg.n_clusters, fresh,
                                   max_iter=cfg.max_iter, device=cfg.device)
        for m in fresh:
            learn(m, raw[m], result.seconds[m])
    for f in result.failed.values():
        if not f.expected and f.method != "ul4m4":  # guard logs the paper's
            log.error("unexpected error in %s during a run:\n%s", f.method, f.traceback)
    if "ul4m4" in result.failed:
        raise MethodFailed(result.failed["ul4m4"])
    warm_umap()  # after the run, not beside it (see warm_umap)
    return memo_put(run_key(cfg), result)


def sweep_units():
    """Finished degradation-sweep units of the current dataset (``sweep.unit_key`` -> scores), so that a
    sweep reruns only the units whose settings changed (the k-sensitivity sweep reuses the main sweep's
    baselines at its rate)."""
    key = ("sweep_units", st.session_state[DATASET_KEY])
    got = memo_get(key)
    return got if got is not None else memo_put(key, OrderedDict())


def keep_sweep_units(store):
    """Keep at most ``SWEEP_UNITS_MAX`` units (oldest out) and measure the store again: a sweep filled it
    in place."""
    while len(store) > SWEEP_UNITS_MAX:
        store.popitem(last=False)
    memo_put(("sweep_units", st.session_state[DATASET_KEY]), store)


def current_run():
    """The RunResult for the current settings, or None if it has not been run."""
    return memo_get(run_key())


def digest(data: bytes):
    return hashlib.sha256(data).hexdigest()


def upload_limit_mb():
    """The upload limit, configured in one place: server.maxUploadSize in .streamlit/config.toml."""
    return int(st.get_option("server.maxUploadSize"))


def max_upload_bytes():
    """The loader refuses what the uploader would (the same limit, in bytes), and data that would take
    more than a third of what the session has left once loaded (loading needs about twice the data)."""
    return min(upload_limit_mb() * 2**20, DEFAULT_MAX_BYTES, free_bytes() // 3)


_SAID_WORKERS = []  # whether a wrong UL4M4_SWEEP_WORKERS was logged


@st.cache_resource(show_spinner=False)
def _sweep_pool():
    from ul4m4.sweep import sweep_pool

    try:
        return sweep_pool()  # None on a single core (or UL4M4_SWEEP_WORKERS=0)
    except (OSError, ImportError, ValueError) as exc:  # no processes here (no semaphores, a wrong setting)
        log.warning("sweeps run in the sessions' own threads: no worker processes (%s)", exc)
        return None


def sweep_workers(ds=None, cfg=None):
    """The server's worker processes for sweeps, shared by every session (each sweep's cells queue there):
    started by the first page that may run a sweep, so they have imported the library by the time Run is
    pressed. None where sweeps run in the session's own thread: a single core, ``UL4M4_SWEEP_WORKERS=0``,
    or (given ``ds`` and ``cfg``) data or a device that do not suit workers (``sweep.workers_suit``). A pool
    whose process died (out of memory) is replaced."""
    from ul4m4.sweep import default_workers, workers_suit

    try:
        if default_workers()[0] == 0:  # read at every call: the setting may change while the server runs (tests)
            return None
    except ValueError as exc:  # the server's operator set a wrong value: said once in the log, sweeps still run
        if not _SAID_WORKERS:
            log.warning("%s Sweeps run in the sessions' own threads.", exc)
            _SAID_WORKERS.append(True)
        return None
    pool = _sweep_pool()
    if pool is not None and getattr(pool, "_broken", False):
        _sweep_pool.clear()
        pool = _sweep_pool()
    if pool is None or (ds is not None and cfg is not None and not workers_suit(ds, cfg)):
        return None
    return pool


def sweep_worker_count(ds, cfg):
    """How many worker processes a sweep of ``cfg`` on ``ds`` runs in (0: the session's own thread)."""
    pool = sweep_workers(ds, cfg)
    return 0 if pool is None else int(getattr(pool, "_max_workers", 1))


@st.cache_resource(show_spinner=False)
def warm_umap():
    """Compile UMAP's numba code once per server, in a background thread, so the first UMAP map is quicker.

    Started after the first run (or at once when the scenario's map is UMAP), not at server start: the
    default map is PCA, and compiling beside the first run starved it (numba's compiler holds the GIL
    that the torch code's Python side needs): UL4M4 soft, auto took 11.8 s on a fresh server instead of
    about 2 s."""
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
