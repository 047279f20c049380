import numpy as np
import pytest

from ul4m4 import load_dataset, make_synthetic
from ul4m4.experiment import MissingConfig, RunConfig, check_run, fit_complete, make_mask, run_methods, split_indices


@pytest.fixture(scope="module")
def ds():
    return make_synthetic(n_samples=200, n_modalities=3, dims=[4, 3, 2], n_clusters=3, random_state=1)


def test_split_is_stratified_and_disjoint(ds):
    tr, te, strat = split_indices(ds.n_samples, ds.y, 0.25, 0)
    assert strat and len(set(tr) & set(te)) == 0 and len(tr) + len(te) == 200
    assert abs(np.bincount(ds.y[te]).min() / 50 - np.bincount(ds.y).min() / 200) < 0.05


@pytest.mark.parametrize("apply_to", ["both", "train", "test"])
def test_apply_to_touches_only_the_chosen_split(ds, apply_to):
    m = make_mask(ds, MissingConfig(rate=0.5, apply_to=apply_to))
    lost_train = (~m.mask[m.train_idx]).any()
    lost_test = (~m.mask[m.test_idx]).any()
    assert lost_train == (apply_to in ("both", "train"))
    assert lost_test == (apply_to in ("both", "test"))
    assert np.array_equal(m.removed, ds.mask & ~m.mask)


def test_run_measures_only_removed_blocks_and_keeps_observed(ds):
    m = make_mask(ds, MissingConfig(rate=0.3))
    run = run_methods(ds, m, RunConfig(methods=("ul4m4", "mean", "knn"), n_clusters=3))
    for method, out in run.completed.items():
        for j, X in enumerate(out):
            assert np.array_equal(X[m.mask[:, j]], ds.Xs[j][m.mask[:, j]])
    allrow = run.errors[(run.errors["split"] == "all") & (run.errors["modality"] == "all")]
    assert (allrow["n_removed"] == m.removed.sum()).all()


def test_data_with_its_own_missing_blocks(ds):
    from dataclasses import replace

    own = ds.mask.copy()
    own[:20, 0] = False
    d2 = replace(ds, mask=own)
    m = make_mask(d2, MissingConfig(rate=0.4))
    assert not m.mask[:20, 0].any() and m.mask.any(axis=1).all()
    assert not (m.removed & ~own).any()
    run = run_methods(d2, m, RunConfig(methods=("ul4m4",), n_clusters=3))
    assert run.errors["n_removed"].max() > 0


def test_impossible_settings(ds):
    m = make_mask(ds, MissingConfig(rate=0.3))
    with pytest.raises(ValueError, match="k=500 clusters is more than the 140 training samples"):
        run_methods(ds, m, RunConfig(n_clusters=500))
    with pytest.raises(ValueError, match="method='magic' is not known"):
        run_methods(ds, m, RunConfig(methods=("magic",)))
    # A modality that loses every training sample.
    pat = MissingConfig(mechanism="complex", rate=None, pattern_freqs=(("110", 0.5), ("010", 0.5)), apply_to="train")
    with pytest.raises(ValueError, match="modality 'm2' has no observed training sample"):
        run_methods(ds, make_mask(ds, pat), RunConfig(n_clusters=3))
    with pytest.raises(ValueError, match="test_size=1.0 should be in"):
        make_mask(ds, MissingConfig(test_size=1.0))
    with pytest.raises(ValueError, match="needs labels"):
        from dataclasses import replace

        make_mask(replace(ds, y=None), MissingConfig(mechanism="mnar_label"))


def test_mfeat_default_run_is_honest():
    ds = load_dataset("mfeat")
    m = make_mask(ds, MissingConfig())
    run = run_methods(ds, m, RunConfig(methods=("ul4m4", "mean"), n_clusters=10))
    row = run.errors[(run.errors["split"] == "all") & (run.errors["modality"] == "all")].set_index("method")["mse"]
    assert row["ul4m4"] < row["mean"]  # on mfeat at 30 % MCAR UL4M4 beats the mean (kNN beats both)


