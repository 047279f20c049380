"""The Dask path (``ul4m4._dask``, ``ul4m4.stores``, ``impute --data STORE``) against the in-memory fit.

Small data in uneven chunks, on Dask's threads and on a distributed ``LocalCluster``: the same labels and
iterations as the in-memory fit, centres and statistics to the rounding of sums added in another order
(float64) or within the stated float32 tolerance; lazy per-chunk completion bit-identical to the
in-memory completion of the same model; stores round-tripped through the command line.
"""

import json
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
zarr = pytest.importorskip("zarr")

from ul4m4 import PartialModalityKMeans, UL4M4Imputer  # noqa: E402
from ul4m4 import _dask  # noqa: E402
from ul4m4.cli import main  # noqa: E402

from conftest import random_incomplete, with_nan  # noqa: E402

# Centres on the Dask path are member means whose sums were added chunk by chunk and then in a tree, not
# row by row: in float64 they agree to the last bits, in float32 to this much (z-units, relative).
F64_RTOL = 1e-12
F32_RTOL = 1e-4


def data(seed=0, n=1500, dims=(7, 4, 5)):
    rng = np.random.default_rng(seed)
    Xs, mask = random_incomplete(rng, n, list(dims), p_obs=0.7)
    init_rows = rng.choice(n, size=6, replace=False)
    init = [np.where(mask[init_rows, m][:, None], X[init_rows], np.nan) for m, X in enumerate(Xs)]
    for m in range(len(dims)):  # every initial centre holds something
        init[m][0] = Xs[m][0]
    return Xs, mask, init


def chunked(Xs, mask, rows=(400, 400, 300, 400), mask_rows=None):
    dXs = [da.from_array(X, chunks=(rows, -1)) for X in Xs]
    dm = None if mask is None else da.from_array(mask, chunks=(mask_rows or rows, -1))
    return dXs, dm


def centres_close(a, b, rtol):
    for ca, cb in zip(a.cluster_centers_z_, b.cluster_centers_z_):
        np.testing.assert_allclose(cb, ca, rtol=rtol, atol=rtol)



def test_one_centre_stopped_at_max_iter_is_converged_as_in_memory():
    Xs, mask, init = data()
    ref = PartialModalityKMeans(1, max_iter=1, random_state=0).fit(Xs, mask)
    dXs, dm = chunked(Xs, mask)
    with dask.config.set(scheduler="threads"):
        got = PartialModalityKMeans(1, max_iter=1, random_state=0).fit(dXs, dm)
    assert (got.n_iter_, got.converged_) == (ref.n_iter_, ref.converged_) == (1, True)

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("nan_rows", [False, True])
def test_explicit_init_gives_the_in_memory_fit(dtype, nan_rows):
    Xs, mask, init = data()
    if nan_rows:
        Xs, mask = with_nan(Xs, mask), None
    ref = PartialModalityKMeans(6, init=init, dtype=dtype, max_iter=100).fit(Xs, mask)
    dXs, dm = chunked(Xs, mask, mask_rows=(750, 750))  # the mask in other chunks: rechunked to the data's
    with dask.config.set(scheduler="threads"):
        got = PartialModalityKMeans(6, init=init, dtype=dtype, max_iter=100).fit(dXs, dm)
    assert isinstance(got.labels_, da.Array)
    np.testing.assert_array_equal(got.labels_.compute(), ref.labels_)
    assert (got.n_iter_, got.converged_) == (ref.n_iter_, ref.converged_)
    assert ref.n_iter_ > 3  # the comparison covers several updates
    np.testing.assert_array_equal(got.center_mask_, ref.center_mask_)
    rtol = F64_RTOL if dtype == "float64" else F32_RTOL
    centres_close(ref, got, rtol)
    for a, b in zip(ref.mean_ + ref.scale_, got.mean_ + got.scale_):
        np.testing.assert_allclose(b, a, rtol=1e-13)
    assert got.inertia_ == pytest.approx(ref.inertia_, rel=rtol)
    np.testing.assert_array_equal(got.rows_evaluated_, np.full(got.n_iter_, len(Xs[0])))


