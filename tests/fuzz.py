"""Generators of hostile and odd inputs, by class, shared by the tests and the benchmarks.

Each generator is seeded and sized by its arguments, so the default test run uses a fast sample and the
slow tests (``@pytest.mark.slow``) a larger one. Classes:

- ``amplifying_files``: small files whose data would take far more memory once loaded than the file's
  size (zip bombs of narrow dtypes, run-length-encoded Parquet, empty CSV cells, long text labels, many
  tiny modalities): the loader must refuse them, before materialising, with the number in the message;
- ``special_paths``: paths that are not regular files (devices, FIFOs, sockets, directories, symbolic
  links to them): refused at once, never read, never a hang;
- ``dtype_cases``: every numpy dtype as a modality and as labels, with whether it is accepted;
- ``csv_texts``: random CSV texts from a small grammar (numbers, blanks, text, quotes, CR/LF/CRLF, long
  fields, NUL bytes, BOMs): a Dataset or a ValueError, never another exception;
- ``mutations``: random byte-level corruptions of good files;
- ``accepted_files``: odd files the loader accepts, which every page of the app must survive.
"""

from __future__ import annotations

import io
import os
import socket
import zipfile

import numpy as np
import pandas as pd


def npz_bytes(compressed=True, **arrays):
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def parquet_bytes(df):
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def csv_bytes(df):
    return df.to_csv(index=False).encode()


