"""The app on a shared server, against hostile input: every page survives every file the loader accepts
(or the loader refuses it readably), each session's memory budget is checked before any generation,
upload or sweep (with the estimate shown), and results are cached per session, bounded in bytes."""

import numpy as np
import pytest

import fuzz
from appui import state
from conftest import shown
from test_app import start, submit

PAGES = ["views/home.py", "views/1_Data.py", "views/2_Missingness.py", "views/3_Cluster_and_impute.py",
         "views/4_Degradation.py"]
MAX_PAGE_BYTES = 16 << 20  # what one page may send to the browser


def tree_bytes(node):
    """Bytes of every element's message under ``node`` of an AppTest tree."""
    total = node.proto.ByteSize() if hasattr(getattr(node, "proto", None), "ByteSize") else 0
    return total + sum(tree_bytes(child) for child in getattr(node, "children", {}).values())


def unexpected(at):
    return [shown(e.value) for e in at.error if "Unexpected error" in shown(e.value)]


def formerly_breaking_files():
    """Files that loaded before and then broke pages or gave NaN: now refused by the loader, readably."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    out = [("byte-labels", "b.npz", fuzz.npz_bytes(a=X, y=np.array([b"a", b"b"] * 20))),
           ("complex-labels", "c.npz", fuzz.npz_bytes(a=X, y=np.ones(40, complex))),
           ("datetime-labels", "d.npz", fuzz.npz_bytes(a=X, y=np.array(["2020-01-01"] * 40, dtype="datetime64[D]"))),
           ("5000-modalities", "m.npz", fuzz.npz_bytes(**{f"m{i}": X[:, :1] for i in range(5000)})),
           ("value-1e155", "v.npz", fuzz.npz_bytes(a=np.where(np.arange(40)[:, None] == 3, 1e155, X))),
           ("value-1e39", "w.npz", fuzz.npz_bytes(a=np.where(np.arange(40)[:, None] == 3, 1e39, X)))]
    if np.dtype(np.longdouble).itemsize > 8:
        out.append(("float128-modality", "l.npz", fuzz.npz_bytes(a=X.astype(np.longdouble))))
    return out


ODD_FILES = fuzz.accepted_files(np.random.default_rng(0)) + formerly_breaking_files()


def upload(at, fname, data):
    at.switch_page("views/1_Data.py").run()
    at.radio(key="data_source").set_value("upload").run()
    at.file_uploader(key="upload").set_value((fname, data, "application/octet-stream")).run()
    assert not at.exception, [e.value for e in at.exception]


def check_every_page(name, fname, data):
    at = start()
    upload(at, fname, data)
    if at.session_state[state.DATASET].name != fname:  # refused: one readable error, the previous data kept
        errors = [shown(e.value) for e in at.error]
        assert len(errors) == 1 and errors[0].startswith(f"Problem while reading '{fname}':"), errors
        assert at.session_state[state.DATASET].name == "mfeat"
        return "refused"
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, (name, page, [e.value for e in at.exception])
        assert not unexpected(at), (name, page, unexpected(at))
        assert tree_bytes(at._tree) < MAX_PAGE_BYTES, (name, page, tree_bytes(at._tree))
    return "drawn"


# The default run keeps a sample of the classes (64 modalities, about 13 s, runs with the slow tests).
FAST = {"tiny-two-samples", "text-labels-markup", "byte-labels", "5000-modalities", "value-1e155"}


@pytest.mark.parametrize("name, fname, data", [c for c in ODD_FILES if c[0] in FAST], ids=lambda v: v
                         if isinstance(v, str) and "." not in v else "")
def test_every_page_survives_odd_files(name, fname, data):
    check_every_page(name, fname, data)


@pytest.mark.slow
@pytest.mark.parametrize("name, fname, data", [c for c in ODD_FILES if c[0] not in FAST], ids=lambda v: v
                         if isinstance(v, str) and "." not in v else "")
def test_every_page_survives_odd_files_all(name, fname, data):
    check_every_page(name, fname, data)


# ---------------------------------------------------------------------------------------------------
# The per-session memory budget
# ---------------------------------------------------------------------------------------------------
@pytest.fixture
def budget_mb(monkeypatch):
    def set_budget(mb):
        monkeypatch.setenv(state.BUDGET_ENV, str(mb))
    return set_budget


def test_synthetic_data_is_checked_against_the_session_budget(budget_mb):
    budget_mb(64)
    at = start()
    at.switch_page("views/1_Data.py").run()
    at.radio(key="data_source").set_value("synthetic").run()
    assert at.session_state[state.DATASET].name == "synthetic"  # the default size fits
    assert any("Estimated memory to generate these data" in c.value for c in at.caption)
    before = at.session_state[state.DATASET_KEY]
    at.number_input(key="syn_n").set_value(20_000)
    at.number_input(key="syn_m").set_value(8)
    at.text_input(key="syn_dims").set_value("100")  # 128 MB of data, more than the session's 64 MB
    submit(at, "Generate")
    assert not at.exception
    assert any("Generating this synthetic data needs about" in shown(e.value) for e in at.error), [shown(e.value) for e in at.error]
    assert at.session_state[state.DATASET_KEY] == before  # nothing was generated


def test_uploads_are_checked_against_the_session_budget(budget_mb):
    budget_mb(12)  # a third of what is left: 4 MB once loaded
    data = fuzz.npz_bytes(a=np.zeros((100_000, 10), np.uint8))  # 7.6 MB once loaded as float64
    assert len(data) < 100_000
    at = start()
    upload(at, "zeros.npz", data)
    assert any("would take 7.6 MB once loaded" in shown(e.value) and "the limit is 4" in shown(e.value) for e in at.error), \
        [shown(e.value) for e in at.error]
    assert at.session_state[state.DATASET].name == "mfeat"


def test_a_sweep_is_checked_against_the_session_budget(budget_mb):
    budget_mb(20)
    at = start()
    at.switch_page("views/1_Data.py").run()
    at.radio(key="data_source").set_value("breast_cancer").run()
    at.switch_page("views/4_Degradation.py").run()
    assert any("Estimated memory" in c.value for c in at.caption)
    at.text_input(key="deg_rates").set_value("0")
    at.number_input(key="deg_seeds").set_value(1)
    submit(at, "Run sweep")
    assert not at.exception
    assert any("This sweep needs about" in shown(e.value) for e in at.error), [shown(e.value) for e in at.error]
    assert state.SWEEP_CFG not in at.session_state


@pytest.mark.slow
def test_results_are_kept_per_session_and_bounded_in_bytes(budget_mb):
    from test_app import run_key
    from ul4m4.memory import deep_nbytes

    budget_mb(800)  # the memo may hold a quarter: 200 MB
    at = start()
    at.switch_page("views/2_Missingness.py").run()
    old = np.ones(100 * 2**17)  # an earlier result of 100 MB...
    state_memo = at.session_state[state.MEMO]
    state_memo[("old result",)] = old
    at.session_state[state.MEMO_SIZES][("old result",)] = old.nbytes
    at.switch_page("views/3_Cluster_and_impute.py").run()  # ...and a run of about 130 MB (six methods)
    assert not at.exception and not at.error, [shown(e.value) for e in at.error]
    memo = at.session_state[state.MEMO]
    assert ("old result",) not in memo and run_key(at) in memo  # the oldest went, the newest stays
    assert sum(deep_nbytes(v) for v in memo.values()) <= 200 * 2**20


def test_no_data_is_cached_across_sessions():
    """Generated data lives in the session that asked for it: no st.cache_data entry survives it."""
    from streamlit.runtime.caching import cache_data_api

    at = start()
    at.switch_page("views/1_Data.py").run()
    at.radio(key="data_source").set_value("synthetic").run()
    assert at.session_state[state.DATASET].name == "synthetic"
    stats = cache_data_api._data_caches.get_stats()  # Streamlit's own cache statistics
    held = sum(s.byte_length for family in stats.values() for s in family)
    assert held == 0, stats


CLUSTER, DATA, MISSING, DEGRADATION = (f"views/{p}.py" for p in ("3_Cluster_and_impute", "1_Data", "2_Missingness",
                                                                 "4_Degradation"))


# One field per page in the default run (each case starts the app; the cluster page runs its default run);
# the other fields of the class with the slow tests.
@pytest.mark.parametrize("page, prepare, key, value, button, said", [
    (CLUSTER, None, "run_k", 99_999, "Run", "'Clusters k' is 99,999; it must lie between 1 and 1,400."),
    pytest.param(CLUSTER, None, "run_max_iter", 0, "Run",
                 "'Max Lloyd iterations' is 0; it must lie between 1 and 1,000.", marks=pytest.mark.slow),
    pytest.param(CLUSTER, None, "run_seed", -1, "Run", "'Seed' is -1; it must lie between 0 and 2,147,483,647.",
                 marks=pytest.mark.slow),
    (DATA, "synthetic", "syn_n", 5_000_000, "Generate", "'Samples' is 5,000,000; it must lie between 20 and 100,000."),
    pytest.param(DATA, "synthetic", "syn_m", 0, "Generate", "'Modalities' is 0; it must lie between 1 and 8.",
                 marks=pytest.mark.slow),
    (MISSING, None, "miss_seed", 2**40, "Simulate",
     "'Seed' is 1,099,511,627,776; it must lie between 0 and 2,147,483,647."),
    (DEGRADATION, None, "deg_k", 5000, "Run sweep", "'UL4M4 clusters k' is 5,000; it must lie between 1 and 1,400."),
    pytest.param(DEGRADATION, None, "deg_k_rate", 1.5, "Run sweep", "'at rate' is 1.5; it must lie between 0 and 0.95.",
                 marks=pytest.mark.slow),
])
def test_a_number_out_of_range_is_said_and_nothing_else_changes(page, prepare, key, value, button, said):
    # Given bounds, Streamlit outlines such a number in red and drops the whole form without a word: Run did
    # nothing and the old results stayed. The fields have no bounds in the browser; the page checks them.
    at = start()
    if prepare:
        at.switch_page("views/1_Data.py").run()
        at.radio(key="data_source").set_value(prepare).run()
    at.switch_page(page).run()
    before = {k: at.session_state[k] for k in (state.DATASET_KEY, state.MISSING_CFG, state.RUN_CFG)}
    at.number_input(key=key).set_value(value)
    [b for b in at.button if b.label == button][0].click().run()
    assert not at.exception
    errors = [shown(e.value) for e in at.error]
    assert any(said in e and f"{button} waits until it is mended" in e for e in errors), errors
    assert {k: at.session_state[k] for k in before} == before
    if page == DEGRADATION:
        assert state.SWEEP_CFG not in at.session_state or at.session_state[state.SWEEP_CFG] is None
    # Mended and submitted, the form acts and the message goes (the sweep made small).
    at.number_input(key=key).set_value({"run_k": 3, "run_max_iter": 5, "run_seed": 1, "syn_n": 300, "syn_m": 2,
                                        "miss_seed": 1, "deg_k": 3, "deg_k_rate": 0.2}[key])
    if page == DEGRADATION:
        at.multiselect(key="deg_methods").set_value(["mean"])
        at.text_input(key="deg_rates").set_value("0.2")
        at.number_input(key="deg_seeds").set_value(1)
    [b for b in at.button if b.label == button][0].click().run()
    assert not at.exception
    assert not [e for e in at.error if "must lie between" in shown(e.value)]
