import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from ul4m4.cli import main


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
    (["sweep", "--rates", "0,x", "--out", "o"], "--rates: '0,x' should be numbers"),
    (["sweep", "--rates", "0,1", "--out", "o"], "rate 1.0 should be in [0, 1)"),
    (["sweep", "--methods", "ul4m4,magic", "--out", "o"], "methods ['magic'] not known"),
    (["sweep", "--mechanism", "nope", "--out", "o"], "invalid choice: 'nope'"),
    (["sweep", "--seeds", "0", "--out", "o"], "--seeds 0 should be at least 1"),
    (["sweep", "--dataset", "/no/such.npz", "--out", "o"], "No such file"),
    (["sweep"], "the following arguments are required: --out"),
    (["impute", "--manifest", "/no/such.json", "--out", "o"], "No such file"),
])
def test_bad_arguments_one_line_nonzero(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    try:
        rc = main(args)
    except SystemExit as exc:  # argparse's own errors exit through the parser
        rc = exc.code
    assert rc == 2
    lines = [line for line in capsys.readouterr().err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert message in lines[0]


def test_real_process_exit_status():
    root = str(__import__("pathlib").Path(__file__).parents[1])
    res = subprocess.run([sys.executable, "-m", "ul4m4", "sweep", "--rates", "0,2", "--out", "o"], capture_output=True,
                         text=True, env={"PYTHONPATH": root, "PATH": "/usr/bin:/bin"})
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == ["python -m ul4m4 sweep: error: rate 2.0 should be in [0, 1): a rate of 1 "
                                               "would leave nothing observed."]


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    out = capsys.readouterr().out
    for opt in ("--dataset", "--mechanism", "--rates", "--seeds", "--methods", "--classifier", "--k ", "--ks",
                "--apply-to", "--test-size", "--pm", "--strength", "--epochs", "--device", "--out"):
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