def test_run_reports_the_methods_warnings_not_other_libraries(ds, monkeypatch):
    # A warning another library raises meanwhile (UMAP's import in the warm-up thread says TensorFlow is
    # missing) must not be shown as the run's; the imputer's own warning must.
    import warnings

    import ul4m4.experiment as ex

    real = ex.make_imputer

    def noisy(method, cfg, callback=None):
        imp = real(method, cfg, callback)
        fit = imp.fit

        def fit_and_warn(*args, **kwargs):
            warnings.warn_explicit("Tensorflow not installed", UserWarning, "/site-packages/umap/__init__.py", 1)
            warnings.warn_explicit("max_iter reached", ex.sklearn.exceptions.ConvergenceWarning, ex.__file__, 1)
            return fit(*args, **kwargs)

        imp.fit = fit_and_warn
        return imp

    monkeypatch.setattr(ex, "make_imputer", noisy)
    run = run_methods(ds, make_mask(ds, MissingConfig(rate=0.3)), RunConfig(methods=("mean",)))
    assert run.warnings == ["mean: max_iter reached"]


def test_fit_complete_is_the_unit_of_run_methods(ds):
    # One method alone, through the unit the sweep uses, gives what run_methods reports for it.
    m = make_mask(ds, MissingConfig(rate=0.4, seed=2))
    cfg = RunConfig(methods=("ul4m4", "knn"), n_clusters=3, seed=1)
    run = run_methods(ds, m, cfg)
    for method in cfg.methods:
        unit = fit_complete(method, ds, m, cfg)
        assert unit.method == method and unit.seconds > 0
        for a, b in zip(unit.completed, run.completed[method]):
            assert np.array_equal(a, b)
        expected = run.errors[run.errors["method"] == method].reset_index(drop=True)
        assert unit.errors.equals(expected)
        assert (unit.provenance is not None) == (method == "ul4m4")
    # Fitted on the training split only: the mean of a modality is that of its observed training rows.
    unit = fit_complete("mean", ds, m, cfg)
    tr = m.train_idx[m.mask[m.train_idx, 0]]
    assert np.allclose(unit.model.mean_[0], ds.Xs[0][tr].mean(axis=0))


def test_check_run_refuses_before_any_work(ds):
    m = make_mask(ds, MissingConfig(rate=0.3))
    check_run(ds, m, RunConfig(n_clusters=3))  # fine settings pass
    with pytest.raises(ValueError, match="k=141 clusters is more than the 140 training samples"):
        check_run(ds, m, RunConfig(n_clusters=141))
    with pytest.raises(ValueError, match="needs about"):
        check_run(ds, m, RunConfig(n_clusters=3), available_memory=1000)


def test_reuse_refits_only_the_methods_whose_settings_changed():
    from ul4m4.experiment import unit_key

    ds = load_dataset("breast_cancer")
    m = make_mask(ds, MissingConfig(rate=0.3, seed=1))
    reuse = {}
    a = run_methods(ds, m, RunConfig(methods=("ul4m4", "mean", "softimpute"), n_clusters=3), reuse=reuse)
    assert len(reuse) == 3
    b = run_methods(ds, m, RunConfig(methods=("ul4m4", "mean", "softimpute"), n_clusters=5), reuse=reuse)
    assert len(reuse) == 4  # only the paper's UL4M4 at the new k was added
    assert b.completed["softimpute"] is a.completed["softimpute"] and b.completed["mean"] is a.completed["mean"]
    assert b.completed["ul4m4"] is not a.completed["ul4m4"] and b.model.n_clusters == 5
    fresh = run_methods(ds, m, RunConfig(methods=("ul4m4", "mean", "softimpute"), n_clusters=5))
    assert fresh.errors.equals(b.errors)  # reuse changes nothing in the numbers
    assert unit_key("ul4m4_soft", RunConfig(n_clusters=3)) == unit_key("ul4m4_soft", RunConfig(n_clusters=9))