def test_distributed_local_cluster_gives_the_in_memory_fit():
    distributed = pytest.importorskip("distributed")
    Xs, mask, init = data(seed=1)
    ref = UL4M4Imputer(6, init=init, dtype="float64", max_iter=100).fit(Xs, mask)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as lc, \
            distributed.Client(lc):
        dXs, dm = chunked(Xs, mask)
        got = UL4M4Imputer(6, init=init, dtype="float64", max_iter=100).fit(dXs, dm)
        labels = got.labels_.compute()
        completed = dask.compute(*got.transform(dXs, dm))
    np.testing.assert_array_equal(labels, ref.labels_)
    centres_close(ref, got, F64_RTOL)
    want = ref.transform(Xs, mask)
    for a, b in zip(want, completed):
        np.testing.assert_allclose(b, a, rtol=F64_RTOL, atol=F64_RTOL)


def test_completion_statistics_match():
    Xs, mask, init = data(seed=2)
    ref = UL4M4Imputer(6, init=init, dtype="float64", max_iter=100).fit(Xs, mask)
    got = UL4M4Imputer(6, init=init, dtype="float64", max_iter=100).fit(*chunked(Xs, mask))
    np.testing.assert_array_equal(got.centre_sizes_, ref.centre_sizes_)
    np.testing.assert_allclose(got.centre_spread_, ref.centre_spread_, rtol=F64_RTOL)
    assert got.typical_distance_ == pytest.approx(ref.typical_distance_, rel=F64_RTOL)
    assert got.temperature_ == pytest.approx(ref.temperature_, rel=F64_RTOL)
    np.testing.assert_array_equal(got.suspect_centres_, ref.suspect_centres_)


@pytest.mark.parametrize("completion", ["greedy", "soft"])
def test_transform_is_lazy_and_chunkwise_identical(completion):
    Xs, mask, init = data(seed=3)
    model = UL4M4Imputer(6, init=init, completion=completion, max_iter=100).fit(Xs, mask)
    calls = []

    def counted(block):
        calls.append(block.shape[0])
        return block

    dXs, dm = chunked(Xs, mask)
    dXs = [X.map_blocks(counted, meta=np.empty((0, 0), X.dtype)) for X in dXs]
    out, prov = model.transform(dXs, dm, return_provenance=True)
    assert calls == [] and all(isinstance(o, da.Array) for o in out)
    assert isinstance(prov.source, da.Array)
    got = dask.compute(*out)
    assert sorted(calls) == sorted([400, 400, 300, 400] * len(Xs))  # each chunk of each modality read once
    want, wprov = model.transform(Xs, mask, return_provenance=True)
    for a, b in zip(want, got):  # the same model: every row completed by the same arithmetic
        assert b.dtype == a.dtype
        np.testing.assert_array_equal(b, a)
    for name in ("source", "runner_up"):
        np.testing.assert_array_equal(getattr(prov, name).compute(), getattr(wprov, name))
    # Distances and weights come from matrix products over blocks of other rows: the last bit may differ.
    for name in ("distance", "runner_up_distance", "confidence", "weight"):
        np.testing.assert_allclose(getattr(prov, name).compute(), getattr(wprov, name), rtol=1e-6)


def test_fitted_labels_travel_with_their_chunks():
    Xs, mask, init = data(seed=4)
    model = UL4M4Imputer(6, init=init, completion="soft", max_iter=100).fit(Xs, mask)
    dXs, dm = chunked(Xs, mask)
    got = dask.compute(*model.transform(dXs, dm, fitted_labels=model.labels_))
    want = model.transform(Xs, mask, fitted_labels=model.labels_)
    for a, b in zip(want, got):
        np.testing.assert_array_equal(b, a)
    assert any(not np.array_equal(a, b) for a, b in zip(want, model.transform(Xs, mask)))


def test_predict_and_distances_are_lazy():
    Xs, mask, init = data(seed=4)
    km = UL4M4Imputer(6, init=init, max_iter=100).fit(Xs, mask)
    dXs, dm = chunked(Xs, mask)
    p, d, r = km.predict(dXs, dm), km.distances(dXs, dm), km.candidate_distances(dXs, dm)
    assert isinstance(p, da.Array) and p.shape == (1500,) and d.shape == (1500, 6) and r.shape == (1500, 6)
    np.testing.assert_array_equal(p.compute(), km.predict(Xs, mask))
    np.testing.assert_allclose(d.compute(), km.distances(Xs, mask), rtol=1e-6)
    np.testing.assert_allclose(r.compute(), km.candidate_distances(Xs, mask), rtol=1e-6)