# ---------------------------------------------------------------------------------------------------
# Work and memory that grow faster than the file
# ---------------------------------------------------------------------------------------------------
def amplifying_files(limit):
    """(id, file name, bytes) of files at most ``limit`` bytes long whose data would take more than
    ``limit`` bytes once loaded (as float64, or as numpy text for labels)."""
    out = []
    n = limit // 5  # (n, 1) narrow arrays: n bytes stored, 8 n once loaded as float64
    for dt in ("uint8", "bool", "int8", "float16"):
        out.append((f"npz-bomb-{dt}", "bomb.npz", npz_bytes(a=np.zeros((n, 1), dtype=dt))))
    out.append(("npz-bomb-labels", "bomb.npz", npz_bytes(a=np.zeros((n // 2, 1), dtype="uint8"),
                                                           y=np.zeros(n // 2, dtype="uint8"))))
    out.append(("npz-many-modalities", "many.npz", npz_bytes(**{f"m{i}": np.ones((2, 1)) for i in range(200)})))
    rows = limit // 4  # a constant column: run-length encoded to a few bytes per million rows
    out.append(("parquet-rle", "rle.parquet", parquet_bytes(pd.DataFrame({"a__0": np.ones(rows)}))))
    out.append(("parquet-dictionary-labels", "dict.parquet", parquet_bytes(pd.DataFrame(
        {"a__0": np.zeros(rows // 4), "y": pd.Categorical(["x" * 200, "y"] * (rows // 8))}))))
    M = 64  # one observed value per row, 63 empty cells: 64 bytes of file, 512 once loaded
    header = ",".join(f"m{i}__0" for i in range(M)).encode() + b"\n"
    body = (b"1" + b"," * (M - 1) + b"\n") * ((limit - len(header)) // (M + 1))
    out.append(("csv-empty-cells", "empty.csv", header + body))
    label = "L" * 200  # a 200-character label is 800 bytes as numpy text
    k = limit // 210
    out.append(("csv-long-labels", "labels.csv", ("a__0,y\n" + f"1,{label}\n" * k).encode()))
    wide = 2000  # a wide table of empty cells: 1 byte per cell in the file, 8 once loaded
    head = (",".join(f"a__{j}" for j in range(wide)) + "\n" + ",".join("1" * wide) + "\n").encode()
    rows = (limit - len(head)) // wide
    out.append(("csv-wide-empty", "wide.csv", head + (b"1" + b"," * (wide - 1) + b"\n") * rows))
    out.append(("csv-many-modalities", "mods.csv", (",".join(f"m{j}__0" for j in range(5000)) + "\n"
                                                    + ",".join("1" * 5000) + "\n").encode()))
    return [c for c in out if len(c[2]) <= limit]


# ---------------------------------------------------------------------------------------------------
# Paths that are not regular files
# ---------------------------------------------------------------------------------------------------
def special_paths(tmp):
    """(id, path) of things that are not regular files, created under the folder ``tmp``."""
    tmp = str(tmp)
    out = [("dev-zero", "/dev/zero"), ("dev-urandom", "/dev/urandom"), ("dev-null", "/dev/null")]
    for ext in ("csv", "npz", "parquet", "json"):
        for target in ("/dev/zero", "/dev/urandom"):
            link = os.path.join(tmp, f"to{os.path.basename(target)}.{ext}")
            os.symlink(target, link)
            out.append((f"symlink-{ext}-{os.path.basename(target)}", link))
        fifo = os.path.join(tmp, f"fifo.{ext}")
        os.mkfifo(fifo)
        out.append((f"fifo-{ext}", fifo))
        d = os.path.join(tmp, f"folder.{ext}")
        os.mkdir(d)
        out.append((f"directory-{ext}", d))
        link = os.path.join(tmp, f"tofifo.{ext}")
        os.symlink(fifo, link)
        out.append((f"symlink-fifo-{ext}", link))
    sock_path = os.path.join(tmp, "sock.csv")
    s = socket.socket(socket.AF_UNIX)
    s.bind(sock_path)
    s.close()
    out.append(("socket-csv", sock_path))
    return out


# ---------------------------------------------------------------------------------------------------
# Dtypes
# ---------------------------------------------------------------------------------------------------
def dtype_cases():
    """(dtype, accepted as a modality, accepted as labels) for every kind numpy has, in both byte orders."""
    cases = []
    for name in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16",
                 "float32", "float64"):
        cases.append((np.dtype(name), True, True))
        if np.dtype(name).itemsize > 1:
            cases.append((np.dtype(name).newbyteorder(">"), True, True))
    if np.dtype(np.longdouble).itemsize > 8:
        cases.append((np.dtype(np.longdouble), False, False))
    for name in ("complex64", "complex128", "datetime64[D]", "timedelta64[s]", "S4", "V8"):
        cases.append((np.dtype(name), False, False))
    cases.append((np.dtype("U4"), False, True))  # text: labels yes, modality no
    cases.append((np.dtype([("a", "f8"), ("b", "f8")]), False, False))
    return cases


def array_of(dtype, shape, rng):
    """A valid array of ``dtype`` (labels 0/1 style values, so that integral checks pass)."""
    vals = rng.integers(0, 2, size=shape)
    if dtype.kind == "U":
        return vals.astype(str).astype(dtype)
    if dtype.kind == "S":
        return vals.astype(str).astype(dtype)
    if dtype.kind == "M":
        return (np.datetime64("2020-01-01") + vals).astype(dtype)
    if dtype.kind == "m":
        return vals.astype(dtype)
    if dtype.kind == "V":
        return np.zeros(shape, dtype=dtype)
    return vals.astype(dtype)


# ---------------------------------------------------------------------------------------------------
# CSV texts from a small grammar
# ---------------------------------------------------------------------------------------------------
_CELLS = ["1", "-2.5", "3e4", "", " ", "nan", "inf", "-inf", "1e400", "0x10", "1_000", "abc", '"1"', '"a,b"',
          '"multi\nline"', '"unclosed', "\x00", "é", "1;2", "\t", "True", "∞", "١٢", "1.5.6", "--1", "NaN",
          "NA", "null", "+1", ".5", "5.", "1e-400", "9" * 400]
_NEWLINES = ["\n", "\r\n", "\r"]


def csv_texts(rng, n):
    """``n`` random CSV files (bytes): a header of ``<modality>__<feature>`` names (sometimes broken) and
    rows of random cells, separators and line endings."""
    out = []
    for _ in range(n):
        ncol = int(rng.integers(1, 6))
        names = [f"m{int(rng.integers(0, 3))}__{j}" for j in range(ncol)]
        if rng.random() < 0.2:
            names.append("y")
        if rng.random() < 0.1:
            names[int(rng.integers(len(names)))] = str(rng.choice(["", "x", "__", "a__", "y__z", "a" * 300]))
        nl = str(rng.choice(_NEWLINES)) if rng.random() < 0.8 else None
        lines = [",".join(names)]
        for _ in range(int(rng.integers(0, 8))):
            width = len(names) if rng.random() < 0.85 else int(rng.integers(0, len(names) + 3))
            lines.append(",".join(str(rng.choice(_CELLS)) if rng.random() < 0.3 else str(round(float(rng.normal()), 3))
                                  for _ in range(width)))
        text = "".join(line + (nl or str(rng.choice(_NEWLINES))) for line in lines)
        if rng.random() < 0.1:
            text = "\ufeff" + text
        if rng.random() < 0.1:
            text += "x" * int(rng.integers(1, 200_000))
        data = text.encode("utf-8")
        if rng.random() < 0.05:
            data = text.encode("utf-16")
        out.append(data)
    return out


# ---------------------------------------------------------------------------------------------------
# Random corruptions of good files
# ---------------------------------------------------------------------------------------------------
def good_files(rng):
    """(file name, bytes) of small valid files of each format."""
    X = np.round(rng.normal(size=(30, 3)), 3)
    Y = np.round(rng.normal(size=(30, 2)), 3)
    Y[:4] = np.nan
    y = np.arange(30) % 3
    df = pd.DataFrame({"a__0": X[:, 0], "a__1": X[:, 1], "a__2": X[:, 2], "b__0": Y[:, 0], "b__1": Y[:, 1], "y": y})
    return [("g.npz", npz_bytes(a=X, b=Y, y=y)), ("g.npz", npz_bytes(compressed=False, a=X, b=Y, y=y)),
            ("g.csv", csv_bytes(df)), ("g.parquet", parquet_bytes(df))]


def mutations(rng, n):
    """``n`` (file name, bytes) corruptions of good files: flipped, inserted, deleted or duplicated bytes,
    truncations, and zip entries whose declared sizes or dtypes were rewritten."""
    base = good_files(rng)
    out = []
    for i in range(n):
        fname, data = base[i % len(base)]
        data = bytearray(data)
        for _ in range(int(rng.integers(1, 6))):
            op = int(rng.integers(0, 5))
            pos = int(rng.integers(0, max(len(data), 1)))
            if op == 0 and data:
                data[pos % len(data)] ^= 1 << int(rng.integers(0, 8))
            elif op == 1:
                data[pos:pos] = rng.bytes(int(rng.integers(1, 16)))
            elif op == 2:
                del data[pos : pos + int(rng.integers(1, 16))]
            elif op == 3:
                data = data[: pos + 1]
            else:
                chunk = data[pos : pos + int(rng.integers(1, 64))]
                data[pos:pos] = chunk * int(rng.integers(1, 50))
        out.append((fname, bytes(data)))
    return out


def rewritten_npy_headers(rng):
    """(name, bytes) .npz files whose single entry's header was rewritten to another shape or dtype."""
    out = []
    raw = io.BytesIO()
    np.lib.format.write_array(raw, np.ones((4, 3)))
    raw = raw.getvalue()
    for descr in ("'<f8'", "'|u1'", "'<c16'", "'|O'", "'<U1000000'", "'>f8'", "'<f16'", "[('a','<f8')]"):
        for shape in ("(4, 3)", "(4,)", "(0, 3)", "(2**62, 2)", "(10**12, 10**12)", "(4, -3)", "()"):
            head = raw.replace(b"'<f8'", descr.encode(), 1).replace(b"(4, 3)", shape.encode(), 1)
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as z:
                z.writestr("a.npy", head)
            out.append((f"npy-{descr}-{shape}", buf.getvalue()))
    return out


# ---------------------------------------------------------------------------------------------------
# Odd files the loader accepts
# ---------------------------------------------------------------------------------------------------
def accepted_files(rng):
    """(id, file name, bytes) of unusual files that load: every page must draw them or say why it cannot."""
    out = []
    n = 60

    def normal(*shape):
        return rng.normal(size=shape)

    out.append(("tiny-two-samples", "two.csv", b"a__0,y\n1.5,0\n2.5,1\n"))
    out.append(("one-feature-no-labels", "one.npz", npz_bytes(a=normal(n, 1))))
    out.append(("64-modalities", "wide.npz", npz_bytes(**{f"m{i}": normal(n, 1) for i in range(64)},
                                                        y=np.arange(n) % 3)))
    out.append(("dtypes-mixed", "dt.npz", npz_bytes(
        f16=normal(n, 2).astype(np.float16), f32=normal(n, 2).astype(np.float32),
        i8=rng.integers(-5, 5, (n, 2)).astype(np.int8), u64=rng.integers(0, 2**60, (n, 2), dtype=np.uint64),
        b=rng.random((n, 2)) < 0.5, be=normal(n, 2).astype(">f8"), y=(np.arange(n) % 2).astype(bool))))
    text = pd.DataFrame({"a__0": normal(n), "b__0": normal(n),
                         "y": [f"<b>class</b> {i % 4} $x$ **bold** é" for i in range(n)]})
    out.append(("text-labels-markup", "text.csv", csv_bytes(text)))
    out.append(("each-sample-its-class", "classes.parquet", parquet_bytes(pd.DataFrame(
        {"a__0": normal(n), "b__0": normal(n), "y": np.arange(n)}))))
    out.append(("single-class", "single.npz", npz_bytes(a=normal(n, 3), y=np.zeros(n, int))))
    ml = pd.DataFrame({"a__0": normal(n), "b__0": normal(n), "y__x": rng.integers(0, 2, n),
                       "y__z": rng.integers(0, 2, n)})
    out.append(("multilabel", "ml.csv", csv_bytes(ml)))
    big = normal(n, 3) * 1e14
    tiny = normal(n, 3) * 1e-300
    const = np.ones((n, 2))
    out.append(("extreme-magnitudes", "mag.npz", npz_bytes(big=big, tiny=tiny, const=const, y=np.arange(n) % 2)))
    sparse = normal(n, 2)
    sparse[1:] = np.nan  # observed in one sample only
    out.append(("modality-observed-once", "once.npz", npz_bytes(a=normal(n, 2), rare=sparse, y=np.arange(n) % 2)))
    names = {"x" * 250: normal(n, 1), "<script>alert(1)</script>": normal(n, 1), "ünï çødé": normal(n, 1)}
    out.append(("odd-names", "names.npz", npz_bytes(**names, y=np.arange(n) % 2)))
    masked = normal(n, 2)
    masked[::3] = np.inf  # unobserved rows may hold anything
    mask = np.ones((n, 2), bool)
    mask[::3, 0] = False
    out.append(("mask-hides-inf", "mask.npz", npz_bytes(a=masked, b=normal(n, 2), mask=mask, y=np.arange(n) % 2)))
    return out


# ---------------------------------------------------------------------------------------------------
# Command line: ill-typed manifests
# ---------------------------------------------------------------------------------------------------
HOSTILE_JSON_VALUES = [None, [], {}, "x", -1, 0, 10**30, float("nan"), float("inf"), True, 2.5, [1, "a"],
                       {"a": {"b": []}}, "ul4m4", ["ul4m4"] * 3, "", "9" * 5000]


def small_manifest():
    """A manifest that runs in a fraction of a second: breast cancer, MCAR, the mean baseline."""
    return {"dataset": {"name": "breast_cancer"},
            "missingness": {"mechanism": "mcar", "rate": 0.3, "keep_probs": None, "pattern_freqs": None, "pm": None,
                            "ps": None, "strength": 2.0, "apply_to": "both", "test_size": 0.3, "seed": 0},
            "run": {"methods": ["mean"], "n_clusters": 2, "init": "k-means++", "max_iter": 20, "seed": 0,
                    "device": "cpu", "dtype": "float32"}}


def manifest_variants(rng, n):
    """``n`` manifests (JSON text) with one leaf or section replaced by a hostile value, plus documents
    that are not manifests at all (deep nesting, other JSON types, non-UTF-8 bytes)."""
    import json

    out = [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000, b"[]", b"5", b'"manifest"',
           b"\xff\xfe\x00{", b"{" + b" " * 10, json.dumps({"dataset": {}, "missingness": {}}).encode()]
    paths = []
    base = small_manifest()
    for sec, fields in base.items():
        paths.append((sec,))
        paths += [(sec, f) for f in fields]
    paths += [("dataset", "options"), ("dataset", "source"), ("dataset", "sha256")]
    for _ in range(n):
        man = small_manifest()
        path = paths[int(rng.integers(len(paths)))]
        value = HOSTILE_JSON_VALUES[int(rng.integers(len(HOSTILE_JSON_VALUES)))]
        target = man
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        out.append(json.dumps(man).encode())
    return out
