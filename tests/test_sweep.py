import numpy as np
import pytest

from ul4m4 import make_synthetic
from ul4m4.sweep import COLUMNS, SweepConfig, rate_config, run_sweep


@pytest.fixture(scope="module")
def ds():
    return make_synthetic(n_samples=240, n_modalities=3, dims=[5, 4, 3], n_clusters=3, random_state=0)


@pytest.fixture(scope="module")
def table(ds):
    cfg = SweepConfig(rates=(0.0, 0.4), seeds=(0, 1), methods=("ul4m4", "mean", "zero", "knn", "complete"), k=3)
    calls = []
    df = run_sweep(ds, cfg, callback=calls.append)
    return df, calls


def test_table_shape_and_seeds(table):
    df, calls = table
    assert list(df.columns) == COLUMNS
    assert len(df) == 2 * 2 * 5
    assert sorted(df["seed"].unique()) == [0, 1]
    assert calls[-1]["done"] == calls[-1]["total"] == 20
    # Each unit's call names it, so a page can word it (the method by its label).
    units = {(c["seed"], c["rate"], c["method"], c["k"]) for c in calls if c["stage"] == "sweep"}
    assert units == {(s, r, m, None) for s in (0, 1) for r in (0.0, 0.4) for m in ("ul4m4", "mean", "zero", "knn",
                                                                                   "complete")}
    incomplete = df[(df["rate"] == 0.4) & (df["method"] != "complete")]
    assert incomplete["realized_slot_rate"].between(0.25, 0.45).all()
    assert (df.loc[df["method"] == "complete", "realized_slot_rate"] == 0).all()


def test_rate_zero_gives_same_score_for_every_imputer(table):
    df, _ = table
    zero = df[df["rate"] == 0.0]
    for seed, sub in zero.groupby("seed"):
        assert sub["f1_micro"].nunique() == 1 and sub["f1_macro"].nunique() == 1
        assert sub["imputation_mse"].isna().all()  # nothing removed


def test_missing_data_costs_something_and_mse_only_where_removed(table):
    df, _ = table
    high = df[(df["rate"] == 0.4) & (df["method"] != "complete")]
    assert high["imputation_mse"].notna().all()
    zero_fill = high[high["method"] == "zero"]["imputation_mse"].mean()
    mean_fill = high[high["method"] == "mean"]["imputation_mse"].mean()
    assert zero_fill > mean_fill  # zero is far from standardised data whose means are not 0


def test_k_sensitivity_rows(ds):
    cfg = SweepConfig(rates=(0.3,), seeds=(0,), methods=("ul4m4", "mean"), ks=(2, 4, 8))
    df = run_sweep(ds, cfg)
    assert sorted(df.loc[df["method"] == "ul4m4", "k"].tolist()) == [2, 4, 8]
    assert df.loc[df["method"] == "mean", "k"].isna().all()


def test_rate_config_meanings():
    assert rate_config("standard", 0.3, 3).keep_probs == (1.0, 0.7, 0.7)
    c = dict(rate_config("complex", 0.4, 2).pattern_freqs)
    assert c == {"11": 0.6, "10": 0.2, "01": 0.2}
    p = rate_config("pepsy", 0.5, 4, pm=0.5)
    assert (p.pm, p.ps) == (0.5, 0.5)


