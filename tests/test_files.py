"""Reading the user's files, by class of hostile input (generators in fuzz.py): what a file would take once
loaded is checked before it is decompressed or parsed; only regular files are read, at once, never
hanging; parsing is linear in the input; dtypes outside the whitelist are refused with the reason; and
anything else malformed is a one-line ValueError, never another exception."""

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fuzz
from ul4m4 import load_dataset

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def load(fname, data, **kw):
    f = io.BytesIO(data)
    f.name = fname
    return load_dataset(f, **kw)


def one_line(msg):
    assert msg.strip() and "\n" not in msg.strip() and "Traceback" not in msg, msg
    return msg


def run_child(code, timeout=120):
    """Run ``code`` in a fresh interpreter whose address space is capped at 3 GB (so that a regression that
    reads /dev/zero fails instead of eating the machine); returns its JSON output."""
    prelude = (f"import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30)); "
               f"sys.path[:0] = [{str(HERE)!r}, {str(ROOT)!r}]\n")
    res = subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=timeout,
                         cwd=ROOT)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------------
# Limits on what the data will take once loaded
# ---------------------------------------------------------------------------------------------------
LIMIT = 1 << 20


@pytest.mark.parametrize("name, fname, data", fuzz.amplifying_files(LIMIT), ids=lambda v: v if isinstance(v, str) and
                         len(v) < 40 else "")
def test_small_files_that_would_grow_past_the_limit_are_refused(name, fname, data):
    assert len(data) <= LIMIT  # the file itself passes the size limit
    with pytest.raises(ValueError) as info:
        load(fname, data, max_bytes=LIMIT)
    msg = one_line(str(info.value))
    assert re.search(r"\d", msg) and ("limit" in msg or "at most" in msg), msg


