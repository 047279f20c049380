"""The CUDA path against the CPU path: the same fit, the same labels, centres and completions.

Skipped where torch sees no GPU (CI has none); run on a GPU machine with
``python3 -m pytest tests/test_cuda.py``. float64 runs must agree to rounding; float32 runs to the
tolerance stated in each test (reductions are summed in a different order on the GPU).
"""

import numpy as np
import pytest
import torch

from ul4m4 import PartialModalityKMeans, UL4M4Imputer, simulate_missing

GPU = "cuda"  # the device compared with the CPU
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def data(n=3000, dims=(24, 16, 8), rate=0.4, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(6, sum(dims)))
    z = rng.integers(0, 6, n)
    X = centres[z] + rng.normal(size=(n, sum(dims)))
    cuts = np.cumsum((0,) + tuple(dims))
    Xs = [X[:, a:b].astype(dtype) for a, b in zip(cuts[:-1], cuts[1:])]
    mask, _ = simulate_missing(n, len(dims), "mcar", rate=rate, random_state=seed)
    for m, Xm in enumerate(Xs):
        Xm[~mask[:, m]] = np.nan
    return Xs, mask


def explicit_init(Xs, mask, k, seed=1):
    rows = np.random.default_rng(seed).choice(np.flatnonzero(mask.all(axis=1)), k, replace=False)
    return [X[rows] for X in Xs]


def test_auto_device_is_cuda_and_outputs_are_numpy():
    Xs, mask = data(n=500)
    model = UL4M4Imputer(4, random_state=0, device="auto").fit(Xs, mask)
    out = model.transform(Xs, mask)
    assert all(isinstance(o, np.ndarray) and np.isfinite(o).all() for o in out)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kmeans_same_labels_and_centres(dtype):
    Xs, mask = data()
    init = explicit_init(Xs, mask, 8)
    fits = {dev: PartialModalityKMeans(8, init=init, device=dev, dtype=dtype, random_state=0).fit(Xs, mask)
            for dev in ("cpu", GPU)}
    cpu, gpu = fits["cpu"], fits[GPU]
    assert np.array_equal(cpu.labels_, gpu.labels_)
    assert cpu.n_iter_ == gpu.n_iter_
    tol = 1e-10 if dtype == "float64" else 1e-4
    for a, b in zip(cpu.cluster_centers_, gpu.cluster_centers_):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    assert abs(cpu.inertia_ - gpu.inertia_) <= tol * max(1.0, abs(cpu.inertia_))


@pytest.mark.parametrize("completion", ["greedy", "soft"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_imputer_same_completion(completion, dtype):
    Xs, mask = data(seed=3)
    init = explicit_init(Xs, mask, 8, seed=4)
    outs, provs = {}, {}
    for dev in ("cpu", GPU):
        model = UL4M4Imputer(8, init=init, completion=completion,
                             temperature=None if completion == "greedy" else 1.0,
                             device=dev, dtype=dtype, random_state=0).fit(Xs, mask)
        outs[dev], provs[dev] = model.transform(Xs, mask, return_provenance=True)
    tol = 1e-9 if dtype == "float64" else 2e-4
    for a, b in zip(outs["cpu"], outs[GPU]):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    np.testing.assert_allclose(provs["cpu"].confidence, provs[GPU].confidence, rtol=tol, atol=tol)


def test_selection_on_cuda_picks_a_setting_from_the_grid():
    Xs, mask = data(n=2000, seed=5)
    model = UL4M4Imputer("auto", completion="soft", temperature="auto", device=GPU, random_state=0).fit(Xs, mask)
    assert model.n_clusters_ >= 2 and np.isfinite(model.temperature_)
    assert all(np.isfinite(o).all() for o in model.transform(Xs, mask))

