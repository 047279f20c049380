"""UL4M4 completion: greedy cluster-guided filling of missing modalities, computed in closed form.

METHOD.md section 5: candidates never change, so the greedy picks are the candidates sorted once by
r_f = min_j d(cand_f, c_j); each missing modality is copied from the first candidate in that order whose
centre holds it. Distances decompose into sample-to-centre terms (one matrix product per modality) and
centre-to-centre terms (one (k, k) block per missing pattern), so no Python loop runs over samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .cluster import PartialModalityKMeans
from .distance import center_center_terms, center_side, ratio_or_inf, sample_center_terms
from .validation import warn

__all__ = ["UL4M4Imputer", "Provenance", "ul4m4_impute", "OBSERVED", "FILLED_BY_MEAN"]

OBSERVED = -1
FILLED_BY_MEAN = -2


@dataclass
class Provenance:
    """Where each modality of each sample came from.

    Attributes
    ----------
    source : ndarray of int of shape (n_samples, n_modalities)
        Index of the centre whose value filled the modality; ``OBSERVED`` (-1) where the modality was
        observed, ``FILLED_BY_MEAN`` (-2) where no centre held it and the training mean was used.
    distance : ndarray of shape (n_samples, n_modalities)
        r of the winning candidate (its partial distance to its nearest centre); NaN where not filled
        by a centre.
    runner_up : ndarray of int of shape (n_samples, n_modalities)
        The next candidate in the greedy order that also holds the modality; -1 if there is none.
    runner_up_distance : ndarray of shape (n_samples, n_modalities)
        Its r; +inf where there is no runner-up, NaN where not filled by a centre.
    """

    source: np.ndarray
    distance: np.ndarray
    runner_up: np.ndarray
    runner_up_distance: np.ndarray

    @property
    def margin(self):
        """How much further the runner-up candidate was (runner_up_distance - distance)."""
        with np.errstate(invalid="ignore"):
            return self.runner_up_distance - self.distance


class UL4M4Imputer(PartialModalityKMeans):
    """Fill missing modality embeddings without labels (UL4M4).

    Fits ``PartialModalityKMeans`` on the incomplete data, then completes every incomplete sample from
    the cluster centres (greedy cluster-guided completion, computed in closed form and in blocks).
    Observed rows are returned exactly as given. Parameters and fitted attributes are those of
    ``PartialModalityKMeans``.

    Examples
    --------
    >>> import numpy as np
    >>> from ul4m4 import UL4M4Imputer
    >>> rng = np.random.default_rng(0)
    >>> Xs = [rng.normal(size=(100, 4)), rng.normal(size=(100, 3))]
    >>> Xs[1][:10] = np.nan                      # ten samples miss modality 1
    >>> filled = UL4M4Imputer(n_clusters=3, random_state=0).fit_transform(Xs)
    >>> bool(np.isnan(filled[1]).any())
    False
    """

    def transform(self, Xs, mask=None, return_provenance=False):
        """Complete the missing modalities.

        Parameters
        ----------
        Xs : list of array-like of shape (n_samples, n_features_m)
        mask : array-like of bool of shape (n_samples, n_modalities), default=None
        return_provenance : bool, default=False
            Also return a ``Provenance`` saying which centre filled each modality.

        Returns
        -------
        Xs_completed : list of ndarray of shape (n_samples, n_features_m)
            Same float dtype as the input; observed rows unchanged.
        provenance : Provenance, only if ``return_provenance``
        """
        Xs, mask, device, dtype = self._prepare(Xs, mask)
        out, prov = self._complete(Xs, mask, device, dtype)
        return (out, prov) if return_provenance else out

    def fit_transform(self, Xs, mask=None, y=None, return_provenance=False):
        """``fit(Xs, mask)`` then ``transform(Xs, mask)``."""
        return self.fit(Xs, mask).transform(Xs, mask, return_provenance=return_provenance)

    def explain(self, Xs, mask=None):
        """Provenance of the completion of ``Xs`` (see ``Provenance``)."""
        return self.transform(Xs, mask, return_provenance=True)[1]

    def candidate_distances(self, Xs, mask=None):
        """r_f for every sample and candidate: distance of candidate f to its nearest centre.

        Returns
        -------
        r : ndarray of shape (n_samples, n_clusters)
            For a complete sample every candidate is the sample itself, so all entries are equal.
        """
        Xs, mask, device, dtype = self._prepare(Xs, mask)
        r = np.empty((mask.shape[0], len(self.center_mask_)))
        for rows, r2, _ in self._candidate_blocks(Xs, mask, np.arange(mask.shape[0]), device, dtype):
            r[rows] = torch.sqrt(r2).cpu().numpy()
        return r

    def _candidate_blocks(self, Xs, mask, rows_all, device, dtype):
        """Yield (rows, r2 (c, k), presence (c, M)) for the given sample rows, block by block."""
        C, H = self._centres_tensor(device, dtype)
        Nc, Cw = center_side(C, self.dims_)
        patterns, pat_idx = np.unique(mask[rows_all], axis=0, return_inverse=True)
        pat_idx = pat_idx.reshape(-1)
        Bnum, Bcnt = center_center_terms(C, H, self.dims_, torch.as_tensor(patterns, device=device))  # (P, k, k)
        chunk = self._chunk(cube=True)
        blocks = self._blocks(Xs, mask, device, dtype, chunk, cache=False)
        for s in range(0, rows_all.size, chunk):
            rows = rows_all[s : s + chunk]
            Zcat, a, Nz = blocks.rows(rows)
            A, cntA = sample_center_terms(Zcat, a, Nz, Cw, H, Nc)  # (c, k)
            pi = torch.as_tensor(pat_idx[s : s + chunk], device=device)
            # (c, f, j): candidate f of each sample against centre j; min over j gives r_f^2.
            tot = Bnum[pi].add_(A[:, None, :])  # (c, k, k), in place to keep temporaries few
            cnt = Bcnt[pi].add_(cntA[:, None, :])
            r2 = ratio_or_inf(tot, cnt).amin(dim=2)
            yield rows, r2, a

    def _complete(self, Xs, mask, device, dtype):
        n, M = mask.shape
        out = [X.copy() for X in Xs]
        source = np.full((n, M), OBSERVED, dtype=np.int64)
        distance = np.full((n, M), np.nan)
        runner = np.full((n, M), -1, dtype=np.int64)
        runner_d = np.full((n, M), np.nan)
        prov = Provenance(source, distance, runner, runner_d)
        incomplete = np.flatnonzero(~mask.all(axis=1))
        if incomplete.size == 0:
            return out, prov

        Hn = self.center_mask_
        for m in range(M):
            need = incomplete[~mask[incomplete, m]]
            if need.size and not Hn[:, m].any():
                warn(
                    f"No cluster centre holds modality {m}; {need.size} sample(s) missing it were filled "
                    "with its training mean instead."
                )
                out[m][need] = self.mean_[m]
                source[need, m] = FILLED_BY_MEAN

        H = torch.as_tensor(Hn, device=device)
        for rows, r2, a in self._candidate_blocks(Xs, mask, incomplete, device, dtype):
            # Greedy order: candidates sorted by r (stable, so ties go to the lowest index).
            r2_sorted, order = torch.sort(r2, dim=1, stable=True)  # (c, k)
            r_sorted = torch.sqrt(r2_sorted)
            for m in range(M):
                if not Hn[:, m].any():
                    continue
                need = (~a[:, m]).cpu().numpy()
                if not need.any():
                    continue
                holds = H[:, m][order].to(torch.uint8)  # (c, k): candidate at each position holds m
                first = holds.argmax(dim=1)  # first position whose candidate holds m
                src = order.gather(1, first[:, None])[:, 0].cpu().numpy()
                target = rows[need]
                cz = self.cluster_centers_z_[m][src[need]]
                out[m][target] = cz * self.scale_[m] + self.mean_[m]
                source[target, m] = src[need]
                distance[target, m] = r_sorted.gather(1, first[:, None])[:, 0].cpu().numpy()[need]
                second = holds.cumsum(dim=1) == 2  # (c, k)
                has2 = second.any(dim=1).cpu().numpy()
                pos2 = second.to(torch.uint8).argmax(dim=1)
                ru = order.gather(1, pos2[:, None])[:, 0].cpu().numpy()
                ru_d = r_sorted.gather(1, pos2[:, None])[:, 0].cpu().numpy()
                runner[target, m] = np.where(has2, ru, -1)[need]
                runner_d[target, m] = np.where(has2, ru_d, np.inf)[need]
        return out, prov


def ul4m4_impute(Xs, mask=None, n_clusters=8, **kwargs):
    """One-shot wrapper: ``UL4M4Imputer(n_clusters, **kwargs).fit_transform(Xs, mask)``."""
    return UL4M4Imputer(n_clusters, **kwargs).fit_transform(Xs, mask)
