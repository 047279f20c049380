"""Command line: degradation sweeps and repeatable imputation runs, headless.

    python -m ul4m4 sweep --dataset mfeat --mechanism mcar --rates 0,0.2,0.4,0.6,0.8 --seeds 3 \\
        --methods ul4m4,mean,zero,knn --classifier linear --out DIR
    python -m ul4m4 impute --manifest manifest.json --out DIR
    python -m ul4m4 warmup
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line and exits with status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _list_of(cast):
    """An argparse type: a comma-separated list of ``cast`` values (``validation.parse_list``)."""

    def parse(text):
        from .validation import parse_list

        try:
            return parse_list(text, cast)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


_floats, _ints, _words = _list_of(float), _list_of(int), _list_of(str)


def _seeds(text):
    """'3' means seeds 0, 1, 2; '0,5,7' lists them."""
    if "," in text:
        return _ints(text)
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} should be a number of seeds (e.g. 3) or a list (e.g. 0,5,7)") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"--seeds {n} should be at least 1")
    return tuple(range(n))


@contextlib.contextmanager
def _output_folder(path):
    """Create the output folder for a run that is about to start; if the run fails, remove the folders
    this created again (only while they are empty), so a failed run leaves nothing behind."""
    out = Path(path)
    created = [d for d in (out, *out.parents) if not d.exists()]
    out.mkdir(parents=True, exist_ok=True)
    try:
        yield out
    except BaseException:
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
    s.add_argument("--k", type=int, default=None, help="clusters for UL4M4 (default: number of classes)")
    s.add_argument("--ks", type=_ints, default=None,
                   help="comma-separated k values: run UL4M4 at each k (k-sensitivity); adds a k chart")
    s.add_argument("--apply-to", default="both", choices=sorted(SPLIT_CHOICES),
                   help="which split loses modalities: both (default), test (train on complete data), or train")
    s.add_argument("--test-size", type=float, default=0.3, help="test fraction, stratified by label (default 0.3)")
    s.add_argument("--pm", type=float, default=0.6, help="PEPSY: fraction of lead modalities (default 0.6)")
    s.add_argument("--strength", type=float, default=2.0, help="MNAR mechanisms: strength of the dependence (default 2)")
    s.add_argument("--epochs", type=int, default=15, help="fusion classifier: training epochs (default 15)")
    s.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    s.add_argument("--out", required=True, help="output folder (created if needed)")

    r = sub.add_parser(
        "impute",
        help="repeat an imputation run (e.g. from the app's manifest) and write the completed data",
        description="Repeat a run of the Cluster & impute page: same data, missingness and settings. Writes "
                    "DIR/completed_<method>.npz, DIR/errors.csv and DIR/manifest.json.",
    )
    r.add_argument("--manifest", required=True, help="manifest.json downloaded from the app (or written by this command)")
    r.add_argument("--data", default=None, help="the data file, when the manifest names an uploaded file")
    r.add_argument("--out", required=True, help="output folder (created if needed)")

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
    elif info.get("stage") == "method" and info.get("method"):
        print(f"running {info['method']} ({info['done'] + 1}/{info['total']})", file=sys.stderr, flush=True)


def _load(name, options=None):
    from .datasets import load_dataset

    if name == "synthetic":
        return load_dataset("synthetic", **(options or {}))
    return load_dataset(name)


def cmd_sweep(args):
    from .experiment import default_n_clusters
    from .export import manifest_json, versions
    from .plotting import figures_html, sweep_figures
    from .sweep import SweepConfig, check_sweep, run_sweep

    ds = _load(args.dataset)
    k = args.k if args.k is not None else default_n_clusters(ds)
    cfg = SweepConfig(mechanism=args.mechanism, rates=args.rates, seeds=args.seeds, methods=args.methods,
                      classifier=args.classifier, k=k, ks=args.ks, apply_to=args.apply_to, test_size=args.test_size,
                      pm=args.pm, strength=args.strength, device=args.device, epochs=args.epochs)
    check_sweep(cfg, ds)
    with _output_folder(args.out) as out:
        t0 = time.perf_counter()
        df = run_sweep(ds, cfg, callback=_progress)
        seconds = time.perf_counter() - t0
        df.to_csv(out / "results.csv", index=False)
        k_df = df[df["rate"] == df["rate"].max()] if args.ks else None
        figs = sweep_figures(df, k_df)
        (out / "degradation.html").write_text(figures_html(list(figs.values()), f"UL4M4 degradation: {ds.name}"),
                                              encoding="utf-8")
        manifest = {"command": "sweep", "dataset": args.dataset, "sweep": cfg.to_dict(), "seconds": round(seconds, 2),
                    "rows": int(len(df)), "versions": versions()}
        (out / "manifest.json").write_bytes(manifest_json(manifest))
    print(f"wrote {out / 'results.csv'}, {out / 'degradation.html'}, {out / 'manifest.json'} in {seconds:.1f} s",
          file=sys.stderr)
    return 0


def cmd_impute(args):
    import dataclasses

    from .datasets import load_dataset
    from .experiment import MissingConfig, RunConfig, check_run, make_mask, run_methods
    from .export import make_manifest, manifest_json, to_npz_bytes

    try:
        man = json.loads(Path(args.manifest).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{args.manifest} is not valid JSON ({exc.msg} at line {exc.lineno}).") from None
    for key in ("dataset", "missingness", "run"):
        if key not in man:
            raise ValueError(f"{args.manifest} has no '{key}' section; expected a manifest from the app.")
    spec = man["dataset"]
    if spec.get("source") == "upload" or spec.get("sha256"):
        if not args.data:
            raise ValueError(f"the manifest names an uploaded file ({spec.get('name')}); pass it with --data PATH.")
        import hashlib

        digest = hashlib.sha256(Path(args.data).read_bytes()).hexdigest()
        if spec.get("sha256") and digest != spec["sha256"]:
            raise ValueError(f"{args.data} is not the file of the manifest (its SHA-256 differs).")
        ds = load_dataset(args.data)
    else:
        ds = _load(spec["name"], spec.get("options"))
    mfields = {f.name for f in dataclasses.fields(MissingConfig)}
    mc = {k: v for k, v in man["missingness"].items() if k in mfields}
    if mc.get("pattern_freqs") is not None:
        mc["pattern_freqs"] = tuple(mc["pattern_freqs"].items())
    if mc.get("keep_probs") is not None:
        mc["keep_probs"] = tuple(mc["keep_probs"])
    mcfg = MissingConfig(**mc)
    rfields = {f.name for f in dataclasses.fields(RunConfig)}
    rc = {k: v for k, v in man["run"].items() if k in rfields}
    rc["methods"] = tuple(rc.get("methods", ("ul4m4",)))
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


def cmd_warmup(args):
    import numpy as np

    from .projection import project_2d

    t = time.perf_counter()
    project_2d([np.random.default_rng(0).normal(size=(80, 6))], "umap")
    print(f"UMAP is compiled ({time.perf_counter() - t:.1f} s).", file=sys.stderr)
    return 0


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    commands = {"sweep": cmd_sweep, "impute": cmd_impute, "warmup": cmd_warmup}
    try:
        return commands[args.command](args)
    except (ValueError, TypeError, OSError) as exc:
        print(f"python -m ul4m4 {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
