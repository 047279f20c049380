"""Reading the user's own files: regular files only, every limit checked on what the data will take once
loaded (rows x columns x the dtype it becomes) before anything is decompressed or parsed, parsers linear in
the input, and never a pickle. ``read_parts`` returns the parts of a dataset; ``datasets`` validates them.
"""

from __future__ import annotations

import array
import collections
import csv
import io
import os
import re
import stat
import unicodedata
import zipfile
from dataclasses import dataclass

import numpy as np

from .validation import counted, in_number

__all__ = [
    "Parts",
    "read_regular_file",
    "check_regular_file",
    "read_parts",
    "modality_dtype_problem",
    "label_dtype_problem",
    "SUFFIXES",
    "MAX_MODALITIES",
    "MAX_COLUMNS",
    "MAX_NAME_CHARS",
    "MAX_LABEL_CHARS",
]

SUFFIXES = {".npz": "npz", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
RESERVED = ("y", "mask")
# Work and pages grow with these, not only with the bytes: a file may hold at most this many modalities
# and table columns, and names and text labels at most this many characters.
MAX_MODALITIES = 64
MAX_COLUMNS = 100_000
MAX_NAME_CHARS = 256
MAX_LABEL_CHARS = 256


@dataclass
class Parts:
    """What a file holds, before validation: modality arrays and names, optional mask and labels."""

    Xs: list
    names: list
    mask: np.ndarray | None
    y: np.ndarray | None
    description: str
    # How a message names the sample at index i: the file's line for a CSV file (what an editor shows), the
    # row counted from 0 otherwise (what numpy and pandas show).
    row_name: object = None

    def name_row(self, i):
        return self.row_name(i) if self.row_name is not None else f"row {i} (counting from 0)"


def mb(nbytes):
    """Bytes as a short 'N MB' for messages."""
    v = nbytes / 2**20
    return f"{v:,.0f} MB" if v >= 10 or v == int(v) else f"{v:.1f} MB" if v >= 0.1 else f"{v:.2g} MB"


# ---------------------------------------------------------------------------------------------
# Regular files, read with a bound
# ---------------------------------------------------------------------------------------------
_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))


def _refuse_unless_regular(path, st, what):
    if stat.S_ISDIR(st.st_mode):
        raise ValueError(f"'{path}' is a directory; expected {what}.")
    if not stat.S_ISREG(st.st_mode):
        kind = next((k for test, k in _KINDS if test(st.st_mode)), "not a regular file")
        raise ValueError(f"'{path}' is {kind}, not a regular file; only regular files are read.")


