"""Multimodal data on disk, larger than memory: a Zarr group or a folder of ``.npy`` files, opened as dask
arrays and written back chunk by chunk (the ``scale`` extra: dask, zarr).

Layout, both kinds: one 2-D array per modality, all with the same number of rows, and optionally a bool
(or 0/1) array ``mask`` of shape (n_samples, n_modalities), True where observed; without it a row of NaN
marks a missing modality. Modalities are taken in the order of the store's ``modalities`` list (the Zarr
group's attribute, or ``ul4m4.json`` in a folder, as ``write_store`` writes them) when it has one, else in
the order of their names (``<name>.npy`` in a folder).
"""

from __future__ import annotations

import errno
import itertools
import json
import math
import os
import secrets
import shutil
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .files import check_regular_file
from .validation import check_modality_dtype, warn

__all__ = ["Store", "open_store", "write_store", "completed_path", "default_chunk_rows", "CHUNK_BYTES"]

# Rows per dask chunk: about this many bytes of all modalities together (a task then holds a few such
# copies: the chunk, its standardised copy, the completed output).
CHUNK_BYTES = 64 << 20
MASK = "mask"


@dataclass
class Store:
    """An opened store: ``Xs`` (dask arrays, one per modality), ``mask`` (dask bool array or None)."""

    path: Path
    kind: str  # "zarr" or "npy"
    names: list
    Xs: list
    mask: object = None
    attrs: dict = field(default_factory=dict)
    compressors: object = "auto"  # of a Zarr store's first modality, for its completed copy

    @property
    def n_samples(self):
        return int(self.Xs[0].shape[0])


