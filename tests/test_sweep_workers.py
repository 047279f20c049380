"""Sweeps run in worker processes (``iter_sweep(..., workers=...)``): the same rows as in the calling process,
the cache honoured, the methods' warnings and failures passed on once, and a stopped sweep leaves nothing
queued. A thread pool of one thread stands in for the processes where a test patches the library (a patch
does not reach another process); the real processes are tested on what they return."""

import threading
import warnings
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import pandas as pd
import pytest

from ul4m4 import make_synthetic
from ul4m4.sweep import (SweepConfig, _tasks, default_workers, iter_sweep, plan, run_sweep, sweep_pool, unit_key,
                         workers_suit)


@pytest.fixture(scope="module")
def ds():
    return make_synthetic(n_samples=240, n_modalities=3, dims=[5, 4, 3], n_clusters=3, random_state=0)


@pytest.fixture(scope="module")
def pool():
    p = sweep_pool(2, threads=1)
    yield p
    p.shutdown(wait=True, cancel_futures=True)


class Counting(ThreadPoolExecutor):
    """One thread, counting the tasks submitted (a stand-in for worker processes)."""

    def __init__(self):
        super().__init__(1)
        self.submitted = 0

    def submit(self, fn, *args, **kwargs):
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


class AtOnce(Executor):
    """Runs each task as it is submitted: every future is done before the sweep waits for any."""

    _max_workers = 2

    def submit(self, fn, *args, **kwargs):
        future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


def same_rows(a, b):
    cols = [c for c in a.columns if c != "seconds"]
    pd.testing.assert_frame_equal(a[cols].reset_index(drop=True), b[cols].reset_index(drop=True))


def test_worker_processes_give_the_rows_of_the_calling_process(ds, pool):
    """Every unit's data, methods and probe depend only on its seed, rate, method and k: the table is the
    same, row for row, whichever process ran it, and so is the cache it leaves; the progress counts every
    unit in order, and the callback names each unit once."""
    for cfg in (SweepConfig(rates=(0.0, 0.3, 0.6), seeds=(0, 1), methods=("ul4m4", "mean", "knn", "complete"), k=3),
                SweepConfig(rates=(0.4,), seeds=(0, 1), methods=("ul4m4", "mean"), k=3, ks=(2, 3, 5))):
        here, there, calls = {}, {}, []
        a = run_sweep(ds, cfg, cache=here)
        b = run_sweep(ds, cfg, cache=there, callback=calls.append, workers=pool)
        same_rows(a, b)
        assert set(here) == set(there)
        for key in here:
            assert {k: v for k, v in here[key].items() if k != "seconds"} == pytest.approx(
                {k: v for k, v in there[key].items() if k != "seconds"}, nan_ok=True)
        done = [c["done"] for c in calls if c["stage"] == "sweep"]
        assert done == list(range(1, len(plan(cfg)) + 1))
        named = sorted((c["seed"], c["rate"], c["method"], c["k"] or 0) for c in calls if c["stage"] == "sweep")
        ks = cfg.ks or (None,)
        assert named == sorted((s, r, m, (k if len(ks) > 1 and m == "ul4m4" else 0) or 0) for s, r, m, k in plan(cfg))


def test_rows_are_yielded_in_table_order_while_cells_finish(ds, pool):
    cfg = SweepConfig(rates=(0.0, 0.4, 0.8), seeds=(0, 1), methods=("mean", "zero"), k=3)
    rows = list(iter_sweep(ds, cfg, workers=pool))
    assert [(r["seed"], r["rate"], r["method"]) for r in rows] == [(s, r, m) for s, r, m, _ in plan(cfg)]


class Recording(ThreadPoolExecutor):
    """One thread, recording the (seed, rate) of each task submitted, in order."""

    def __init__(self):
        super().__init__(1)
        self.cells = []

    def submit(self, fn, *args, **kwargs):
        self.cells.append(args[2][0][:2])
        return super().submit(fn, *args, **kwargs)


