import re

import numpy as np
import pytest

from ul4m4 import check_Xs
from ul4m4.validation import (check_n_clusters, check_random_state, max_abs_value, parse_list, resolve_device,
                              resolve_dtype)


def test_nan_rows_become_mask():
    X0 = np.array([[1.0, 2.0], [np.nan, np.nan], [3.0, 4.0]])
    X1 = np.array([[1.0], [2.0], [np.nan]])
    Xs, mask = check_Xs([X0, X1])
    assert mask.tolist() == [[True, True], [False, True], [True, False]]
    assert Xs[0] is X0  # no copy when nothing needs converting


def test_int_input_is_converted_and_mask_given():
    Xs, mask = check_Xs([np.arange(6).reshape(3, 2)], np.array([[1], [1], [1]]))
    assert Xs[0].dtype == np.float64 and mask.dtype == bool


@pytest.mark.parametrize(
    "Xs, mask, exc, match",
    [
        (np.zeros((3, 2)), None, TypeError, "list of 2-D arrays"),
        ([], None, ValueError, "Xs is empty"),
        ([np.zeros(3)], None, ValueError, r"Xs\[0\] has 1 dimension"),
        ([np.zeros((3, 2, 2))], None, ValueError, "expected a 2-D array"),
        ([np.zeros((3, 0))], None, ValueError, "0 features"),
        ([np.zeros((3, 2)), np.zeros((4, 2))], None, ValueError, r"Xs\[0\] has 3, Xs\[1\] has 4"),
        ([np.zeros((0, 2))], None, ValueError, "0 samples"),
        ([np.array([["a", "b"]])], None, TypeError, "expected a numeric"),
        ([np.array([[1.0, np.nan], [1.0, 2.0]])], None, ValueError, r"1 observed row contains NaN in some"),
        ([np.array([[1.0, np.inf], [1.0, 2.0]])], None, ValueError, "infinite values"),
        ([np.full((2, 2), np.nan)], None, ValueError, r"2 samples observe no modality"),
        ([np.zeros((2, 2))], np.zeros((2, 2), bool), ValueError, r"mask has shape \(2, 2\); expected"),
        ([np.zeros((2, 2))], np.array([[2], [1]]), ValueError, "mask must be boolean"),
        ([np.zeros((2, 2))], np.array([[True], [False]]), ValueError, r"1 sample observes no modality"),
    ],
)
def test_errors(Xs, mask, exc, match):
    with pytest.raises(exc, match=match):
        check_Xs(Xs, mask)


def test_mask_ignores_values_of_unobserved_rows():
    X = np.array([[np.inf, 1.0], [1.0, 2.0]])
    Xs, mask = check_Xs([X, np.ones((2, 1))], np.array([[False, True], [True, True]]))
    assert np.isinf(Xs[0][0, 0])  # left as given; unobserved values are ignored


def test_empty_modality_refused_when_asked():
    with pytest.raises(ValueError, match="Modality 1 is observed in no sample"):
        check_Xs([np.zeros((2, 2)), np.full((2, 1), np.nan)], allow_empty_modality=False)


def test_expected_shape_of_fitted_estimator():
    with pytest.raises(ValueError, match="expected 3 .as seen in fit"):
        check_Xs([np.zeros((2, 2))], dims=[3])
    with pytest.raises(ValueError, match="expected 2 .as seen in fit"):
        check_Xs([np.zeros((2, 2))], n_modalities=2)


def test_random_state():
    # An int seeds a new generator (the same stream as numpy's for that seed), a Generator is passed through.
    assert check_random_state(3).integers(2**62, size=4).tolist() == np.random.default_rng(3).integers(2**62, size=4).tolist()
    assert check_random_state(3).integers(2**62) != check_random_state(4).integers(2**62)
    g = np.random.default_rng(0)
    assert check_random_state(g) is g
    with pytest.raises(TypeError, match="should be an integer seed"):
        check_random_state(1.5)
    with pytest.raises(TypeError, match="should be an integer seed"):
        check_random_state("7")
    with pytest.raises(ValueError, match="non-negative"):
        check_random_state(-1)