def default_chunk_rows(dims, itemsize=4, chunk_bytes=CHUNK_BYTES):
    """Rows per chunk so that a chunk of every modality together is about ``chunk_bytes``."""
    return int(max(256, chunk_bytes // max(1, itemsize * sum(dims))))


def completed_path(path):
    """Where the completed copy of a store goes: next to it, ``data.zarr`` -> ``data.completed.zarr``."""
    p = Path(path)
    return p.with_name(f"{p.stem}.completed{p.suffix}") if p.suffix else p.with_name(p.name + ".completed")


def _is_zarr(p):
    return (p / "zarr.json").is_file() or (p / ".zgroup").is_file()


def open_store(path, chunk_rows=None):
    """Open a store lazily: nothing but the arrays' headers (shapes, dtypes) is read.

    Parameters
    ----------
    path : str or Path, a Zarr group (a folder with ``zarr.json`` or ``.zgroup``) or a folder of ``.npy``
    chunk_rows : int or None
        Rows per dask chunk; None: about ``CHUNK_BYTES`` per chunk, rounded to whole Zarr chunks.

    Raises
    ------
    ValueError
        One line saying what is wrong with the store and what is expected.
    """
    import dask.array as da

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"No such store: '{p}'.")
    if p.is_symlink() or not p.is_dir():
        what = "a symbolic link" if p.is_symlink() else "a file"
        raise ValueError(f"'{p}' is {what}; expected a store: a Zarr group (a folder) or a folder of .npy files, one "
                         "per modality (a single data file needs --manifest).")
    if _is_zarr(p):
        kind, arrays, attrs = "zarr", *_zarr_arrays(p)
    else:
        kind, arrays, attrs = "npy", _npy_arrays(p), _npy_attrs(p)
    mask = arrays.pop(MASK, None)
    if not arrays:
        raise ValueError(f"'{p}' holds no modality array; expected one 2-D array per modality (and optionally "
                         f"'{MASK}').")
    order = attrs.get("modalities")
    if order is not None:
        if not isinstance(order, list) or sorted(map(str, order)) != sorted(arrays):
            raise ValueError(f"'{p}': its 'modalities' attribute {str(order)[:200]} does not name its arrays "
                             f"{sorted(arrays)}.")
        names = [str(o) for o in order]
    else:
        names = sorted(arrays)
    n = None
    for m, name in enumerate(names):
        shape, dtype = arrays[name]["shape"], arrays[name]["dtype"]
        try:
            check_modality_dtype(dtype, m)
        except ValueError as exc:
            raise type(exc)(f"'{p}': array '{name}': {exc}") from None
        if len(shape) != 2 or shape[1] == 0:
            raise ValueError(f"'{p}': array '{name}' has shape {shape}; expected (n_samples, n_features) with at "
                             "least one feature.")
        if n is None:
            n = shape[0]
        elif shape[0] != n:
            raise ValueError(f"'{p}': array '{name}' has {shape[0]} rows, '{names[0]}' has {n}; every modality needs "
                             "one row per sample.")
    if n == 0:
        raise ValueError(f"'{p}' holds 0 samples; expected at least 1.")
    if mask is not None:
        if tuple(mask["shape"]) != (n, len(names)):
            raise ValueError(f"'{p}': '{MASK}' has shape {tuple(mask['shape'])}; expected (n_samples, n_modalities) = "
                             f"({n}, {len(names)}).")
        if mask["dtype"].kind not in "biu":
            raise ValueError(f"'{p}': '{MASK}' has dtype {mask['dtype']}; expected bool (or 0/1 integers), True "
                             "where observed.")
    dims = [arrays[name]["shape"][1] for name in names]
    rows = chunk_rows or default_chunk_rows(dims, max(arrays[name]["dtype"].itemsize for name in names))
    align = arrays[names[0]].get("row_chunk")
    if chunk_rows is None and align:
        rows = max(align, rows // align * align)
    rows = int(min(rows, n))
    Xs = [_dask_array(arrays[name], rows, da) for name in names]
    dmask = None if mask is None else _dask_array(mask, rows, da)
    compressors = "auto"
    if kind == "zarr" and arrays[names[0]]["zarr"].metadata.zarr_format == 3:  # a v2 store's codecs: zarr's default
        compressors = arrays[names[0]]["zarr"].compressors
    return Store(p, kind, names, Xs, dmask, attrs, compressors)


def _zarr_arrays(p):
    import zarr

    try:
        group = zarr.open_group(str(p), mode="r")
    except Exception as exc:  # zarr raises many kinds for a broken store
        raise ValueError(f"'{p}' is not a readable Zarr group ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})."
                         ) from None
    out = {}
    for name in group.array_keys():
        arr = group[name]
        written, total, what, rows = _chunks_written(arr, p / name)
        if written < total:
            # Zarr leaves a chunk holding only the fill value unwritten by default (labels sorted by class give
            # such chunks), so a missing chunk may be data as written; one lost on the way reads the same. Said,
            # with the rows, rather than refused.
            fill = getattr(arr.fill_value, "item", lambda: arr.fill_value)()
            where = ", ".join(f"{a}-{b}" for a, b in rows[:3]) + (", ..." if len(rows) > 3 else "")
            warn(f"'{p}': array '{name}' has {written:,} of its {total:,} {what} written: rows {where} read as its "
                 f"fill value, {fill}. Zarr does not write a {what[:-1]} that holds only the fill value; if "
                 f"{what} were lost instead, those rows are not data: write the store again with all its "
                 "chunks (in zarr: config={'write_empty_chunks': True}).")
        out[name] = {"shape": tuple(int(s) for s in arr.shape), "dtype": np.dtype(arr.dtype), "zarr": arr,
                     "row_chunk": int(arr.chunks[0]) if arr.ndim else None, "name": name, "store": p}
    return out, dict(group.attrs)


def _chunks_written(arr, folder):
    """(written, total, "chunks" or "shards", rows): the stored objects of a Zarr array in a local folder,
    found by listing the folder once and looking its chunk keys up in it, and the (first, last) rows of those
    missing; no data is read. (zarr's own ``nchunks_initialized`` looks each key up in a list of the
    folder's files: quadratic in the chunks.)"""
    shards = getattr(arr, "shards", None)
    encode = getattr(getattr(arr, "metadata", None), "encode_chunk_key", None)
    if encode is None:  # another zarr: its own count (rows unknown)
        return int(arr.nchunks_initialized), int(arr.nchunks), "chunks", []
    step = [int(c) for c in (shards or arr.chunks)]
    grid = [math.ceil(int(s) / c) for s, c in zip(arr.shape, step)]
    keys = set()
    for root, _, files in os.walk(folder):
        rel = Path(root).relative_to(folder).as_posix()
        keys.update(files if rel == "." else (f"{rel}/{f}" for f in files))
    missing = [c for c in itertools.product(*(range(g) for g in grid)) if encode(c) not in keys]
    n = int(arr.shape[0]) if arr.ndim else 1
    rows = sorted({(c[0] * step[0], min((c[0] + 1) * step[0], n) - 1) for c in missing}) if arr.ndim else []
    return math.prod(grid) - len(missing), math.prod(grid), "shards" if shards else "chunks", rows


def _npy_arrays(p):
    out = {}
    files = sorted(f for f in p.iterdir() if f.suffix == ".npy")
    if not files:
        raise ValueError(f"'{p}' is neither a Zarr group nor a folder holding .npy files; expected one of them.")
    for f in files:
        check_regular_file(str(f), "a .npy file")
        try:
            mm = np.load(str(f), mmap_mode="r", allow_pickle=False)  # reads the header only
        except Exception as exc:
            raise ValueError(f"'{f}' is not a readable .npy file of numbers ({' '.join(str(exc).split())[:200]})."
                             ) from None
        if not isinstance(mm, np.ndarray):
            raise ValueError(f"'{f}' is not a .npy file (an archive?); expected one array per file.")
        shape, dtype = mm.shape, mm.dtype
        del mm
        out[f.stem] = {"shape": tuple(int(s) for s in shape), "dtype": np.dtype(dtype), "npy": str(f)}
    return out


def _npy_attrs(p):
    """The attributes a folder written by ``write_store`` keeps in ``ul4m4.json`` (its modalities' order)."""
    f = p / "ul4m4.json"
    if not f.exists():
        return {}
    from .files import read_regular_file

    try:
        attrs = json.loads(read_regular_file(str(f), 1 << 20, "a JSON file").decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ValueError(f"'{f}' is not valid JSON; remove it or write the store again.") from None
    if not isinstance(attrs, dict):
        raise ValueError(f"'{f}' holds a JSON {type(attrs).__name__}; expected an object.")
    return attrs


def _npy_rows(path, start, stop):
    """Rows [start, stop) of a .npy file, read through a memory map that is closed again."""
    mm = np.load(path, mmap_mode="r", allow_pickle=False)
    try:
        return np.array(mm[start:stop])
    finally:
        del mm


def _dask_array(spec, rows, da):
    import dask

    if "zarr" in spec:
        chunks = (rows, -1) if len(spec["shape"]) == 2 else (rows,)
        z = spec["zarr"]
        name = "from-zarr-" + dask.base.tokenize(z, chunks)
        return da.from_array(_ZarrSource(z, spec["store"], spec["name"]), chunks=chunks, name=name,
                             meta=np.empty((0,) * len(spec["shape"]), spec["dtype"]))
    n = spec["shape"][0]
    tail = spec["shape"][1:]
    parts = [da.from_delayed(dask.delayed(_npy_rows, pure=True)(spec["npy"], s, min(s + rows, n)),
                             shape=(min(s + rows, n) - s, *tail), dtype=spec["dtype"]) for s in range(0, n, rows)]
    return da.concatenate(parts)


class _ZarrSource:
    """A Zarr array as dask reads it, region by region: a chunk that cannot be read (its bytes do not decode,
    whatever the codec, or the disk fails) is a one-line ValueError naming the array and the rows."""

    def __init__(self, array, store, name):
        self.array, self.store, self.name = array, store, name
        self.shape, self.dtype, self.ndim = tuple(array.shape), np.dtype(array.dtype), array.ndim

    def __getitem__(self, key):
        try:
            return self.array[key]
        except MemoryError:
            raise
        except Exception as exc:  # numcodecs, zlib, zarr: each codec fails in its own way
            detail = " ".join(str(exc).split())[:300] or type(exc).__name__
            if isinstance(exc, OSError) and exc.errno is not None:  # the disk, not the data
                why = f"{type(exc).__name__}: {detail}"
            else:
                why = f"its data are corrupt: {detail}"
            raise ValueError(f"'{self.store}': array '{self.name}' could not be read at rows "
                             f"{self._bad_rows(key)} ({why}); write the store again.") from None

    def _bad_rows(self, key):
        """The rows of the first Zarr chunk of region ``key`` that cannot be read (the region's when none
        fails alone)."""
        first = key[0] if isinstance(key, tuple) else key
        n, step = self.shape[0], int(self.array.chunks[0])
        if isinstance(first, slice) and first.step in (None, 1):
            start, stop, _ = first.indices(n)
            rest = tuple(key[1:]) if isinstance(key, tuple) else ()
            for lo in range(start // step * step, stop, step):
                hi = min(lo + step, n)
                try:
                    self.array[(slice(lo, hi), *rest)]
                except MemoryError:
                    raise
                except Exception:
                    return f"{lo}-{hi - 1}"
        return _rows(key, n)


def _rows(key, n):
    """The rows a region ``key`` of an array of ``n`` rows covers, as "a-b"."""
    first = key[0] if isinstance(key, tuple) else key
    if isinstance(first, slice):
        r = range(*first.indices(n))
        lo, hi = (r[0], r[-1]) if len(r) else (r.start, r.start)
    else:
        idx = np.asarray(first).ravel()
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        lo, hi = (int(idx.min()), int(idx.max())) if idx.size else (0, 0)
    return f"{min(lo, hi)}-{max(lo, hi)}"


class _NpyTarget:
    """A .npy file written region by region (``dask.array.store``), each write through its own memory map."""

    def __init__(self, path):
        self.path = path

    def __setitem__(self, region, value):
        if not os.path.exists(self.path):  # the write failed and its partial store was removed
            return
        mm = np.load(self.path, mmap_mode="r+")
        try:
            mm[region] = value
            mm.flush()
        finally:
            del mm


def write_store(path, kind, names, Xs, mask=None, attrs=None, compressors="auto"):
    """Write dask arrays as a new store of ``kind`` ("zarr" or "npy") in one pass over their chunks.

    Refuses to overwrite: ``path`` must not exist. ``attrs`` (JSON) go into the Zarr group's attributes
    or, for a folder, ``ul4m4.json``; ``compressors`` are those of the Zarr arrays (zarr's default).

    All or nothing: the store is written under a hidden name next to ``path`` and renamed to it once
    complete; whatever stops the writing (an error, a full disk, Ctrl-C) removes the partial store, so
    ``path`` never holds one. The .npy files' space is reserved before they are written, so a full disk
    is an error naming the store instead of a crash in the middle of a memory-mapped write.
    """
    p = Path(path)
    if p.exists() or p.is_symlink():
        raise ValueError(f"'{p}' already exists; remove it or choose another output with --out.")
    if not p.parent.is_dir():
        raise ValueError(f"'{p.parent}' is not a folder; the output's folder must exist.")
    tmp = p.parent / f".{p.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        _write_store(tmp, kind, names, Xs, mask, attrs, compressors)
        if p.exists() or p.is_symlink():  # appeared meanwhile
            raise ValueError(f"'{p}' already exists; remove it or choose another output with --out.")
        os.rename(tmp, p)
    except BaseException as exc:
        _remove_partial(tmp)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ValueError(f"no space left on the device to write '{p}'; nothing was written.") from None
        raise
    return p


def _remove_partial(tmp, settle=2.0):
    """Remove a partial store. Write tasks already running when the write failed may still finish; their
    targets skip writing once the store's folder is gone (``_ZarrTarget``, ``_NpyTarget``), and one that
    passed that check just before the removal is caught by removing again until the folder stays gone."""
    deadline, gone = time.monotonic() + settle, 0
    while gone < 3 and time.monotonic() < deadline:  # gone at three checks in a row, 50 ms apart
        if os.path.lexists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
            gone = 0
        else:
            gone += 1
        time.sleep(0.05)
    shutil.rmtree(tmp, ignore_errors=True)


class _ZarrTarget:
    """A Zarr array written region by region that skips writing once its store's folder was removed (a
    failed write's task still running would otherwise create the folder again)."""

    def __init__(self, array, root):
        self.array, self.root = array, str(root)

    def __setitem__(self, region, value):
        if os.path.isdir(self.root):
            self.array[region] = value


def _write_store(p, kind, names, Xs, mask, attrs, compressors):
    import dask.array as da

    arrays = list(zip(names, Xs)) + ([(MASK, mask)] if mask is not None else [])
    targets = []
    if kind == "zarr":
        import zarr

        group = zarr.open_group(str(p), mode="w-")
        group.attrs.update({"modalities": list(names), **(attrs or {})})
        for name, X in arrays:
            targets.append(_ZarrTarget(group.create_array(name, shape=X.shape, dtype=X.dtype,
                                                          chunks=(X.chunks[0][0], *X.shape[1:]), compressors=compressors,
                                                          # every chunk, an all-zero one too: a missing chunk
                                                          # is refused when the store is read
                                                          config={"write_empty_chunks": True}),
                                       p))
    else:
        p.mkdir()
        for name, X in arrays:
            f = str(p / f"{name}.npy")
            np.lib.format.open_memmap(f, mode="w+", dtype=X.dtype, shape=X.shape)
            _reserve(f)
            targets.append(_NpyTarget(f))
        (p / "ul4m4.json").write_text(json.dumps({"modalities": list(names), **(attrs or {})}, indent=1))
    # Whole rows per chunk, the rows of the targets' chunks: no two tasks write into one target chunk.
    da.store([X.rechunk((X.chunks[0], *(-1 for _ in X.shape[1:]))) for _, X in arrays], targets, lock=False)


def _reserve(f):
    """Allocate the whole (sparse) file now: a full disk raises ENOSPC here, not SIGBUS in a mapped write."""
    if not hasattr(os, "posix_fallocate"):
        return
    fd = os.open(f, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, os.fstat(fd).st_size)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):  # file systems without it
            raise
    finally:
        os.close(fd)


def is_store(path):
    """Whether ``path`` is a folder (a store to open with ``open_store``), not a single data file."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False
