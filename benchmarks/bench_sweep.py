"""Time the default degradation sweeps, the app's and the command line's, with the torch linear probe
against the old scikit-learn probe, and check that the scores agree.

    python benchmarks/bench_sweep.py                    # the targets' sweeps, best of 3, 2 threads
    python benchmarks/bench_sweep.py --app --repeats 5  # the app's sweeps only
    python benchmarks/bench_sweep.py --cli --old-code   # also the command at the fork point of this work

App: the Degradation page's sweep as the page runs it (in ``sweep_pool()``'s worker processes, and for
comparison in this process): the main sweep (rates 0, 0.2, 0.4,
0.6, 0.8, seeds 0-2, k = 10, the linear probe) and its default k-sensitivity (k = 2, 5, 10, 20, 40 at rate
0.4), sharing one store of finished units, with the issue's methods (UL4M4, mean, zero, kNN; target < 15 s
on 2 cores); with --defaults also the page's default selection (UL4M4, UL4M4 soft, mean, kNN, SoftImpute,
the ceiling). Also the page itself (streamlit.testing's AppTest, the form submitted with the issue's
methods): the same sweep plus the live curves and the final figures.
CLI: ``python -m ul4m4 sweep`` of issue 4 (mfeat, MCAR, those rates, 3 seeds, ul4m4,mean,zero,knn, linear;
target < 12 s) in a fresh process, wall clock from start to exit; with --defaults also the command's own
default methods.
Each is timed with the torch probe and with the old probe (StandardScaler and
LogisticRegression(max_iter=100) per unit, put in place of ``linear_probe_predictions``), interleaved,
best of ``--repeats``; the ratio is old / new, and the largest |F1 difference| over all units is printed.
The machine may be shared: the 1-minute load average is recorded before every timed run. Torch, BLAS
and OpenMP threads are set to ``--threads`` (default 2, the cores the targets name).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ISSUE_METHODS = ("ul4m4", "mean", "zero", "knn")
PAGE_METHODS = ("ul4m4", "ul4m4_soft", "mean", "knn", "softimpute", "complete")  # the page's default selection
CLI_DEFAULT_METHODS = "ul4m4,ul4m4_soft,mean,knn,softimpute"
CLI_ISSUE_ARGS = ["sweep", "--dataset", "mfeat", "--mechanism", "mcar", "--rates", "0,0.2,0.4,0.6,0.8", "--seeds", "3",
                  "--classifier", "linear"]
KEYS = ["method", "rate", "seed", "k"]


def sklearn_probes(units, *, C=1.0, max_iter=100, device=None, products=None):
    """The linear probe as it was: per unit, StandardScaler then LogisticRegression (lbfgs, 100 iterations)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    out = []
    for Xtr, ytr, Xte in units:
        scaler = StandardScaler().fit(Xtr)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = LogisticRegression(C=C, max_iter=max_iter).fit(scaler.transform(Xtr), ytr)
        out.append(clf.predict(scaler.transform(Xte)))
    return out


def use_probe(kind):
    """Put the torch ("torch") or the old scikit-learn ("sklearn") probe in the sweep."""
    import ul4m4.downstream
    import ul4m4.sweep

    ul4m4.sweep.linear_probe_predictions = (sklearn_probes if kind == "sklearn"
                                            else ul4m4.downstream.linear_probe_predictions)


def load():
    return round(os.getloadavg()[0], 2)


def app_configs(ds, methods):
    """The page's two sweeps for these methods (its defaults otherwise), as the page builds them."""
    from ul4m4.experiment import default_n_clusters
    from ul4m4.sweep import SweepConfig

    k = default_n_clusters(ds)
    main = SweepConfig(methods=tuple(methods), k=k)
    ks = SweepConfig(rates=(0.4,), methods=tuple(m for m in methods if m != "complete"), k=k, ks=(2, 5, 10, 20, 40))
    return main, ks