def check_regular_file(path, what="a regular file"):
    """Raise unless ``path`` (followed through symbolic links) is a regular file: ``FileNotFoundError``
    if it does not exist, ``ValueError`` naming what it is otherwise."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"No such file: '{os.fspath(path)}'.") from None
    _refuse_unless_regular(os.fspath(path), st, what)


def read_regular_file(path, max_bytes, what="a regular file"):
    """The bytes of the regular file at ``path``, refusing devices, FIFOs, sockets and directories (also
    behind symbolic links) and anything over ``max_bytes``; never blocks on a FIFO.

    Raises
    ------
    FileNotFoundError
        The path does not exist.
    ValueError
        Not a regular file, or larger than ``max_bytes`` (the size is checked on the open file, and the
        read stops at ``max_bytes + 1`` bytes whatever the size claims, as for ``/proc`` files).
    OSError
        The file cannot be opened (permissions...).
    """
    path = os.fspath(path)
    name = os.path.basename(path) or path
    check_regular_file(path, what)  # before opening: a socket cannot even be opened
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)  # non-blocking: opening a FIFO with no writer returns at once
    except FileNotFoundError:
        raise FileNotFoundError(f"No such file: '{path}'.") from None
    except IsADirectoryError:
        raise ValueError(f"'{path}' is a directory; expected {what}.") from None
    except OSError as exc:
        raise OSError(f"cannot open '{path}': {exc.strerror or exc}.") from None
    try:
        st = os.fstat(fd)  # of what was opened, so a path swapped meanwhile cannot pass the check
        _refuse_unless_regular(path, st, what)
        if st.st_size > max_bytes:
            raise ValueError(f"'{name}' is {st.st_size / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB.")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        # One read of the size stat reports (one buffer, no copy), then small reads until the end, for files
        # that are longer than they say (as in /proc), up to the limit.
        chunks, total, want = [], 0, st.st_size + 1 if st.st_size else 1 << 22
        while True:
            chunk = os.read(fd, min(want, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise ValueError(f"'{name}' is larger than the limit of {max_bytes / 2**20:.0f} MB.")
            want = 1 << 22
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# Accepted dtypes
# ---------------------------------------------------------------------------------------------
_REFUSED_KINDS = {
    "c": "complex numbers",
    "U": "text",
    "S": "raw bytes",
    "O": "Python objects (a pickle), which are never loaded",
    "M": "dates",
    "m": "durations",
    "V": "structured or raw records",
}


def modality_dtype_problem(dtype):
    """Why a modality of this dtype is refused, or None if it is accepted (bool, integers, float16/32/64)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "biu" or (dtype.kind == "f" and dtype.itemsize <= 8):
        return None
    if dtype.kind == "f":
        return "extended precision, which torch cannot hold and float64 would round silently"
    return _REFUSED_KINDS.get(dtype.kind, "not a number type")