def test_n_clusters():
    with pytest.raises(ValueError, match="n_samples=12 should be >= n_clusters=16"):
        check_n_clusters(16, 12)
    with pytest.raises(ValueError, match="n_clusters=0 should be >= 1"):
        check_n_clusters(0, 12)
    with pytest.raises(TypeError, match="n_clusters=2.5 should be an integer"):
        check_n_clusters(2.5, 12)


def test_device_and_dtype():
    import torch

    assert resolve_device(None).type == "cpu"
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="not recognised"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
    assert resolve_dtype("float64") == torch.float64
    with pytest.raises(ValueError, match="expected 'float32' or 'float64'"):
        resolve_dtype("int8")


def test_parse_list():
    assert parse_list("0, 0.2,0.4") == (0.0, 0.2, 0.4)
    assert parse_list("2; 5, 10,", int) == (2, 5, 10)  # ';' separates too; blanks are skipped
    assert parse_list(" ul4m4 , mean", str) == ("ul4m4", "mean")
    with pytest.raises(ValueError, match=r"^rates '0, x' should be numbers separated by commas"):
        parse_list("0, x", float, "rates")
    with pytest.raises(ValueError, match="'2.5' should be integers"):
        parse_list("2.5", int)
    with pytest.raises(ValueError, match="holds no integers; give at least one"):
        parse_list(" , ", int, "k values")
    with pytest.raises(TypeError, match="cast="):
        parse_list("1", complex)


# ---------------------------------------------------------------------------------------------------
# The dtype whitelist, byte orders and memory layouts
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype, reason", [
    (np.complex128, "complex numbers have no order"),
    (np.dtype("datetime64[D]"), "dates are not features"),
    (np.dtype("timedelta64[s]"), "durations are not features"),
    (np.dtype("S3"), "raw bytes are not features"),
    (np.dtype("U3"), "text is not a feature"),
    (np.dtype([("a", "f8")]), "structured or raw records"),
] + ([(np.longdouble, "extended precision")] if np.dtype(np.longdouble).itemsize > 8 else []))
def test_dtypes_outside_the_whitelist_are_refused_with_the_reason(dtype, reason):
    with pytest.raises(ValueError, match=reason) as info:  # a ValueError, like every refusal of bad input
        check_Xs([np.zeros((3, 2), dtype=dtype)])
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize("dtype, out", [
    (np.float16, np.float64), (np.dtype(">f4"), np.float32), (np.dtype(">f8"), np.float64), (np.dtype(">i4"), np.float64),
    (np.uint64, np.float64), (bool, np.float64), (np.float32, np.float32),
])
def test_accepted_dtypes_come_back_native_float32_or_float64(dtype, out):
    X = np.arange(6).reshape(3, 2).astype(dtype)
    got = check_Xs([X])[0][0]
    assert got.dtype == out and got.dtype.isnative and np.array_equal(got, X.astype(np.float64))


def test_negative_strides_are_copied_for_torch():
    X = np.arange(12.0).reshape(4, 3)
    for view in (X[:, ::-1], X[::-1], X[::-2, ::-1]):
        got = check_Xs([view])[0][0]
        assert all(s > 0 for s in got.strides) and np.array_equal(got, view)
    assert np.shares_memory(check_Xs([X[::2]])[0][0], X)  # positive-stride views are not copied


# ---------------------------------------------------------------------------------------------------
# Values whose squares overflow the working dtype
# ---------------------------------------------------------------------------------------------------
def test_max_abs_value():
    assert max_abs_value("float32") == pytest.approx(2.8e14, rel=0.01)
    assert max_abs_value("float64") == pytest.approx(2.0e149, rel=0.03)
    # squares of the largest accepted value, summed 2**32 times, stay finite
    for dt in (np.float32, np.float64):
        v = dt(max_abs_value(dt))
        assert np.isfinite(v * v * dt(2**32))