def app_sweep(ds, methods, probe, workers=None):
    """One run of the page's sweeps with a fresh store (in ``workers``, a ``sweep_pool``, as the page runs
    them, or in this process); returns seconds and the two tables. Like the page, rows are taken as they
    come (``iter_sweep``: the cells in table order, for the live curves)."""
    import pandas as pd

    from ul4m4.sweep import COLUMNS, iter_sweep

    use_probe(probe)
    store = {}
    t = time.perf_counter()
    tables = [pd.DataFrame(list(iter_sweep(ds, cfg, cache=store, workers=workers)), columns=COLUMNS)
              for cfg in app_configs(ds, methods)]
    return time.perf_counter() - t, tables


def ready_pool():
    """The page's worker processes (``sweep_pool()``, as the app makes them), started and idle; None on one core."""
    from ul4m4.sweep import sweep_pool

    pool = sweep_pool()
    if pool is not None:  # every worker busy at once for a moment: all started, the library imported
        for f in [pool.submit(time.sleep, 1.0) for _ in range(pool._max_workers)]:
            f.result()
    return pool


def max_f1_difference(a, b):
    """Largest |F1-micro| and |F1-macro| difference between two sweep tables, unit by unit."""
    m = a.merge(b, on=KEYS, suffixes=("_a", "_b"))
    if len(m) != len(a) or len(m) != len(b):
        raise RuntimeError(f"the tables do not hold the same units ({len(a)}, {len(b)}, {len(m)} matched)")
    return {f: float((m[f + "_a"] - m[f + "_b"]).abs().max()) for f in ("f1_micro", "f1_macro")}


def _worst(diffs):
    return {f: max(d[f] for d in diffs) for f in diffs[0]}


def bench_app(repeats, with_page=True, defaults=False, old=True):
    from ul4m4.datasets import load_dataset

    ds = load_dataset("mfeat")
    pool = ready_pool()
    out = {}
    variants = [("issue_methods", ISSUE_METHODS)] + ([("page_default_methods", PAGE_METHODS)] if defaults else [])
    for name, methods in variants:
        runs = {"torch": [], "workers": [], "sklearn": []}
        tables = {}
        for _ in range(repeats if name == "issue_methods" else 1):  # the defaults take minutes
            # The old probe is put in place in this process only: it runs here, as does the torch probe it is
            # compared with; the page's way, in worker processes, is timed beside them.
            for probe in ("torch", "workers", "sklearn") if old else ("torch", "workers"):
                if probe == "workers" and pool is None:
                    continue
                before = load()
                secs, tabs = app_sweep(ds, methods, "sklearn" if probe == "sklearn" else "torch",
                                       pool if probe == "workers" else None)
                runs[probe].append({"seconds": round(secs, 2), "load_before": before, "load_after": load()})
                tables[probe] = tabs
        use_probe("torch")
        if "workers" in tables:  # the same rows, whichever process ran them
            diff = _worst([max_f1_difference(a, b) for a, b in zip(tables["torch"], tables["workers"])])
            if max(diff.values()) != 0:
                raise RuntimeError(f"the worker processes' scores differ from this process's: {diff}")
        workers = {"n_workers": 0 if pool is None else pool._max_workers,
                   "best_in_workers_s": min((r["seconds"] for r in runs["workers"]), default=None)}
        if not old:
            out[name] = {"methods": list(methods), "runs": runs, "best_s": {"torch": min(r["seconds"] for r in runs["torch"])},
                         "units": int(sum(len(t) for t in tables["torch"])), **workers}
            print(json.dumps({"app": {name: out[name]}}), flush=True)
            continue
        best = {p: min(r["seconds"] for r in v) for p, v in runs.items() if v}
        out[name] = {"methods": list(methods), "runs": runs, "best_s": best, **workers,
                     "ratio_old_over_new": round(best["sklearn"] / best["torch"], 2),
                     "units": int(sum(len(t) for t in tables["torch"])),
                     "max_abs_f1_difference": _worst([max_f1_difference(a, b)
                                                      for a, b in zip(tables["torch"], tables["sklearn"])])}
        print(json.dumps({"app": {name: out[name]}}), flush=True)
    if with_page:
        out["page_issue_methods"] = bench_page(repeats)
        print(json.dumps({"app": {"page_issue_methods": out["page_issue_methods"]}}), flush=True)
    return out


