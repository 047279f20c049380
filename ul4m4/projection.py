"""Two-dimensional maps of completed multimodal data (PCA, instant; UMAP, slower) for display.

Each modality is standardised and weighted by 1/sqrt(d_m), so every modality counts equally, as in the
partial-modality distance; the weighted modalities are concatenated and reduced to 50 dimensions by
PCA before UMAP runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .scaling import modality_stats
from .validation import check_random_state, check_Xs

__all__ = ["Projection", "project_2d", "METHODS_2D"]

METHODS_2D = {"pca": "PCA (instant)", "umap": "UMAP (first run compiles for ~10-20 s)"}


@dataclass
class Projection:
    """A fitted 2-D map: ``coords`` of the fitted samples and ``place_centres`` for cluster centres."""

    method: str
    coords: np.ndarray
    mean: list
    scale: list
    pca: object
    umap: object | None
    explained: tuple | None = None

    def _features(self, Xs):
        return np.hstack([
            (np.asarray(X, dtype=np.float64) - mu) / sd / np.sqrt(X.shape[1])
            for X, mu, sd in zip(Xs, self.mean, self.scale)
        ])

    def place_centres(self, centres, labels):
        """2-D positions of cluster centres, (k, 2).

        PCA projects the centres (absent modalities taken at the modality mean); UMAP cannot project
        new points here, so a centre sits at the mean position of its members (NaN if it has none).
        """
        k = centres[0].shape[0]
        if self.umap is None:
            filled = [np.where(np.isnan(c), mu, c) for c, mu in zip(centres, self.mean)]
            return self.pca.transform(self._features(filled))[:, :2]
        out = np.full((k, 2), np.nan)
        for j in range(k):
            members = labels == j
            if members.any():
                out[j] = self.coords[members].mean(axis=0)
        return out


def project_2d(Xs, method="pca", random_state=0, n_neighbors=15, min_dist=0.1):
    """Fit a 2-D map of complete (already imputed) multimodal data.

    Parameters
    ----------
    Xs : list of ndarray (n_samples, n_features_m), complete
    method : {"pca", "umap"}, default="pca"
    random_state : int, default=0
    n_neighbors, min_dist : UMAP settings

    Returns
    -------
    Projection
    """
    from sklearn.decomposition import PCA

    if method not in METHODS_2D:
        raise ValueError(f"method={method!r} should be one of {sorted(METHODS_2D)}.")
    Xs, mask = check_Xs(Xs)
    if not mask.all():
        raise ValueError("project_2d needs complete data; impute the missing modalities first.")
    n = mask.shape[0]
    if n < 3:
        raise ValueError(f"A 2-D map needs at least 3 samples; got {n}.")
    seed = int(check_random_state(random_state).integers(2**31 - 1)) if not isinstance(random_state, int) else random_state
    mean, scale = modality_stats(Xs, mask)
    emb = Projection(method, None, mean, scale, None, None)
    F = emb._features(Xs)
    n_comp = int(min(50 if method == "umap" else 2, F.shape[1], n))
    emb.pca = PCA(n_components=n_comp, random_state=seed).fit(F)
    P = emb.pca.transform(F)
    if method == "pca":
        if P.shape[1] == 1:  # a single feature in total: second axis is zero
            P = np.column_stack([P[:, 0], np.zeros(n)])
            emb.pca = _PadPCA(emb.pca)
        emb.coords = P[:, :2]
        emb.explained = tuple(float(v) for v in emb.pca.explained_variance_ratio_[:2])
        return emb
    import umap
    from sklearn.neighbors import NearestNeighbors

    nn = int(min(n_neighbors, n - 1))
    # Neighbours from scikit-learn (BLAS): UMAP's own exact search for small n calls a Python-level
    # metric for every pair, which takes seconds.
    dist, idx = NearestNeighbors(n_neighbors=nn).fit(P).kneighbors(P)
    emb.umap = umap.UMAP(
        n_components=2, n_neighbors=nn, min_dist=min_dist, random_state=seed, n_jobs=1,
        n_epochs=200, precomputed_knn=(idx, dist),
    )
    import warnings

    with warnings.catch_warnings():
        # Expected: with precomputed neighbours UMAP cannot transform new points (centres are placed at
        # the mean of their members instead).
        warnings.filterwarnings("ignore", message="precomputed_knn", category=UserWarning)
        emb.coords = emb.umap.fit_transform(P)
    return emb


class _PadPCA:
    """A one-component PCA whose output gets a zero second column (for one-feature data)."""

    def __init__(self, pca):
        self.pca = pca
        self.explained_variance_ratio_ = np.append(pca.explained_variance_ratio_, 0.0)

    def transform(self, F):
        P = self.pca.transform(F)
        return np.column_stack([P[:, 0], np.zeros(P.shape[0])])
