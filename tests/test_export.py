import io
import json

import numpy as np

from ul4m4 import load_dataset, make_synthetic
from ul4m4.experiment import MissingConfig, RunConfig, make_mask
from ul4m4.export import make_manifest, manifest_json, mask_csv_bytes, to_npz_bytes, to_parquet_bytes


def test_npz_and_parquet_round_trip_through_the_loader():
    ds = make_synthetic(n_samples=30, n_modalities=2, dims=[3, 2], random_state=0)
    mask = np.ones((30, 2), bool)
    mask[:4, 1] = False
    f = io.BytesIO(to_npz_bytes(ds.Xs, ["img", "txt"], ds.y, mask))
    f.name = "x.npz"
    back = load_dataset(f)
    assert back.modality_names == ["img", "txt"] and np.array_equal(back.mask, mask)
    assert all(np.array_equal(a, b) for a, b in zip(back.Xs, ds.Xs))
    f = io.BytesIO(to_parquet_bytes(ds.Xs, ["img", "txt"], ds.y))
    f.name = "x.parquet"
    back = load_dataset(f)
    assert back.dims == [3, 2] and np.array_equal(back.y, ds.y)


def test_mask_csv_and_manifest():
    assert mask_csv_bytes(np.array([[True, False]]), ["a", "b"]).decode().splitlines() == ["sample,a,b", "0,1,0"]
    ds = make_synthetic(n_samples=40, random_state=0)
    m = make_mask(ds, MissingConfig(rate=0.2, seed=3))
    man = json.loads(manifest_json(make_manifest({"name": "synthetic"}, MissingConfig(rate=0.2, seed=3), RunConfig(), m)))
    assert man["missingness"]["seed"] == 3 and man["run"]["n_clusters"] == 10
    assert set(man["versions"]) >= {"ul4m4", "torch", "numpy", "scikit-learn"}
    assert 0 < man["realised"]["all"]["realized_slot_rate"] < 0.3