def label_dtype_problem(dtype):
    """Why labels of this dtype are refused, or None (bool, integers, integral floats, text)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "biuU" or (dtype.kind == "f" and dtype.itemsize <= 8):
        return None
    if dtype.kind == "f":
        return "extended-precision floats; save the classes as integers or text"
    reasons = {"S": "raw bytes; save the classes as text (str) or integers",
               "c": "complex numbers, which are not classes", "M": "dates, which are not classes",
               "m": "durations, which are not classes"}
    return reasons.get(dtype.kind, _REFUSED_KINDS.get(dtype.kind, "not a label type"))


def _materialised_itemsize(dtype):
    """Bytes per value once validated: float32 is kept, every other accepted dtype becomes float64."""
    return 4 if np.dtype(dtype) == np.float32 else 8


# ---------------------------------------------------------------------------------------------
# .npz
# ---------------------------------------------------------------------------------------------
def _npz_headers(zf, infos):
    """(key, shape, dtype) of every entry, from the .npy headers only (nothing else is decompressed)."""
    out = []
    for info in infos:
        if not info.filename.endswith(".npy"):
            raise ValueError(f"entry '{info.filename[:60]}' is not a .npy array; an .npz must hold numpy arrays only.")
        key = info.filename[:-4]
        if len(key) > MAX_NAME_CHARS:
            raise ValueError(f"an array name has {len(key):,} characters; at most {MAX_NAME_CHARS} are accepted.")
        try:
            with zf.open(info) as fp:
                version = np.lib.format.read_magic(fp)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
                header_len = fp.tell()
        except Exception as exc:  # corrupt zip entries raise many types
            raise ValueError(f"entry '{info.filename[:60]}' is not a valid .npy array ({str(exc)[:200]}).") from None
        if dtype.hasobject:
            raise ValueError(
                f"array '{key}' has dtype object (pickled Python objects), which is never loaded; save numeric "
                "arrays only."
            )
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if info.file_size < header_len + nbytes:
            raise ValueError(
                f"array '{key}' declares shape {shape} ({nbytes} bytes) but holds only "
                f"{info.file_size - header_len} bytes; the file is truncated or corrupt."
            )
        out.append((key, tuple(int(s) for s in shape), dtype))
    return out


def _modality_name_problem(name):
    """Why an array's name cannot name a modality (None if it can): the name must survive the table layout
    every export writes (``<modality>__<feature>``, ``y``/``y__<label>``) and one-line messages."""
    if not name.strip():
        return "is empty"
    if "__" in name:
        return "holds '__', which separates the modality from the feature in exported tables"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        return "holds control or invisible characters"
    return None


def _npz(data, fname, max_bytes, max_samples):
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise ValueError(f"not a readable .npz archive ({str(exc)[:200]}); expected numpy.savez output.") from None
    if not infos:
        raise ValueError("the .npz archive holds no arrays; expected one array per modality.")
    if len(infos) > MAX_MODALITIES + len(RESERVED):
        raise ValueError(f"the .npz archive holds {len(infos):,} entries; at most {MAX_MODALITIES} modalities "
                         "(plus 'y' and 'mask') are accepted.")
    headers = _npz_headers(zf, infos)
    keys = [k for k, _, _ in headers]
    dup = sorted(k for k, c in collections.Counter(keys).items() if c > 1)
    if dup:
        raise ValueError(f"the .npz archive holds the array {in_number(len(dup), 'name', 'names')} {dup[:5]} more than "
                         "once.")
    names = [k for k in keys if k not in RESERVED]
    if not names:
        raise ValueError("the .npz holds no modality arrays (only 'y'/'mask'); add one array per modality.")
    for name in names:
        problem = _modality_name_problem(name)
        if problem:
            raise ValueError(f"the array name {name[:60]!r} {problem}; rename the array.")
    need, rows = 0, None
    for key, shape, dtype in headers:
        if key == "y":
            problem = label_dtype_problem(dtype)
            if problem:
                raise ValueError(f"'y' has dtype {dtype}: {problem}.")
            if dtype.kind == "U" and dtype.itemsize // 4 > MAX_LABEL_CHARS:
                raise ValueError(f"'y' holds labels of up to {dtype.itemsize // 4:,} characters; a label may have at "
                                 f"most {MAX_LABEL_CHARS}.")
            need += int(np.prod(shape, dtype=object)) * max(8, dtype.itemsize)
        elif key == "mask":
            if dtype.kind not in "biuf" or dtype.itemsize > 8:
                raise ValueError(f"'mask' has dtype {dtype}; expected bool (or 0/1 numbers).")
            need += int(np.prod(shape, dtype=object)) * (1 + dtype.itemsize)
        else:
            problem = modality_dtype_problem(dtype)
            if problem:
                raise ValueError(f"array '{key}' has dtype {dtype} ({problem}); modalities must be numeric: bool, "
                                 "integers or float16/32/64.")
            if len(shape) != 2:
                raise ValueError(f"array '{key}' has shape {shape}; a modality must be 2-D (n_samples, n_features).")
            rows = shape[0] if rows is None else rows
            need += shape[0] * shape[1] * _materialised_itemsize(dtype)
    if max_samples is not None and rows > max_samples:
        raise ValueError(f"'{fname}' holds {rows:,} samples; the limit is {max_samples:,}.")
    if need > max_bytes:
        raise ValueError(f"'{fname}' would take {mb(need)} once loaded (its arrays as float64); the limit is "
                         f"{mb(max_bytes)}.")
    arrays = {}
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as f:
            for key in f.files:
                arrays[key] = f[key]
    except ValueError as exc:
        raise ValueError(f"could not read the .npz archive: {str(exc)[:200]}") from None
    except Exception as exc:
        raise ValueError(f"the .npz archive is corrupt ({type(exc).__name__}: {str(exc)[:200]}).") from None
    Xs = [arrays[k] for k in names]
    mask = arrays.get("mask")
    if mask is not None and mask.shape != (Xs[0].shape[0], len(Xs)):
        raise ValueError(
            f"'mask' has shape {mask.shape}; expected (n_samples, n_modalities) = ({Xs[0].shape[0]}, {len(Xs)})."
        )
    return Parts(Xs, names, mask, arrays.get("y"), "Uploaded .npz file.")


# ---------------------------------------------------------------------------------------------
# Tables (.csv, .parquet): columns <modality>__<feature>, y or y__<label>
# ---------------------------------------------------------------------------------------------
def _layout(cols):
    """Modality groups and label columns of a table's header; linear in the number of columns."""
    if len(cols) > MAX_COLUMNS:
        raise ValueError(f"the table has {len(cols):,} columns; at most {MAX_COLUMNS:,} are accepted.")
    long = next((c for c in cols if len(c) > MAX_NAME_CHARS), None)
    if long is not None:
        raise ValueError(f"a column name has {len(long):,} characters ('{long[:40]}...'); at most "
                         f"{MAX_NAME_CHARS} are accepted.")
    dup = sorted(c for c, k in collections.Counter(cols).items() if k > 1)
    if dup:  # pandas would silently rename them to 'name.1'
        raise ValueError(f"duplicated column {in_number(len(dup), 'name', 'names')} {dup[:5]}; every column must be "
                         "unique.")
    groups, y_cols = {}, []
    for c in cols:
        if c == "y" or c.startswith("y__"):
            y_cols.append(c)
            continue
        mod, sep, feat = c.partition("__")
        if not sep or not mod or not feat:
            raise ValueError(
                f"column '{c}' is not named '<modality>__<feature>' (for example 'image__0'); "
                "only 'y' or 'y__<label>' may stand alone."
            )
        if mod not in groups:
            problem = _modality_name_problem(mod)
            if problem:
                raise ValueError(f"column '{c[:60]}' names the modality {mod[:60]!r}, which {problem}; rename it.")
        groups.setdefault(mod, []).append(c)
        if len(groups) > MAX_MODALITIES:
            raise ValueError(f"the table has more than {MAX_MODALITIES} modalities (column prefixes); at most "
                             f"{MAX_MODALITIES} are accepted.")
    if not groups:
        raise ValueError("no modality columns found; name them '<modality>__<feature>'.")
    if "y" in y_cols and len(y_cols) > 1:
        raise ValueError("use either one 'y' column or several 'y__<label>' columns, not both.")
    return groups, y_cols