def test_kmeans_plus_plus_on_all_rows_when_they_fit_the_sample():
    Xs, mask, _ = data(seed=5)
    ref = PartialModalityKMeans(6, random_state=7, dtype="float64").fit(Xs, mask)
    got = PartialModalityKMeans(6, random_state=7, dtype="float64").fit(*chunked(Xs, mask))
    np.testing.assert_array_equal(got.init_indices_, ref.init_indices_)  # the same draws from the same rng
    np.testing.assert_array_equal(got.labels_.compute(), ref.labels_)


def test_kmeans_plus_plus_seeds_from_a_sample_of_larger_data(monkeypatch):
    monkeypatch.setattr(_dask, "SEED_SAMPLE_MIN", 300)
    monkeypatch.setattr(_dask, "SEED_SAMPLE_PER_CLUSTER", 10)
    assert _dask.seed_sample_size(1500, 6) == 300
    Xs, mask, _ = data(seed=6)
    dXs, dm = chunked(Xs, mask)
    a = PartialModalityKMeans(6, random_state=3).fit(dXs, dm)
    b = PartialModalityKMeans(6, random_state=3).fit(dXs, dm)
    rows = np.sort(np.random.default_rng(3).choice(1500, size=300, replace=False))
    assert set(a.init_indices_) <= set(rows) and len(set(a.init_indices_)) == 6
    np.testing.assert_array_equal(a.init_indices_, b.init_indices_)
    np.testing.assert_array_equal(a.labels_.compute(), b.labels_.compute())
    r = PartialModalityKMeans(6, init="random", random_state=3).fit(dXs, dm)
    assert set(r.init_indices_) <= set(rows)


def test_label_free_selection_uses_the_same_subsample():
    Xs, mask, _ = data(seed=7, n=900)
    kw = dict(n_clusters=[4, 8], completion="soft", temperature="auto", random_state=0, dtype="float64")
    ref = UL4M4Imputer(**kw).fit(Xs, mask)
    got = UL4M4Imputer(**kw).fit(*chunked(Xs, mask, rows=(300, 300, 300)))
    assert got.n_clusters_ == ref.n_clusters_
    np.testing.assert_allclose(got.selection_["holdout_mse"], ref.selection_["holdout_mse"], rtol=1e-9)
    assert got.temperature_ == pytest.approx(ref.temperature_, rel=1e-9)


def test_a_large_search_seeds_the_dask_fit_as_in_memory(monkeypatch):
    # Beyond SELECTION_MAX_SAMPLES rows the search runs on a subsample and its centres at the chosen k start
    # the fit on all rows: the Dask path draws the same subsample, so it starts from the same centres.
    from ul4m4 import impute

    monkeypatch.setattr(impute, "SELECTION_MAX_SAMPLES", 400)
    Xs, mask, _ = data(seed=8, n=900)
    kw = dict(n_clusters="auto", completion="soft", temperature="auto", random_state=0, dtype="float64")
    ref = UL4M4Imputer(**kw).fit(Xs, mask)
    got = UL4M4Imputer(**kw).fit(*chunked(Xs, mask, rows=(300, 300, 300)))
    assert ref.init_indices_ is None and got.init_indices_ is None  # explicit centres, no k-means++
    assert got.n_clusters_ == ref.n_clusters_ and got.n_iter_ == ref.n_iter_
    np.testing.assert_array_equal(got.labels_.compute(), ref.labels_)
    centres_close(ref, got, F64_RTOL)
    assert got.typical_distance_ == pytest.approx(ref.typical_distance_, rel=F64_RTOL)


def test_errors_name_the_global_row():
    Xs, mask, init = data(seed=8)
    Xs[1][1203, 0] = np.nan  # observed row with one NaN, in the fourth chunk
    mask[1203, 1] = True
    with pytest.raises(ValueError, match=r"rows 1100-1499: Xs\[1\]: 1 observed row contains NaN.*first at row 1203"):
        PartialModalityKMeans(6, init=init).fit(*chunked(Xs, mask))