def test_a_whole_table_runs_the_cells_longest_first_and_a_live_one_in_table_order(ds):
    """``run_sweep`` returns the table at the end: its cells run longest first (the highest rate first, so
    that no worker is left with a rate-0.8 cell at the end), and its rows are those of ``iter_sweep``, which
    runs the cells in table order, the last few longest first, so that rows come early."""
    cfg = SweepConfig(rates=(0.0, 0.2, 0.4, 0.6, 0.8), seeds=(0, 1), methods=("mean", "zero"), k=3)
    with Recording() as whole, Recording() as live:
        a = run_sweep(ds, cfg, workers=whole)
        b = pd.DataFrame(list(iter_sweep(ds, cfg, workers=live)))
    same_rows(a, b.reindex(columns=a.columns))
    assert whole.cells == [(0, 0.8), (1, 0.8), (0, 0.6), (1, 0.6), (0, 0.4), (1, 0.4), (0, 0.2), (1, 0.2),
                           (0, 0.0), (1, 0.0)]
    # one thread stands in for two processes' worth of queue (_max_workers is 1 here): the last two longest first
    assert live.cells == [(0, 0.0), (0, 0.2), (0, 0.4), (0, 0.6), (0, 0.8), (1, 0.0), (1, 0.2), (1, 0.4), (1, 0.8),
                          (1, 0.6)]


def test_a_worker_keeps_what_it_was_forked_with_out_of_the_collectors_sight(pool):
    import gc

    assert pool.submit(gc.get_freeze_count).result() > 10_000  # the libraries' objects, frozen at its start


def test_a_cached_sweep_sends_nothing_and_a_change_sends_only_what_changed(ds):
    cfg = SweepConfig(rates=(0.0, 0.4), seeds=(0, 1), methods=("ul4m4", "mean", "complete"), k=3)
    store = {}
    with Counting() as ex:
        first = run_sweep(ds, cfg, cache=store, workers=ex)
        sent = ex.submitted
        again = run_sweep(ds, cfg, cache=store, workers=ex)
        assert ex.submitted == sent  # every unit found in the cache
        same_rows(first, again)
        run_sweep(ds, SweepConfig(rates=(0.0, 0.4), seeds=(0, 1), methods=("ul4m4", "mean", "complete"), k=4),
                  cache=store, workers=ex)
        assert sent == 4 and ex.submitted == sent + 4  # UL4M4 at the new k, alone, in each of the four cells


def test_the_tasks_are_cells_the_ceiling_runs_once_and_k_values_spread_out():
    cfg = SweepConfig(rates=(0.0, 0.4), seeds=(0, 1), methods=("ul4m4", "mean", "complete"), k=3)
    units = plan(cfg)
    keys = [unit_key(cfg, *u) for u in units]
    tasks = _tasks(cfg, units, keys, {}, n_workers=1)
    assert [[units[i][:3] for i in t] for t in tasks] == [
        [(0, 0.0, "ul4m4"), (0, 0.0, "mean"), (0, 0.0, "complete")], [(0, 0.4, "ul4m4"), (0, 0.4, "mean")],
        [(1, 0.0, "ul4m4"), (1, 0.0, "mean"), (1, 0.0, "complete")], [(1, 0.4, "ul4m4"), (1, 0.4, "mean")]]
    known = {keys[0]: {}}  # a unit already finished is not sent
    assert _tasks(cfg, units, keys, known, n_workers=1)[0] == [1, 2]
    # A k-sensitivity at one rate has fewer cells than twice the workers: its k values go one per task; at
    # rate 0 every unit shares one classifier, so that cell stays whole.
    ks = SweepConfig(rates=(0.0, 0.4), seeds=(0,), methods=("ul4m4", "mean"), k=3, ks=(2, 3, 5))
    units = plan(ks)
    tasks = _tasks(ks, units, [unit_key(ks, *u) for u in units], {}, n_workers=2)
    assert [[units[i][2:] for i in t] for t in tasks] == [
        [("ul4m4", 2), ("ul4m4", 3), ("ul4m4", 5), ("mean", None)], [("mean", None)], [("ul4m4", 2)], [("ul4m4", 3)],
        [("ul4m4", 5)]]


@pytest.fixture
def failing(monkeypatch):
    """kNN raises at rate 0.4 (an expected error) and the mean at seed 1, rate 0.4 (a bug)."""
    import ul4m4.sweep as sw

    real = sw.complete_split

    def patched(method, dataset, mres, rc):
        if (~mres.mask).mean() > 0.25:
            if method == "knn":
                raise ValueError("no donor shares a modality")
            if method == "mean" and rc.seed == 1:
                raise IndexError("index 7 is out of bounds")
        return real(method, dataset, mres, rc)

    monkeypatch.setattr(sw, "complete_split", patched)