def _check_table_size(fname, n_rows, n_values, kind, max_bytes, max_samples):
    if n_rows == 0:
        raise ValueError(f"the {kind} file has 0 rows; expected data rows.")
    if max_samples is not None and n_rows > max_samples:
        raise ValueError(f"'{fname}' has {n_rows:,} rows; the limit is {max_samples:,} samples.")
    need = n_rows * n_values * 8
    if need > max_bytes:
        columns = f"{n_values:,} column{'s' * (n_values != 1)}"
        raise ValueError(f"'{fname}' would take {mb(need)} once loaded ({n_rows:,} rows x {columns} as float64); "
                         f"the limit is {mb(max_bytes)}.")


def _text_stream(data):
    # newline="" lets the csv module handle LF, CRLF and CR-only line endings (and quoted newlines).
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")


_NOT_UTF8 = "the CSV file is not UTF-8 text; expected comma-separated numbers with a header."


def _csv_scan(data):
    """Header, number of data rows and the file line of each, refusing ragged rows: one streaming pass of the
    csv module. (Blank lines are skipped, as pandas does, so a data row's line is recorded, not inferred.)"""
    reader = csv.reader(_text_stream(data))
    try:
        header = next(reader, None)
        if not header:
            raise ValueError("the CSV file has no header; expected a first line of column names.")
        if len(header) == 1:
            for sep, sname in ((";", "semicolons"), ("\t", "tabs"), ("|", "'|'")):
                if sep in header[0]:
                    raise ValueError(f"the header has one column '{header[0][:40]}': the file seems to be separated "
                                     f"by {sname}; expected commas.")
        n_rows = 0
        lines = array.array("q")
        for row in reader:
            if not row:
                continue
            # pandas pads short rows with NaN, which would look like missing modalities: refuse ragged rows.
            if len(row) != len(header):
                raise ValueError(f"line {reader.line_num} of the file has {counted(len(row), 'field')} but the header "
                                 "has "
                                 f"{len(header)}; every row needs one value per column (leave a cell empty for a "
                                 "missing value).")
            n_rows += 1
            lines.append(reader.line_num)
    except UnicodeDecodeError:
        raise ValueError(_NOT_UTF8) from None
    except csv.Error as exc:
        raise ValueError(f"the CSV file could not be parsed at line {reader.line_num} ({exc}); expected "
                         "comma-separated numbers.") from None
    return header, n_rows, lines


