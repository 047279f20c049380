"""Command line: degradation sweeps and repeatable imputation runs, headless.

    python -m ul4m4 sweep --dataset mfeat --mechanism mcar --rates 0,0.2,0.4,0.6,0.8 --seeds 3 \\
        --methods ul4m4,mean,zero,knn --classifier linear --out DIR
    python -m ul4m4 impute --manifest manifest.json --out DIR
    python -m ul4m4 warmup
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import io
import json
import math
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

__all__ = ["main", "run"]

# Bounds on what a command line or a manifest may ask for (each refused with its number, exit status 2).
MAX_SEEDS = 1000
MAX_LIST = 100  # rates, k values, methods
MAX_EPOCHS = 10_000
MAX_SEED_VALUE = 2**32 - 1
MAX_MANIFEST_BYTES = 1 << 20


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line and exits with status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _list_of(cast, what, lo=None):
    """An argparse type: a comma-separated list of at most ``MAX_LIST`` ``cast`` values
    (``validation.parse_list``), finite and at least ``lo`` when given."""

    def parse(text):
        from .validation import parse_list

        try:
            values = parse_list(text, cast)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if len(values) > MAX_LIST:
            raise argparse.ArgumentTypeError(f"{len(values):,} {what} given; at most {MAX_LIST} are accepted")
        for v in values:
            if cast is float and not math.isfinite(v):
                raise argparse.ArgumentTypeError(f"{what} must be finite numbers; got {v}")
            if lo is not None and v < lo:
                raise argparse.ArgumentTypeError(f"{what} must be at least {lo}; got {v}")
        if cast is str and len(set(values)) != len(values):
            raise argparse.ArgumentTypeError(f"{what} {text!r} names one twice")
        return values

    return parse


_floats, _words = _list_of(float, "rates"), _list_of(str, "methods")
_ks = _list_of(int, "k values", lo=1)


def _number(name, lo=-math.inf, hi=math.inf, cast=float):
    """An argparse type: one finite number (``cast`` float or int) in [lo, hi]."""

    def parse(text):
        try:
            v = cast(text)
        except (ValueError, OverflowError):
            kind = "an integer" if cast is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} should be {kind}") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"{name} {text} should be a finite number")
        if not (lo <= v <= hi):
            raise argparse.ArgumentTypeError(f"{name} {text} should be between {lo} and {hi}")
        return v

    return parse


def _seeds(text):
    """'3' means seeds 0, 1, 2; '0,5,7' lists them."""
    if "," in text:
        values = _list_of(int, "seeds", lo=0)(text)
        if max(values) > MAX_SEED_VALUE:
            raise argparse.ArgumentTypeError(f"seed {max(values)} is too large; seeds go up to {MAX_SEED_VALUE}")
        return values
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} should be a number of seeds (e.g. 3) or a list (e.g. 0,5,7)") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"--seeds {n} should be at least 1")
    if n > MAX_SEEDS:
        raise argparse.ArgumentTypeError(f"--seeds {n} is more than the {MAX_SEEDS} seeds a sweep may run")
    return tuple(range(n))


@contextlib.contextmanager
def _output_folder(path):
    """Create the output folder for a run that is about to start: a new folder, or an existing empty one
    (files of an earlier run would be overwritten or mixed with this run's). If the run fails, what it
    wrote there and the folders this created are removed again, so a failed run leaves nothing behind."""
    if not str(path).strip():
        raise ValueError("--out is empty; give the folder to write into.")
    out = Path(path)
    if out.is_symlink() and not out.exists():  # exists() follows the link: a dangling one or a loop
        raise ValueError(f"--out '{out}' is a symbolic link to nothing (its target is missing, or links loop); "
                         "give a folder, or a link to one.")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out '{out}' is a file, not a folder; give a new folder.")
    if out.is_dir() and any(out.iterdir()):
        raise ValueError(f"--out '{out}' already holds files (an earlier run's?); give a new or empty folder, "
                         "so results of different runs are never overwritten or mixed.")
    created = [d for d in (out, *out.parents) if not d.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a parent that is a file, a dangling link, no permission...
        for d in created:  # what this made before it failed, innermost first
            with contextlib.suppress(OSError):
                d.rmdir()
        raise ValueError(f"--out '{out}' could not be created ({exc.strerror or type(exc).__name__}"
                         f"{': ' + str(exc.filename) if exc.filename else ''}); give a folder that can be "
                         "made.") from None
    try:
        yield out
    except BaseException:
        for f in out.iterdir():  # the folder was empty: everything in it is this run's
            if f.is_dir() and not f.is_symlink():
                shutil.rmtree(f, ignore_errors=True)
            else:
                f.unlink(missing_ok=True)
        for d in created:  # deepest first
            try:
                d.rmdir()
            except OSError:  # not empty (or not ours to remove): keep it
                break
        raise


def build_parser():
    from .downstream import CLASSIFIERS
    from .experiment import SPLIT_CHOICES
    from .missing import MECHANISMS
    from .sweep import RATE_MEANING, SWEEP_METHODS

    p = _Parser(prog="python -m ul4m4", description="UL4M4 Explorer, headless.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser(
        "sweep",
        help="downstream scores of several imputers across missing rates and seeds",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Simulate missingness at each rate and seed, impute with each method (fitted on the training "
                    "split), train the classifier on the completed training split and score the completed test "
                    "split. Writes DIR/results.csv (one row per method, rate, seed [and k]), DIR/degradation.html "
                    "(figures) and DIR/manifest.json (settings and versions).",
        epilog="What --rates means for each mechanism:\n" + "\n".join(f"  {m}: {t}" for m, t in RATE_MEANING.items())
        + "\n\nMethods: " + "; ".join(f"{m} = {t}" for m, t in SWEEP_METHODS.items()),
    )
    s.add_argument("--dataset", default="mfeat",
                   help="mfeat (default), breast_cancer, synthetic, or a .npz/.csv/.parquet file with labels")
    s.add_argument("--mechanism", default="mcar", choices=sorted(MECHANISMS), help="missingness mechanism (default mcar)")
    s.add_argument("--rates", type=_floats, default=(0.0, 0.2, 0.4, 0.6, 0.8),
                   help="comma-separated rates in [0, 1) (default 0,0.2,0.4,0.6,0.8); see below for their meaning")
    s.add_argument("--seeds", type=_seeds, default=(0, 1, 2),
                   help="number of seeds (3 means 0,1,2; default) or a comma-separated list")
    s.add_argument("--methods", type=_words, default=("ul4m4", "ul4m4_soft", "mean", "knn", "softimpute"),
                   help="comma-separated from: " + ",".join(SWEEP_METHODS)
                        + " (default ul4m4,ul4m4_soft,mean,knn,softimpute)")
    s.add_argument("--classifier", default="linear", choices=sorted(CLASSIFIERS),
                   help="linear (logistic regression probe, default) or fusion (the paper's attention fusion model)")
    s.add_argument("--k", type=_number("--k", 1, 2**31 - 1, int), default=None,
                   help="clusters for UL4M4 (default: number of classes)")
    s.add_argument("--ks", type=_ks, default=None,
                   help="comma-separated k values: run UL4M4 at each k (k-sensitivity); adds a k chart")
    s.add_argument("--keep-going", action="store_true",
                   help="a method that fails at a unit (rate, seed, k) leaves that unit out instead of stopping the "
                        "sweep: each is said on stderr and listed in the manifest ('left_out'), the other results "
                        "are written, and the exit status is 3")
    s.add_argument("--apply-to", default="both", choices=sorted(SPLIT_CHOICES),
                   help="which split loses modalities: both (default), test (train on complete data), or train")
    s.add_argument("--test-size", type=_number("--test-size"), default=0.3,
                   help="test fraction, stratified by label (default 0.3)")
    s.add_argument("--pm", type=_number("--pm", 0.0, 1.0), default=0.6, help="PEPSY: fraction of lead modalities (default 0.6)")
    s.add_argument("--strength", type=_number("--strength", -100.0, 100.0), default=2.0,
                   help="MNAR mechanisms: strength of the dependence (default 2)")
    s.add_argument("--epochs", type=_number("--epochs", 1, MAX_EPOCHS, int), default=15,
                   help="fusion classifier: training epochs (default 15)")
    s.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    s.add_argument("--workers", type=_number("--workers", 0, 256, int), default=None,
                   help="worker processes that run the sweep's cells in parallel (default: one per core up to 4, "
                        "or UL4M4_SWEEP_WORKERS; 0 runs it in this process; on the CPU only)")
    s.add_argument("--out", required=True, help="output folder (created if needed)")

    r = sub.add_parser(
        "impute",
        help="repeat an imputation run (e.g. from the app's manifest), or complete a store on disk",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="With --manifest: repeat a run of the Cluster & impute page (same data, missingness and "
                    "settings); writes DIR/completed_<method>.npz, DIR/errors.csv and DIR/manifest.json.\n"
                    "With --data STORE alone: fit UL4M4 on a store of any size (a Zarr group, or a folder of .npy "
                    "files, one per modality, plus an optional bool 'mask'; NaN rows mark missing modalities "
                    "otherwise) through Dask, chunk by chunk, and write the completed store next to it "
                    "(data.zarr -> data.completed.zarr) with the same layout and the mask.",
    )
    r.add_argument("--manifest", default=None,
                   help="manifest.json downloaded from the app (or written by this command)")
    r.add_argument("--data", default=None,
                   help="the data file, when the manifest names an uploaded file; without --manifest, a store")
    r.add_argument("--out", default=None,
                   help="output folder (created if needed); for a store, the completed store (default: next to it)")
    store = r.add_argument_group("completing a store (--data STORE without --manifest)")
    store.add_argument("--k", type=_number("--k", 1, 2**31 - 1, int), default=None, help="clusters (default 8)")
    store.add_argument("--completion", choices=("greedy", "soft"), default=None,
                       help="greedy (the paper's, default) or soft")
    store.add_argument("--max-iter", type=_number("--max-iter", 1, 100_000, int), default=None,
                       help="Lloyd iterations at most (default 300)")
    store.add_argument("--tol", type=_number("--tol", 0.0, 0.999), default=None,
                       help="stop once at most this fraction of the samples change cluster (default 0)")
    store.add_argument("--seed", type=_number("--seed", 0, MAX_SEED_VALUE, int), default=None,
                       help="seed of the k-means++ seeding (default 0)")
    store.add_argument("--dtype", choices=("float32", "float64"), default=None, help="working dtype (default float32)")
    store.add_argument("--chunk-rows", type=_number("--chunk-rows", 1, 2**31 - 1, int), default=None,
                       help="rows per chunk (default: about 64 MB of data per chunk)")
    store.add_argument("--scheduler", default=None,
                       help="address of a running Dask scheduler (tcp://host:8786); default: Dask's threads here")

    sub.add_parser(
        "warmup",
        help="compile UMAP's numba code once (about 30 s on a fresh installation, cached on disk afterwards)",
        description="Run a tiny UMAP so that numba compiles and caches its code now, not during the first map in "
                    "the app. The README's first command runs this before starting the app.",
    )
    return p


def _progress(info):
    if info.get("stage") == "sweep":
        print(f"[{info['done']}/{info['total']}] {info['text']}", file=sys.stderr, flush=True)
    elif info.get("stage") == "warning":
        # The same form as every other warning of the command (``_one_line_warnings``), the method first.
        print(f"python -m ul4m4 sweep: warning: {' '.join(str(info['text']).split())[:2000]}", file=sys.stderr,
              flush=True)
    elif info.get("stage") == "method" and info.get("method"):
        print(f"running {info['method']} ({info['done'] + 1}/{info['total']})", file=sys.stderr, flush=True)


def _load(name, options=None):
    from .datasets import load_dataset

    if name == "synthetic":
        return load_dataset("synthetic", **(options or {}))
    return load_dataset(name)


def cmd_sweep(args):
    import threading

    from .experiment import default_n_clusters
    from .memory import check_memory, estimate_sweep_bytes
    from .sweep import SweepConfig, check_sweep, sweep_pool, workers_suit

    ds = _load(args.dataset)
    k = args.k if args.k is not None else default_n_clusters(ds)
    cfg = SweepConfig(mechanism=args.mechanism, rates=args.rates, seeds=args.seeds, methods=args.methods,
                      classifier=args.classifier, k=k, ks=args.ks, apply_to=args.apply_to, test_size=args.test_size,
                      pm=args.pm, strength=args.strength, device=args.device, epochs=args.epochs)
    check_sweep(cfg, ds)
    n_train = ds.n_samples - int(round(cfg.test_size * ds.n_samples))
    check_memory(estimate_sweep_bytes(ds.n_samples, ds.dims, n_train, cfg.ks or (k,), cfg.methods,
                                      _n_classes(ds), cfg.classifier, n_rates=len(cfg.rates)), what="This sweep",
                 hint="use a smaller dataset or fewer k values, or run it on a larger machine")
    # The worker processes are forked from this process now, with the library imported and the data loaded
    # but no torch work run yet, so they start at once; "fork" only while this process runs a single thread
    # (as the command does; a caller of main() with threads of its own gets the safe default).
    start = "fork" if threading.active_count() == 1 else None
    pool = None
    if args.device == "cpu" and args.workers != 0 and workers_suit(ds, cfg):
        importlib.import_module(".plotting", __package__)  # the figures' modules, imported once, before the fork
        try:
            pool = sweep_pool(args.workers, start=start)
        except OSError as exc:  # a system without what worker processes need (semaphores)
            raise OSError(f"could not start the worker processes ({exc}); run with --workers 0.") from None
    try:
        return _sweep(args, ds, cfg, pool)
    finally:
        if pool is not None:  # the workers leave once their task (if any) is done; waited for, so that none
            pool.shutdown(wait=True, cancel_futures=True)  # outlives the command


def _sweep(args, ds, cfg, pool):
    from .export import manifest_json, versions
    from .plotting import figures_html, sweep_figures
    from .sweep import run_sweep
    from .validation import counted

    left_out = []

    def progress(info):
        if info.get("stage") == "failed":
            f = info["failure"]
            left_out.append(f)
            why = f.message if f.expected else f"internal error ({f.error_type}: {f.message}); please report it"
            print(f"python -m ul4m4 sweep: left out: {f.method} at {f.where()}: {' '.join(why.split())[:2000]}",
                  file=sys.stderr, flush=True)
        _progress(info)

    with _output_folder(args.out) as out:
        t0 = time.perf_counter()
        df = run_sweep(ds, cfg, callback=progress, on_error="skip" if args.keep_going else "raise", workers=pool)
        seconds = time.perf_counter() - t0
        if df.empty:
            raise ValueError(f"no unit of the sweep could run ({len(left_out)} left out; see above).")
        df.to_csv(out / "results.csv", index=False)
        k_df = df[df["rate"] == df["rate"].max()] if args.ks else None
        figs = sweep_figures(df, k_df)
        (out / "degradation.html").write_text(figures_html(list(figs.values()), f"UL4M4 degradation: {ds.name}"),
                                              encoding="utf-8")
        manifest = {"command": "sweep", "dataset": args.dataset, "sweep": cfg.to_dict(), "seconds": round(seconds, 2),
                    "rows": int(len(df)), "versions": versions()}
        if args.keep_going:
            manifest["left_out"] = [{k: v for k, v in dataclasses.asdict(f).items() if k != "traceback"}
                                    for f in left_out]
        (out / "manifest.json").write_bytes(manifest_json(manifest))
    print(f"wrote {out / 'results.csv'}, {out / 'degradation.html'}, {out / 'manifest.json'} in {seconds:.1f} s"
          + (f"; {counted(len(left_out), 'unit')} left out (listed above and in the manifest)" if left_out else ""),
          file=sys.stderr)
    return 3 if left_out else 0


def _n_classes(ds):
    import numpy as np

    if ds.y is None:
        return 1
    return ds.y.shape[1] if ds.y.ndim == 2 else int(np.unique(ds.y).size)


# ---------------------------------------------------------------------------------------------------
# Manifests: read with a bound, every field checked for its type before anything runs
# ---------------------------------------------------------------------------------------------------
def _no_duplicate_keys(pairs):
    """A JSON object as a dict, refusing a key given twice (the last one would silently win)."""
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the manifest gives the key {key[:80]!r} twice in one object; give each setting once.")
        out[key] = value
    return out


def _read_manifest(path):
    from .files import read_regular_file

    raw = read_regular_file(path, MAX_MANIFEST_BYTES, "a manifest (.json) file")
    try:
        man = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text; expected a JSON manifest.") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}).") from None
    except RecursionError:
        raise ValueError(f"{path} is nested too deeply to be a manifest.") from None
    if not isinstance(man, dict):
        raise ValueError(f"{path} holds a JSON {type(man).__name__}; expected an object (a manifest from the app).")
    for key in ("dataset", "missingness", "run"):
        if key not in man:
            raise ValueError(f"{path} has no '{key}' section; expected a manifest from the app.")
        if not isinstance(man[key], dict):
            raise ValueError(f"{path}: '{key}' is a JSON {type(man[key]).__name__}; expected an object.")
    return man


def _check_value(where, value, kinds):
    """``value`` read from JSON has one of ``kinds`` ("str", "int", "float", "bool", "tuple", "dict", "None");
    numbers finite, integers in int64."""
    import numbers

    ok = (
        ("None" in kinds and value is None)
        or ("bool" in kinds and isinstance(value, bool))
        or ("str" in kinds and isinstance(value, str) and len(value) <= 10_000)
        or ("int" in kinds and isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63)
        or ("float" in kinds and isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))
        or ("tuple" in kinds and isinstance(value, list) and len(value) <= 10_000)
        or ("dict" in kinds and isinstance(value, dict) and len(value) <= 10_000)
    )
    if not ok:
        raise ValueError(f"{where}={json.dumps(value)[:80]} should be {' or '.join(sorted(kinds))}.")
    return value



def _unknown(names):
    """The words before the settings listed: 'an unknown setting ' or 'unknown settings '."""
    return "an unknown setting " if len(names) == 1 else "unknown settings "

def _config_from(section, cls, where, specials=()):
    """A config dataclass from a manifest section: known fields only, each of the type its annotation
    names (``specials`` maps a field to the JSON kinds it is stored as)."""
    import dataclasses

    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(str(k)[:40] for k in section if k not in known)
    if unknown:  # a misspelt setting would otherwise be ignored and the run use the default
        raise ValueError(f"{where} has {_unknown(unknown)}{', '.join(map(repr, unknown[:5]))}; expected some of "
                         f"{', '.join(sorted(known))}.")
    out = {}
    for f in dataclasses.fields(cls):
        if f.name not in section:
            continue
        kinds = dict(specials).get(f.name) or {k.strip() for k in str(f.type).split("|")}
        if "float" in kinds:
            kinds = kinds | {"int"}
        out[f.name] = _check_value(f"{where}.{f.name}", section[f.name], kinds)
    return out


def _dataset_of(man, path, data_path):
    """The dataset a manifest names: bundled, synthetic (with its options) or an uploaded file (--data)."""
    import hashlib

    from .datasets import BUNDLED, DEFAULT_MAX_BYTES, load_dataset
    from .files import read_regular_file

    spec = man["dataset"]
    unknown = sorted(str(k)[:40] for k in spec if k not in DATASET_KEYS)
    if unknown:
        raise ValueError(f"dataset has {_unknown(unknown)}{', '.join(map(repr, unknown[:5]))}; expected some of "
                         f"{', '.join(DATASET_KEYS)}.")
    name = _check_value("dataset.name", spec.get("name"), {"str"})
    source = _check_value("dataset.source", spec.get("source"), {"str", "None"})
    sha = _check_value("dataset.sha256", spec.get("sha256"), {"str", "None"})
    if source not in (None, "upload"):
        raise ValueError(f"dataset.source={json.dumps(source)[:80]} should be \"upload\" (a file given with --data) "
                         "or absent (a bundled data set).")
    if source == "upload" or sha:
        if not data_path:
            raise ValueError(f"the manifest names an uploaded file ({name[:80]}); pass it with --data PATH.")
        data = read_regular_file(data_path, DEFAULT_MAX_BYTES, "the data file (.npz, .csv or .parquet)")
        digest = hashlib.sha256(data).hexdigest()
        if sha and digest != sha:
            raise ValueError(f"{data_path} is not the file of the manifest (its SHA-256 differs).")
        if not sha:
            warnings.warn(f"the manifest holds no SHA-256 of its file, so {data_path} cannot be checked to be the "
                          "file it was made with.", UserWarning, stacklevel=2)
        buf = io.BytesIO(data)
        buf.name = os.path.basename(data_path)
        # The new manifest names the file that was read, not what the old one said.
        return load_dataset(buf), {"name": buf.name, "source": "upload", "sha256": digest}
    if name not in BUNDLED:  # never a path: a manifest must not make the command read another local file
        raise ValueError(f"dataset.name={json.dumps(name)[:80]} is not a bundled data set ({', '.join(BUNDLED)}); "
                         "a manifest of an uploaded file has source \"upload\" and takes the file from --data.")
    if data_path:
        raise ValueError(f"the manifest names the bundled data set '{name}', so --data {data_path} would be ignored; "
                         "leave --data out, or use the manifest of a run on that file.")
    options = _check_value("dataset.options", spec.get("options"), {"dict", "None"})
    if name == "synthetic" and options:
        import inspect

        from .datasets import make_synthetic

        known = set(inspect.signature(make_synthetic).parameters)
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"dataset.options {unknown} are not options of the synthetic generator; expected some "
                             f"of {sorted(known)}.")
        kinds = {"dims": {"int", "tuple"}, "multilabel": {"bool"}}
        for key, value in options.items():
            _check_value(f"dataset.options.{key}", value, kinds.get(key, {"int", "float"}))
            if key == "dims" and isinstance(value, list):
                for v in value:
                    _check_value("dataset.options.dims[]", v, {"int"})
    elif options:
        raise ValueError(f"dataset.options apply to the synthetic data set only, not to '{name}'.")
    return _load(name, options), ({"name": name, "options": options} if options else {"name": name})


DATASET_KEYS = ("name", "source", "sha256", "options")
STORE_OPTIONS = ("k", "completion", "max_iter", "tol", "seed", "dtype", "chunk_rows", "scheduler")


def cmd_impute(args):
    from .experiment import MissingConfig, RunConfig, check_run, make_mask, run_methods
    from .export import make_manifest, manifest_json, to_npz_bytes

    if args.manifest is None:
        return _impute_store(args)
    given = [f"--{o.replace('_', '-')}" for o in STORE_OPTIONS if getattr(args, o) is not None]
    if given:
        raise ValueError(f"{', '.join(given)} apply to completing a store (--data STORE without --manifest); "
                         "a manifest's run brings its own settings.")
    if args.out is None:
        raise ValueError("--out is required with --manifest (the folder to write the run to).")
    man = _read_manifest(args.manifest)
    ds, spec = _dataset_of(man, args.manifest, args.data)
    mc = _config_from(man["missingness"], MissingConfig, "missingness",
                      {"keep_probs": {"tuple", "None"}, "pattern_freqs": {"dict", "None"}})
    if mc.get("pattern_freqs") is not None:
        mc["pattern_freqs"] = tuple((str(k), _check_value(f"missingness.pattern_freqs.{k}", v, {"float", "int"}))
                                    for k, v in mc["pattern_freqs"].items())
    if mc.get("keep_probs") is not None:
        mc["keep_probs"] = tuple(_check_value("missingness.keep_probs[]", v, {"float", "int"})
                                 for v in mc["keep_probs"])
    mcfg = MissingConfig(**mc)
    rc = _config_from(man["run"], RunConfig, "run", {"methods": {"tuple"}})
    methods = tuple(_check_value("run.methods[]", m, {"str"}) for m in rc.get("methods", ["ul4m4"]))
    if not methods:
        raise ValueError("run.methods is empty; name at least one method (e.g. [\"ul4m4\"]).")
    if len(set(methods)) != len(methods):
        raise ValueError(f"run.methods {list(methods)} names a method twice.")
    rc["methods"] = methods
    for key, lo in (("n_clusters", 1), ("max_iter", 1), ("seed", 0)):
        if key in rc and rc[key] < lo:
            raise ValueError(f"run.{key}={rc[key]} should be at least {lo}.")
    if not 0 <= mcfg.seed <= MAX_SEED_VALUE or ("seed" in rc and rc["seed"] > MAX_SEED_VALUE):
        raise ValueError(f"seeds go from 0 to {MAX_SEED_VALUE}.")
    rcfg = RunConfig(**rc)
    mres = make_mask(ds, mcfg)
    check_run(ds, mres, rcfg)
    with _output_folder(args.out) as out:
        run = run_methods(ds, mres, rcfg, callback=_progress)
        for method, completed in run.completed.items():
            (out / f"completed_{method}.npz").write_bytes(to_npz_bytes(completed, ds.modality_names, ds.y, mres.mask))
        run.errors.to_csv(out / "errors.csv", index=False)
        fit = {} if run.model is None else {"n_iter": int(run.model.n_iter_), "converged": bool(run.model.converged_)}
        new = make_manifest(spec, mcfg, rcfg, mres, run.seconds, fit)
        (out / "manifest.json").write_bytes(manifest_json(new))
    print(f"wrote {len(run.completed)} completed datasets, errors.csv and manifest.json to {out}", file=sys.stderr)
    return 0


def _impute_store(args):
    """``impute --data STORE``: fit UL4M4 on the store through Dask and write the completed store."""
    if args.data is None:
        raise ValueError("give --manifest (a run from the app) or --data STORE (a Zarr group or a folder of .npy "
                         "files) to complete.")
    try:
        import dask.array as da

        from .stores import completed_path, open_store, write_store
    except ImportError as exc:
        raise ValueError(f"completing a store needs the 'scale' extra (pip install 'ul4m4[scale]'): {exc}") from None
    from .impute import UL4M4Imputer

    store = open_store(args.data, chunk_rows=args.chunk_rows)
    out = args.out if args.out is not None else completed_path(store.path)
    if os.path.lexists(out):
        raise ValueError(f"'{out}' already exists; remove it or choose another output with --out.")
    where = contextlib.nullcontext()
    if args.scheduler:  # every computation below runs there; an unreachable scheduler is one line
        from ._dask import on_scheduler

        where = on_scheduler(args.scheduler)
    with where, _named_modalities(store.names):
        t0 = time.perf_counter()
        imp = UL4M4Imputer(
            args.k or 8, completion=args.completion or "greedy", max_iter=args.max_iter or 300,
            tol=args.tol or 0.0, random_state=args.seed or 0, dtype=args.dtype or "float32", callback=_store_progress,
        )
        imp.fit(store.Xs, store.mask)
        fit_seconds = time.perf_counter() - t0
        completed = imp.transform(store.Xs, store.mask, fitted_labels=imp.labels_)  # as fit_transform
        if store.mask is not None:
            mask = store.mask.astype(bool)
        else:  # read in the same pass as the completion
            mask = da.stack([~da.isnan(X).all(axis=1) for X in store.Xs], axis=1)
        attrs = {"ul4m4": {"source": str(store.path), "n_clusters": int(imp.n_clusters_), "n_iter": int(imp.n_iter_),
                           "converged": bool(imp.converged_), "inertia": float(imp.inertia_),
                           "completion": imp.completion, "fit_seconds": round(fit_seconds, 2)}}
        write_store(out, store.kind, store.names, completed, mask, attrs, store.compressors)
        seconds = time.perf_counter() - t0
    print(f"wrote {out} ({store.n_samples:,} samples, k={imp.n_clusters_}, {imp.n_iter_} iterations, "
          f"{seconds:.1f} s)", file=sys.stderr)
    return 0


@contextlib.contextmanager
def _named_modalities(names):
    """The library's errors about ``Xs[m]`` said of the store's array by name, as the file loader says them."""
    try:
        yield
    except ValueError as exc:
        from .validation import name_modalities

        msg = name_modalities(str(exc), names, "array")
        if msg == str(exc):
            raise
        raise ValueError(msg) from None


def _store_progress(info):
    if info.get("stage") == "lloyd":
        print(f"Lloyd pass {info['iteration']}/{info['max_iter']}: {info['n_changed']:,} changed", file=sys.stderr,
              flush=True)


def cmd_warmup(args):
    import numpy as np

    from .projection import project_2d

    from .timing import machine_speed

    t = time.perf_counter()
    project_2d([np.random.default_rng(0).normal(size=(80, 6))], "umap")
    print(f"UMAP is compiled ({time.perf_counter() - t:.1f} s).", file=sys.stderr)
    # Read before any server runs (a server's first readings come while it and the browser start), and kept
    # for the app's first estimates.
    speed = machine_speed()
    print(f"This machine multiplies float32 matrices at {speed / 1e9:.0f} GFLOP/s (kept for the app's time "
          "estimates).", file=sys.stderr)
    return 0


def _one_line_warnings(command):
    """A ``warnings.showwarning`` for the terminal: each distinct warning once, on one line, without the
    source file and line that Python's default prints (they point into libraries, not at the input)."""
    seen = set()

    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())[:2000]
        if (category, text) in seen:
            return
        seen.add((category, text))
        kind = "" if category.__name__ in ("UserWarning", "UL4M4Warning") else f" ({category.__name__})"
        print(f"python -m ul4m4 {command}: warning{kind}: {text}", file=sys.stderr, flush=True)

    return show


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    commands = {"sweep": cmd_sweep, "impute": cmd_impute, "warmup": cmd_warmup}
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warnings(args.command)
            return commands[args.command](args)
    except KeyboardInterrupt:  # Ctrl-C: one line; a store being written was removed (stores.write_store)
        print(f"python -m ul4m4 {args.command}: interrupted; no partial output was left.", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, OverflowError) as exc:
        message = " ".join(str(exc).split())  # one line, whatever the message held
        print(f"python -m ul4m4 {args.command}: error: {message[:2000]}", file=sys.stderr)
        return 2
    except (MemoryError, RecursionError) as exc:
        print(f"python -m ul4m4 {args.command}: error: the input is too large or too deeply nested "
              f"({type(exc).__name__}); use smaller settings.", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug, not bad input: one line, the traceback only on request
        if os.environ.get("UL4M4_DEBUG") == "1":
            raise
        detail = " ".join(str(exc).split())[:300]
        print(f"python -m ul4m4 {args.command}: internal error ({type(exc).__name__}: {detail}); please report it "
              "(UL4M4_DEBUG=1 shows the traceback).", file=sys.stderr)
        return 1


class _Stream:
    """A text stream whose reader may leave (``python -m ul4m4 sweep ... 2>&1 | head``): from then on what is
    written to it is dropped, so that the command finishes its work and writes its files instead of failing
    on a progress line."""

    def __init__(self, stream):
        self._stream, self.gone = stream, False

    def write(self, text):
        if not self.gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self.gone = True
        return len(text)

    def flush(self):
        if not self.gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self.gone = True

    def __getattr__(self, name):
        return getattr(self._stream, name)


def run():
    """The command's process: ``main()`` on ``sys.argv``, then exit with its status. Its messages go to
    streams that outlast their reader (``_Stream``). Once the command is done and no other thread runs, the
    exit handlers are run, the output flushed, and the process leaves at once: the interpreter's own teardown
    would take about a second more, with nothing to show for it (the garbage collector walking every object
    torch, scipy and pandas made at import)."""
    import atexit
    import threading

    sys.stdout, sys.stderr = _Stream(sys.stdout), _Stream(sys.stderr)
    code = main() or 0
    if threading.active_count() > 1:  # a thread still running: the interpreter waits for it, as usual
        sys.exit(code)
    atexit._run_exitfuncs()  # what the interpreter would run first (logging, multiprocessing, tempfile)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # an output closed or full: the interpreter's own status for it
        code = code or 120
    os._exit(code)


if __name__ == "__main__":
    run()