def test_structural_errors_come_before_any_pass():
    Xs, mask, _ = data(seed=9)
    dXs, dm = chunked(Xs, mask)
    with pytest.raises(ValueError, match="same number of rows"):
        PartialModalityKMeans(3).fit([dXs[0], dXs[1][:-1], dXs[2]], None)
    with pytest.raises(ValueError, match="mask has shape"):
        PartialModalityKMeans(3).fit(dXs, dm[:, :2])
    with pytest.raises(ValueError, match="unknown size"):
        PartialModalityKMeans(3).fit([dXs[0][dXs[0][:, 0] > 0], dXs[1], dXs[2]], None)
    with pytest.raises(ValueError, match="n_samples=1500 should be >= n_clusters=2000"):
        PartialModalityKMeans(2000).fit(dXs, dm)
    empty = dm.copy()
    empty[:, 0] = True
    empty[:, 2] = False
    with pytest.raises(ValueError, match="Modality 2 is observed in no sample"):
        PartialModalityKMeans(3).fit(dXs, empty)
    km = PartialModalityKMeans(3, random_state=0).fit(dXs, dm)
    with pytest.raises(ValueError, match="Xs has 2 modalities; expected 3"):
        km.predict(dXs[:2], None)


# -- stores and the command line ------------------------------------------------------------------------
def write_zarr(path, Xs, mask=None, names=("image", "text", "audio"), chunk=250):
    g = zarr.open_group(str(path), mode="w")
    g.attrs["modalities"] = list(names)
    for name, X in zip(names, Xs):
        g.create_array(name, data=X, chunks=(chunk, X.shape[1]))
    if mask is not None:
        g.create_array("mask", data=mask, chunks=(chunk, mask.shape[1]))


@pytest.mark.parametrize("kind", ["zarr", "npy"])
@pytest.mark.parametrize("with_mask", [True, False])
def test_cli_completes_a_store_next_to_it(tmp_path, kind, with_mask, capsys):
    Xs, mask, _ = data(seed=10, n=1200)
    Xs = [X.astype(np.float32) for X in Xs]
    given = Xs if with_mask else with_nan(Xs, mask)
    names = ("audio", "image", "text")  # a folder's .npy files are taken in the order of their names
    if kind == "zarr":
        store = tmp_path / "emb.zarr"
        write_zarr(store, given, mask if with_mask else None, names)
    else:
        store = tmp_path / "emb"
        store.mkdir()
        for name, X in zip(names, given):
            np.save(store / f"{name}.npy", X)
        if with_mask:
            np.save(store / "mask.npy", mask)
    rc = main(["impute", "--data", str(store), "--k", "5", "--seed", "0", "--max-iter", "50", "--chunk-rows", "500"])
    err = capsys.readouterr().err
    assert rc == 0, err
    out = tmp_path / ("emb.completed.zarr" if kind == "zarr" else "emb.completed")
    assert f"wrote {out}" in err
    if kind == "zarr":
        g = zarr.open_group(str(out), mode="r")
        got = [g[name][:] for name in g.attrs["modalities"]]
        got_mask, info = g["mask"][:], g.attrs["ul4m4"]
    else:
        info = json.loads((out / "ul4m4.json").read_text())
        got = [np.load(out / f"{name}.npy") for name in info["modalities"]]
        got_mask, info = np.load(out / "mask.npy"), info["ul4m4"]
    np.testing.assert_array_equal(got_mask, mask)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = UL4M4Imputer(5, random_state=0, max_iter=50).fit(given, mask if with_mask else None)
        want = ref.transform(given, mask if with_mask else None)
    assert info["n_iter"] == ref.n_iter_ and info["n_clusters"] == 5
    for a, b in zip(want, got):
        assert b.dtype == np.float32
        np.testing.assert_allclose(b, a, rtol=F32_RTOL, atol=F32_RTOL)
    for m, (a, b) in enumerate(zip(given, got)):
        np.testing.assert_array_equal(b[mask[:, m]], a[mask[:, m]])  # observed rows come back as given
        assert not np.isnan(b).any()