def test_failures_and_warnings_from_workers_are_said_once_as_here(ds, failing):
    cfg = SweepConfig(rates=(0.0, 0.4), seeds=(0, 1), methods=("mean", "knn"), k=3)
    here, there = [], []
    a = run_sweep(ds, cfg, callback=here.append, on_error="skip")
    with Counting() as ex:
        b = run_sweep(ds, cfg, callback=there.append, on_error="skip", workers=ex)
    same_rows(a, b)
    assert len(b) == 5

    def said(calls):
        return sorted((c["stage"], c["text"]) for c in calls if c["stage"] != "sweep")
    assert said(here) == said(there) and len(said(there)) == 3
    assert [c["done"] for c in there if c["stage"] == "sweep"] == list(range(1, 9))
    # Without a callback each is a warning; with on_error="raise" the first failure stops the sweep, named.
    with Counting() as ex, pytest.warns(RuntimeWarning, match="knn at rate 0.4, seed 0 failed and is left out"):
        run_sweep(ds, cfg, on_error="skip", workers=ex)
    with Counting() as ex, pytest.raises(ValueError, match=r"^method 'knn' at rate 0.4 \(seed 0\) failed: no donor"):
        run_sweep(ds, cfg, workers=ex)
    # Tasks that failed together (each done by the time the sweep looks): the first in table order is said.
    for _ in range(5):
        with pytest.raises(ValueError, match=r"^method 'knn' at rate 0.4 \(seed 0\) failed: no donor"):
            run_sweep(ds, cfg, workers=AtOnce())


def test_a_methods_warning_from_workers_is_passed_on_once(pool):
    """Features of near-zero scale make UL4M4 warn at every unit; the sweep says it once, in its own words,
    with or without a callback, whichever process ran the units."""
    ds = make_synthetic(n_samples=150, n_modalities=2, dims=[5, 4], n_clusters=3, random_state=1)
    ds.Xs[0][:, 0] *= 1e-4
    cfg = SweepConfig(rates=(0.3, 0.5), seeds=(0, 1), methods=("ul4m4", "mean"), k=3)
    here, there = [], []
    run_sweep(ds, cfg, callback=here.append)
    run_sweep(ds, cfg, callback=there.append, workers=pool)
    said = [c for c in there if c["stage"] == "warning"]
    texts = [c["text"] for c in said]
    assert texts == [c["text"] for c in here if c["stage"] == "warning"] and len(texts) >= 1
    assert len(set(texts)) == len(texts) and all(t.startswith("ul4m4: ") and "std below" in t for t in texts)
    assert all(c["method"] == "ul4m4" and issubclass(c["category"], UserWarning) for c in said)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_sweep(ds, cfg, workers=pool)
    assert [str(w.message) for w in caught if "std below" in str(w.message)] == texts


def test_a_sweep_stopped_early_leaves_nothing_queued(ds):
    """A caller that leaves (a page rerun) cancels the tasks not started; at most two per worker were queued
    (here one worker)."""
    gate, ran = threading.Event(), []

    class Gated(Counting):  # the first task runs at once, the others wait for the gate
        def submit(self, fn, *args, **kwargs):
            def work(*a, **k):
                if ran:
                    gate.wait(10)
                ran.append(1)
                return fn(*a, **k)
            return super().submit(work, *args, **kwargs)

    cfg = SweepConfig(rates=(0.0, 0.2, 0.4, 0.6), seeds=(0, 1, 2), methods=("mean",), k=3)
    ex = Gated()
    rows = iter_sweep(ds, cfg, workers=ex)
    assert next(rows)["rate"] == 0.0  # the first cell's row; the window was refilled behind it
    rows.close()
    gate.set()
    ex.shutdown(wait=True)
    assert ex.submitted == 2 + 1  # never the 12 cells
    assert len(ran) == 2  # the first task, and the one running when the caller left; the third cancelled


def test_a_worker_that_dies_is_a_clear_error(ds):
    class Broken(ThreadPoolExecutor):
        def submit(self, fn, *args, **kwargs):
            f = Future()
            f.set_exception(BrokenProcessPool("A process in the process pool was terminated abruptly"))
            return f

    with Broken(1) as ex, pytest.raises(ChildProcessError, match=r"^a sweep worker process stopped unexpectedly"):
        run_sweep(ds, SweepConfig(rates=(0.0, 0.4), seeds=(0,), methods=("mean",), k=3), workers=ex)


@pytest.mark.parametrize("value, workers", [("0", 0), ("3", 3), (" 2 ", 2)])
def test_the_number_of_workers_can_be_set(monkeypatch, value, workers):
    monkeypatch.setenv("UL4M4_SWEEP_WORKERS", value)
    n, threads = default_workers()
    assert n == workers and (threads >= 1 if n else threads == 0)


@pytest.mark.parametrize("value, said", [("two", "should be a whole number of worker processes"),
                                         ("-1", "should be 0 or more")])
