import numpy as np
import pytest

from ul4m4 import make_synthetic
from ul4m4.projection import project_2d


@pytest.fixture(scope="module")
def ds():
    return make_synthetic(n_samples=120, n_modalities=2, dims=[5, 3], n_clusters=3, random_state=0)


def test_pca_map_and_projected_centres(ds):
    emb = project_2d(ds.Xs, "pca")
    assert emb.coords.shape == (120, 2) and sum(emb.explained) <= 1.0
    centres = [np.vstack([X[:1], np.full((1, X.shape[1]), np.nan)]) for X in ds.Xs]  # centre 1 holds nothing
    pos = emb.place_centres(centres, np.zeros(120, int))
    assert np.allclose(pos[0], emb.coords[0])  # a centre equal to sample 0 lands on it
    assert np.isfinite(pos).all()  # absent modalities are taken at the mean


def test_umap_map_places_centres_at_member_means(ds):
    emb = project_2d(ds.Xs, "umap", random_state=1)
    assert emb.coords.shape == (120, 2) and np.isfinite(emb.coords).all()
    labels = np.arange(120) % 3
    pos = emb.place_centres([X[:4] for X in ds.Xs], np.where(labels == 3, 0, labels))
    assert np.allclose(pos[1], emb.coords[labels == 1].mean(axis=0))
    assert np.isnan(pos[3]).all()  # no member: not drawn


def test_umap_is_seeded(ds):
    a = project_2d(ds.Xs, "umap", random_state=2).coords
    b = project_2d(ds.Xs, "umap", random_state=2).coords
    assert np.array_equal(a, b)


def test_errors(ds):
    with pytest.raises(ValueError, match="should be one of"):
        project_2d(ds.Xs, "tsne")
    Xs = [X.copy() for X in ds.Xs]
    Xs[0][0] = np.nan
    with pytest.raises(ValueError, match="needs complete data"):
        project_2d(Xs)
    with pytest.raises(ValueError, match="at least 3 samples"):
        project_2d([X[:2] for X in ds.Xs])


def test_one_feature_in_total():
    emb = project_2d([np.arange(10.0)[:, None]], "pca")
    assert emb.coords.shape == (10, 2) and (emb.coords[:, 1] == 0).all()