@pytest.mark.parametrize("kwargs, match", [
    ({"rates": (1.0,)}, r"rate 1.0 should be below 1 \(a fraction in \[0, 1\)\)"),
    ({"rates": (0.2, -0.1)}, r"^rate -0.1 is negative; a rate is a fraction in \[0, 1\)\.$"),
    ({"methods": ("foo",)}, "not known"),
    ({"classifier": "svm"}, "classifier='svm'"),
    ({"k": 10_000}, "k=10000 should be between 1"),
    ({"seeds": ()}, "at least one seed"),
    ({"test_size": 1.5}, r"test_size=1.5 should be in \(0, 1\)"),
])
def test_errors(ds, kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_sweep(ds, SweepConfig(**kwargs))


def test_needs_labels(ds):
    from dataclasses import replace

    with pytest.raises(ValueError, match="needs labels"):
        run_sweep(replace(ds, y=None), SweepConfig())


def test_labels_that_are_sample_ids_are_refused(ds):
    """One class per sample: no test class is ever trained on, so every score would be a silent 0."""
    from dataclasses import replace

    import numpy as np

    with pytest.raises(ValueError, match="every sample has a class of its own"):
        run_sweep(replace(ds, y=np.arange(ds.n_samples)), SweepConfig(methods=("mean",)))
    # One class with two samples is enough to score something: accepted.
    y = np.arange(ds.n_samples)
    y[1] = y[0]
    from ul4m4.sweep import check_sweep

    check_sweep(SweepConfig(methods=("mean",)), replace(ds, y=y))


def test_rows_arrive_while_the_sweep_runs(ds):
    from ul4m4.sweep import iter_sweep

    cfg = SweepConfig(rates=(0.0, 0.2, 0.4), seeds=(0, 1), methods=("ul4m4", "mean"), k=3)
    calls = []
    rows = iter_sweep(ds, cfg, callback=calls.append)
    first = next(rows)
    assert first["seed"] == 0 and first["rate"] == 0.0
    assert len(calls) < 12  # the first rows come out before the last units have run
    rest = list(rows)
    assert len(rest) == 11 and calls[-1]["done"] == 12


def test_finished_units_are_cached_and_only_changes_rerun(ds, monkeypatch):
    from dataclasses import replace

    import ul4m4.sweep as sweep

    fitted = []
    real = sweep.complete_split
    monkeypatch.setattr(sweep, "complete_split", lambda method, *a, **k: fitted.append(method) or real(method, *a, **k))
    cfg = SweepConfig(rates=(0.0, 0.4), seeds=(0, 1), methods=("ul4m4", "mean", "knn", "complete"), k=3)
    cache = {}
    first = run_sweep(ds, cfg, cache=cache)
    assert sorted(fitted) == sorted(["ul4m4", "mean", "knn"] * 2)  # rate 0 removes nothing: nothing to fit
    fitted.clear()
    again = run_sweep(ds, cfg, cache=cache)
    assert fitted == [] and again.equals(first)  # same table, nothing recomputed
    moved = run_sweep(ds, replace(cfg, k=4), cache=cache)
    assert sorted(fitted) == ["ul4m4", "ul4m4"]  # a new k refits UL4M4 only
    same = moved["method"] != "ul4m4"
    cols = [c for c in COLUMNS if c != "seconds"]
    assert moved.loc[same, cols].reset_index(drop=True).equals(first.loc[same, cols].reset_index(drop=True))
    fresh = run_sweep(ds, replace(cfg, k=4))
    assert fresh[cols].equals(moved[cols])  # cached units give what a fresh run gives


def test_small_probe_batches_change_nothing(ds, monkeypatch):
    import ul4m4.sweep as sweep

    cfg = SweepConfig(rates=(0.0, 0.5), seeds=(0,), methods=("ul4m4", "mean", "zero", "knn", "complete"), k=3)
    cols = [c for c in COLUMNS if c != "seconds"]
    whole = run_sweep(ds, cfg)
    monkeypatch.setattr(sweep, "PROBE_BATCH_BYTES", 1)  # every unit its own batch
    assert run_sweep(ds, cfg)[cols].equals(whole[cols])


def test_unit_keys_hold_what_a_row_depends_on():
    from ul4m4.sweep import unit_key

    base = SweepConfig()
    key = unit_key(base, 0, 0.4, "mean", None)
    assert unit_key(SweepConfig(k=7), 0, 0.4, "mean", None) == key  # k does not touch the baselines
    assert unit_key(SweepConfig(pm=0.3), 0, 0.4, "mean", None) == key  # pm is PEPSY's only
    assert unit_key(base, 1, 0.4, "mean", None) != key
    assert unit_key(base, 0, 0.4, "ul4m4", 5) != unit_key(base, 0, 0.4, "ul4m4", 10)
    assert unit_key(SweepConfig(classifier="fusion"), 0, 0.4, "mean", None) != key
    assert unit_key(SweepConfig(apply_to="test"), 0, 0.4, "mean", None) != key
    assert unit_key(base, 0, 0.2, "complete", None) == unit_key(SweepConfig(mechanism="pepsy"), 0, 0.8, "complete", None)


@pytest.fixture(scope="module")
def tiny_scale_ds():
    """A dataset whose first feature has a near-zero scale: UL4M4 warns about it at every fit."""
    ds = make_synthetic(n_samples=150, n_modalities=2, dims=[5, 4], n_clusters=3, random_state=1)
    ds.Xs[0][:, 0] *= 1e-4
    return ds


def test_a_methods_warning_is_passed_on_once_per_sweep(tiny_scale_ds):
    cfg = SweepConfig(rates=(0.3, 0.5), seeds=(0, 1), methods=("ul4m4", "mean"), k=3)
    calls = []
    run_sweep(tiny_scale_ds, cfg, callback=calls.append)
    said = [c for c in calls if c["stage"] == "warning"]
    assert len(said) >= 1  # the same diagnostic at all four UL4M4 units...
    texts = [c["text"] for c in said]
    assert len(texts) == len(set(texts)) and all(t.startswith("ul4m4: ") and "std below" in t for t in texts)
    assert all(c["method"] == "ul4m4" for c in said)  # ...reported once each, naming the method


def test_without_a_callback_the_warning_is_issued_once(tiny_scale_ds):
    import warnings

    cfg = SweepConfig(rates=(0.3, 0.5), seeds=(0, 1), methods=("ul4m4",), k=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_sweep(tiny_scale_ds, cfg)
    texts = [str(w.message) for w in caught if "std below" in str(w.message)]
    assert texts and len(texts) == len(set(texts)) and texts[0].startswith("ul4m4: ")


@pytest.mark.parametrize("field, values, said", [("rates", (0.2, 0.4, 0.2), "rates list 0.2 more than once"),
                                                 ("seeds", (0, 0), "seeds list 0 more than once"),
                                                 ("ks", (2, 3, 2), "k values list 2 more than once")])
def test_a_value_given_twice_is_refused(ds, field, values, said):
    from dataclasses import replace

    from ul4m4.sweep import check_sweep

    with pytest.raises(ValueError, match=said):
        check_sweep(replace(SweepConfig(methods=("ul4m4", "mean"), k=3), **{field: values}), ds)


@pytest.mark.parametrize("ks", [None, (2, 3)])
def test_a_failing_unit_names_its_method_rate_and_seed(ds, monkeypatch, ks):
    """A method's own message may not say which unit it came from: the sweep's error does, so the user
    knows which method or rate to drop."""
    import ul4m4.experiment as ex

    make = ex.make_imputer

    def patched(name, *args, **kwargs):
        imp = make(name, *args, **kwargs)
        if name == "ul4m4" and (ks is None or imp.n_clusters == 3):
            def fit(*a, **k):
                raise ValueError("no sample observes 'fou'")
            imp.fit = fit
        return imp

    monkeypatch.setattr(ex, "make_imputer", patched)
    cfg = SweepConfig(rates=(0.0, 0.4), seeds=(1,), methods=("mean", "ul4m4"), k=3, ks=ks)
    unit = "(seed 1)" if ks is None else "(seed 1, k=3)"
    with pytest.raises(ValueError, match=rf"^method 'ul4m4' at rate 0.4 \({unit[1:-1]}\) failed: no sample observes 'fou'$"):
        run_sweep(ds, cfg)


def test_the_ceiling_needs_data_without_gaps(ds):
    from dataclasses import replace

    gappy = replace(ds, mask=ds.mask.copy())
    gappy.mask[:3, 1] = False
    with pytest.raises(ValueError, match=r"^'complete' \(the ceiling.*already lack 3 modality blocks; leave it out"):
        run_sweep(gappy, SweepConfig(rates=(0.0,), seeds=(0,), methods=("mean", "complete")))
    # Without it the sweep runs, and every method's score at rate 0 is of the data with their own gaps filled.
    df = run_sweep(gappy, SweepConfig(rates=(0.0, 0.3), seeds=(0,), methods=("mean", "ul4m4"), k=3))
    assert len(df) == 4 and df["f1_micro"].notna().all()


@pytest.fixture
def failing_units(monkeypatch):
    """kNN fails (an expected error) at rate 0.4 at every seed, mean (a bug) at rate 0.4 of seed 1; counts the
    units whose data were completed."""
    import ul4m4.sweep as sw

    real, completed = sw.complete_split, []

    def patched(method, dataset, mres, rc):
        high = (~mres.mask).mean() > 0.25
        if high and method == "knn" and state["fail"]:
            raise ValueError("no donor shares a modality")
        if high and method == "mean" and rc.seed == 1 and state["fail"]:
            raise IndexError("index 7 is out of bounds")
        completed.append((method, rc.seed))
        return real(method, dataset, mres, rc)

    state = {"fail": True}
    monkeypatch.setattr(sw, "complete_split", patched)
    return state, completed


def test_a_failing_unit_is_left_out_and_the_others_stand(ds, failing_units):
    """With on_error="skip" a unit whose method raises has no row; the others do. Each failure is called
    back once (which unit, the error, expected or a bug), the progress still counts every unit, and a failed
    unit is not cached: a later sweep tries it again, and only it."""
    state, completed = failing_units
    cfg = SweepConfig(rates=(0.0, 0.4), seeds=(0, 1), methods=("mean", "knn", "ul4m4"), k=3)
    calls, store = [], {}
    df = run_sweep(ds, cfg, callback=calls.append, cache=store, on_error="skip")
    planned = {(m, r, s) for s in (0, 1) for r in (0.0, 0.4) for m in ("mean", "knn", "ul4m4")}
    left_out = {("knn", 0.4, 0), ("knn", 0.4, 1), ("mean", 0.4, 1)}
    assert set(zip(df["method"], df["rate"], df["seed"])) == planned - left_out and len(df) == 9
    assert df["f1_micro"].notna().all()
    failures = [c["failure"] for c in calls if c["stage"] == "failed"]
    assert [(f.method, f.rate, f.seed, f.k, f.error_type, f.message, f.expected) for f in failures] == [
        ("knn", 0.4, 0, None, "ValueError", "no donor shares a modality", True),
        ("mean", 0.4, 1, None, "IndexError", "index 7 is out of bounds", False),
        ("knn", 0.4, 1, None, "ValueError", "no donor shares a modality", True)]
    assert "IndexError: index 7 is out of bounds" in failures[1].traceback
    assert [c["text"] for c in calls if c["stage"] == "failed"][0] == \
        "knn at rate 0.4, seed 0 failed and is left out: no donor shares a modality"
    progress = [c for c in calls if c["stage"] == "sweep"]
    assert [c["done"] for c in progress] == list(range(1, 13)) and progress[-1]["total"] == 12
    assert len(store) == 9
    # The failures fixed: only the three units left out are computed again, and the table is whole.
    state["fail"] = False
    completed.clear()
    df2 = run_sweep(ds, cfg, cache=store, on_error="skip")
    assert sorted(completed) == [("knn", 0), ("knn", 1), ("mean", 1)] and len(df2) == 12
    assert df2.merge(df, on=["method", "rate", "seed"])[["f1_micro_x"]].values.tolist() == \
        df2.merge(df, on=["method", "rate", "seed"])[["f1_micro_y"]].values.tolist()


def test_a_failing_unit_without_a_callback_is_a_warning_and_raise_stays_the_default(ds, failing_units):
    cfg = SweepConfig(rates=(0.0, 0.4), seeds=(0,), methods=("mean", "knn"), k=3)
    with pytest.warns(RuntimeWarning, match=r"^knn at rate 0.4, seed 0 failed and is left out: no donor shares"):
        df = run_sweep(ds, cfg, on_error="skip")
    assert len(df) == 3
    with pytest.raises(ValueError, match=r"^method 'knn' at rate 0.4 \(seed 0\) failed: no donor shares a modality$"):
        run_sweep(ds, cfg)
    with pytest.raises(IndexError, match="^index 7 is out of bounds$"):  # a bug is raised as it is
        run_sweep(ds, SweepConfig(rates=(0.4,), seeds=(1,), methods=("mean",)))
    with pytest.raises(ValueError, match=r"^on_error='ignore' is not one of 'raise', 'skip'\.$"):
        run_sweep(ds, cfg, on_error="ignore")


def test_a_failing_unit_of_a_k_sensitivity_says_its_k(ds, monkeypatch):
    import ul4m4.sweep as sw

    real = sw.complete_split

    def patched(method, dataset, mres, rc):
        if rc.n_clusters == 3:
            raise ValueError("too few samples for k=3")
        return real(method, dataset, mres, rc)

    monkeypatch.setattr(sw, "complete_split", patched)
    calls = []
    df = run_sweep(ds, SweepConfig(rates=(0.4,), seeds=(0,), methods=("ul4m4",), ks=(2, 3)), callback=calls.append,
                   on_error="skip")
    assert df["k"].tolist() == [2]
    (f,) = [c["failure"] for c in calls if c["stage"] == "failed"]
    assert (f.k, f.where()) == (3, "rate 0.4, seed 0, k=3")


def test_labels_of_a_single_class_are_refused_before_anything_runs(ds):
    from dataclasses import replace

    from ul4m4.sweep import check_sweep_data

    one = replace(ds, y=np.ones(ds.n_samples, dtype=np.int64))
    with pytest.raises(ValueError, match=r"^the labels hold a single class \(1\); a classifier needs at least two, so "
                                         r"no degradation sweep can run on these data\.$"):
        check_sweep_data(one)
    with pytest.raises(ValueError, match="single class"):
        run_sweep(one, SweepConfig(rates=(0.0,), seeds=(0,), methods=("mean",)))


def _dataset(tmp_path, a, y):
    from ul4m4 import load_dataset

    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(path, a=a, b=rng.normal(size=(len(y), 2)), y=y)
    return load_dataset(str(path))


def test_a_training_split_of_one_class_is_said_as_such(tmp_path):
    # Two classes, one of a single sample: when it lands in the test split the training split holds one.
    y = np.zeros(60, int)
    y[7] = 1
    ds = _dataset(tmp_path, np.random.default_rng(1).normal(size=(60, 3)), y)
    with pytest.raises(ValueError, match=r"the training split \(42 samples\) holds one class \(0\): the other "
                                         "classes' samples all went to the test split"):
        run_sweep(ds, SweepConfig(rates=(0.0, 0.2), seeds=(0, 1, 2), methods=("mean", "complete")))


def test_a_modality_the_training_split_never_observes_is_not_blamed_on_the_rate(tmp_path):
    a = np.full((60, 3), np.nan)
    a[5] = 1.0  # observed in one row only
    ds = _dataset(tmp_path, a, np.arange(60) % 2)
    with pytest.raises(ValueError, match="modality 'a' has no observed sample in the training split .* even before "
                                         "any is removed") as info:
        run_sweep(ds, SweepConfig(rates=(0.0,), seeds=tuple(range(10)), methods=("mean",)))
    assert "lower the largest rate" not in str(info.value)
