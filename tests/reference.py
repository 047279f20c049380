"""Slow, obviously correct per-sample implementations of METHOD.md, used only by the tests."""

import math

import numpy as np


def ref_distance(z, zmask, c, cmask):
    """d(i, j) for one sample (list of vectors, presence) and one centre, as in METHOD.md section 2."""
    shared = [m for m in range(len(z)) if zmask[m] and cmask[m]]
    if not shared:
        return math.inf
    total = 0.0
    for m in shared:
        diff = np.asarray(z[m], dtype=np.float64) - np.asarray(c[m], dtype=np.float64)
        total += float(np.sum(diff * diff)) / len(diff)
    return math.sqrt(total / len(shared))


def ref_nearest(z, zmask, centers, cmask):
    """Index of the nearest centre (lowest index on ties, 0 when all are infinite) and its distance."""
    best, best_d = 0, math.inf
    for j in range(len(cmask)):
        d = ref_distance(z, zmask, [c[j] for c in centers], cmask[j])
        if d < best_d:
            best, best_d = j, d
    return best, best_d


def ref_lloyd(Z, mask, centers, cmask, max_iter):
    """Lloyd iterations exactly as METHOD.md section 4, in standardised units (lists of 2-D arrays)."""
    n, M = mask.shape
    k = len(cmask)
    centers = [c.astype(np.float64).copy() for c in centers]
    cmask = cmask.copy()
    prev = None
    for it in range(1, max_iter + 1):
        labels = np.array([ref_nearest([Z[m][i] for m in range(M)], mask[i], centers, cmask)[0] for i in range(n)])
        if prev is not None and (labels == prev).all():
            return centers, cmask, labels, it, True
        for j in range(k):
            members = np.flatnonzero(labels == j)
            if members.size == 0:
                continue
            for m in range(M):
                obs = members[mask[members, m]]
                if obs.size:
                    centers[m][j] = Z[m][obs].mean(axis=0)
                    cmask[j, m] = True
                else:
                    cmask[j, m] = False
        prev = labels
    labels = np.array([ref_nearest([Z[m][i] for m in range(M)], mask[i], centers, cmask)[0] for i in range(n)])
    return centers, cmask, labels, max_iter, False


def ref_greedy_complete(z, zmask, centers, cmask):
    """Greedy cluster-guided completion of one sample (METHOD.md section 5, the loop, not the closed form).

    Returns the completed list of vectors and, per modality, the centre that filled it (None if observed,
    "mean" if no centre holds it: the caller fills the training mean, i.e. 0 in standardised units).
    """
    M = len(z)
    k = len(cmask)
    missing = [m for m in range(M) if not zmask[m]]
    out = [np.asarray(v, dtype=np.float64).copy() if zmask[m] else None for m, v in enumerate(z)]
    source = [None] * M
    if not missing:
        return out, source
    candidates = []
    for f in range(k):
        vals = [out[m] if zmask[m] else None for m in range(M)]
        pres = list(zmask)
        for m in missing:
            if cmask[f][m]:
                vals[m] = centers[m][f]
                pres[m] = True
        candidates.append((vals, pres))
    scores = [ref_nearest(v, p, centers, cmask)[1] for v, p in candidates]
    active = list(range(k))
    still = set(missing)
    while still and active:
        best = min(active, key=lambda f: (scores[f], f))
        active.remove(best)
        vals, pres = candidates[best]
        for m in sorted(still):
            if pres[m]:
                out[m] = np.asarray(vals[m], dtype=np.float64).copy()
                source[m] = best
                still.discard(m)
    for m in still:
        source[m] = "mean"
        out[m] = np.zeros(centers[m].shape[1])
    return out, source
