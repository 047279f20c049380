import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ul4m4.cli import main

ROOT = Path(__file__).parents[1]  # the repository, put on PYTHONPATH for the command's own process


def test_sweep_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["sweep", "--dataset", "breast_cancer", "--rates", "0,0.4", "--seeds", "2", "--methods",
               "ul4m4,mean,zero,knn", "--classifier", "linear", "--ks", "2,4", "--out", str(out)])
    assert rc == 0
    df = pd.read_csv(out / "results.csv")
    assert set(df["method"]) == {"ul4m4", "mean", "zero", "knn"} and len(df) == 2 * 2 * 5
    assert (out / "degradation.html").read_text().count("plotly") > 10
    man = json.loads((out / "manifest.json").read_text())
    assert man["sweep"]["rates"] == [0.0, 0.4] and man["sweep"]["seeds"] == [0, 1] and "versions" in man
    assert "[20/20]" in capsys.readouterr().err  # progress on stderr


@pytest.mark.parametrize("args, message", [
    (["sweep", "--rates", "0,x"], "--rates: '0,x' should be numbers"),
    (["sweep", "--rates", "0,1"], "rate 1.0 should be below 1 (a fraction in [0, 1))"),
    (["sweep", "--methods", "ul4m4,magic"], "methods ['magic'] not known"),
    (["sweep", "--mechanism", "nope"], "invalid choice: 'nope'"),
    (["sweep", "--seeds", "0"], "--seeds 0 should be at least 1"),
    (["sweep", "--test-size", "1.5", "--rates", "0"], "test_size=1.5 should be in (0, 1)"),
    (["sweep", "--dataset", "/no/such.npz"], "No such file"),
    (["impute", "--manifest", "/no/such.json"], "No such file"),
])
def test_bad_arguments_one_line_nonzero_and_no_folder(args, message, tmp_path, capsys):
    out = tmp_path / "deep" / "o"
    try:
        rc = main([*args, "--out", str(out)])
    except SystemExit as exc:  # argparse's own errors exit through the parser
        rc = exc.code
    assert rc == 2
    lines = [line for line in capsys.readouterr().err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert message in lines[0]
    assert not (tmp_path / "deep").exists()  # a run that does not go ahead leaves no folder behind


def test_out_is_required(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["sweep"])
    assert exc.value.code == 2
    assert "the following arguments are required: --out" in capsys.readouterr().err


def test_real_process_exit_status(tmp_path):
    root = str(ROOT)
    res = subprocess.run([sys.executable, "-m", "ul4m4", "sweep", "--rates", "0,2", "--out", "o"], capture_output=True,
                         text=True, env={"PYTHONPATH": root, "PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == ["python -m ul4m4 sweep: error: rate 2.0 should be below 1 (a fraction in "
                                               "[0, 1)): a rate of 1 would leave nothing observed."]
    assert list(tmp_path.iterdir()) == []


def test_the_command_leaves_with_its_status_and_no_worker_behind(tmp_path):
    """The command's process leaves as soon as its work is written (``cli.run``), after its worker processes."""
    root = str(ROOT)
    out = tmp_path / "a-folder-named-for-this-test"
    res = subprocess.run([sys.executable, "-m", "ul4m4", "sweep", "--dataset", "breast_cancer", "--rates", "0,0.4",
                          "--seeds", "2", "--methods", "mean,knn", "--workers", "2", "--out", str(out)],
                         capture_output=True, text=True, env={"PYTHONPATH": root, "PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stderr.splitlines()[-1].startswith(f"wrote {out / 'results.csv'}")
    assert sorted(p.name for p in out.iterdir()) == ["degradation.html", "manifest.json", "results.csv"]
    assert len(pd.read_csv(out / "results.csv")) == 8
    proc = Path("/proc")
    if proc.is_dir():  # no worker outlived the command (a forked worker has the command's own command line)
        alive = []
        for cmdline in proc.glob("[0-9]*/cmdline"):
            try:
                alive += [cmdline] if out.name.encode() in cmdline.read_bytes() else []
            except OSError:  # a process that ended meanwhile
                pass
        assert alive == []


def test_a_reader_that_leaves_early_does_not_cost_the_results(tmp_path):
    """``python -m ul4m4 sweep ... 2>&1 | head``: the progress lines stop when their reader has gone; the sweep
    finishes, writes its files and says so with its status."""
    root = str(ROOT)
    p = subprocess.Popen([sys.executable, "-m", "ul4m4", "sweep", "--dataset", "breast_cancer", "--rates", "0,0.4",
                          "--seeds", "2", "--methods", "mean,knn", "--out", "o"], stderr=subprocess.PIPE,
                         stdout=subprocess.PIPE, env={"PYTHONPATH": root, "PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert p.stderr.read(20)  # the first progress line, then the reader leaves
    p.stderr.close()
    assert p.stdout.read() == b"" and p.wait(timeout=300) == 0
    assert sorted(q.name for q in (tmp_path / "o").iterdir()) == ["degradation.html", "manifest.json", "results.csv"]


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    out = capsys.readouterr().out
    for opt in ("--dataset", "--mechanism", "--rates", "--seeds", "--methods", "--classifier", "--k ", "--ks",
                "--apply-to", "--test-size", "--pm", "--strength", "--epochs", "--device", "--keep-going", "--out"):
        assert opt in out


def test_impute_repeats_a_manifest(tmp_path):
    from ul4m4 import load_dataset
    from ul4m4.experiment import MissingConfig, RunConfig, make_mask, run_methods
    from ul4m4.export import make_manifest, manifest_json

    ds = load_dataset("breast_cancer")
    mcfg = MissingConfig(rate=0.3, seed=4)
    rcfg = RunConfig(methods=("ul4m4", "mean"), n_clusters=3, seed=2)
    mres = make_mask(ds, mcfg)
    run = run_methods(ds, mres, rcfg)
    (tmp_path / "manifest.json").write_bytes(manifest_json(make_manifest({"name": "breast_cancer"}, mcfg, rcfg, mres)))
    assert main(["impute", "--manifest", str(tmp_path / "manifest.json"), "--out", str(tmp_path / "o")]) == 0
    again = load_dataset(tmp_path / "o" / "completed_ul4m4.npz")
    for a, b in zip(again.Xs, run.completed["ul4m4"]):
        assert np.array_equal(a, b)
    assert np.array_equal(again.mask, mres.mask)


def test_impute_needs_the_uploaded_file(tmp_path):
    man = {"dataset": {"name": "mine.npz", "source": "upload", "sha256": "ab"}, "missingness": {}, "run": {}}
    (tmp_path / "m.json").write_text(json.dumps(man))
    assert main(["impute", "--manifest", str(tmp_path / "m.json"), "--out", str(tmp_path / "o")]) == 2


def breast_cancer_manifest(tmp_path, methods, n_clusters=3):
    from ul4m4 import load_dataset
    from ul4m4.experiment import MissingConfig, RunConfig, make_mask
    from ul4m4.export import make_manifest, manifest_json

    ds = load_dataset("breast_cancer")
    mcfg = MissingConfig(rate=0.3, seed=4)
    rcfg = RunConfig(methods=methods, n_clusters=n_clusters, seed=2)
    path = tmp_path / "manifest.json"
    path.write_bytes(manifest_json(make_manifest({"name": "breast_cancer"}, mcfg, rcfg, make_mask(ds, mcfg))))
    return path


def test_impute_data_must_match_what_the_manifest_names(tmp_path, capsys):
    """--data with a bundled data set's manifest would be ignored: refused. A manifest of an uploaded file
    without its SHA-256 runs on --data with a warning, and the new manifest names the file actually read."""
    import fuzz

    data = tmp_path / "mine.npz"
    rng = np.random.default_rng(0)
    data.write_bytes(fuzz.npz_bytes(a=rng.normal(size=(40, 3)), b=rng.normal(size=(40, 2)), y=np.arange(40) % 2))
    rc, lines = run_cli(["impute", "--manifest", str(write_manifest(tmp_path, fuzz.small_manifest())), "--data",
                         str(data), "--out", str(tmp_path / "o")], capsys)
    assert rc == 2 and len(lines) == 1 and "names the bundled data set 'breast_cancer'" in lines[0], lines
    assert not (tmp_path / "o").exists()
    man = fuzz.small_manifest() | {"dataset": {"name": "old name.npz", "source": "upload"}}
    rc, lines = run_cli(["impute", "--manifest", str(write_manifest(tmp_path, man)), "--data", str(data), "--out",
                         str(tmp_path / "o")], capsys)
    assert rc == 0 and any("warning: the manifest holds no SHA-256" in line for line in lines), lines
    import hashlib

    written = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert written["dataset"] == {"name": "mine.npz", "source": "upload",
                                  "sha256": hashlib.sha256(data.read_bytes()).hexdigest()}


def test_impute_without_ul4m4_writes_its_manifest(tmp_path):
    # Only baselines: there is no UL4M4 model, so no Lloyd iterations to report; the manifest is still written.
    man = breast_cancer_manifest(tmp_path, ("mean", "zero"))
    assert main(["impute", "--manifest", str(man), "--out", str(tmp_path / "o")]) == 0
    written = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert written["run"]["methods"] == ["mean", "zero"] and "n_iter" not in written
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["completed_mean.npz", "completed_zero.npz",
                                                                   "errors.csv", "manifest.json"]


def test_impute_with_impossible_settings_leaves_no_folder(tmp_path, capsys):
    man = breast_cancer_manifest(tmp_path, ("ul4m4",), n_clusters=1000)
    assert main(["impute", "--manifest", str(man), "--out", str(tmp_path / "o")]) == 2
    assert "k=1000 clusters is more than the 398 training samples" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_run_failing_midway_removes_the_folder_it_created(tmp_path, monkeypatch):
    import ul4m4.sweep

    def broken(*args, **kwargs):
        raise ValueError("at rate 0.8 (seed 0) a modality has no observed training sample")

    monkeypatch.setattr(ul4m4.sweep, "run_sweep", broken)
    keep = tmp_path / "existing"
    keep.mkdir()
    assert main(["sweep", "--dataset", "breast_cancer", "--out", str(keep / "new" / "o")]) == 2
    assert list(keep.iterdir()) == []  # created folders removed, the one that was there kept
    assert main(["sweep", "--dataset", "breast_cancer", "--out", str(keep)]) == 2
    assert keep.is_dir()


def test_sweep_with_the_new_methods(tmp_path):
    out = tmp_path / "run"
    rc = main(["sweep", "--dataset", "breast_cancer", "--rates", "0.4", "--seeds", "1", "--methods",
               "ul4m4_soft,softimpute,mean,ul4m4_lowrank", "--out", str(out)])
    assert rc == 0
    df = pd.read_csv(out / "results.csv")
    assert set(df["method"]) == {"ul4m4_soft", "softimpute", "mean", "ul4m4_lowrank"}
    mse = df.set_index("method")["imputation_mse"]
    assert mse["softimpute"] < mse["mean"] and mse["ul4m4_soft"] < mse["mean"] and mse["ul4m4_lowrank"] < mse["mean"]


# ---------------------------------------------------------------------------------------------------
# Hostile command lines and manifests: one line on stderr, exit status 2, nothing written
# ---------------------------------------------------------------------------------------------------
def run_cli(args, capsys):
    try:
        rc = main(args)
    except SystemExit as exc:  # argparse's own errors exit through the parser
        rc = exc.code
    err = capsys.readouterr().err
    return rc, [line for line in err.strip().splitlines() if line.strip()]


@pytest.mark.parametrize("args, message", [
    (["--seeds", "1000000000000"], "more than the 1000 seeds"),
    (["--seeds", "0,-1"], "seeds must be at least 0"),
    (["--seeds", "0," + "9" * 30], "is too large"),
    (["--epochs", "0"], "--epochs 0 should be between 1 and 10000"),
    (["--epochs", "99999999"], "should be between 1 and 10000"),
    (["--strength", "nan"], "--strength nan should be a finite number"),
    (["--strength", "inf"], "should be a finite number"),
    (["--pm", "nan"], "--pm nan should be a finite number"),
    (["--test-size", "nan"], "--test-size nan should be a finite number"),
    (["--rates", "0,nan"], "rates must be finite numbers"),
    (["--rates", ",".join(["0.1"] * 101)], "101 rates given; at most 100"),
    (["--k", "0"], "--k 0 should be between 1"),
    (["--ks", "0,2"], "k values must be at least 1"),
    (["--methods", "ul4m4,ul4m4"], "names one twice"),
    (["--methods", " , "], "holds no names"),
])
def test_hostile_sweep_arguments(args, message, tmp_path, capsys):
    rc, lines = run_cli(["sweep", "--dataset", "breast_cancer", *args, "--out", str(tmp_path / "o")], capsys)
    assert rc == 2 and len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "o").exists()


def write_manifest(tmp_path, man):
    p = tmp_path / "m.json"
    p.write_bytes(man if isinstance(man, bytes) else json.dumps(man).encode())
    return p


def with_field(section, key, value):
    from fuzz import small_manifest

    man = small_manifest()
    man[section][key] = value
    return man


def synthetic_manifest(**options):
    return with_field("dataset", "options", options) | {"dataset": {"name": "synthetic", "options": options}}


@pytest.mark.parametrize("man, message", [
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b"[]", "holds a JSON list; expected an object"),
    (b"\xff\xfe{", "not UTF-8"),
    ({"dataset": [], "missingness": {}, "run": {}}, "'dataset' is a JSON list; expected an object"),
    (with_field("run", "methods", []), "run.methods is empty"),
    (with_field("run", "methods", "ul4m4"), 'run.methods="ul4m4" should be tuple'),
    (with_field("run", "methods", [1]), "run.methods[]=1 should be str"),
    (with_field("run", "n_clusters", "ten"), 'run.n_clusters="ten" should be int'),
    (with_field("run", "seed", -1), "run.seed=-1 should be at least 0"),
    (with_field("run", "seed", 10**30), "run.seed=1000000000000000000000000000000 should be int"),
    (with_field("missingness", "rate", float("nan")), "missingness.rate=NaN should be None or float or int"),
    (with_field("missingness", "keep_probs", "x"), 'missingness.keep_probs="x" should be None or tuple'),
    (with_field("missingness", "pattern_freqs", [1]), "missingness.pattern_freqs=[1] should be None or dict"),
    (with_field("dataset", "name", 5), "dataset.name=5 should be str"),
    (synthetic_manifest(bogus=1), "['bogus'] are not options of the synthetic generator"),
    (synthetic_manifest(n_samples=10**12, dims=500), "Generating this synthetic data needs about"),
    (synthetic_manifest(dims="x"), 'dataset.options.dims="x" should be int or tuple'),
    (synthetic_manifest(dims=[4, "x", 4], n_modalities=3), 'dataset.options.dims[]="x" should be int'),
    (with_field("dataset", "name", "/etc/passwd"), 'dataset.name="/etc/passwd" is not a bundled data set'),
    (with_field("dataset", "name", "t.csv"), 'dataset.name="t.csv" is not a bundled data set'),
    (with_field("dataset", "note", float("nan")), "dataset has an unknown setting 'note'"),
    (with_field("dataset", "source", "web"), 'dataset.source="web" should be "upload"'),
    (with_field("dataset", "options", {"n_samples": 50}), "dataset.options apply to the synthetic data set only"),
], ids=lambda v: v[:40] if isinstance(v, str) else "manifest")
def test_hostile_manifests(man, message, tmp_path, capsys):
    rc, lines = run_cli(["impute", "--manifest", str(write_manifest(tmp_path, man)), "--out", str(tmp_path / "o")],
                        capsys)
    assert rc == 2 and len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "o").exists()


def test_a_manifest_too_large_to_be_one_is_not_read(tmp_path, capsys):
    p = tmp_path / "m.json"
    p.write_bytes(b" " * (2 << 20))
    rc, lines = run_cli(["impute", "--manifest", str(p), "--out", str(tmp_path / "o")], capsys)
    assert rc == 2 and "the limit is 1 MB" in lines[0]


def _fuzz_manifests(rng, n, tmp_path, capsys):
    from fuzz import manifest_variants

    outcomes = {0: 0, 2: 0}
    for i, text in enumerate(manifest_variants(rng, n)):
        out = tmp_path / f"o{i}"
        rc, lines = run_cli(["impute", "--manifest", str(write_manifest(tmp_path, text)), "--out", str(out)], capsys)
        assert rc in (0, 2), (text[:300], lines)
        if rc == 2:
            assert len(lines) == 1 and not out.exists(), (text[:300], lines)
        outcomes[rc] += 1
    return outcomes


def test_ill_typed_manifests_exit_2_with_one_line(tmp_path, capsys):
    outcomes = _fuzz_manifests(np.random.default_rng(0), 40, tmp_path, capsys)
    assert outcomes[2] >= 20, outcomes


@pytest.mark.slow
def test_ill_typed_manifests_many(tmp_path, capsys):
    _fuzz_manifests(np.random.default_rng(1), 400, tmp_path, capsys)


def test_epochs_zero_no_longer_reports_a_score(tmp_path, capsys):
    rc, lines = run_cli(["sweep", "--dataset", "breast_cancer", "--classifier", "fusion", "--epochs", "0", "--rates",
                         "0", "--seeds", "1", "--methods", "mean", "--out", str(tmp_path / "o")], capsys)
    assert rc == 2 and not (tmp_path / "o").exists()


def test_unexpected_errors_are_one_line_with_status_1(tmp_path, capsys, monkeypatch):
    import ul4m4.sweep

    def bug(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(ul4m4.sweep, "run_sweep", bug)
    rc, lines = run_cli(["sweep", "--dataset", "breast_cancer", "--out", str(tmp_path / "o")], capsys)
    assert rc == 1 and len(lines) == 1 and "internal error (KeyError" in lines[0]


def test_warnings_are_one_line_each_and_not_repeated(tmp_path, capsys, monkeypatch):
    """Library warnings (scikit-learn's, numpy's, ours) reach the terminal once each, on one line, without
    the library file and source line Python's default shows."""
    import warnings

    import ul4m4.sweep
    from sklearn.exceptions import ConvergenceWarning

    def noisy(*args, **kwargs):
        for _ in range(3):
            warnings.warn("lbfgs failed to converge.\nIncrease the number of iterations.", ConvergenceWarning)
            np.log(np.zeros(1))  # numpy: divide by zero
            warnings.warn("a warning of ours", UserWarning)
        raise ValueError("stop here")

    monkeypatch.setattr(ul4m4.sweep, "run_sweep", noisy)
    rc, lines = run_cli(["sweep", "--dataset", "breast_cancer", "--out", str(tmp_path / "o")], capsys)
    assert rc == 2
    assert lines[:3] == [
        "python -m ul4m4 sweep: warning (ConvergenceWarning): lbfgs failed to converge. Increase the number of "
        "iterations.",
        "python -m ul4m4 sweep: warning (RuntimeWarning): divide by zero encountered in log",
        "python -m ul4m4 sweep: warning: a warning of ours"]
    assert len(lines) == 4 and "error: stop here" in lines[3]


def test_a_methods_warning_in_a_sweep_has_the_commands_form(tmp_path, capsys, monkeypatch):
    # The sweep passes a method's warning on once ("method: message"); the terminal shows it in the same
    # one-line form as every other warning of the command.
    import ul4m4.sweep

    def warns(ds, cfg, callback=None, **kwargs):
        for _ in range(2):
            callback({"stage": "warning", "method": "ul4m4", "text": "ul4m4: centres\nfar from the data"})
        raise ValueError("stop here")

    monkeypatch.setattr(ul4m4.sweep, "run_sweep", warns)
    rc, lines = run_cli(["sweep", "--dataset", "breast_cancer", "--out", str(tmp_path / "o")], capsys)
    assert rc == 2
    assert lines[:2] == ["python -m ul4m4 sweep: warning: ul4m4: centres far from the data"] * 2
    assert "error: stop here" in lines[2]


@pytest.mark.parametrize("case", ["earlier run", "empty path", "a file", "dangling link", "link loop",
                                  "under a file"])
def test_out_is_a_new_or_empty_folder(tmp_path, capsys, case):
    out = tmp_path / "out"
    if case == "earlier run":
        out.mkdir()
        (out / "results.csv").write_text("an earlier run's results\n")
    elif case in ("a file", "under a file"):
        out.write_text("x")
    elif case == "dangling link":
        out.symlink_to(tmp_path / "nowhere")
    elif case == "link loop":
        out.symlink_to(tmp_path / "other")
        (tmp_path / "other").symlink_to(out)
    target = "" if case == "empty path" else str(out / "sub") if case == "under a file" else str(out)
    rc = main(["sweep", "--dataset", "breast_cancer", "--rates", "0,0.3", "--seeds", "1", "--methods", "mean",
               "--out", target])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert {"earlier run": "already holds files", "empty path": "--out is empty", "a file": "is a file, not a folder",
            "dangling link": "is a symbolic link to nothing", "link loop": "is a symbolic link to nothing",
            "under a file": "could not be created"}[case] in err
    if case == "earlier run":  # untouched
        assert (out / "results.csv").read_text() == "an earlier run's results\n" and len(list(out.iterdir())) == 1


def test_a_failed_run_removes_what_it_wrote(tmp_path, monkeypatch, capsys):
    import ul4m4.plotting as plotting

    def broken(*a, **k):
        raise ValueError("the figures failed")

    monkeypatch.setattr(plotting, "sweep_figures", broken)  # after results.csv was written
    out = tmp_path / "new" / "out"
    rc = main(["sweep", "--dataset", "breast_cancer", "--rates", "0,0.3", "--seeds", "1", "--methods", "mean",
               "--out", str(out)])
    assert rc == 2 and "the figures failed" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('"rate"', '"ratee"', 1), "missingness has an unknown setting 'ratee'"),
    (lambda t: t.replace('"n_clusters"', '"n_cluster"', 1), "run has an unknown setting 'n_cluster'"),
    (lambda t: t.replace('"run": {', '"run": {"seed": 7, ', 1), "gives the key 'seed' twice in one object"),
])
def test_a_misspelt_or_repeated_manifest_setting_is_refused(tmp_path, capsys, edit, message):
    # Ignored, a misspelt setting would run with the default; repeated, the last would silently win.
    man = breast_cancer_manifest(tmp_path, ("mean",))
    man.write_text(edit(man.read_text()))
    assert main(["impute", "--manifest", str(man), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and not (tmp_path / "o").exists()


def test_keep_going_leaves_failing_units_out_and_exits_3(tmp_path, monkeypatch, capsys):
    """Without --keep-going a failing unit stops the sweep (status 2, nothing left behind); with it, the unit is
    left out, said on stderr and listed in the manifest, the rest is written, and the status is 3."""
    import ul4m4.sweep as sw

    real = sw.complete_split

    def patched(method, dataset, mres, rc):
        if method == "knn" and (~mres.mask).mean() > 0.25 and rc.seed == 1:
            raise ValueError("no donor shares a modality")
        return real(method, dataset, mres, rc)

    monkeypatch.setattr(sw, "complete_split", patched)
    monkeypatch.setenv("UL4M4_SWEEP_WORKERS", "0")  # the failures are made in this process, not in workers
    args = ["sweep", "--dataset", "breast_cancer", "--rates", "0,0.4", "--seeds", "2", "--methods", "mean,knn"]
    assert main(args + ["--out", str(tmp_path / "a")]) == 2
    assert "method 'knn' at rate 0.4 (seed 1) failed: no donor shares a modality" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
    out = tmp_path / "b"
    assert main(args + ["--keep-going", "--out", str(out)]) == 3
    err = capsys.readouterr().err
    assert "python -m ul4m4 sweep: left out: knn at rate 0.4, seed 1: no donor shares a modality" in err
    assert "1 unit left out (listed above and in the manifest)" in err
    df = pd.read_csv(out / "results.csv")
    assert len(df) == 7 and not ((df["method"] == "knn") & (df["rate"] == 0.4) & (df["seed"] == 1)).any()
    man = json.loads((out / "manifest.json").read_text())
    assert man["left_out"] == [{"method": "knn", "rate": 0.4, "seed": 1, "k": None, "error_type": "ValueError",
                                "message": "no donor shares a modality", "expected": True}]
    assert man["rows"] == 7
    # Nothing failing: status 0 and an empty list.
    assert main(["sweep", "--dataset", "breast_cancer", "--rates", "0,0.4", "--seeds", "1", "--methods", "mean",
                 "--keep-going", "--out", str(tmp_path / "c")]) == 0
    assert json.loads((tmp_path / "c" / "manifest.json").read_text())["left_out"] == []