def _bad_store(tmp_path, case):
    p = tmp_path / "s"
    if case == "missing":
        return tmp_path / "nothing.zarr"
    if case == "file":
        f = tmp_path / "x.npz"
        f.write_bytes(b"PK")
        return f
    p.mkdir()
    if case == "empty":
        return p
    if case == "rows":
        np.save(p / "a.npy", np.zeros((5, 2), np.float32))
        np.save(p / "b.npy", np.zeros((4, 2), np.float32))
    elif case == "ndim":
        np.save(p / "a.npy", np.zeros((5, 2, 2), np.float32))
    elif case == "objects":
        np.save(p / "a.npy", np.array([[{}]], dtype=object), allow_pickle=True)
    elif case == "complex":
        np.save(p / "a.npy", np.zeros((5, 2), np.complex64))
    elif case == "corrupt":
        (p / "a.npy").write_bytes(b"\x93NUMPY garbage")
    elif case == "mask":
        np.save(p / "a.npy", np.zeros((5, 2), np.float32))
        np.save(p / "mask.npy", np.ones((5, 2), bool))
    elif case == "nan_observed":
        X = np.ones((5, 2), np.float32)
        X[3, 1] = np.nan
        np.save(p / "a.npy", X)
    elif case == "exists":
        np.save(p / "a.npy", np.ones((5, 2), np.float32))
        (tmp_path / "s.completed").mkdir()
    elif case == "zarr_attr":
        write_zarr(p, [np.ones((5, 2))], None, names=("a",))
        zarr.open_group(str(p), mode="a").attrs["modalities"] = ["b"]
    return p


