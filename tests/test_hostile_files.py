"""More than 200 broken or hostile files through the loader the app uses: each is refused with a
readable ValueError (OSError for a path that does not exist), nothing pickled ever runs, and memory stays
bounded while refusing (measured in a fresh process: tracemalloc's start/stop races with other threads
on Python 3.11)."""

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ul4m4 import load_dataset

MARKER = Path(os.environ.get("TMPDIR", "/tmp")) / f"ul4m4_pickle_ran_{os.getpid()}"


class Evil:
    """Unpickling this creates MARKER: proof that a pickle was executed."""

    def __reduce__(self):
        return (Path.touch, (MARKER,))


def npz(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def npy(arr):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=True)
    return buf.getvalue()


def zip_of(entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def lying_header(shape, dtype="<f8", payload=b"\0" * 16):
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    return zip_of({"a.npy": buf.getvalue() + payload})


def table(df, kind):
    buf = io.BytesIO()
    if kind == "csv":
        df.to_csv(buf, index=False)
    else:
        df.to_parquet(buf, index=False)
    return buf.getvalue()


GOOD = pd.DataFrame({"a__0": [1.0, 2.0, 3.0], "a__1": [0.5, 0.1, 0.2], "b__0": [1.0, 2.0, 4.0], "y": [0, 1, 0]})
GOOD_NPZ = npz(a=np.random.default_rng(0).normal(size=(50, 4)), b=np.ones((50, 2)), y=np.arange(50) % 2)
GOOD_PARQUET = table(GOOD, "parquet")


def cases():
    c = []
    add = lambda name, fname, data, match=None: c.append(pytest.param(fname, data, match, id=name))  # noqa: E731
    rng = np.random.default_rng(0)
    # Empty files and random bytes.
    for ext in ("npz", "csv", "parquet"):
        add(f"empty-{ext}", f"e.{ext}", b"", "empty")
    for i, size in enumerate([1, 2, 7, 64, 512, 4096, 65536]):
        for ext in ("npz", "csv", "parquet"):
            add(f"random-{size}-{ext}", f"r{i}.{ext}", rng.integers(0, 256, size, dtype=np.uint8).tobytes())
    for i in range(10):  # random bytes that start like the real thing
        add(f"fake-zip-{i}", "f.npz", b"PK\x03\x04" + rng.bytes(100 + 50 * i))
        add(f"fake-parquet-{i}", "f.parquet", b"PAR1" + rng.bytes(100 + 50 * i) + b"PAR1")
    # Truncated archives.
    for frac in np.linspace(0.05, 0.95, 19):
        add(f"truncated-npz-{frac:.2f}", "t.npz", GOOD_NPZ[: int(len(GOOD_NPZ) * frac)])
        add(f"truncated-parquet-{frac:.2f}", "t.parquet", GOOD_PARQUET[: int(len(GOOD_PARQUET) * frac)])
    # Pickles, under every name.
    payloads = {
        "evil": pickle.dumps(Evil()),
        "evil-list": pickle.dumps([1, Evil()]),
        "dict": pickle.dumps({"a": np.ones((3, 3))}),
        "ndarray": pickle.dumps(np.ones((3, 3))),
    }
    for name, data in payloads.items():
        for ext in ("pkl", "pickle", "npy", "joblib", "npz", "csv", "parquet"):
            add(f"pickle-{name}-{ext}", f"p.{ext}", data)
    for name, obj in (("evil", Evil()), ("dict", {"x": 1}), ("none", None), ("list", [1, 2]), ("str", "s")):
        arr = np.empty(2, dtype=object)
        arr[0] = obj
        add(f"npz-object-array-{name}", "o.npz", zip_of({"a.npy": npy(arr)}), "dtype object")
    add("npz-object-2d", "o.npz", zip_of({"a.npy": npy(np.array([[Evil(), 1]], dtype=object)), "b.npy": npy(np.ones((1, 2)))}),
        "dtype object")
    add("npy-inside-zip-as-pickle", "o.npz", zip_of({"a.npy": pickle.dumps(Evil())}), "not a valid .npy")
    # Headers that lie, and honest headers beyond the limit.
    for shape in [(10**6, 10**6), (2**40,), (10**5, 10**4), (3, 3)]:
        add(f"lying-header-{shape}", "l.npz", lying_header(shape), None)
    add("lying-dtype", "l.npz", lying_header((100, 100), "<c16"), None)
    add("honest-but-too-big", "big.npz", npz(a=np.zeros((600, 600))), "limit")
    add("non-npy-entry", "x.npz", zip_of({"readme.txt": b"hello"}), "not a .npy array")
    add("empty-zip", "x.npz", zip_of({}), "holds no arrays")
    add("nested-zip", "x.npz", zip_of({"inner.zip": GOOD_NPZ}), "not a .npy array")
    # Shapes and types.
    add("rows-mismatch", "m.npz", npz(a=np.ones((5, 2)), b=np.ones((4, 2))), "same number of rows")
    add("rows-mismatch-3", "m.npz", npz(a=np.ones((5, 2)), b=np.ones((5, 2)), c=np.ones((6, 1))), "same number of rows")
    add("1d", "d.npz", npz(a=np.ones(5)), "must be 2-D")
    add("3d", "d.npz", npz(a=np.ones((5, 2, 2))), "must be 2-D")
    add("0d", "d.npz", npz(a=np.array(3.0)), "must be 2-D")
    add("0-features", "d.npz", npz(a=np.ones((5, 0))), "0 features")
    add("strings", "s.npz", npz(a=np.array([["a", "b"], ["c", "d"]])), "numeric")
    add("bytes", "s.npz", npz(a=np.array([[b"a", b"b"]])), "numeric")
    add("complex", "s.npz", npz(a=np.ones((3, 2), dtype=complex)), "numeric")
    add("datetime", "s.npz", npz(a=np.array([["2020-01-01"]], dtype="datetime64[D]")), "numeric")
    add("structured", "s.npz", npz(a=np.zeros(3, dtype=[("x", "f8"), ("y", "f8")])), None)
    add("only-y", "s.npz", npz(y=np.ones(3)), "no modality arrays")
    add("only-mask", "s.npz", npz(mask=np.ones((3, 1), bool)), "no modality arrays")
    # Names that would not survive an export's <modality>__<feature> table, or a one-line message.
    for label, name, problem in (("double-underscore", "img__v1", "holds '__'"), ("label-like", "y__0", "holds '__'"),
                                 ("empty-name", "", "is empty"), ("blank-name", "  ", "is empty"),
                                 ("newline-name", "a\nb", "control or invisible"),
                                 ("zero-width-name", "a\u200bb", "control or invisible")):
        add(f"npz-{label}", "n.npz", zip_of({f"{name}.npy": npy(np.ones((3, 2)))}), problem)
    # Values.
    part = np.ones((4, 3))
    part[1, 0] = np.nan
    add("partly-missing-npz", "p.npz", npz(a=part), "NaN in some but not all")
    inf = np.ones((4, 3))
    inf[2, 2] = np.inf
    add("inf-npz", "i.npz", npz(a=inf), "infinite")
    add("neg-inf-npz", "i.npz", npz(a=-inf), "infinite")
    add("zero-samples", "z.npz", npz(a=np.ones((0, 3))), "0 samples")
    empty_row = np.ones((4, 2))
    empty_row[3] = np.nan
    add("nothing-observed", "n.npz", npz(a=empty_row, b=empty_row), "no modality at all")
    add("all-missing", "n.npz", npz(a=np.full((3, 2), np.nan)), "no modality at all")
    # Labels and masks.
    add("y-too-long", "y.npz", npz(a=np.ones((3, 2)), y=np.arange(4)), "y has shape")
    add("y-too-short", "y.npz", npz(a=np.ones((3, 2)), y=np.arange(2)), "y has shape")
    add("y-3d", "y.npz", npz(a=np.ones((3, 2)), y=np.ones((3, 2, 2))), "y has shape")
    add("y-nan", "y.npz", npz(a=np.ones((3, 2)), y=np.array([0.0, np.nan, 1.0])), "NaN")
    add("y-multilabel-not-binary", "y.npz", npz(a=np.ones((3, 2)), y=np.full((3, 2), 3)), "0/1")
    add("mask-shape", "k.npz", npz(a=np.ones((3, 2)), mask=np.ones((3, 2), bool)), "'mask' has shape")
    add("mask-values", "k.npz", npz(a=np.ones((3, 2)), mask=np.full((3, 1), 7)), "mask must be boolean")
    add("mask-empty-row", "k.npz", npz(a=np.ones((3, 2)), mask=np.array([[True], [False], [True]])), "no modality at all")
    add("mask-observed-nan", "k.npz", npz(a=np.full((3, 2), np.nan), mask=np.ones((3, 1), bool)), "NaN")
    # Tables.
    for kind in ("csv", "parquet"):
        text = GOOD.astype({"a__1": str})  # a text column (pyarrow cannot store mixed types)
        text.loc[1, "a__1"] = "hello"
        add(f"text-cell-{kind}", f"t.{kind}", table(text, kind), "holds text")
        add(f"no-prefix-{kind}", f"t.{kind}", table(GOOD.rename(columns={"a__0": "a0"}), kind), "is not named")
        add(f"empty-prefix-{kind}", f"t.{kind}", table(GOOD.rename(columns={"a__0": "__0"}), kind), "is not named")
        add(f"empty-feature-{kind}", f"t.{kind}", table(GOOD.rename(columns={"a__0": "a__"}), kind), "is not named")
        add(f"only-y-{kind}", f"t.{kind}", table(GOOD[["y"]], kind), "no modality columns")
        part = GOOD.copy()
        part.loc[0, "a__1"] = np.nan
        add(f"partly-missing-{kind}", f"t.{kind}", table(part, kind), "NaN in some but not all")
        allna = GOOD.copy()
        allna.loc[2, ["a__0", "a__1", "b__0"]] = np.nan
        add(f"nothing-observed-{kind}", f"t.{kind}", table(allna, kind), "no modality at all")
        inf = GOOD.copy()
        inf.loc[0, "b__0"] = np.inf
        add(f"inf-{kind}", f"t.{kind}", table(inf, kind), "infinite")
        add(f"zero-rows-{kind}", f"t.{kind}", table(GOOD.iloc[:0], kind), None)
        ynan = GOOD.astype({"y": float})
        ynan.loc[1, "y"] = np.nan
        add(f"y-nan-{kind}", f"t.{kind}", table(ynan, kind), "NaN")
        both = GOOD.assign(**{"y__x": [1, 0, 1]})
        add(f"y-and-ylabels-{kind}", f"t.{kind}", table(both, kind), "either one 'y' column")
        add(f"y-labels-not-binary-{kind}", f"t.{kind}", table(GOOD.drop(columns="y").assign(y__a=[1, 2, 3]), kind), "0/1")
        add(f"control-modality-{kind}", f"t.{kind}", table(GOOD.rename(columns={"b__0": "b\tc__0"}), kind),
            "control or invisible")
        bools = GOOD.assign(a__0=["yes", "no", "yes"])
        add(f"yes-no-{kind}", f"t.{kind}", table(bools, kind), "holds text")
    add("duplicate-columns-csv", "d.csv", b"a__0,a__0,y\n1,2,0\n3,4,1\n", "duplicated column")
    add("duplicate-columns-3-csv", "d.csv", b"a__0,b__0,a__0\n1,2,3\n", "duplicated column")
    add("ragged-long-csv", "r.csv", b"a__0,b__0\n1,2\n3,4,5,6\n7,8\n", "line 3 of the file has 4 fields")
    add("ragged-short-csv", "r.csv", b"a__0,b__0,c__0\n1,2,3\n4\n5,6,7\n", "line 3 of the file has 1 field but")
    add("ragged-many-csv", "r.csv", b"a__0,b__0\n" + b"1,2\n" * 50 + b"1,2,3,4,5\n", "line 52 of the file has 5 fields")
    add("header-only-csv", "h.csv", b"a__0,b__0\n", "0 rows")
    add("latin1-csv", "l.csv", "a__0,b__0\n1,2\ncaf\xe9,3\n".encode("latin-1"), None)
    add("utf16-csv", "u.csv", "a__0,b__0\n1,2\n".encode("utf-16"), None)
    add("binary-csv", "b.csv", bytes(range(256)) * 4, None)
    add("quotes-csv", "q.csv", b'a__0,b__0\n"1,2\n3,4\n', None)
    add("semicolons-csv", "s.csv", b"a__0;b__0\n1;2\n3;4\n", "separated by semicolons")
    add("tabs-csv", "s.csv", b"a__0\tb__0\n1\t2\n", "separated by tabs")
    add("npz-named-csv", "x.csv", GOOD_NPZ, None)
    add("csv-named-npz", "x.npz", table(GOOD, "csv"), "not a readable .npz")
    add("parquet-named-npz", "x.npz", GOOD_PARQUET, "not a readable .npz")
    add("csv-named-parquet", "x.parquet", table(GOOD, "csv"), "not a readable Parquet")
    for ext in ("txt", "json", "h5", "xlsx", "", "npz.exe"):
        add(f"extension-{ext or 'none'}", f"data.{ext}" if ext else "data", b"a__0\n1\n", "unsupported extension")
    return c


CASES = cases()


def test_there_are_at_least_200_cases():
    assert len(CASES) >= 200


@pytest.mark.parametrize("fname, data, match", CASES)
def test_refused_readably_without_running_pickles(fname, data, match):
    f = io.BytesIO(data)
    f.name = fname
    with pytest.raises(ValueError) as info:
        load_dataset(f, max_bytes=2**20)
    msg = str(info.value)
    assert len(msg) > 20 and "\n" not in msg.strip() and "Traceback" not in msg
    if match:
        assert match in msg, msg
    assert not MARKER.exists(), "a pickle was executed"


MEMORY_CHILD = """
import io, resource, sys
sys.path.insert(0, {tests!r}); sys.path.insert(0, {root!r})
from test_hostile_files import CASES
from ul4m4 import load_dataset
def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
base = peak_mb()  # the peak so far (imports), before any file is read
refused = 0
for case in CASES:
    fname, data, _ = case.values
    f = io.BytesIO(data); f.name = fname
    try:
        load_dataset(f, max_bytes=2**20)
    except ValueError:
        refused += 1
print(refused, peak_mb() - base)
"""


def test_memory_stays_bounded_while_refusing():
    """All cases in a fresh process: the peak resident memory barely grows while they are refused."""
    import subprocess
    import sys

    here = Path(__file__).resolve().parent
    code = MEMORY_CHILD.format(tests=str(here), root=str(here.parent))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=here.parent)
    refused, grew_mb = out.stdout.split()
    assert int(refused) == len(CASES)
    assert float(grew_mb) < 64, f"peak memory grew by {grew_mb} MB while refusing"


def test_paths_directories_and_missing(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        load_dataset(str(tmp_path))
    for p in (tmp_path / "missing.npz", "/definitely/not/here.csv"):
        with pytest.raises(OSError, match="No such file"):
            load_dataset(p)


def test_good_files_still_load():
    f = io.BytesIO(GOOD_NPZ)
    f.name = "good.npz"
    assert load_dataset(f).n_samples == 50
    for kind in ("csv", "parquet"):
        f = io.BytesIO(table(GOOD, kind))
        f.name = f"good.{kind}"
        assert load_dataset(f).dims == [2, 1]


def teardown_module():
    assert not MARKER.exists(), "a pickle was executed"