def bench_page(repeats):
    """The Degradation page itself (AppTest), the form submitted with the issue's methods."""
    from streamlit.testing.v1 import AppTest

    runs = []
    for _ in range(repeats):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600).run()
        at.switch_page("views/4_Degradation.py").run()
        at.multiselect(key="deg_methods").set_value(list(ISSUE_METHODS))
        button = [b for b in at.button if b.label == "Run sweep"][0]
        before = load()
        t = time.perf_counter()
        button.click().run()
        secs = time.perf_counter() - t
        if at.exception or at.error:
            raise RuntimeError(f"the page failed: {[e.value for e in [*at.exception, *at.error]]}")
        runs.append({"seconds": round(secs, 2), "load_before": before, "load_after": load(),
                     "charts": len(at.get("plotly_chart"))})
    return {"runs": runs, "best_s": min(r["seconds"] for r in runs)}


def _cpu_seconds(pids):
    """User + system CPU seconds of these processes so far (Linux /proc; ended ones count 0)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


def _chromium_pids():
    out = subprocess.run(["pgrep", "-f", "chromium"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def bench_browser(repeats, server_env=None):
    """The issue's four methods through the Degradation page in headless chromium, each run on a fresh
    server: Home opened, Degradation clicked in the sidebar, the method list changed by clicks to UL4M4,
    mean, zero and kNN (k-sensitivity left on, as by default), Run sweep clicked; timed from the click to
    the page idle with the k-sensitivity chart drawn. Also the CPU seconds the server and chromium used."""
    sys.path.insert(0, str(ROOT / "tests"))
    from browser import ARGS, CHROMIUM, streamlit_process, wait_idle
    from playwright.sync_api import sync_playwright

    runs = []
    for _ in range(repeats):
        with streamlit_process(env=server_env) as (url, proc), sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = b.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            wait_idle(page)
            page.get_by_role("link", name="Degradation").first.click()
            wait_idle(page)
            for label in ("UL4M4 soft, auto", "SoftImpute", "Complete data (ceiling)"):
                page.get_by_role("button", name=f"Remove {label}").click()
            box = page.locator("[data-testid='stMultiSelect'] input").first
            box.click()
            box.fill("Zero")
            page.keyboard.press("Enter")
            page.keyboard.press("Escape")
            chosen = page.locator("[data-testid='stMultiSelect'] [data-tag]").all_inner_texts()
            if sorted(chosen) != sorted(["UL4M4 (paper)", "Mean", "kNN", "Zero fill"]):
                raise RuntimeError(f"the method list reads {chosen}, not the issue's four methods")
            time.sleep(2)  # the server's warm-up thread (numba) and the page settle
            before, cpu = load(), (_cpu_seconds([proc.pid]), _cpu_seconds(_chromium_pids()))
            t = time.perf_counter()
            page.get_by_role("button", name="Run sweep").click()
            wait_idle(page, timeout=600_000)
            page.wait_for_selector(".st-key-fig_deg_k .js-plotly-plot", timeout=60_000)
            secs = time.perf_counter() - t
            errors = page.locator("[data-testid='stException'], [data-testid='stAlertContentError']").all_inner_texts()
            if errors:
                raise RuntimeError(f"the page failed: {errors}")
            runs.append({"seconds": round(secs, 2), "load_before": before, "load_after": load(),
                         "server_cpu_s": round(_cpu_seconds([proc.pid]) - cpu[0], 1),
                         "chromium_cpu_s": round(_cpu_seconds(_chromium_pids()) - cpu[1], 1)})
            print(json.dumps({"browser": runs[-1]}), flush=True)
            b.close()
    return {"runs": runs, "best_s": min(r["seconds"] for r in runs)}


def cli_env(threads, pythonpath):
    return {**os.environ, "PYTHONPATH": str(pythonpath), "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)}


def run_cli(args, probe, threads, cwd=ROOT, pythonpath=ROOT):
    """Seconds of one ``python -m ul4m4`` process (start to exit) and its results table."""
    with tempfile.TemporaryDirectory() as d:
        if probe == "torch":
            cmd = [sys.executable, "-m", "ul4m4", *args, "--out", d]
        else:
            code = ("import sys; sys.path.insert(0, 'benchmarks'); import bench_sweep; bench_sweep.use_probe('sklearn'); "
                    "from ul4m4.cli import main; sys.exit(main(sys.argv[1:]))")
            cmd = [sys.executable, "-c", code, *args, "--out", d]
        before = load()
        t = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, env=cli_env(threads, pythonpath))
        secs = time.perf_counter() - t
        return {"seconds": round(secs, 2), "load_before": before, "load_after": load()}, pd.read_csv(Path(d) / "results.csv")


def bench_cli(repeats, threads, old_code=None, defaults=False, old=True):
    out = {}
    variants = [("issue4", ",".join(ISSUE_METHODS))] + ([("cli_default_methods", CLI_DEFAULT_METHODS)] if defaults else [])
    for name, methods in variants:
        args = [*CLI_ISSUE_ARGS, "--methods", methods]
        runs, tables = {"torch": [], "sklearn": []}, {}
        for _ in range(repeats if name == "issue4" else 1):  # the defaults take minutes
            for probe in ("torch", "sklearn") if old else ("torch",):
                r, tables[probe] = run_cli(args, probe, threads)
                runs[probe].append(r)
        if not old:
            out[name] = {"command": "python -m ul4m4 " + " ".join(args), "runs": runs,
                         "best_s": {"torch": min(r["seconds"] for r in runs["torch"])}}
            print(json.dumps({"cli": {name: out[name]}}), flush=True)
            continue
        best = {p: min(r["seconds"] for r in v) for p, v in runs.items()}
        out[name] = {"command": "python -m ul4m4 " + " ".join(args), "runs": runs, "best_s": best,
                     "ratio_old_over_new": round(best["sklearn"] / best["torch"], 2),
                     "max_abs_f1_difference": max_f1_difference(tables["torch"], tables["sklearn"])}
        print(json.dumps({"cli": {name: out[name]}}), flush=True)
    if old_code:
        out["issue4_at_" + old_code[:7]] = bench_old_code(old_code, threads, out["issue4"]["command"])
    return out


def bench_old_code(commit, threads, command):
    """The issue-4 command with the code of ``commit`` (unpacked with git archive), once."""
    with tempfile.TemporaryDirectory() as d:
        tar = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", d], input=tar, check=True)
        r, _ = run_cli([*CLI_ISSUE_ARGS, "--methods", ",".join(ISSUE_METHODS)], "torch", threads, cwd=d, pythonpath=d)
    return {"commit": commit, **r}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--app", action="store_true", help="the app's sweeps only")
    ap.add_argument("--cli", action="store_true", help="the command line only")
    ap.add_argument("--browser", action="store_true",
                    help="the issue's four methods through the page in headless chromium (fresh server per run)")
    ap.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                    help="with --browser: an environment variable for the server (repeatable), e.g. "
                         "OMP_WAIT_POLICY=ACTIVE to override the app's own setting")
    ap.add_argument("--no-page", action="store_true", help="skip the AppTest run of the page")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each (best is reported; default 3)")
    ap.add_argument("--threads", type=int, default=2, help="torch, BLAS and OpenMP threads (default 2)")
    ap.add_argument("--defaults", action="store_true",
                    help="also the page's and the command's own default methods (with UL4M4 soft and SoftImpute; "
                         "minutes, one run of each with the old probe)")
    ap.add_argument("--no-old", action="store_true", help="time the torch probe only (no scikit-learn probe runs)")
    ap.add_argument("--old-code", default=None, metavar="COMMIT",
                    help="also time the issue-4 command with the code of COMMIT (e.g. the fork point)")
    args = ap.parse_args()
    import torch
    from threadpoolctl import threadpool_limits

    from ul4m4.validation import UL4M4Warning

    warnings.simplefilter("ignore", UL4M4Warning)  # mfeat's near-constant features, said at every UL4M4 fit
    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    both = not (args.app or args.cli or args.browser)
    res = {"threads": args.threads, "cpus": os.cpu_count(), "load_at_start": load()}
    if args.app or both:
        res["app"] = bench_app(args.repeats, with_page=not args.no_page, defaults=args.defaults, old=not args.no_old)
    if args.cli or both:
        res["cli"] = bench_cli(args.repeats, args.threads, args.old_code, args.defaults, old=not args.no_old)
    if args.browser:
        env = dict(item.split("=", 1) for item in args.server_env) or None
        res["browser"] = bench_browser(args.repeats, env)
        res["browser"]["server_env"] = env
    res["load_at_end"] = load()
    (ROOT / "artifacts").mkdir(exist_ok=True)
    (ROOT / "artifacts" / "bench_sweep.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
    for name, r in res.get("app", {}).items():
        if r.get("best_in_workers_s") is not None:
            print(f"app sweep, {name}: {r['best_in_workers_s']:.1f} s in {r['n_workers']} worker processes "
                  f"(as the page runs it), {r['best_s']['torch']:.1f} s in one process "
                  f"({r['best_s']['torch'] / r['best_in_workers_s']:.2f}x), the same scores"
                  + (" (target < 15 s)" if name == "issue_methods" else ""))
        if "ratio_old_over_new" not in r and "methods" in r:
            print(f"app sweep, {name}: {r['best_s']['torch']:.1f} s with the torch probe, {r['units']} units")
        elif "ratio_old_over_new" in r:
            print(f"app sweep, {name}: {r['best_s']['torch']:.1f} s with the torch probe, {r['best_s']['sklearn']:.1f} s "
                  f"with the old probe ({r['ratio_old_over_new']}x), {r['units']} units, max |F1 difference| "
                  f"micro {r['max_abs_f1_difference']['f1_micro']:.2g} macro {r['max_abs_f1_difference']['f1_macro']:.2g}"
                  + (" (target < 15 s)" if name == "issue_methods" else ""))
        else:
            print(f"app page, issue's methods (AppTest, sweep + live curves + figures): {r['best_s']:.1f} s")
    if "browser" in res:
        print("browser, issue's methods (fresh server, click to k-sensitivity chart): "
              + ", ".join(f"{r['seconds']:.1f}" for r in res["browser"]["runs"]) + " s (target < 15 s)")
    for name, r in res.get("cli", {}).items():
        if "ratio_old_over_new" not in r and "command" in r:
            print(f"cli {name}: {r['best_s']['torch']:.1f} s" + (" (target < 12 s)" if name == "issue4" else ""))
        elif "ratio_old_over_new" in r:
            print(f"cli {name}: {r['best_s']['torch']:.1f} s, old probe {r['best_s']['sklearn']:.1f} s "
                  f"({r['ratio_old_over_new']}x), max |F1 difference| micro {r['max_abs_f1_difference']['f1_micro']:.2g} "
                  f"macro {r['max_abs_f1_difference']['f1_macro']:.2g}" + (" (target < 12 s)" if name == "issue4" else ""))
        else:
            print(f"cli issue4 with the code of {r['commit'][:7]}: {r['seconds']:.1f} s")
    print(f"load average (1 min): {res['load_at_start']} at start, {res['load_at_end']} at the end; per run in the JSON")


if __name__ == "__main__":
    main()
