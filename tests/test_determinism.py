"""Same data, settings and seed give bit-identical results on CPU, in two separate processes."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import hashlib, warnings
warnings.simplefilter("ignore")
import numpy as np
from ul4m4 import load_dataset
from ul4m4.experiment import MissingConfig, RunConfig, make_mask, run_methods
from ul4m4.sweep import SweepConfig, run_sweep

h = hashlib.sha256()
ds = load_dataset("breast_cancer")
m = make_mask(ds, MissingConfig(rate=0.4, seed=7))
h.update(m.mask.tobytes())
run = run_methods(ds, m, RunConfig(methods=("ul4m4", "knn", "mean"), n_clusters=4, seed=3))
for method in sorted(run.completed):
    for X in run.completed[method]:
        h.update(np.ascontiguousarray(X).tobytes())
h.update(run.model.labels_.tobytes())
df = run_sweep(ds, SweepConfig(rates=(0.3,), seeds=(1,), methods=("ul4m4", "mean"), classifier="fusion", k=3, epochs=2))
h.update(df.drop(columns="seconds").to_csv(index=False).encode())
print(h.hexdigest())
"""


def run_once():
    res = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    return res.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_bit_identical_across_two_processes():
    a, b = run_once(), run_once()
    assert len(a) == 64 and a == b
