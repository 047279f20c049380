import io
import pickle

import numpy as np
import pandas as pd
import pytest

from ul4m4 import load_dataset, make_synthetic


def test_mfeat():
    ds = load_dataset()
    assert ds.name == "mfeat" and ds.dims == [76, 216, 64, 240, 47, 6]
    assert ds.n_samples == 2000 and ds.mask.all()
    assert np.bincount(ds.y).tolist() == [200] * 10
    assert ds.modality_names[0] == "fourier"


def test_breast_cancer():
    ds = load_dataset("breast_cancer")
    assert ds.dims == [10, 10, 10] and ds.modality_names == ["mean values", "standard errors", "worst values"]
    assert ds.n_samples == 569 and set(np.unique(ds.y)) == {0, 1}


def test_synthetic_single_and_multilabel():
    a = load_dataset("synthetic", n_samples=100, n_modalities=4, dims=[3, 5, 2, 7], random_state=1)
    b = make_synthetic(n_samples=100, n_modalities=4, dims=[3, 5, 2, 7], random_state=1)
    assert a.dims == [3, 5, 2, 7] and all(np.array_equal(x, y) for x, y in zip(a.Xs, b.Xs))
    assert np.array_equal(a.y, a.meta["clusters"])
    ml = make_synthetic(n_samples=200, multilabel=True, n_labels=6)
    assert ml.y.shape == (200, 6) and ml.is_multilabel and set(np.unique(ml.y)) <= {0, 1}