def test_a_wrong_number_of_workers_says_what_is_expected(monkeypatch, value, said):
    monkeypatch.setenv("UL4M4_SWEEP_WORKERS", value)
    with pytest.raises(ValueError, match=said):
        default_workers()
    assert sweep_pool(0) is None


def test_workers_suit_small_data_on_the_cpu(ds, monkeypatch):
    import ul4m4.sweep as sw

    cfg = SweepConfig()
    assert workers_suit(ds, cfg)
    assert not workers_suit(ds, SweepConfig(device="cuda"))
    monkeypatch.setattr(sw, "WORKER_MAX_BYTES", 1000)  # each task gets a copy of the data: large data stay here
    assert not workers_suit(ds, cfg)


def test_the_command_gives_the_same_results_with_and_without_workers(tmp_path, capsys):
    from ul4m4.cli import main

    args = ["sweep", "--dataset", "breast_cancer", "--rates", "0,0.4", "--seeds", "2", "--methods", "ul4m4,mean,knn",
            "--ks", "2,4"]
    assert main(args + ["--workers", "0", "--out", str(tmp_path / "here")]) == 0
    assert main(args + ["--workers", "2", "--out", str(tmp_path / "there")]) == 0
    same_rows(pd.read_csv(tmp_path / "here" / "results.csv"), pd.read_csv(tmp_path / "there" / "results.csv"))
    assert capsys.readouterr().err.count("[16/16]") == 2  # the progress counts every unit either way


def test_the_command_refuses_a_wrong_number_of_workers(tmp_path, capsys, monkeypatch):
    from ul4m4.cli import main

    monkeypatch.setenv("UL4M4_SWEEP_WORKERS", "many")
    assert main(["sweep", "--dataset", "breast_cancer", "--rates", "0", "--seeds", "1", "--methods", "mean",
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "UL4M4_SWEEP_WORKERS='many' should be a whole number of worker processes" in err
    assert not (tmp_path / "o").exists()


def test_the_app_replaces_a_dead_pool_and_runs_here_when_told(monkeypatch, caplog):
    """The server's pool is made once; one whose process died is replaced at the next sweep; a wrong
    UL4M4_SWEEP_WORKERS is said once in the log and the sweeps run in the session's thread."""
    from appui import state

    made, cached = [], {}

    class Fake:
        _max_workers, _broken = 2, False

    def pool():  # as st.cache_resource: made once, until cleared
        if "pool" not in cached:
            made.append(Fake())
            cached["pool"] = made[-1]
        return cached["pool"]

    pool.clear = cached.clear
    monkeypatch.setattr(state, "_sweep_pool", pool)
    monkeypatch.delenv("UL4M4_SWEEP_WORKERS", raising=False)
    monkeypatch.setattr("ul4m4.sweep._cores", lambda: 2)
    first = state.sweep_workers()
    assert first is state.sweep_workers() and len(made) == 1
    first._broken = "A process in the process pool was terminated abruptly"
    second = state.sweep_workers()
    assert second is not first and not second._broken and len(made) == 2
    ds = make_synthetic(n_samples=60, n_modalities=2, dims=[3, 2], n_clusters=2, random_state=0)
    assert state.sweep_worker_count(ds, SweepConfig()) == 2
    assert state.sweep_worker_count(ds, SweepConfig(device="cuda")) == 0  # a GPU sweep runs in the session's thread
    monkeypatch.setenv("UL4M4_SWEEP_WORKERS", "0")
    assert state.sweep_workers() is None
    monkeypatch.setenv("UL4M4_SWEEP_WORKERS", "two")
    with caplog.at_level("WARNING", logger="ul4m4.app"):
        assert state.sweep_workers() is None and state.sweep_workers() is None
    assert len([r for r in caplog.records if "UL4M4_SWEEP_WORKERS='two'" in r.getMessage()]) <= 1


def test_the_command_says_what_to_do_where_processes_cannot_start(tmp_path, capsys, monkeypatch):
    from ul4m4.cli import main

    def no_processes(*args, **kwargs):
        raise OSError("[Errno 38] Function not implemented")  # what a system without semaphores says

    monkeypatch.setattr("ul4m4.sweep.sweep_pool", no_processes)
    args = ["sweep", "--dataset", "breast_cancer", "--rates", "0", "--seeds", "1", "--methods", "mean"]
    assert main(args + ["--out", str(tmp_path / "o")]) == 2
    assert "could not start the worker processes ([Errno 38] Function not implemented); run with --workers 0." in \
        capsys.readouterr().err
    assert main(args + ["--workers", "0", "--out", str(tmp_path / "o")]) == 0