# pandas' default missing-value strings, so that both CSV parsers read the same cells as empty.
_NA_STRINGS = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
               "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null")


# The numbers a CSV cell may hold, as pandas' C reader reads them: ASCII digits with an optional sign,
# point and exponent, or inf / infinity in any case, with spaces around. Python's float() also takes
# "1_000", other scripts' digits and "NAN"; the row parser reads with numpy, which follows float(), so
# both parsers check cells against this one grammar and read the same file the same way.
_NUMBER = re.compile(r"[ \t]*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|(?i:inf|infinity))[ \t]*")


def _is_number(text):
    """Whether a CSV cell reads as a number or as missing (one of pandas' missing-value strings)."""
    return text in _NA_STRINGS or _NUMBER.fullmatch(text) is not None


def _first_text_cell(data, columns):
    """The first cell of ``columns`` that is not a number, as (column, value, file line): for the message."""
    reader = csv.reader(_text_stream(data))
    header = next(reader)
    wanted = set(columns)
    want = [(j, c) for j, c in enumerate(header) if c in wanted]
    for row in reader:
        if not row:
            continue
        for j, c in want:
            if j < len(row) and not _is_number(row[j]):
                return c, row[j], reader.line_num
    return None, None, None


def _text_error(column, value, line):
    return ValueError(f"column '{column}' holds text in line {line:,} of the file ({value[:40]!r}); modality columns must "
                      "be numeric (digits 0-9 with an optional sign, point and exponent, e.g. -1.5e3; an empty "
                      "cell or NaN for a missing value).")


def _check_text_size(n_rows, longest, max_bytes):
    """Refuse text labels whose numpy text array (n x longest x 4 bytes) would exceed ``max_bytes``."""
    if longest > MAX_LABEL_CHARS:
        raise ValueError(f"y holds a label of {longest:,} characters; a label may have at most {MAX_LABEL_CHARS}.")
    need = n_rows * longest * 4
    if need > max_bytes:
        raise ValueError(f"the labels would take {mb(need)} once loaded as text; the limit is {mb(max_bytes)}.")


def _labels_of(frame, y_cols, max_bytes):
    """Label columns of a parsed table; text sizes checked (vectorised) before Python strings are made."""
    import pandas as pd

    for c in y_cols:
        if not pd.api.types.is_numeric_dtype(frame[c].dtype) and not pd.api.types.is_bool_dtype(frame[c].dtype):
            col = frame[c]
            try:
                longest = col.str.len().max()  # vectorised on pandas' text columns
            except AttributeError:  # mixed objects: their text form
                longest = col.dropna().map(lambda v: len(str(v))).max()
            _check_text_size(len(frame), 0 if pd.isna(longest) else int(longest), max_bytes)
    if y_cols == ["y"]:
        return frame["y"].to_numpy()
    return frame[y_cols].to_numpy() if y_cols else None


class _ByRows(Exception):
    """pandas' reader refused a cell the row parser may read: parse by rows instead."""