def test_synthetic_correlation_controls_shared_information():
    from sklearn.cross_decomposition import CCA

    def first_cc(corr):
        ds = make_synthetic(n_samples=800, n_modalities=2, dims=6, correlation=corr, noise=0.1, random_state=0)
        u, v = CCA(n_components=1).fit_transform(ds.Xs[0], ds.Xs[1])
        return abs(np.corrcoef(u[:, 0], v[:, 0])[0, 1])

    assert first_cc(0.95) > first_cc(0.0)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_samples": 1}, "n_samples=1 should be an integer >= 2"),
    ({"dims": [2, 3]}, "dims has 2 entries; expected n_modalities=3"),
    ({"correlation": 1.5}, r"correlation=1.5 should be a number in \[0, 1\]"),
    ({"n_modalities": 65, "dims": 1}, "n_modalities=65 is more than the 64 modalities"),
    ({"random_state": "a"}, "random_state='a'"),
])
def test_synthetic_errors(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make_synthetic(**kwargs)


def save_npz(tmp_path, name="d.npz", **arrays):
    p = tmp_path / name
    np.savez(p, **arrays)
    return p


def test_npz_roundtrip_with_nan_rows(tmp_path):
    a = np.arange(12.0).reshape(4, 3)
    a[1] = np.nan
    p = save_npz(tmp_path, image=a, text=np.ones((4, 2)), y=np.array([0, 1, 0, 1]))
    ds = load_dataset(p)
    assert ds.modality_names == ["image", "text"]
    assert ds.mask.tolist() == [[True, True], [False, True], [True, True], [True, True]]
    assert ds.y.tolist() == [0, 1, 0, 1]


def test_npz_with_mask_and_file_object(tmp_path):
    p = save_npz(tmp_path, a=np.ones((3, 2)), b=np.ones((3, 1)), mask=np.array([[1, 0], [1, 1], [0, 1]], bool))
    with open(p, "rb") as f:
        ds = load_dataset(f)
    assert ds.mask.tolist() == [[True, False], [True, True], [False, True]]


def test_csv_and_parquet_roundtrip(tmp_path):
    df = pd.DataFrame({
        "img__0": [1.0, 2.0, np.nan], "img__1": [0.5, 1.5, np.nan],
        "txt__a": [np.nan, 1.0, 2.0], "y": ["cat", "dog", "cat"],
    })
    df.to_csv(tmp_path / "d.csv", index=False)
    df.to_parquet(tmp_path / "d.parquet")
    for name in ("d.csv", "d.parquet"):
        ds = load_dataset(tmp_path / name)
        assert ds.modality_names == ["img", "txt"] and ds.dims == [2, 1]
        assert ds.mask.tolist() == [[True, False], [True, True], [False, True]]
        assert ds.y.tolist() == ["cat", "dog", "cat"]


def test_csv_multilabel(tmp_path):
    df = pd.DataFrame({"a__0": [1.0, 2.0], "y__drama": [1, 0], "y__comedy": [1, 1]})
    df.to_csv(tmp_path / "m.csv", index=False)
    ds = load_dataset(tmp_path / "m.csv")
    assert ds.y.shape == (2, 2) and ds.is_multilabel


def write(tmp_path, name, content):
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return p


@pytest.mark.parametrize("name, content, match", [
    ("e.npz", b"", "is empty"),
    ("r.npz", b"\x00\x01garbage" * 10, "not a readable .npz"),
    ("e.csv", "", "is empty"),
    ("h.csv", "a__0,a__1\n", "0 rows"),
    ("t.csv", "a__0,y\nhello,1\n2,0\n", "column 'a__0' holds text"),
    ("p.csv", "a0,y\n1,1\n", "column 'a0' is not named '<modality>__<feature>'"),
    ("d.csv", "a__0,a__0,y\n1,2,1\n", "duplicated column"),
    ("part.csv", "a__0,a__1,b__0\n1,,3\n1,2,3\n", "1 observed row.* NaN in some but not all"),
    ("none.csv", "a__0,b__0\n,\n1,2\n", "no modality at all"),
    ("inf.csv", "a__0,b__0\ninf,1\n1,2\n", "infinite"),
    ("yy.csv", "a__0,y\n1,\n1,2\n", "y has .* NaN"),
    ("both.csv", "a__0,y,y__x\n1,1,1\n", "either one 'y' column"),
    ("g.parquet", b"PAR1 not really parquet", "not a readable Parquet"),
    ("x.pkl", pickle.dumps({"a": 1}), "unsupported extension '.pkl'"),
    ("x.npy", b"\x93NUMPY", "unsupported extension '.npy'"),
])
def test_bad_files(tmp_path, name, content, match):
    with pytest.raises(ValueError, match=match):
        load_dataset(write(tmp_path, name, content))


def test_npz_object_array_is_never_unpickled(tmp_path):
    p = tmp_path / "o.npz"
    np.savez(p, a=np.array([{"x": 1}, None], dtype=object))
    with pytest.raises(ValueError, match="dtype object"):
        load_dataset(p)


@pytest.mark.parametrize("arrays, match", [
    ({"a": np.ones(3)}, r"array 'a' has shape \(3,\)"),
    ({"a": np.ones((3, 2, 2))}, "must be 2-D"),
    ({"a": np.ones((3, 2)), "b": np.ones((4, 2))}, "same number of rows"),
    ({"y": np.ones(3)}, "no modality arrays"),
    ({"a": np.array([["x", "y"]])}, "modalities must be numeric"),
    ({"a": np.ones((3, 2)), "y": np.ones(4)}, r"y has shape \(4,\)"),
    ({"a": np.ones((3, 2)), "mask": np.ones((3, 2), bool)}, r"'mask' has shape \(3, 2\)"),
    ({"a": np.ones((0, 2))}, "0 samples"),
])
def test_bad_npz_content(tmp_path, arrays, match):
    with pytest.raises(ValueError, match=match):
        load_dataset(save_npz(tmp_path, **arrays))


def test_npz_header_lying_about_its_size(tmp_path):
    import zipfile

    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ones((2, 2)))
    raw = buf.getvalue().replace(b"(2, 2)", b"(9999999, 9999)", 1)
    p = tmp_path / "lie.npz"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("a.npy", raw)
    with pytest.raises(ValueError, match="declares shape .* truncated or corrupt"):
        load_dataset(p)


def test_paths_and_names():
    with pytest.raises(FileNotFoundError, match="No such file"):
        load_dataset("/nonexistent/file.npz")
    with pytest.raises(ValueError, match="is a directory"):
        load_dataset("/tmp")
    with pytest.raises(ValueError, match="neither a bundled dataset"):
        load_dataset("mnist")
    with pytest.raises(TypeError, match="takes no options"):
        load_dataset("mfeat", n_samples=3)


def test_size_limit(tmp_path):
    p = save_npz(tmp_path, a=np.ones((100, 100)))
    with pytest.raises(ValueError, match="limit"):
        load_dataset(p, max_bytes=1000)


def test_labels_with_no_column_are_refused(tmp_path):
    path = tmp_path / "y0.npz"
    np.savez(path, a=np.random.default_rng(0).normal(size=(30, 3)), y=np.zeros((30, 0)))
    with pytest.raises(ValueError, match=r"y has shape \(30, 0\); .* with at least one label"):
        load_dataset(str(path))