def test_the_limit_counts_the_dtype_the_data_becomes():
    n = LIMIT // 8  # uint8 (n, 1): n bytes stored, exactly LIMIT once float64
    ds = load("u.npz", fuzz.npz_bytes(a=np.ones((n, 1), np.uint8)), max_bytes=LIMIT)
    assert ds.Xs[0].dtype == np.float64 and ds.Xs[0].nbytes == LIMIT
    with pytest.raises(ValueError, match=r"would take 1\.0 MB once loaded \(its arrays as float64\); the limit is "
                                         r"1 MB"):
        load("u.npz", fuzz.npz_bytes(a=np.ones((n + 8, 1), np.uint8)), max_bytes=LIMIT)
    # float32 stays float32: half the bytes of float64
    ds = load("f.npz", fuzz.npz_bytes(a=np.ones((LIMIT // 4, 1), np.float32)), max_bytes=LIMIT)
    assert ds.Xs[0].dtype == np.float32


def test_limits_name_the_numbers():
    rows = 3_000_000
    data = fuzz.parquet_bytes(pd.DataFrame({"a__0": np.zeros(rows), "b__0": np.zeros(rows)}))
    assert len(data) < 100_000
    with pytest.raises(ValueError, match=r"would take 46 MB once loaded \(3,000,000 rows x 2 columns as float64\); "
                                         r"the limit is 1 MB"):
        load("big.parquet", data, max_bytes=LIMIT)
    with pytest.raises(ValueError, match="holds 3,000,000 samples|has 3,000,000 rows; the limit is 1,000 samples"):
        load("big.parquet", data, max_samples=1000)


AMPLIFY_CHILD = """
import json, os, time
from ul4m4 import load_dataset
import pandas, pyarrow.parquet  # imported before measuring, as in a running app
def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith(key))
out = {{}}
for name in sorted(os.listdir({folder!r})):
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets the peak (VmHWM) to the current resident size
    base = status("VmRSS:")
    t = time.perf_counter()
    try:
        load_dataset(os.path.join({folder!r}, name), max_bytes={limit}); outcome = "accepted"
    except ValueError as exc:
        outcome = str(exc)
    out[name] = {{"outcome": outcome, "seconds": time.perf_counter() - t, "peak_growth_mb": status("VmHWM:") - base}}
print(json.dumps(out))
"""


@pytest.mark.slow
def test_refusing_amplifying_files_keeps_memory_and_time_bounded(tmp_path):
    """16 MB files whose data would take 8x more, or far more: each refused quickly, the peak memory
    while refusing it growing by less than 4x the limit (before, the declared data was built: e.g. 800 MB
    of text labels from a 25 KB Parquet file). Measured in a fresh process, the peak reset before each."""
    limit = 16 << 20
    for i, (name, fname, data) in enumerate(fuzz.amplifying_files(limit)):
        (tmp_path / f"{i:02d}-{name}{os.path.splitext(fname)[1]}").write_bytes(data)
    out = run_child(AMPLIFY_CHILD.format(folder=str(tmp_path), limit=limit), timeout=300)
    for name, res in out.items():
        assert res["outcome"] != "accepted" and "\n" not in res["outcome"], (name, res)
        assert res["seconds"] < 20, (name, res)  # on a busy 2-core machine
        assert res["peak_growth_mb"] < 4 * limit / 2**20, (name, res)


# ---------------------------------------------------------------------------------------------------
# Only regular files, never a hang
# ---------------------------------------------------------------------------------------------------
PATHS_CHILD = """
import json, threading, fuzz
from ul4m4 import load_dataset
from ul4m4.cli import main
import contextlib, io
results = {{}}
def attempt(key, fn):
    box = {{}}
    def work():
        try:
            fn(); box["r"] = "accepted"
        except (ValueError, OSError) as exc:
            box["r"] = type(exc).__name__ + ": " + str(exc)
        except BaseException as exc:
            box["r"] = "OTHER " + type(exc).__name__ + ": " + str(exc)[:200]
    t = threading.Thread(target=work, daemon=True); t.start(); t.join({timeout})
    results[key] = box.get("r", "HANG")
def cli(args):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(args)
    if rc != 2:
        raise RuntimeError(f"exit code {{rc}}: {{err.getvalue()[-300:]}}")
    if len(err.getvalue().strip().splitlines()) != 1:
        raise RuntimeError("not one line: " + err.getvalue()[-300:])
    raise ValueError(err.getvalue().strip())
for key, path in fuzz.special_paths({tmp!r}):
    attempt("load " + key, lambda p=path: load_dataset(p))
    if key.startswith(("dev-zero", "symlink-csv-zero", "fifo-csv", "fifo-json", "symlink-json", "socket")):
        attempt("sweep " + key, lambda p=path: cli(["sweep", "--dataset", p, "--out", {tmp!r} + "/o"]))
        attempt("manifest " + key, lambda p=path: cli(["impute", "--manifest", p, "--out", {tmp!r} + "/o"]))
        attempt("data " + key, lambda p=path: cli(["impute", "--manifest", {tmp!r} + "/m.json", "--data", p,
                                                    "--out", {tmp!r} + "/o"]))
print(json.dumps(results))
"""


def test_paths_that_are_not_regular_files_are_refused_at_once(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps({"dataset": {"name": "mine.csv", "source": "upload", "sha256": "0"},
                                                 "missingness": {}, "run": {}}))
    out = run_child(PATHS_CHILD.format(tmp=str(tmp_path), timeout=10), timeout=180)
    bad = {k: v for k, v in out.items() if not v.startswith("ValueError")}
    assert not bad, bad  # no hang, no other exception, nothing accepted
    for key, msg in out.items():
        assert "not a regular file" in msg or "is a directory" in msg, (key, msg)


def test_regular_files_still_load_through_symlinks(tmp_path):
    p = tmp_path / "real.csv"
    p.write_text("a__0,y\n1,0\n2,1\n")
    (tmp_path / "link.csv").symlink_to(p)
    assert load_dataset(tmp_path / "link.csv").n_samples == 2


def test_the_read_is_bounded_by_the_limit_not_by_the_size_stat_reports(tmp_path):
    # /proc files are regular files whose size reads 0: the read stops at the limit all the same.
    link = tmp_path / "maps.csv"
    link.symlink_to("/proc/self/maps")
    with pytest.raises(ValueError, match="larger than the limit"):
        load_dataset(link, max_bytes=64)


# ---------------------------------------------------------------------------------------------------
# Parsing linear in the input
# ---------------------------------------------------------------------------------------------------
WIDE_CHILD = """
import io, json, time
from ul4m4 import load_dataset
out = {{}}
for n in {sizes}:
    data = (",".join(f"a__{{i}}" for i in range(n)) + "\\n" + ",".join("1" * n) + "\\n").encode()
    f = io.BytesIO(data); f.name = "w.csv"
    t = time.perf_counter()
    try:
        load_dataset(f)
    except ValueError:
        pass
    out[f"csv-{{n}}"] = time.perf_counter() - t
print(json.dumps(out))
"""


def test_a_wide_csv_is_read_in_time_linear_in_its_size():
    """100,000 columns (about 600 KB): the time the old duplicate check and pandas' per-column costs took
    grew much faster than the file (77 s); now about a second, growing with the file."""
    out = run_child(WIDE_CHILD.format(sizes=(25_000, 100_000)), timeout=60)
    assert out["csv-100000"] < 10, out
    assert out["csv-100000"] < 8 * out["csv-25000"] + 1.0, out  # 4x the input, not 16x the time


@pytest.mark.parametrize("data, dims", [
    (b"a__0,b__0\r1,2\r3,4\r", [1, 1]),  # CR-only line endings (classic Mac)
    (b"a__0,b__0\r\n1,2\r\n3,4\r\n", [1, 1]),
    ("\ufeffa__0,b__0\n1,2\n".encode(), [1, 1]),  # a byte-order mark
    (b'"a__0","b__0"\n"1","2"\n', [1, 1]),  # quoted numbers
])
def test_line_endings_and_quoting_that_are_valid_csv_load(data, dims):
    assert load("x.csv", data).dims == dims


@pytest.mark.parametrize("data, match", [
    (b"a__" + b"x" * 140_000 + b",b__0\n1,2\n", "field larger than field limit"),  # a header field over 131,072
    (b"a__0,y\n1," + b"z" * 140_000 + b"\n", "field larger than field limit"),
    (b"a__0,b__0\n1,\x002\n", None),
    (b"a__0\n" + b"1\n" * 10 + b'"unclosed\n', None),
    (b"\n\n\n", "no header"),
    (("a__0," + "b" * 300 + "__0\n1,2\n").encode(), "at most 256"),
])
def test_csv_parser_errors_are_one_line_value_errors(data, match):
    with pytest.raises(ValueError) as info:
        load("x.csv", data)
    one_line(str(info.value))
    if match:
        assert match in str(info.value)


def test_random_csv_texts_load_or_give_a_value_error():
    rng = np.random.default_rng(0)
    outcomes = {"loaded": 0, "refused": 0}
    for data in fuzz.csv_texts(rng, 300):
        try:
            load("f.csv", data)
            outcomes["loaded"] += 1
        except ValueError as exc:
            one_line(str(exc))
            outcomes["refused"] += 1
    assert outcomes["loaded"] > 20 and outcomes["refused"] > 20, outcomes


@pytest.mark.slow
def test_random_csv_texts_many():
    rng = np.random.default_rng(1)
    for data in fuzz.csv_texts(rng, 3000):
        try:
            load("f.csv", data)
        except ValueError as exc:
            one_line(str(exc))


def test_both_csv_parsers_read_the_same_values(monkeypatch):
    """Tables with few rows are parsed row by row, others by pandas: the same cells give the same data."""
    import ul4m4.files

    used = []
    for name in ("_csv_rows", "_csv_pandas"):
        real = getattr(ul4m4.files, name)
        monkeypatch.setattr(ul4m4.files, name, lambda *a, _real=real, _name=name: used.append(_name) or _real(*a))
    rng = np.random.default_rng(3)
    X = np.round(rng.normal(size=(6, 3000)), 4)
    X[0, :1500] = np.nan  # a missing modality block
    cols = [f"a__{j}" for j in range(1500)] + [f"b__{j}" for j in range(1500)]
    df = pd.DataFrame(X, columns=cols).assign(y=["cat", "dog", "cat", "NA?", "x", "y"])
    wide = load("w.csv", fuzz.csv_bytes(df))  # 6 rows, 3001 columns: row by row
    tall = load("t.csv", fuzz.csv_bytes(pd.concat([df] * 60, ignore_index=True)))  # 360 rows: pandas
    assert used == ["_csv_rows", "_csv_pandas"]
    for a, b in zip(wide.Xs, tall.Xs):
        assert np.array_equal(a, b[:6], equal_nan=True)
    assert wide.y.tolist() == tall.y[:6].tolist() == ["cat", "dog", "cat", "NA?", "x", "y"]
    assert np.array_equal(wide.mask, tall.mask[:6])
    with pytest.raises(ValueError, match="column 'b__7' holds text"):
        load("w.csv", fuzz.csv_bytes(df.astype({"b__7": object}).assign(b__7=["1", "2", "oops", "4", "5", "6"])))


# Cells where Python's float() (and so numpy) and pandas' C reader disagree, and cells both read.
_TRICKY_CELLS = ["1_000", "\u0661\u0662", "\uff11\uff12", "NAN", "nAn", "1.5\u00a0", "\u00a01.5", "0x10", "1e", "--1",
                 "1d3", "  ", "Inf", "-infinity", "INF", " 1.5", "1.5 ", "+1", ".5", "5.", "1E3", "-0", "0001", "1e400",
                 "nan", "NaN", "NA", "", "-1.5e-3"]


@pytest.mark.parametrize("cell", _TRICKY_CELLS, ids=ascii)
def test_both_csv_parsers_accept_and_refuse_the_same_cells(cell):
    """One grammar for a numeric cell: whichever parser the table's shape picks, a cell reads as the same
    number, or is refused with a message naming its column and the file's line."""
    import ul4m4.files as F

    rows = [["1", "2", "0"], ["3", "4", "1"], [cell, "6", "0"]]
    data = ("a__0,b__0,y\n" + "\n".join(",".join(f'"{v}"' if v else v for v in r) for r in rows) + "\n").encode()
    header, n, lines = F._csv_scan(data)
    groups, y_cols = F._layout(header)
    out = {}
    for name in ("_csv_rows", "_csv_pandas"):
        try:
            Xs, _ = getattr(F, name)(data, header, groups, y_cols, n, 10**6, lines)
            out[name] = Xs[0][2, 0]
        except ValueError as exc:
            out[name] = str(exc)
    a, b = out["_csv_rows"], out["_csv_pandas"]
    if isinstance(a, str) or isinstance(b, str):
        assert a == b, out
        assert "column 'a__0' holds text in line 4 of the file" in a
    else:
        assert a == b or (np.isnan(a) and np.isnan(b)), out
    expect_number = cell in ("Inf", "-infinity", "INF", " 1.5", "1.5 ", "+1", ".5", "5.", "1E3", "-0", "0001", "1e400",
                             "nan", "NaN", "NA", "", "-1.5e-3")
    assert isinstance(a, str) != expect_number, out


def test_both_csv_parsers_agree_on_random_cells():
    """The class, not a list: random cells from digits, signs, points, exponents, underscores, blanks,
    the letters of inf and nan, and non-ASCII digits and spaces read the same (or fail the same) in both."""
    import ul4m4.files as F

    rng = np.random.default_rng(0)
    alphabet = list("0123456789+-.eE_ \tinfaINFAty") + ["\u0661", "\u00a0", "x"]
    disagree = []
    for _ in range(800):
        cell = "".join(rng.choice(alphabet, size=int(rng.integers(1, 7))))
        quoted = '"' + cell.replace('"', '""') + '"'
        data = f"a__0,b__0,y\n1,2,0\n3,4,1\n{quoted},6,0\n".encode()
        header, n, lines = F._csv_scan(data)
        groups, y_cols = F._layout(header)
        got = []
        for parse in (F._csv_rows, F._csv_pandas):
            try:
                got.append(float(parse(data, header, groups, y_cols, n, 10**6, lines)[0][0][2, 0]))
            except ValueError as exc:
                got.append(str(exc))
        a, b = got
        if not (a == b or (isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b))):
            disagree.append((cell, a, b))
    assert not disagree, disagree[:5]


# ---------------------------------------------------------------------------------------------------
# The dtype whitelist
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype, as_modality, as_labels", fuzz.dtype_cases(), ids=str)
def test_dtype_whitelist(dtype, as_modality, as_labels):
    rng = np.random.default_rng(0)
    X = fuzz.array_of(dtype, (8, 2), rng)
    good = rng.normal(size=(8, 2))
    y = fuzz.array_of(dtype, (8,), rng)
    for arrays, accepted, what in (({"a": X}, as_modality, "modality"), ({"a": good, "y": y}, as_labels, "labels")):
        data = fuzz.npz_bytes(**arrays)
        if accepted:
            ds = load("d.npz", data)
            assert ds.Xs[0].dtype in (np.float32, np.float64) and ds.Xs[0].dtype.isnative
            if what == "labels":
                assert ds.y.dtype.kind in "iuU"
        else:
            with pytest.raises(ValueError) as info:
                load("d.npz", data)
            assert "dtype" in one_line(str(info.value))


@pytest.mark.parametrize("y, match", [
    (np.array([b"a", b"b"] * 4), "raw bytes"),
    (np.ones(8, complex), "complex"),
    (np.array(["2020-01-01"] * 8, dtype="datetime64[D]"), "dates"),
    (np.array([0.5, 1.0] * 4), "non-integer numbers"),
    (np.array(["x" * 300] * 8), "at most 256"),
])
def test_labels_that_would_break_later_are_refused_with_the_reason(y, match):
    with pytest.raises(ValueError, match=match):
        load("d.npz", fuzz.npz_bytes(a=np.ones((8, 2)), y=y))


def test_modality_dtypes_that_would_break_later_are_refused_with_the_reason():
    if np.dtype(np.longdouble).itemsize > 8:
        with pytest.raises(ValueError, match="extended precision"):
            load("d.npz", fuzz.npz_bytes(a=np.ones((8, 2), np.longdouble)))
    with pytest.raises(ValueError, match=r"complex128 \(complex numbers\); modalities must be numeric"):
        load("d.npz", fuzz.npz_bytes(a=np.ones((8, 2), complex)))


def test_parquet_column_types_whitelist():
    base = pd.DataFrame({"a__0": [1.0, 2.0, 3.0]})
    for col, match in ((pd.to_datetime(["2020-01-01"] * 3), "dates or times"), (["x", "y", "z"], "holds text"),
                       ([[1.0], [2.0], [3.0]], "nested")):
        with pytest.raises(ValueError, match=match):
            load("p.parquet", fuzz.parquet_bytes(base.assign(a__1=col)))
    with pytest.raises(ValueError, match="raw bytes"):
        load("p.parquet", fuzz.parquet_bytes(base.assign(y=[b"a", b"b", b"a"])))
    # A nullable integer column with a null: that sample misses the modality; categorical labels are text.
    ds = load("p.parquet", fuzz.parquet_bytes(base.assign(b__0=pd.array([1, None, 3], dtype="Int64"),
                                                          y=pd.Categorical(["u", "v", "u"]))))
    assert ds.mask[:, 1].tolist() == [True, False, True] and ds.y.tolist() == ["u", "v", "u"]


# ---------------------------------------------------------------------------------------------------
# Random corruptions: a Dataset or one readable ValueError
# ---------------------------------------------------------------------------------------------------
def _check_mutations(cases):
    for fname, data in cases:
        try:
            load(fname, data, max_bytes=1 << 22)
        except ValueError as exc:
            one_line(str(exc))


def test_random_corruptions_of_good_files():
    _check_mutations(fuzz.mutations(np.random.default_rng(0), 240))
    _check_mutations((f"{name}.npz", data) for name, data in fuzz.rewritten_npy_headers(np.random.default_rng(0)))


@pytest.mark.slow
def test_random_corruptions_many():
    _check_mutations(fuzz.mutations(np.random.default_rng(1), 3000))


def test_every_csv_message_names_the_files_line():
    """One way to name a row in every message about a CSV file: its line in the file (the header is line 1,
    blank lines count), whichever check found it: the parse, or the checks of the values after it."""
    from ul4m4 import load_dataset

    def message(text):
        f = io.BytesIO(text.encode())
        f.name = "t.csv"
        with pytest.raises(ValueError) as exc:
            load_dataset(f)
        return str(exc.value)

    head = "a__0,a__1,b__0,y\n"
    good = [f"{i},{i + 1},{i},{i % 2}" for i in range(30)]
    cases = {
        "text": (good[:5] + ["1,oops,2,0"] + good[5:], "holds text in line 7 of the file"),
        "ragged": (good[:5] + ["1,2,0"] + good[5:], "line 7 of the file has 3 fields"),
        "partial": (good[:10] + ["1,,2,0"] + good[10:], "first at line 12 of the file"),
        "inf": (good[:3] + ["1,inf,2,0"] + good[3:], "first at line 5 of the file"),
        "blank lines counted": (good[:2] + ["", ""] + good[2:3] + ["1,,2,0"] + good[3:], "first at line 7 of the file"),
    }
    for name, (rows, said) in cases.items():
        got = message(head + "\n".join(rows) + "\n")
        assert said in got, (name, got)
        assert "row 1" not in got and "data row" not in got, (name, got)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_column_empty_in_every_row_is_named(kind):
    import pandas as pd

    from ul4m4 import load_dataset

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"image__0": rng.normal(size=30), "image__1": np.nan, "text__0": rng.normal(size=30),
                       "y": np.arange(30) % 2})
    f = io.BytesIO(df.to_csv(index=False).encode() if kind == "csv" else df.to_parquet(index=False))
    f.name = f"t.{kind}"
    with pytest.raises(ValueError, match=r"^column 'image__1' of modality 'image' is empty in every row while "
                                         r"its other columns hold values"):
        load_dataset(f)


def test_parquet_integers_beyond_2_53_round_as_in_an_npz():
    import pyarrow as pa
    import pyarrow.parquet as pq

    big = [2**53 + 1, 3, 5, 7, 9, 11]
    buf = io.BytesIO()
    pq.write_table(pa.table({"a__0": pa.array(big, pa.int64()), "b__0": pa.array([1.0] * 6)}), buf)
    f = io.BytesIO(buf.getvalue())
    f.name = "big.parquet"
    ds = load_dataset(f)
    assert ds.Xs[0][:, 0].tolist() == np.asarray(big, dtype=np.int64).astype(np.float64).tolist()


def test_parquet_index_metadata_cannot_hide_a_data_column():
    import pyarrow.parquet as pq

    df = pd.DataFrame({"a__0": np.arange(6.0), "a__1": np.arange(6.0) + 1, "b__0": np.ones(6)},
                      index=pd.Index(np.arange(6) * 10, name="sample"))
    buf = io.BytesIO()
    df.to_parquet(buf)  # pandas writes its index as a column, named in the metadata
    table = pq.read_table(io.BytesIO(buf.getvalue()))
    f = io.BytesIO(buf.getvalue())
    f.name = "indexed.parquet"
    assert [X.shape[1] for X in load_dataset(f).Xs] == [2, 1]  # the index is not data
    meta = json.loads(table.schema.metadata[b"pandas"])
    meta["index_columns"] = ["a__1"]  # a crafted file: a modality's column listed as the index
    crafted = table.replace_schema_metadata({**table.schema.metadata, b"pandas": json.dumps(meta).encode()})
    out = io.BytesIO()
    pq.write_table(crafted.drop(["sample"]), out)
    f = io.BytesIO(out.getvalue())
    f.name = "crafted.parquet"
    assert [X.shape[1] for X in load_dataset(f).Xs] == [2, 1]  # a__1 kept


def test_a_cell_pandas_refuses_is_read_by_rows_with_the_same_message_at_any_size():
    # "inf " (a trailing space) is a number to the row parser and not to pandas' float reader: the file's
    # larger shapes, read by pandas, gave "could not be parsed (cannot safely convert ...)".
    for rows in (5, 400):
        text = "a__0,a__1,b__0,y\ninf ,1,1,0\n" + "2,2,2,1\n" * rows
        with pytest.raises(ValueError, match=r"modality 'a': 1 observed row contains infinite values \(first at "
                                             r"line 2 of the file\)"):
            load("t.csv", text.encode())