def _csv_pandas(data, header, groups, y_cols, n_rows, label_bytes, lines):
    """Parse with pandas' C reader: fastest per cell, but about 0.1 ms per column."""
    import pandas as pd

    feature_cols = [c for cs in groups.values() for c in cs]
    try:
        # Feature columns are read as float64 directly: inferring a type per column costs more.
        df = pd.read_csv(io.BytesIO(data), dtype=dict.fromkeys(feature_cols, np.float64), low_memory=False)
    except ValueError as exc:
        col, value, row = _first_text_cell(data, feature_cols)
        if col is not None:
            raise _text_error(col, value, row) from None
        # A cell pandas' float reader refuses that is a number to Python's ("inf " with a space): the row
        # parser reads it as the file's smaller shapes are read, and says what is wrong with it.
        raise _ByRows(_first_line(exc)) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OverflowError) as exc:
        raise ValueError(f"the CSV file could not be parsed ({_first_line(exc)}); expected comma-separated numbers "
                         "with a header.") from None
    if list(df.columns) != header or len(df) != n_rows:
        raise ValueError(f"the CSV file could not be parsed consistently ({len(df)} rows and {df.shape[1]} columns "
                         f"read, {n_rows} and {len(header)} expected); expected plain comma-separated numbers.")
    y = _labels_of(df, y_cols, label_bytes)
    Xs = [df[cs].to_numpy(dtype=np.float64) for cs in groups.values()]
    return Xs, y


def _csv_rows(data, header, groups, y_cols, n_rows, label_bytes, lines):
    """Parse row by row with numpy string arrays: for tables with many columns and few rows, where
    pandas' cost per column would dominate. Cells are read as pandas reads them (same missing values)."""
    import pandas as pd

    text_dtype = np.dtypes.StringDType()
    na = np.array(_NA_STRINGS, dtype=text_dtype)
    pos = {c: j for j, c in enumerate(header)}
    feat = np.array([pos[c] for cs in groups.values() for c in cs], dtype=np.intp)
    bounds = np.cumsum([0] + [len(cs) for cs in groups.values()])
    Xs = [np.empty((n_rows, len(cs))) for cs in groups.values()]
    ypos = [pos[c] for c in y_cols]
    ycells = [[] for _ in ypos]
    reader = csv.reader(_text_stream(data))
    next(reader)
    i = 0
    for row in reader:
        if not row:
            continue
        cells = np.array(row, dtype=text_dtype)[feat]
        missing = np.isin(cells, na)
        cells[missing] = "nan"
        try:
            values = cells.astype(np.float64)
            # numpy reads what float() reads: refuse what pandas would (see _NUMBER) at the cost of a check
            # of the row's text, and a closer look only at rows that fail it.
            text = "".join(row[p] for p in feat)
            if not text.isascii() or "_" in text or bool((np.isnan(values) & ~missing).any()):
                raise ValueError
        except ValueError:
            j = next((j for j, v in enumerate(row[p] for p in feat) if not _is_number(v)), None)
            if j is None:
                raise ValueError(f"line {lines[i]} of the CSV file could not be read as numbers; expected "
                                 "comma-separated numbers.") from None
            raise _text_error(header[feat[j]], row[feat[j]], lines[i]) from None
        for m, X in enumerate(Xs):
            X[i] = values[bounds[m] : bounds[m + 1]]
        for k, p in enumerate(ypos):
            ycells[k].append(row[p])
        i += 1
    y = None
    if y_cols:
        _check_text_size(n_rows, max((len(v) for cells in ycells for v in cells), default=0), label_bytes)
        cols = []
        for cells in ycells:  # the type pandas would infer: numbers if every non-empty cell is one, else text
            col = pd.Series(cells, dtype=object).where(~pd.Series(cells, dtype=object).isin(_NA_STRINGS), np.nan)
            num = pd.to_numeric(col, errors="coerce")
            cols.append(num.to_numpy(dtype=np.float64) if num.notna().sum() == col.notna().sum() else col.to_numpy())
        y = cols[0] if y_cols == ["y"] else np.column_stack(cols)
    return Xs, y


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _refuse_empty_columns(Xs, groups):
    """A feature column empty in every row while its modality's other columns hold values: named, since the
    check of the values would only see rows that are partly empty (a typo in a column name, a dropped
    feature). A modality whose columns are all empty is left to the checks of the values."""
    for X, (name, cols) in zip(Xs, groups.items()):
        if X.shape[0] == 0 or X.shape[1] < 2:
            continue
        empty = np.isnan(X).all(axis=0)
        if empty.any() and not empty.all():
            listed = ", ".join(f"'{c}'" for c in np.asarray(cols)[empty][:5])
            more = f" and {int(empty.sum()) - 5} more" if empty.sum() > 5 else ""
            n = int(empty.sum())
            raise ValueError(f"{in_number(n, 'column', 'columns')} {listed}{more} of modality '{name}' "
                             f"{in_number(n, 'is', 'are')} empty in every row while its "
                             "other columns hold values; a modality's columns are all given, or all empty where "
                             "the modality is missing.")