def test_k_curve_reports_holdout_and_true_error_per_k():
    from ul4m4.experiment import k_curve

    ds = load_dataset("breast_cancer")
    m = make_mask(ds, MissingConfig(rate=0.4, seed=0))
    run = run_methods(ds, m, RunConfig(methods=("ul4m4_soft",)))
    soft = run.models["ul4m4_soft"]
    curve = k_curve(ds, m, RunConfig(), soft)
    assert list(curve["k"]) == sorted(set(soft.selection_["n_clusters"]))
    assert soft.n_clusters_ in set(curve["k"])
    assert curve[["holdout_mse", "holdout_best_mse", "true_mse_soft", "true_mse_paper"]].notna().all().all()
    assert (curve["holdout_best_mse"] <= curve["holdout_mse"]).all()
    # The chosen k is the smallest whose best temperature comes under the bound (the best setting's hold-out
    # error plus the parsimony margin), as the chart draws it.
    from ul4m4.experiment import selection_bound

    near = curve.loc[curve["holdout_best_mse"] <= selection_bound(soft), "k"]
    assert near.min() == soft.n_clusters_
    # UL4M4 soft's error at the chosen k is what run_methods measured for it.
    err = run.errors[(run.errors["split"] == "all") & (run.errors["modality"] == "all")]["mse"].iloc[0]
    assert curve.loc[curve["k"] == soft.n_clusters_, "true_mse_soft"].iloc[0] == pytest.approx(err, rel=0.05)


def _failing_imputer(monkeypatch, method, exc):
    """Make ``method``'s imputer raise ``exc`` in its fit (a stand-in for data that do not suit it)."""
    import ul4m4.experiment as ex

    make = ex.make_imputer

    def patched(name, *args, **kwargs):
        imp = make(name, *args, **kwargs)
        if name == method:
            def fit(*a, **k):
                raise exc
            imp.fit = fit
        return imp

    monkeypatch.setattr(ex, "make_imputer", patched)


@pytest.mark.parametrize("exc, expected", [(ValueError("the neighbours are all missing"), True),
                                           (MemoryError(), True), (IndexError("index 7 is out of bounds"), False)])
def test_one_failing_method_leaves_the_others_with_on_error_skip(ds, monkeypatch, exc, expected):
    m = make_mask(ds, MissingConfig(rate=0.3, seed=1))
    cfg = RunConfig(methods=("ul4m4", "knn", "mean"), n_clusters=3)
    _failing_imputer(monkeypatch, "knn", exc)
    with pytest.raises(type(exc)):  # the default stops the run, as before
        run_methods(ds, m, cfg)
    reuse = {}
    run = run_methods(ds, m, cfg, reuse=reuse, on_error="skip")
    assert list(run.completed) == ["ul4m4", "mean"] and set(run.seconds) == {"ul4m4", "mean"}
    assert set(run.errors["method"]) == {"ul4m4", "mean"}
    f = run.failed["knn"]
    assert (f.method, f.error_type, f.message, f.expected) == ("knn", type(exc).__name__, str(exc), expected)
    assert type(exc).__name__ in f.traceback and "def fit" not in f.message
    assert len(reuse) == 2  # the failed method is not kept: a later run tries it again
    # The others' numbers are those of a run without the failing method.
    alone = run_methods(ds, m, RunConfig(methods=("ul4m4", "mean"), n_clusters=3))
    assert alone.errors.equals(run.errors)


def test_on_error_is_checked(ds):
    m = make_mask(ds, MissingConfig(rate=0.3, seed=1))
    with pytest.raises(ValueError, match="on_error='ignore' is not one of 'raise', 'skip'"):
        run_methods(ds, m, RunConfig(methods=("mean",)), on_error="ignore")
