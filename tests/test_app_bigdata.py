"""The app on large data (issue 12): a 30,000-sample upload is not run on opening a page, the estimates
come first, the map is subsampled with a notice, and the Dask path is offered when the server names a
scheduler."""

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from appui import bigdata, state
from conftest import shown, unwrapped

ROOT = Path(__file__).resolve().parents[1]
N_LARGE = 30_000


def start():
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=600).run()


def no_problem(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [shown(e.value) for e in at.error]


def submit(at, label):
    [b for b in at.button if b.label == label][0].click().run()


def large_npz(n=N_LARGE, seed=0):
    """n samples, two 16-d modalities with a cluster structure, labels, 10 % of one modality missing."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    centres = rng.normal(scale=3, size=(4, 32))
    Z = centres[y] + rng.normal(size=(n, 32))
    mask = np.ones((n, 2), dtype=bool)
    mask[rng.random(n) < 0.1, 1] = False
    buf = io.BytesIO()
    np.savez(buf, a=Z[:, :16].astype(np.float32), b=np.where(mask[:, [1]], Z[:, 16:], np.nan).astype(np.float32),
             y=y, mask=mask)
    return buf.getvalue()


def decode(values):
    """A plotly array as JSON holds it: a list, or {"dtype", "bdata" (base64), "shape"}."""
    if isinstance(values, dict) and "bdata" in values:
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=np.dtype(values["dtype"])).ravel()
    return np.ravel(values)


def run_key(at):
    ss = at.session_state
    return ("run", ss[state.DATASET_KEY], ss[state.MISSING_CFG], ss[state.RUN_CFG])


def texts(at):
    return " ".join([shown(m.value) for m in at.markdown] + [shown(m.value) for m in at.caption] + [shown(m.value) for m in at.info]
                    + [shown(m.value) for m in at.success])


def map_spec(at):
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        if spec["layout"].get("title", {}).get("text", "").startswith(("PCA of", "UMAP of")):
            return spec
    return None


@pytest.mark.slow
def test_a_30000_sample_upload_waits_for_run_then_maps_a_subsample():
    at = start()
    at.switch_page("views/1_Data.py").run()
    at.radio(key="data_source").set_value("upload").run()
    at.file_uploader(key="upload").set_value(("big.npz", large_npz(), "application/octet-stream")).run()
    no_problem(at)
    assert at.session_state[state.DATASET].n_samples == N_LARGE
    at.switch_page("views/2_Missingness.py").run()
    no_problem(at)

    # Opening the page starts nothing: it says why and shows the estimates.
    at.switch_page("views/3_Cluster_and_impute.py").run()
    no_problem(at)
    assert run_key(at) not in at.session_state[state.MEMO]
    words = texts(at)
    assert "30,000 samples (more than 20,000), so nothing starts by itself" in words
    assert "Estimated for the settings above, before Run:" in words and "kNN" in words and "memory" in words
    assert not at.get("plotly_chart")
    # The presentation does not start one either.
    at.switch_page("views/present.py").run()
    no_problem(at)
    assert run_key(at) not in at.session_state[state.MEMO]
    assert any(b.label.startswith("Run UL4M4 and the baselines now") for b in at.button)

    # Run, with the cheap baselines: the map shows 10,000 points, keyed by sample id, and says so.
    at.switch_page("views/3_Cluster_and_impute.py").run()
    at.multiselect(key="run_baselines").set_value(["mean", "ul4m4_soft"])
    submit(at, "Run")
    no_problem(at)
    assert run_key(at) in at.session_state[state.MEMO]
    spec = map_spec(at)
    assert spec is not None
    assert f"{bigdata.MAP_MAX_POINTS:,} of {N_LARGE:,} samples shown" in unwrapped(spec["layout"]["title"]["text"])
    ids = np.concatenate([decode(tr["customdata"]) for tr in spec["data"] if tr.get("customdata") is not None])
    assert ids.size == bigdata.MAP_MAX_POINTS and np.unique(ids).size == ids.size
    assert set(ids.astype(int)) == set(bigdata.map_ids(N_LARGE, at.session_state[state.RUN_CFG].seed))
    assert f"The map shows {bigdata.MAP_MAX_POINTS:,} of the {N_LARGE:,} samples" in texts(at)
    # Errors still use every sample.
    run = at.session_state[state.MEMO][run_key(at)]
    assert run.completed["ul4m4"][0].shape[0] == N_LARGE


def test_small_data_runs_on_opening_and_maps_every_sample():
    at = start()
    at.switch_page("views/3_Cluster_and_impute.py").run()
    no_problem(at)
    assert run_key(at) in at.session_state[state.MEMO]
    spec = map_spec(at)
    assert "samples shown" not in unwrapped(spec["layout"]["title"]["text"])
    assert "The map shows" not in texts(at)
    assert "Estimated for the settings above, before Run:" in texts(at)


def test_a_long_run_is_not_started_by_opening_a_page(monkeypatch):
    """The rule is the estimate, not only the size: a run estimated above the limit waits too."""
    monkeypatch.setattr(bigdata, "AUTO_RUN_SECONDS", 1e-6)
    at = start()
    at.switch_page("views/3_Cluster_and_impute.py").run()
    no_problem(at)
    assert run_key(at) not in at.session_state[state.MEMO]
    assert "so nothing starts by itself" in texts(at)
    at.multiselect(key="run_baselines").set_value(["mean"])
    submit(at, "Run")
    no_problem(at)
    assert run_key(at) in at.session_state[state.MEMO]


@pytest.mark.slow
def test_no_scheduler_no_dask_choice(monkeypatch):
    monkeypatch.delenv(bigdata.SCHEDULER_ENV, raising=False)
    at = start()
    at.switch_page("views/3_Cluster_and_impute.py").run()
    assert not [r for r in at.radio if r.key == "run_where"]


@pytest.mark.slow
def test_a_configured_scheduler_runs_ul4m4_on_dask(monkeypatch):
    distributed = pytest.importorskip("distributed")
    from ul4m4.experiment import RunConfig, run_methods

    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as lc:
        monkeypatch.setenv(bigdata.SCHEDULER_ENV, lc.scheduler_address)
        at = start()
        at.switch_page("views/3_Cluster_and_impute.py").run()
        no_problem(at)
        at.radio(key="run_where").set_value("dask")
        at.number_input(key="run_k").set_value(6)
        at.multiselect(key="run_baselines").set_value(["mean"])
        submit(at, "Run")
        no_problem(at)
        cfg = at.session_state[state.RUN_CFG]
        assert cfg.scheduler == lc.scheduler_address
        assert f"on the Dask cluster at {lc.scheduler_address}" in texts(at)
        on_dask = at.session_state[state.MEMO][run_key(at)]
        here = run_methods(at.session_state[state.DATASET], state_mask(at), RunConfig(
            methods=("ul4m4", "mean"), n_clusters=6, dtype="float64"))
        same64 = run_methods(at.session_state[state.DATASET], state_mask(at), RunConfig(
            methods=("ul4m4",), n_clusters=6, dtype="float64", scheduler=lc.scheduler_address))
        # float64: the same labels as in memory; the app's float32 run agrees to float32 rounding.
        assert np.array_equal(same64.model.labels_, here.model.labels_)
        assert isinstance(on_dask.model.labels_, np.ndarray)
        e_dask = on_dask.errors.query("method == 'ul4m4' and split == 'all'")["mse"].to_numpy()
        e_here = here.errors.query("method == 'ul4m4' and split == 'all'")["mse"].to_numpy()
        np.testing.assert_allclose(e_dask, e_here, rtol=1e-3)


def state_mask(at):
    ss = at.session_state
    return ss[state.MEMO][("mask", ss[state.DATASET_KEY], ss[state.MISSING_CFG])]


@pytest.mark.slow
def test_an_unreachable_scheduler_is_said_in_one_line(monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setenv(bigdata.SCHEDULER_ENV, "tcp://127.0.0.1:9")
    monkeypatch.setattr("ul4m4._dask.CONNECT_TIMEOUT", "1s")
    at = start()
    at.switch_page("views/3_Cluster_and_impute.py").run()
    before = at.session_state[state.RUN_CFG]
    at.radio(key="run_where").set_value("dask")
    at.multiselect(key="run_baselines").set_value(["mean"])
    submit(at, "Run")
    assert not at.exception
    assert any("could not reach the Dask scheduler at 'tcp://127.0.0.1:9'" in shown(e.value) for e in at.error)
    assert at.session_state[state.RUN_CFG] == before  # the previous results stay