@pytest.mark.parametrize("value, dtype", [(1e39, "float32"), (1e20, "float32"), (1e155, "float64"), (-1e200, "float64")])
def test_values_whose_squares_overflow_are_refused_naming_modality_and_value(value, dtype):
    X = np.ones((5, 2))
    X[3, 1] = value
    with pytest.raises(ValueError, match=re.escape(f"Xs[1]: the largest observed |value| is {abs(value):.3g} (")
                       + f".*first at row 3.*overflows {dtype}"):
        check_Xs([np.ones((5, 1)), X], working_dtype=dtype)
    mask = np.ones((5, 2), bool)
    mask[3, 1] = False  # unobserved: its value is ignored
    check_Xs([np.ones((5, 1)), X], mask, working_dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_observed_row_checks_agree_with_the_exact_summaries(dtype, global_random_seed):
    # With a mask, only observed rows are checked, by one sum of squares per row and an exact look at
    # the rows it cannot vouch for: the outcome must be the exact summaries' for every kind of bad value.
    from ul4m4.validation import _observed_row_stats, _row_stats

    rng = np.random.default_rng(global_random_seed)
    limit = max_abs_value("float32")
    a = rng.normal(size=(300, 7)).astype(dtype)
    rows = rng.choice(300, size=60, replace=False)
    a[rows[:10], 2] = np.nan  # NaN in some features
    a[rows[10:20]] = np.nan  # whole rows
    a[rows[20:30], 5] = np.inf
    a[rows[30:40], 0] = -limit * rng.uniform(1.01, 3.0, size=10)  # above the limit
    a[rows[40:50], 1] = limit * 0.9  # below the limit, above half of it
    a[rows[50:60]] = limit * 0.2  # each value fine, the row's sum of squares large
    observed = rng.random(300) < 0.7
    _, fin, anynan, mx = _observed_row_stats(a, observed, limit, block=64)
    allnan_ref, fin_ref, anynan_ref, mx_ref = _row_stats(a)
    # Without a mask every row is summarised; whole-NaN rows are found as the exact summaries find them.
    every = _observed_row_stats(a, None, limit, block=64)
    for got, want in zip(every[:3], (allnan_ref, fin_ref, anynan_ref)):
        np.testing.assert_array_equal(got, want)
    o = observed
    np.testing.assert_array_equal(fin[o], fin_ref[o])
    np.testing.assert_array_equal(anynan[o], anynan_ref[o])
    np.testing.assert_array_equal(mx[o] > limit, mx_ref[o] > limit)
    big = o & (mx_ref > limit)
    if big.any():
        assert mx[o & big].max() == mx_ref[big].max()  # the message's largest value is exact
    plain = o & (mx_ref <= limit / 2)  # (whole-NaN rows have no largest value)
    assert (mx[plain] <= limit / 2 * 1.001).all() and (mx[plain] >= mx_ref[plain]).all()  # an upper bound
    # check_Xs refuses exactly when an observed row is bad, and accepts junk in unobserved rows.
    mask = np.column_stack([observed, np.ones(300, bool)])
    other = rng.normal(size=(300, 2))
    bad = observed & (~fin_ref | (mx_ref > limit))
    if bad.any():
        with pytest.raises(ValueError, match=r"Xs\[0\]"):
            check_Xs([a, other], mask)
    clean = np.where(bad[:, None], 0.0, a)
    check_Xs([clean, other], mask)


def test_counted_words_take_the_number():
    from ul4m4.validation import counted

    assert counted(1, "feature") == "1 feature"
    assert counted(0, "feature") == "0 features"
    assert counted(9, "feature") == "9 features"
    assert counted(1, "modality", "modalities") == "1 modality"
    assert counted(2, "modality", "modalities") == "2 modalities"
    assert counted(12345, "sample") == "12,345 samples"
    assert counted(np.int64(1), "block") == "1 block"


def test_no_message_counts_with_a_bracketed_plural():
    """Messages count in words ("1 sample observes", "5 modality blocks"), never "sample(s)": every string
    in the library, the app and the command line that is not a docstring is checked."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    found = []
    for path in [root / "app.py", *sorted((root / "ul4m4").glob("*.py")), *sorted((root / "appui").glob("*.py")),
                 *sorted((root / "views").glob("*.py"))]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = {id(node.body[0].value) for node in ast.walk(tree)
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs \
                    and re.search(r"[a-z]\((s|es|ies)\)", node.value):
                found.append(f"{path.name}:{node.lineno}: {node.value[:60]!r}")
    assert not found, found


def test_the_value_limit_follows_the_estimators_dtype(tmp_path):
    # 1e15 is above float32's limit (2.8e14) and far below float64's (2.0e149): a float64 estimator takes it.
    import ul4m4

    rng = np.random.default_rng(0)
    Xs = [rng.normal(size=(60, 3)), rng.normal(size=(60, 2))]
    mask = np.ones((60, 2), bool)
    mask[:10, 1] = False
    Xs[0][20, 1] = 1e15
    Xin = [np.where(mask[:, [m]], X, np.nan) for m, X in enumerate(Xs)]
    for make in (lambda dt: ul4m4.UL4M4Imputer(3, dtype=dt, random_state=0),
                 lambda dt: ul4m4.UL4M4Imputer(3, completion="soft", temperature=1.0, dtype=dt, random_state=0)):
        out = make("float64").fit(Xin, mask).transform(Xin, mask)
        assert all(np.isfinite(o).all() for o in out)
        with pytest.raises(ValueError, match=r"Xs\[0\].*overflows float32"):
            make("float32").fit(Xin, mask)
    ul4m4.PartialModalityKMeans(3, dtype="float64", random_state=0).fit(Xin, mask)
    # The baselines standardise in float64: float64's limit.
    for imp in (ul4m4.MeanImputer(), ul4m4.SoftImputeImputer(random_state=0), ul4m4.KNNModalityImputer()):
        assert all(np.isfinite(o).all() for o in imp.fit(Xin, mask).transform(Xin, mask))
    assert not ul4m4.select_parameters(Xin, mask, n_clusters=[2, 4], dtype="float64", random_state=0).empty
    # Files: float64's limit unless the caller computes in float32 (the app).
    path = tmp_path / "big.npz"
    np.savez(path, a=Xin[0], b=Xin[1])
    assert ul4m4.load_dataset(str(path)).Xs[0][20, 1] == 1e15
    with pytest.raises(ValueError, match="modality 'a'.*overflows float32"):
        ul4m4.load_dataset(str(path), working_dtype="float32")
    with pytest.raises(ValueError, match="dtype='float16' is not supported"):
        ul4m4.load_dataset(str(path), working_dtype="float16")


def test_a_row_marked_observed_but_all_nan_is_said_as_such():
    X = np.array([[np.nan, np.nan], [1.0, 2.0]])
    with pytest.raises(ValueError, match=r"Xs\[0\]: 1 row marked observed in the mask is all NaN \(first at row 0\)"):
        check_Xs([X], np.array([[True], [True]]))
    with pytest.raises(ValueError, match="NaN in some but not all features"):  # part NaN: as before
        check_Xs([np.array([[np.nan, 1.0], [1.0, 2.0]])], np.array([[True], [True]]))


def test_inputs_of_the_wrong_kind_get_a_message_not_a_raw_error():
    import torch

    import ul4m4

    with pytest.raises(TypeError, match="torch dtype bfloat16, which numpy cannot hold"):
        check_Xs([torch.ones(3, 2, dtype=torch.bfloat16)])
    X = [np.arange(10.0).reshape(5, 2)]
    removed = np.zeros((5, 1), bool)
    removed[0] = True
    with pytest.raises(ValueError, match="modality_names holds 2 names for 1 modalities"):
        ul4m4.imputation_error(X, X, removed, ["a", "b"])
    for kw in ({"max_bytes": "10"}, {"max_bytes": 0}, {"max_samples": 2.5}):
        with pytest.raises(ValueError, match=f"{next(iter(kw))}=.* should be an integer >= 1"):
            ul4m4.load_dataset("mfeat", **kw)