def _csv(data, fname, max_bytes, max_samples):
    header, n_rows, lines = _csv_scan(data)
    groups, y_cols = _layout(header)
    n_cols = sum(len(cs) for cs in groups.values()) + len(y_cols)
    _check_table_size(fname, n_rows, n_cols, "CSV", max_bytes, max_samples)
    # Both parsers are linear in the file; pick the cheaper for this shape (measured costs, microseconds).
    by_rows = 8 * n_rows + 0.4 * n_rows * n_cols < 100 * n_cols + 0.1 * n_rows * n_cols
    label_bytes = max_bytes - n_rows * (n_cols - len(y_cols)) * 8  # what the features leave to text labels
    try:
        Xs, y = (_csv_rows if by_rows else _csv_pandas)(data, header, groups, y_cols, n_rows, label_bytes, lines)
    except _ByRows:
        Xs, y = _csv_rows(data, header, groups, y_cols, n_rows, label_bytes, lines)
    _refuse_empty_columns(Xs, groups)
    return Parts(Xs, list(groups), None, y, "Uploaded CSV file.", lambda i: f"line {lines[i]:,} of the file")


def _parquet_column_problem(t, label):
    import pyarrow as pa

    if label:
        if pa.types.is_integer(t) or pa.types.is_boolean(t) or pa.types.is_floating(t) or pa.types.is_string(t) \
                or pa.types.is_large_string(t) or getattr(pa.types, "is_string_view", lambda _: False)(t):
            return None
        if pa.types.is_dictionary(t) and (pa.types.is_string(t.value_type) or pa.types.is_integer(t.value_type)):
            return None
        if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
            return "raw bytes; save the classes as text or integers"
        if pa.types.is_null(t):
            return "no values at all; every sample needs a label (or drop the labels)"
    else:
        if pa.types.is_integer(t) or pa.types.is_boolean(t) or pa.types.is_floating(t) or pa.types.is_null(t):
            return None
        if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t):
            return "text"
    if pa.types.is_temporal(t):
        return "dates or times"
    if pa.types.is_decimal(t):
        return "decimal numbers; cast them to float64"
    if pa.types.is_nested(t):
        return "nested values (lists, structs or maps)"
    return f"type {t}"


class _Inconsistent(Exception):
    """A Parquet file whose data disagrees with its metadata."""


class _Refused(Exception):
    """A refusal raised while pyarrow is reading (whose own errors are ValueErrors too)."""