@pytest.mark.parametrize("case, message", [
    ("missing", "No such store"),
    ("file", "is a file; expected a store"),
    ("empty", "neither a Zarr group nor a folder holding .npy files"),
    ("rows", "'b' has 4 rows, 'a' has 5"),
    ("ndim", "has shape (5, 2, 2); expected (n_samples, n_features)"),
    ("objects", "is not a readable .npy file of numbers"),
    ("complex", "complex numbers have no order"),
    ("corrupt", "is not a readable .npy file"),
    ("mask", "'mask' has shape (5, 2); expected (n_samples, n_modalities) = (5, 1)"),
    ("nan_observed", "rows 0-4: array 'a': 1 observed row contains NaN"),  # the store's name for it
    ("exists", "already exists"),
    ("zarr_attr", "does not name its arrays"),
])
def test_cli_refuses_a_bad_store_in_one_line(tmp_path, capsys, case, message):
    path = _bad_store(tmp_path, case)
    rc = main(["impute", "--data", str(path), "--k", "2"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "s.completed").exists() or case == "exists"


def test_cli_store_options_need_a_store(tmp_path, capsys):
    assert main(["impute", "--manifest", str(tmp_path / "m.json"), "--out", str(tmp_path), "--k", "3"]) == 2
    assert "--k apply to completing a store" in capsys.readouterr().err
    assert main(["impute"]) == 2
    assert "give --manifest" in capsys.readouterr().err


def test_only_the_mask_as_dask_array_takes_the_dask_path():
    Xs, mask, init = data(seed=11, n=600)
    ref = PartialModalityKMeans(6, init=init, dtype="float64").fit(Xs, mask)
    got = PartialModalityKMeans(6, init=init, dtype="float64").fit(Xs, da.from_array(mask, chunks=(250, -1)))
    assert got.labels_.chunks == ((250, 250, 100),)
    np.testing.assert_array_equal(got.labels_.compute(), ref.labels_)


def test_cli_says_in_one_line_when_the_scheduler_cannot_be_reached(tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr("ul4m4._dask.CONNECT_TIMEOUT", "1s")
    Xs, mask, _ = data(seed=13, n=200)
    write_zarr(tmp_path / "e.zarr", Xs, mask)
    rc = main(["impute", "--data", str(tmp_path / "e.zarr"), "--k", "4", "--scheduler", "tcp://127.0.0.1:9",
               "--out", str(tmp_path / "out.zarr")])
    err = capsys.readouterr().err
    assert rc == 2 and "could not reach the Dask scheduler at 'tcp://127.0.0.1:9'" in err
    assert "Traceback" not in err and not (tmp_path / "out.zarr").exists()


def test_cli_runs_on_a_scheduler_given_by_address(tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    Xs, mask, _ = data(seed=12, n=600)
    write_zarr(tmp_path / "e.zarr", Xs, mask)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as lc:
        rc = main(["impute", "--data", str(tmp_path / "e.zarr"), "--k", "4", "--dtype", "float64",
                   "--scheduler", lc.scheduler_address, "--out", str(tmp_path / "out.zarr")])
        assert rc == 0, capsys.readouterr().err
        assert lc.scheduler.task_groups  # the work ran on that cluster's scheduler
    g = zarr.open_group(str(tmp_path / "out.zarr"), mode="r")
    ref = UL4M4Imputer(4, random_state=0, dtype="float64").fit(Xs, mask)
    for name, want in zip(("image", "text", "audio"), ref.transform(Xs, mask)):
        np.testing.assert_allclose(g[name][:], want, rtol=F64_RTOL, atol=F64_RTOL)


@pytest.mark.parametrize("kind", ["npy", "zarr"])
@pytest.mark.parametrize("failure", ["error", "interrupt", "disk full"])
def test_a_store_is_written_whole_or_not_at_all(tmp_path, monkeypatch, kind, failure):
    """Whatever stops the writing, the output path never holds a partial store, and nothing hidden stays."""
    import errno
    import os

    from ul4m4 import stores

    if kind == "zarr":
        pytest.importorskip("zarr")
    X = da.from_array(np.arange(40.0).reshape(20, 2), chunks=(5, 2))
    calls = []

    def boom(block):
        calls.append(1)
        if len(calls) == 3:  # the third chunk: some of the store is written by then
            raise {"error": RuntimeError("lost the worker"), "interrupt": KeyboardInterrupt(),
                   "disk full": OSError(errno.ENOSPC, "No space left on device")}[failure]
        return block

    bad = X.map_blocks(boom, dtype=X.dtype)
    out = tmp_path / "out"
    expected = {"error": RuntimeError, "interrupt": KeyboardInterrupt, "disk full": ValueError}[failure]
    with pytest.raises(expected) as info:
        stores.write_store(out, kind, ["a"], [bad], attrs={"ul4m4": {"converged": True}})
    if failure == "disk full":
        assert f"no space left on the device to write '{out}'; nothing was written" in str(info.value)
    assert not out.exists() and os.listdir(tmp_path) == []
    # A successful write lands at the path, complete.
    stores.write_store(out, kind, ["a"], [X])
    assert os.listdir(tmp_path) == ["out"]
    np.testing.assert_array_equal(np.asarray(stores.open_store(out).Xs[0]), np.arange(40.0).reshape(20, 2))


def test_a_full_disk_is_found_before_the_npy_files_are_written(tmp_path, monkeypatch):
    import errno
    import os

    from ul4m4 import stores

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    X = da.from_array(np.ones((10, 3)), chunks=(5, 3))
    with pytest.raises(ValueError, match="no space left on the device"):
        stores.write_store(tmp_path / "o", "npy", ["a"], [X])
    assert os.listdir(tmp_path) == []


def test_cli_interrupt_is_one_line(tmp_path, capsys, monkeypatch):
    import ul4m4.cli as cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.__dict__, "cmd_sweep", interrupted)
    rc = main(["sweep", "--dataset", "breast_cancer", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 130 and err.strip().count("\n") == 0 and "interrupted" in err


@pytest.mark.parametrize("labels", [[0, 1], np.zeros((1500, 2), dtype=int)])
def test_fitted_labels_of_the_wrong_shape_are_refused_on_dask_input(labels):
    Xs, mask, init = data(seed=4)
    model = UL4M4Imputer(6, init=init, completion="soft", max_iter=100).fit(Xs, mask)
    dXs, dm = chunked(Xs, mask)
    with pytest.raises(ValueError, match="fitted_labels has shape"):
        model.transform(dXs, dm, fitted_labels=labels)


# -- a store whose chunks cannot all be read ----------------------------------------------------------------
def _store_with_chunks(tmp_path, compressors="auto"):
    """A Zarr store of 600 samples in chunks of 250 rows (three per array); array 'text' with ``compressors``."""
    Xs, mask, _ = data(seed=14, n=600)
    p = tmp_path / "e.zarr"
    g = zarr.open_group(str(p), mode="w")
    g.attrs["modalities"] = ["image", "text", "audio"]
    for name, X in zip(("image", "text", "audio"), Xs):
        g.create_array(name, data=X.astype(np.float32), chunks=(250, X.shape[1]),
                       compressors=compressors if name == "text" else "auto")
    g.create_array("mask", data=mask, chunks=(250, 3))
    return p


@pytest.mark.parametrize("codec", ["zstd", "gzip", "blosc"])
def test_cli_refuses_a_chunk_that_cannot_be_decoded_naming_the_array_and_rows(tmp_path, capsys, codec):
    compressors = {"zstd": zarr.codecs.ZstdCodec(), "gzip": zarr.codecs.GzipCodec(),
                   "blosc": zarr.codecs.BloscCodec()}[codec]
    p = _store_with_chunks(tmp_path, compressors)
    (p / "text" / "c" / "1" / "0").write_bytes(b"garbage" * 10)  # rows 250-499 of 'text'
    rc = main(["impute", "--data", str(p), "--k", "3", "--chunk-rows", "500", "--out", str(tmp_path / "out.zarr")])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and "internal error" not in err, err
    assert f"'{p}': array 'text' could not be read at rows 250-499 (its data are corrupt: " in err, err
    assert "write the store again" in err
    assert sorted(q.name for q in tmp_path.iterdir()) == ["e.zarr"]  # no output, no partial one


def test_a_chunk_that_cannot_be_read_from_the_disk_is_not_called_corrupt():
    import errno

    from ul4m4.stores import _ZarrSource

    class Unreadable:
        shape, dtype, ndim, chunks = (10, 2), np.dtype("f4"), 2, (5, 2)

        def __getitem__(self, key):
            raise OSError(errno.EIO, "Input/output error")

    with pytest.raises(ValueError, match=r"'s': array 'a' could not be read at rows 0-4 \(OSError: .*Input/output"):
        # one dask chunk over both Zarr chunks: the first that fails is named
        da.from_array(_ZarrSource(Unreadable(), "s", "a"), chunks=(10, 2), meta=np.empty((0, 0), "f4")).compute()


@pytest.mark.parametrize("array, chunk, rows", [("text", "1/0", "250-499"), ("mask", "2/0", "500-599")])
def test_a_store_with_a_missing_chunk_is_said_with_its_rows(tmp_path, capsys, array, chunk, rows):
    # Zarr leaves chunks holding only the fill value unwritten (labels sorted by class, say), so a missing
    # chunk is said, with its rows, not refused: before, it read as zeros without a word.
    from ul4m4 import stores
    from ul4m4.validation import UL4M4Warning

    p = _store_with_chunks(tmp_path)
    (p / array / "c" / chunk).unlink()  # reads as zeros (False for the mask)
    with pytest.warns(UL4M4Warning, match=rf"array '{array}' has 2 of its 3 chunks written: rows {rows} read as "
                                          "its fill value"):
        stores.open_store(p)
    rc = main(["impute", "--data", str(p), "--k", "3", "--out", str(tmp_path / "out.zarr")])
    err = capsys.readouterr().err
    assert f"array '{array}' has 2 of its 3 chunks written: rows {rows}" in err
    if array == "mask":  # rows that observe nothing are refused, naming them
        assert rc == 2 and "row 500" in err and not (tmp_path / "out.zarr").exists(), err
    else:
        assert rc == 0 and (tmp_path / "out.zarr").exists(), err


def test_a_written_store_keeps_its_all_zero_chunks_and_opens_again(tmp_path):
    from ul4m4 import stores

    X = np.zeros((20, 2), np.float32)
    X[15:] = 1.0  # chunks 0-2 equal the fill value: zarr skips such chunks by default
    stores.write_store(tmp_path / "o.zarr", "zarr", ["a"], [da.from_array(X, chunks=(5, 2))])
    back = stores.open_store(tmp_path / "o.zarr")
    np.testing.assert_array_equal(np.asarray(back.Xs[0]), X)


# -- connecting to a scheduler: bounded in time, one clear error, nothing left behind -----------------------
class _Peer:
    """A local TCP server in a thread that accepts every connection and then never answers ("silent") or
    answers with ``reply`` bytes and stays silent after ("garbage")."""

    def __init__(self, reply=None):
        import socket
        import threading

        self.reply, self.conns, self.stop = reply, [], threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.address = f"tcp://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, name="test-peer", daemon=True)

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:  # the accept timeout: look at the stop flag again
                continue
            self.conns.append(conn)
            if self.reply is not None:
                conn.sendall(self.reply)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)
        for c in [*self.conns, self.sock]:
            c.close()


def _refused_address():
    import socket

    with socket.create_server(("127.0.0.1", 0)) as s:  # a port nothing listens on once it is closed
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def nothing_left_behind():
    """The test leaves no ``distributed.Client`` alive and no thread running (but distributed's own
    process-wide offload executor, which any use of distributed may start once)."""
    import gc
    import threading

    distributed = pytest.importorskip("distributed")
    gc.collect()
    clients = {id(o) for o in gc.get_objects() if issubclass(type(o), distributed.Client)}
    threads = set(threading.enumerate())
    yield
    gc.collect()
    assert [o for o in gc.get_objects() if issubclass(type(o), distributed.Client) and id(o) not in clients] == []
    left = [t.name for t in set(threading.enumerate()) - threads if not t.name.startswith("Dask-Offload")]
    assert left == []


def _failed_connect(address, timeout="1s"):
    import time

    t0 = time.perf_counter()
    with pytest.raises(ValueError) as err:
        _dask.connect(address, timeout=timeout)
    elapsed = time.perf_counter() - t0
    assert address not in _dask._CLIENTS
    return str(err.value), elapsed


def test_a_refused_port_is_one_clear_error_within_the_timeout(nothing_left_behind):
    address = _refused_address()
    msg, elapsed = _failed_connect(address)
    assert msg.startswith(f"could not reach the Dask scheduler at '{address}': no Dask scheduler answered there "
                          "within 1 s; check the address and that `dask scheduler` runs there"), msg
    assert elapsed < 1 + _dask.CONNECT_GRACE + 2


def test_a_silent_peer_is_one_clear_error_within_the_time_limit(nothing_left_behind):
    with _Peer() as peer:  # accepts, never answers: distributed alone would wait for its handshake for ever
        msg, elapsed = _failed_connect(peer.address)
    assert msg.startswith(f"could not reach the Dask scheduler at '{peer.address}': no Dask scheduler answered "
                          "there within 1 s;"), msg
    assert 1 <= elapsed < 1 + _dask.CONNECT_GRACE + 2


@pytest.mark.parametrize("reply", [b"HTTP/1.1 400 Bad Request\r\n\r\n" * 100,  # read as a huge length: MemoryError
                                   *(np.random.default_rng(seed).bytes(4096) for seed in range(3))],
                         ids=["http", "random0", "random1", "random2"])
def test_a_peer_that_is_not_a_scheduler_is_one_clear_error_within_the_time_limit(nothing_left_behind, reply):
    with _Peer(reply) as peer:
        msg, elapsed = _failed_connect(peer.address)
    assert msg.startswith(f"could not reach the Dask scheduler at '{peer.address}': "), msg
    assert ("what answered there is not a Dask scheduler (" in msg or "no Dask scheduler answered" in msg), msg
    assert "check the address" in msg and "\n" not in msg and "EiB" not in msg
    assert elapsed < 1 + _dask.CONNECT_GRACE + 2


@pytest.mark.parametrize("address, why", [
    ("localhost", "missing port number"), ("not a url", "missing port number"), ("tcp://:8786", "no host"),
    ("foo://host:1", "unknown address scheme 'foo'"),
])
def test_a_malformed_address_is_refused_at_once(nothing_left_behind, address, why):
    msg, elapsed = _failed_connect(address)
    assert msg.startswith(f"could not reach the Dask scheduler at '{address}': it is not the address of a "
                          "scheduler (") and why in msg and "e.g. 'tcp://host:8786'" in msg, msg
    assert elapsed < 1


def test_a_host_name_that_does_not_resolve_is_one_clear_error():
    msg, elapsed = _failed_connect("tcp://no-such-host.invalid:8786")
    assert msg.startswith("could not reach the Dask scheduler at 'tcp://no-such-host.invalid:8786': "), msg
    assert "could not be resolved" in msg or "no Dask scheduler answered" in msg, msg  # as the resolver answers
    assert elapsed < 1 + _dask.CONNECT_GRACE + 2


def test_a_failed_connect_leaves_nothing_to_fail_at_exit():
    import subprocess
    import sys
    import time

    pytest.importorskip("distributed")
    with _Peer(b"HTTP/1.1 400 Bad Request\r\n\r\n" * 100) as peer:
        code = ("from ul4m4 import _dask\n"
                f"try:\n    _dask.connect({peer.address!r}, timeout='1s')\n"
                "except ValueError as exc:\n    print(exc)\n")
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        elapsed = time.perf_counter() - t0
    assert done.returncode == 0 and "could not reach the Dask scheduler" in done.stdout, done
    assert done.stderr == "", done.stderr  # no "Exception ignored in: Client.__del__ ... TimeoutError"
    assert elapsed < 20