def _parquet_labels(data, pf, schema, y_cols, n_rows, max_bytes):
    """Label columns; text is read dictionary-encoded (each distinct label once, one index per row), as a
    compressed file of repeated long labels decoded to one string per row grows without bound, and its
    size as numpy text is checked before it is built."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    numeric = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean)
    text = [c for c in y_cols if not any(test(schema.field(c).type) for test in numeric)]
    table = (pq.ParquetFile(io.BytesIO(data), read_dictionary=text) if text else pf).read(
        columns=y_cols, use_pandas_metadata=False)
    cols = []
    for c in y_cols:
        col = table.column(c)
        if not pa.types.is_dictionary(col.type):
            cols.append(col.to_numpy(zero_copy_only=False))
            continue
        col = col.combine_chunks()
        values = col.dictionary.to_numpy(zero_copy_only=False)
        try:
            _check_text_size(n_rows, max((len(str(v)) for v in values), default=0), max_bytes)
        except ValueError as exc:
            raise _Refused(str(exc)) from None
        codes = col.indices.fill_null(0).to_numpy(zero_copy_only=False)
        out = values[codes] if values.size else np.full(n_rows, None, dtype=object)
        if col.null_count:
            out = out.astype(object)
            out[col.indices.is_null().to_numpy(zero_copy_only=False)] = None
        cols.append(out)
    return cols[0] if y_cols == ["y"] else np.column_stack(cols)


def _parquet(data, fname, max_bytes, max_samples):
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(io.BytesIO(data))
        schema = pf.schema_arrow
        n_rows = int(pf.metadata.num_rows)
    except Exception as exc:  # pyarrow raises its own error types for garbage
        raise ValueError(f"not a readable Parquet file ({type(exc).__name__}); expected a Parquet table.") from None
    index_cols = set()
    try:
        meta = schema.pandas_metadata or {}
        # pandas' index, written as a column: skipped, unless it is named as data (a crafted file listed a
        # modality's column there, and that column vanished without a word).
        index_cols = {c for c in meta.get("index_columns", []) if isinstance(c, str) and "__" not in c.strip("_")
                      and c != "y"}
    except Exception:  # no or unreadable pandas metadata: every column is data
        pass
    cols = [str(n) for n in schema.names if n not in index_cols]
    if len(cols) > MAX_COLUMNS:
        raise ValueError(f"the table has {len(cols):,} columns; at most {MAX_COLUMNS:,} are accepted.")
    groups, y_cols = _layout(cols)
    for c in cols:
        problem = _parquet_column_problem(schema.field(c).type, c in y_cols)
        if problem:
            raise ValueError(f"column '{c}' holds {problem}." if c in y_cols
                             else f"column '{c}' holds {problem}; modality columns must be numeric.")
    _check_table_size(fname, n_rows, sum(len(cs) for cs in groups.values()) + len(y_cols), "Parquet",
                      max_bytes, max_samples)
    try:
        y = _parquet_labels(data, pf, schema, y_cols, n_rows, max_bytes) if y_cols else None  # cheap refusals first
        Xs = []
        for cs in groups.values():
            X = np.empty((n_rows, len(cs)))
            table = pf.read(columns=cs, use_pandas_metadata=False)
            if table.num_rows != n_rows:
                raise _Inconsistent(f"it holds {table.num_rows} rows where its metadata says {n_rows}")
            for j, c in enumerate(cs):
                col = table.column(c)
                # Integers beyond 2**53 round to the nearest float64, as numpy's astype does for an .npz (a safe
                # cast refused them as unreadable Parquet).
                X[:, j] = pc.cast(col, pa.float64(), safe=not pa.types.is_integer(col.type)).to_numpy(
                    zero_copy_only=False)
            del table
            Xs.append(X)
    except _Refused as exc:
        raise ValueError(str(exc)) from None
    except _Inconsistent as exc:
        raise ValueError(f"the Parquet file is not consistent: {exc}.") from None
    except Exception as exc:  # pyarrow's own errors for corrupt data
        raise ValueError(f"the Parquet file could not be read ({type(exc).__name__}); expected a Parquet "
                         "table.") from None
    _refuse_empty_columns(Xs, groups)
    return Parts(Xs, list(groups), None, y, "Uploaded Parquet file.")


def read_parts(data, fname, kind, max_bytes, max_samples=None):
    """Parse a file's bytes (``kind`` one of "npz", "csv", "parquet"), checking what it would take once
    loaded against ``max_bytes`` and its samples against ``max_samples`` before decompressing or parsing."""
    if kind == "npz":
        return _npz(data, fname, max_bytes, max_samples)
    if kind == "csv":
        return _csv(data, fname, max_bytes, max_samples)
    return _parquet(data, fname, max_bytes, max_samples)
