"""UL4M4 completion: the paper's greedy cluster-guided filling (closed form), a soft variant, label-free
selection of k and the temperature, a confidence for every filled block, and outlier-centre diagnostics.

Greedy (METHOD.md section 5): candidates never change, so the greedy picks are the candidates sorted once
by r_f = min_j d(cand_f, c_j); each missing modality is copied from the first candidate in that order
whose centre holds it. Distances decompose into sample-to-centre terms (one matrix product per modality)
and centre-to-centre terms (one (k, k) block per missing pattern), so no Python loop runs over samples.

Soft: each missing modality m is the average of the centres that hold it, weighted by
n_jm * exp(-d(i, j) / temperature), d the partial distance on the sample's observed modalities and n_jm
the number of training members of centre j that observe m (so a centre summarising one outlier counts
as one sample, not as a cluster). As k grows toward n this becomes a kernel-weighted neighbour average.
"""

from __future__ import annotations

import math
import numbers
import time
from numbers import Integral, Real
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from .cluster import PartialModalityKMeans
from .distance import block_norms, center_center_terms, center_side, ratio_or_inf, sample_center_terms
from .missing import holdout_mask
from .memory import check_memory
from .scaling import modality_stats
from .validation import check_n_clusters, check_random_state, check_Xs, counted, dtype_name, is_dask_input, warn

__all__ = [
    "UL4M4Imputer",
    "Provenance",
    "ul4m4_impute",
    "select_parameters",
    "OBSERVED",
    "FILLED_BY_MEAN",
    "COMPLETIONS",
    "N_CLUSTERS_GRID",
    "TEMPERATURE_FACTORS",
]

OBSERVED = -1
FILLED_BY_MEAN = -2
COMPLETIONS = ("greedy", "soft")
# Label-free selection grids (README "Choosing k and the temperature"). k doubles from 8, as completion
# error changes smoothly on a log scale of k; values above half the fitted rows are dropped (a cluster
# averages at least two members) and half the rows is tried itself when it is below the grid's top: on
# small data the soft completion is best as a kernel average over near-singleton centres. Temperatures
# are multiples of the fitted model's median out-of-sample distance from a sample to its own centre
# (``typical_distance_``), so the grid means the same on any data and at any k; steps of about 1.5x
# around the default, as the error is flat in between.
N_CLUSTERS_GRID = (8, 16, 32, 64, 128, 256, 512)
TEMPERATURE_FACTORS = (0.1, 0.2, 0.3, 0.45, 0.7, 1.0, 2.0)
DEFAULT_TEMPERATURE_FACTOR = 0.3
# Selection runs on at most this many rows (a seeded subsample) so that it stays cheap on large data.
SELECTION_MAX_SAMPLES = 4000
# k values above the rows used divided by this are not tried (a cluster averages at least this many members).
SELECTION_MIN_MEMBERS = 2
SELECTION_HOLDOUT = 0.15
# Hold-outs are repeated until about this many blocks, and this many of their entries, were hidden in
# all (the score's noise falls with both: small data get more repeats, large data one; modalities of a
# few features give few entries a block, so they need more blocks), at most SELECTION_MAX_REPEATS times.
SELECTION_MIN_HIDDEN = 1000
SELECTION_MIN_HIDDEN_ENTRIES = 20_000
SELECTION_MAX_REPEATS = 16
# Most hold-outs a caller may ask ``select_parameters`` for: each one is fitted at every k of the grid.
SELECTION_MAX_USER_REPEATS = 1000
# "auto" stops raising k once this many successive k values scored worse than the best so far (the
# hold-out error is U-shaped in log k); the large k values it then skips are the costly ones.
SELECTION_STOP_AFTER = 2
# The smallest k scoring within this fraction of the best hold-out error is chosen: a larger k costs
# time in the fit and in every completion, for a gain within the hold-out's own noise.
SELECTION_PARSIMONY = 0.01
# The search's fits stop once at most this fraction of the samples changes cluster in a pass (or at the
# estimator's own tol if larger): the hold-out compares settings, which does not need the last moves.
SELECTION_TOL = 1e-2
# ... or after this many passes: with many small clusters on sparse data, the partial distance can let a
# few per cent of the samples swap between centres for ever (a fit at k = 256 on mfeat at 60 % ran to
# 300 passes), while the centres have long stopped changing what the completion gives.
SELECTION_MAX_ITER = 30
# Beyond SELECTION_MAX_SAMPLES rows the fit on all rows starts from the centres the search fitted at the
# chosen k, which already converged on the subsample (as faiss trains on a sample): it refines them for
# at most this many passes. On 20,000 and 30,000 rows (benchmarks/RESULTS.md) the error is within 0.7 %
# of running to convergence, in under half the passes.
WARM_START_MAX_ITER = 5
# Within-cluster spread is shrunk toward the modality's overall spread with this many pseudo-members,
# so a one-member cluster is not taken to be exact.
SPREAD_PRIOR = 5.0
# Diagnostics: a centre is "suspect" when its cluster is tiny and some held entry lies this many training
# standard deviations from the mean; a feature has a "low scale" when its std is below this fraction of
# its modality's median std (z-units then magnify its noise).
SUSPECT_ABS_Z = 10.0
LOW_SCALE_RATIO = 0.05


@dataclass
class Provenance:
    """Where each modality of each sample came from, and how far to trust it.

    Attributes
    ----------
    source : ndarray of int of shape (n_samples, n_modalities)
        Index of the centre whose value filled the modality (greedy) or that carries the largest weight
        (soft); ``OBSERVED`` (-1) where the modality was observed, ``FILLED_BY_MEAN`` (-2) where no
        centre could fill it and the training mean was used.
    distance : ndarray of shape (n_samples, n_modalities)
        Greedy: r of the winning candidate (its partial distance to its nearest centre). Soft: the
        partial distance from the sample to the source centre. NaN where not filled by a centre.
    runner_up : ndarray of int of shape (n_samples, n_modalities)
        Greedy: the next candidate in the greedy order that also holds the modality. Soft: the centre
        with the second largest weight. -1 if there is none.
    runner_up_distance : ndarray of shape (n_samples, n_modalities)
        Its r (greedy) or distance (soft); +inf where there is no runner-up, NaN where not filled by a
        centre.
    confidence : ndarray of shape (n_samples, n_modalities)
        1 / (1 + expected MSE per entry of the filled block, in z-units), in (0, 1]; NaN where observed.
        0.5 means "expected to be no closer to the truth than the training mean". The expected MSE is
        the weighted spread of the plausible centres around the fill plus their (shrunk) within-cluster
        spread, with the soft weights at ``temperature_``.
    weight : ndarray of shape (n_samples, n_modalities)
        Share of the fill that came from ``source`` (1 for greedy); NaN where not filled by a centre.
    """

    source: np.ndarray
    distance: np.ndarray
    runner_up: np.ndarray
    runner_up_distance: np.ndarray
    confidence: np.ndarray
    weight: np.ndarray

    @property
    def margin(self):
        """How much further the runner-up was (runner_up_distance - distance)."""
        with np.errstate(invalid="ignore"):
            return self.runner_up_distance - self.distance


def _is_grid(value):
    return isinstance(value, (list, tuple, np.ndarray)) and not isinstance(value, str)


class UL4M4Imputer(PartialModalityKMeans):
    """Fill missing modality embeddings without labels (UL4M4).

    Fits ``PartialModalityKMeans`` on the incomplete data, then completes every incomplete sample from
    the cluster centres, in blocks and without a loop over samples. Observed rows are returned exactly
    as given. With the defaults this is the paper's method, unchanged.

    Dask input is fitted through the Dask path of ``PartialModalityKMeans`` (see there); the completion
    statistics are one more pass, the label-free search runs on its subsample gathered to the client,
    and ``transform`` returns dask arrays (and a ``Provenance`` of dask arrays) computed chunk by chunk,
    each chunk completed exactly as ``transform`` completes it in memory.

    Parameters
    ----------
    n_clusters : int, "auto" or sequence of int, default=8
        "auto" chooses k from ``N_CLUSTERS_GRID`` (up to half the rows, and half the rows itself when
        that is below the grid's top: ``selection_grid``) by the label-free hold-out protocol of
        ``select_parameters`` (on a subsample of at most ``SELECTION_MAX_SAMPLES`` rows), stopping once
        ``SELECTION_STOP_AFTER`` successive k scored worse than the best; the smallest k within
        ``SELECTION_PARSIMONY`` of the best score is kept. A sequence is searched the same way, every
        value of it. Beyond ``SELECTION_MAX_SAMPLES`` rows the fit starts from the centres the search
        fitted at the chosen k and refines them for at most ``WARM_START_MAX_ITER`` passes (fewer if
        ``max_iter`` is smaller; ``tol`` still stops it earlier), without a ConvergenceWarning. When every
        sample observes a single modality the hold-out can hide nothing: the grid's smallest k (and, with
        temperature="auto", the default factor) is used, with a warning.
    completion : {"greedy", "soft"}, default="greedy"
        "greedy" is the paper's completion; "soft" averages the centres that hold the modality with
        weights n_jm * exp(-d / temperature) (module docstring).
    temperature : None, float > 0 or "auto", default=None
        Temperature of the soft weights, in the units of the partial distance (z-units). None uses
        0.3 x ``typical_distance_``; "auto" chooses the factor from ``TEMPERATURE_FACTORS`` by
        hold-out. Greedy completion uses it only for the confidence.
    min_cluster_size : int >= 1 or None, default=None
        Centres with fewer training members observing a modality do not serve to fill it (they still
        take part in the clustering). None (the paper) lets every centre serve.
    scale_floor : float in (0, 1] or None, default=None
        Floor each feature's std at this fraction of its modality's median std before standardising,
        so near-constant features do not dominate the distance. None (the paper) uses the std as is.
    All other parameters are those of ``PartialModalityKMeans``.

    Attributes
    ----------
    n_clusters_ : int
        The k used (chosen, with "auto" or a grid).
    temperature_ : float
        The temperature used for soft weights and confidence.
    typical_distance_ : float
        Median over training samples of the out-of-sample partial distance to their own centre: the
        distance to the mean of the centre's other members (modalities held by one member only are
        left out; 1.0 if no sample has such a distance). The temperatures' unit.
    selection_ : pandas.DataFrame or None
        The hold-out table of the search (``select_parameters``), None without one.
    centre_sizes_ : ndarray of int of shape (n_clusters_, n_modalities)
        Training members of each centre that observe each modality.
    centre_spread_ : ndarray of shape (n_clusters_, n_modalities)
        Shrunk mean squared distance per entry (z-units) of those members to the centre; NaN where the
        centre lacks the modality.
    suspect_centres_ : ndarray of int
        Centres of tiny clusters (fewer than max(3, n / (10 k)) members) with an entry further than
        ``SUSPECT_ABS_Z`` standard deviations from the mean: an outlier that greedy completion may copy
        into many samples.
    low_scale_features_ : list of ndarray of int
        Per modality, features whose std is positive but below ``LOW_SCALE_RATIO`` of the modality's
        median std (before any ``scale_floor``).
    Plus the fitted attributes of ``PartialModalityKMeans``.

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

    _parameter_constraints: dict = {
        **PartialModalityKMeans._parameter_constraints,
        "n_clusters": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"}), list, tuple],
        "completion": [StrOptions(set(COMPLETIONS))],
        "temperature": [None, Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "min_cluster_size": [None, Interval(Integral, 1, None, closed="left")],
        "scale_floor": [None, Interval(Real, 0, 1, closed="right")],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        completion="greedy",
        temperature=None,
        min_cluster_size=None,
        scale_floor=None,
        init="k-means++",
        max_iter=300,
        tol=0.0,
        random_state=None,
        device=None,
        dtype="float32",
        chunk_size=None,
        bounds=True,
        callback=None,
    ):
        super().__init__(
            n_clusters, init=init, max_iter=max_iter, tol=tol, random_state=random_state, device=device, dtype=dtype,
            chunk_size=chunk_size, bounds=bounds, callback=callback,
        )
        self.completion = completion
        self.temperature = temperature
        self.min_cluster_size = min_cluster_size
        self.scale_floor = scale_floor

    # -- parameters -------------------------------------------------------------------------------
    def _check_imputer_params(self):
        self._validate_params()
        if self.completion not in COMPLETIONS:
            raise ValueError(f"completion={self.completion!r} should be one of {list(COMPLETIONS)}.")
        t = self.temperature
        if not (t is None or t == "auto" or (_is_real(t) and math.isfinite(t) and t > 0)):
            raise ValueError(f"temperature={t!r} should be None, 'auto' or a finite number > 0.")
        if t == "auto" and self.completion != "soft":
            raise ValueError("temperature='auto' chooses the soft completion's temperature; set completion='soft'.")
        s = self.min_cluster_size
        if s is not None and (isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1):
            raise ValueError(f"min_cluster_size={s!r} should be None or an integer >= 1.")
        f = self.scale_floor
        if f is not None and not (_is_real(f) and 0 < f <= 1):
            raise ValueError(f"scale_floor={f!r} should be None or a number in (0, 1].")
        k = self.n_clusters
        if isinstance(k, str) and k != "auto":
            raise ValueError(f"n_clusters={k!r} should be an integer >= 1, 'auto' or a list of integers.")
        if _is_grid(k) and (len(k) == 0 or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 for v in k)):
            raise ValueError(f"n_clusters={k!r}: a grid should be a non-empty list of integers >= 1.")

    def _adjust_stats(self, mean, scale):
        self.low_scale_features_ = [np.flatnonzero(sd < LOW_SCALE_RATIO * np.median(sd)) for sd in scale]
        if self.scale_floor is not None:
            scale = [np.maximum(sd, self.scale_floor * np.median(sd)) for sd in scale]
        return mean, scale

    # -- fitting ----------------------------------------------------------------------------------
    def fit(self, Xs, mask=None, y=None):
        """Cluster the samples (choosing k and the temperature first when asked) and learn what the
        completion and its confidence need.

        Parameters
        ----------
        Xs : list of array-like of shape (n_samples, n_features_m)
        mask : array-like of bool of shape (n_samples, n_modalities), default=None
        y : ignored

        Returns
        -------
        self
        """
        data = None
        if is_dask_input(Xs, mask):
            from . import _dask

            data = _dask.DaskData(Xs, mask)  # the structure now; the values in the first pass
            n = data.n
        else:
            Xv, mv = check_Xs(Xs, mask, allow_empty_modality=False, working_dtype=self._limit_dtype())
            n = mv.shape[0]
        search_k = isinstance(self.n_clusters, str) or _is_grid(self.n_clusters)
        if not search_k:  # first, for its message (k against the samples), as the k-means does
            check_n_clusters(self.n_clusters, n)
        self._check_imputer_params()
        if search_k and not isinstance(self.init, str):
            raise ValueError(
                f"explicit initial centres fix k, so they cannot be combined with n_clusters={self.n_clusters!r}; "
                "give n_clusters as the number of centres, or use init='k-means++' to let k be chosen.")
        search_t = self.temperature == "auto"
        factor, absolute = DEFAULT_TEMPERATURE_FACTOR, None
        k = self.n_clusters
        self.selection_ = None
        init = None
        if search_k or search_t:
            auto_k = isinstance(self.n_clusters, str)  # "auto" (checked); else a grid of the user's
            ks = (N_CLUSTERS_GRID if auto_k else self.n_clusters) if search_k else (k,)
            temps = TEMPERATURE_FACTORS if search_t else (self.temperature,)
            rng = check_random_state(self.random_state)
            if data is not None:  # the search's subsample (the same draw as in memory), gathered
                rows = np.arange(n) if n <= SELECTION_MAX_SAMPLES else np.sort(
                    rng.choice(n, size=SELECTION_MAX_SAMPLES, replace=False))
                Xv, mv = check_Xs(*data.take(rows), allow_empty_modality=False)
            searched = {}
            table = _search(self, Xv, mv, ks, temps, self.completion, SELECTION_HOLDOUT, "auto",
                            SELECTION_MAX_SAMPLES, rng, extend=auto_k, early_stop=auto_k, keep=searched)
            best = _best(table)
            self.selection_ = table
            if best is None:
                # Every sample observes a single modality, so the hold-out could hide nothing: the grid's
                # smallest k and the default temperature factor, said (as SoftImputeImputer then takes the
                # middle of its grid).
                best = {"n_clusters": int(table["n_clusters"].min()), "temperature_factor": DEFAULT_TEMPERATURE_FACTOR}
                chosen = ([f"k = {best['n_clusters']} (the smallest of the grid)"] if search_k else []) + (
                    [f"the temperature factor {DEFAULT_TEMPERATURE_FACTOR} (the default)"]
                    if search_t and self.completion == "soft" else [])
                warn("the hold-out could hide no observed slot, as every sample observes a single modality, so "
                     f"nothing was chosen by it; {' and '.join(chosen) or 'the given settings'} "
                     f"{'were' if len(chosen) > 1 else 'was'} used.")
            if search_k:  # (a k of the user's stays: the search may have scored it capped to its rows)
                k = int(best["n_clusters"])
            if n > SELECTION_MAX_SAMPLES and isinstance(self.init, str):
                # The search clustered a subsample at this k: its centres seed the fit on all rows (as
                # faiss trains on a sample), which saves k-means++'s k passes and most Lloyd passes.
                init = searched.get(k)
            if self.completion == "soft":
                if search_t:
                    factor = float(best["temperature_factor"])
                else:
                    absolute = self.temperature
        elif self.temperature is not None:
            absolute = self.temperature
        max_iter = None if init is None else min(self.max_iter, WARM_START_MAX_ITER)
        if data is None:
            self._fit_clusters(Xs, mask, k, init, warn=init is None, max_iter=max_iter)
            self._fit_completion_stats(Xv, mv)
        else:
            self._fit_clusters_dask(data, k, init, warn=init is None, max_iter=max_iter)
            self._fit_completion_stats_dask(data)
        self.n_clusters_ = int(len(self.center_mask_))
        self.temperature_ = float(absolute) if absolute is not None else factor * self.typical_distance_
        self._warn_diagnostics()
        return self

    def _set_centres_z(self, Cz, H):
        """Store centres; until ``_fit_completion_stats`` sees the data they carry neutral statistics
        (every centre one member, spread 1), so centres set by hand can be completed from too."""
        super()._set_centres_z(Cz, H)
        Hn = self.center_mask_
        self.centre_sizes_ = Hn.astype(np.int64)
        self.centre_spread_ = np.where(Hn, 1.0, np.nan)
        self.centre_max_abs_z_ = np.zeros(len(Hn))
        self.suspect_centres_ = np.zeros(0, dtype=np.int64)

    def _fit_completion_stats(self, Xs, mask):
        """Per centre and modality: members observing it, their shrunk spread; the typical distance."""
        resid, sums = self._completion_sums(Xs, mask, self.labels_)
        self._set_completion_stats(sums, resid, self.labels_, mask.shape[0])

    def _fit_completion_stats_dask(self, data):
        """``_fit_completion_stats`` on ``_dask.DaskData``: ``_completion_sums`` on every chunk, summed;
        the per-sample residuals (8 bytes a sample and modality) come to the client for the exact median."""
        from . import _dask

        M = len(self.dims_)
        resid, sums = _dask.map_reduce(self, "_completion_sums", data, self.labels_, n_rows_out=((M,), np.float64))
        self._set_completion_stats(sums, np.asarray(resid), np.asarray(self.labels_), data.n)

    def _completion_sums(self, Xs, mask, labels):
        """What ``_set_completion_stats`` needs from samples (valid) with their ``labels``, as sums over
        the samples, and each sample's squared residual per entry to its own centre in each modality
        (NaN where the sample or the centre lacks the modality).

        Returns
        -------
        resid : ndarray of shape (n_samples, n_modalities)
        sums : tuple (sizes (k, M) int, residual sums (k, M), residual counts (k, M) int, residual total
            (M,), residual count (M,) int, members (k,) int)
        """
        k, M = self.center_mask_.shape
        lab = np.asarray(labels)
        sizes = np.zeros((k, M), dtype=np.int64)
        ss = np.zeros((k, M))
        cnt = np.zeros((k, M), dtype=np.int64)
        total = np.zeros(M)
        n_resid = np.zeros(M, dtype=np.int64)
        own = np.full(mask.shape, np.nan)
        for m, X in enumerate(Xs):
            obs = np.flatnonzero(mask[:, m])
            sizes[:, m] = np.bincount(lab[obs], minlength=k)
            held = self.center_mask_[lab[obs], m]
            rows, cz = obs[held], self.cluster_centers_z_[m]
            resid = np.empty(rows.size)
            for s in range(0, rows.size, 8192):
                r = rows[s : s + 8192]
                z = (np.asarray(X[r], dtype=np.float64) - self.mean_[m]) / self.scale_[m]
                resid[s : s + 8192] = ((z - cz[lab[r]]) ** 2).mean(axis=1)
            own[rows, m] = resid
            total[m] = resid.sum()
            n_resid[m] = resid.size
            ss[:, m] = np.bincount(lab[rows], weights=resid, minlength=k)
            cnt[:, m] = np.bincount(lab[rows], minlength=k)
        return own, (sizes, ss, cnt, total, n_resid, np.bincount(lab, minlength=k))

    def _set_completion_stats(self, sums, resid, labels, n):
        """Set the completion statistics from summed ``_completion_sums`` of ``n`` samples, their
        per-modality residuals ``resid`` (n, M) and their ``labels``."""
        sizes, ss, cnt, total, n_resid, members = sums
        # The typical distance is measured out of sample: a centre's modality m is the mean of the cnt
        # members that hold it, so without sample i it lies cnt / (cnt - 1) times farther away; one-member
        # centres give no such distance. Unlike the in-sample distance it does not vanish as k nears n.
        # Exact when the fit converged; a fit stopped by tol or max_iter returns labels one assignment
        # newer than its centres, and the few samples that moved are approximate (about 1 % on the
        # median at tol = 0.05): it is the temperatures' unit, used the same way in search and fit.
        c = cnt[np.asarray(labels)].astype(np.float64)  # (n, M)
        with np.errstate(invalid="ignore", divide="ignore"):
            loo = np.where(c > 1, resid * (c / (c - 1.0)) ** 2, np.nan)
            ok = ~np.isnan(loo)
            shared = ok.sum(axis=1)
            d = np.sqrt(np.where(ok, loo, 0.0).sum(axis=1) / np.maximum(shared, 1))[shared > 0]
        k, M = self.center_mask_.shape
        spread = np.full((k, M), np.nan)
        for m in range(M):
            overall = total[m] / n_resid[m] if n_resid[m] else 1.0
            spread[:, m] = np.where(self.center_mask_[:, m], (ss[:, m] + SPREAD_PRIOR * overall) / (cnt[:, m] + SPREAD_PRIOR),
                                    np.nan)
        self.centre_sizes_ = sizes
        self.centre_spread_ = spread
        typical = float(np.median(d)) if d.size else 1.0
        self.typical_distance_ = typical if typical > 0 else 1.0
        tiny = members < max(3.0, n / (10.0 * k))
        far = np.array([
            max((np.abs(c[j]).max() for c, h in zip(self.cluster_centers_z_, self.center_mask_[j].tolist()) if h), default=0.0)
            for j in range(k)
        ])
        self.centre_max_abs_z_ = far
        self.suspect_centres_ = np.flatnonzero(tiny & (far > SUSPECT_ABS_Z))

    def _warn_diagnostics(self):
        low = [(m, idx) for m, idx in enumerate(self.low_scale_features_) if idx.size]
        if low and self.scale_floor is None:
            m, idx = low[0]
            n_low = sum(i.size for _, i in low)
            warn(
                f"{counted(n_low, 'feature')} in {counted(len(low), 'modality', 'modalities')} "
                f"{'has' if n_low == 1 else 'have'} a std below "
                f"{LOW_SCALE_RATIO:g} x {'its' if n_low == 1 else 'their'} modality's median "
                f"(modality {m}: {counted(idx.size, 'feature')}); in "
                f"standardised units {'its' if n_low == 1 else 'their'} noise is magnified and can dominate the "
                f"distance. scale_floor=0.1 floors {'that std' if n_low == 1 else 'those stds'}."
            )
        usable = self._eligible()
        risky = [j for j in self.suspect_centres_ if usable[j].any()]
        if risky and self.completion == "greedy":
            j = risky[0]
            warn(
                f"{counted(len(risky), 'centre')} {'summarises a tiny cluster' if len(risky) == 1 else 'summarise tiny clusters'} "
                f"far from the data (centre {j}: "
                f"{counted(self.centre_sizes_[j].max(), 'member')}, an entry {self.centre_max_abs_z_[j]:.1f} "
                f"standard deviations from the mean); greedy completion may copy {'it' if len(risky) == 1 else 'them'} "
                "into many samples. "
                "Set min_cluster_size (e.g. 3) or use completion='soft'."
            )

    def _eligible(self):
        """(k, M) bool: centre j may fill modality m (holds it, and is large enough when asked)."""
        ok = self.center_mask_.copy()
        if self.min_cluster_size is not None:
            ok &= self.centre_sizes_ >= self.min_cluster_size
        return ok

    # -- completion -------------------------------------------------------------------------------
    def transform(self, Xs, mask=None, return_provenance=False, fitted_labels=None):
        """Complete the missing modalities.

        Parameters
        ----------
        Xs : list of array-like of shape (n_samples, n_features_m)
        mask : array-like of bool of shape (n_samples, n_modalities), default=None
        return_provenance : bool, default=False
            Also return a ``Provenance``: which centre filled each modality, and the confidence.
        fitted_labels : array-like of int of shape (n_samples,), default=None
            For rows the model was fitted on, their cluster (their ``labels_`` entry); -1 for the other
            rows. The soft completion completes such a row out of sample: its distance to its own centre
            is the distance to the mean of that centre's *other* members, as for a new sample, instead of
            a distance shrunk by the row's own pull on the centre. ``fit_transform`` passes ``labels_``.
            The greedy completion (the paper's) ignores it.

        Returns
        -------
        Xs_completed : list of ndarray of shape (n_samples, n_features_m)
            Same float dtype as the input; observed rows unchanged.
        provenance : Provenance, only if ``return_provenance``
        """
        if is_dask_input(Xs, mask):
            return self._transform_dask(Xs, mask, return_provenance, fitted_labels)
        Xs, mask, device, dtype = self._prepare(Xs, mask)
        own = self._check_fitted_labels(fitted_labels, mask.shape[0])
        out, prov = self._complete(Xs, mask, device, dtype, own=own)
        return (out, prov) if return_provenance else out

    def _check_fitted_labels(self, fitted_labels, n):
        """``fitted_labels`` as an int64 array of n entries in [-1, k), or None (also when the completion
        is greedy, which does not use it)."""
        if fitted_labels is None or self.completion != "soft":
            return None
        own = np.asarray(fitted_labels)
        k = len(self.center_mask_)
        if own.shape != (n,) or own.dtype.kind not in "iu" or (own.size and (own.min() < -1 or own.max() >= k)):
            raise ValueError(f"fitted_labels should hold one cluster index in [-1, {k}) per sample ({n}); got an array "
                             f"of shape {own.shape} and dtype {own.dtype}.")
        return own.astype(np.int64, copy=False)

    def _transform_dask(self, Xs, mask, return_provenance, fitted_labels=None):
        """``transform`` of dask input: this estimator's ``transform`` on every chunk, lazily."""
        self._check_fitted()
        M = len(self.dims_)
        dts = [np.float32 if getattr(X, "dtype", None) == np.float32 else np.float64 for X in Xs]
        specs = [((d,), dt) for d, dt in zip(self.dims_, dts)]
        if return_provenance:
            specs += [((M,), np.int64), ((M,), np.float64), ((M,), np.int64)] + [((M,), np.float64)] * 3
        lacking = np.flatnonzero(~self._eligible().any(axis=0))
        if lacking.size:  # said here once, as the tasks' own warnings may stay on the workers
            warn(f"No cluster centre may fill modality {int(lacking[0])}; samples missing it will be filled with its "
                 "training mean.")
        per_row = {} if fitted_labels is None or self.completion != "soft" else {"fitted_labels": fitted_labels}
        parts = self._lazy("transform", Xs, mask, specs, _flat_completion if return_provenance else tuple,
                           per_row=per_row, return_provenance=return_provenance)
        if not return_provenance:
            return parts
        return parts[:M], Provenance(*parts[M:])

    def fit_transform(self, Xs, mask=None, y=None, return_provenance=False):
        """``fit(Xs, mask)`` then ``transform(Xs, mask, fitted_labels=labels_)``: with the soft completion,
        every row is completed out of sample (see ``transform``), so the fills of the rows the model was
        fitted on are like those of new rows; the greedy completion is ``fit`` then ``transform``."""
        self.fit(Xs, mask)
        return self.transform(Xs, mask, return_provenance=return_provenance, fitted_labels=self.labels_)

    def explain(self, Xs, mask=None):
        """Provenance of the completion of ``Xs`` (see ``Provenance``)."""
        return self.transform(Xs, mask, return_provenance=True)[1]

    def candidate_distances(self, Xs, mask=None):
        """r_f for every sample and candidate: distance of candidate f to its nearest centre.

        Returns
        -------
        r : ndarray of shape (n_samples, n_clusters)
            For a complete sample every candidate is the sample itself, so all entries are equal. A dask
            array for dask input, computed chunk by chunk when asked.
        """
        if is_dask_input(Xs, mask):
            return self._lazy("candidate_distances", Xs, mask, [((len(self.center_mask_),), np.float64)])[0]
        Xs, mask, device, dtype = self._prepare(Xs, mask)
        r = np.empty((mask.shape[0], len(self.center_mask_)))
        for rows, r2, _, _ in self._candidate_blocks(Xs, mask, np.arange(mask.shape[0]), device, dtype, greedy=True):
            r[rows] = torch.sqrt(r2).cpu().numpy()
        return r

    def _candidate_blocks(self, Xs, mask, rows_all, device, dtype, greedy, own=None):
        """Yield (rows, r2 (c, k) or None, presence (c, M), d (c, k)) block by block.

        r2 are the greedy candidates' squared distances to their nearest centre (only when ``greedy``);
        d the partial distances from each sample to each centre. ``own`` (n,) gives the rows the model
        was fitted on their cluster (-1 for others): their distance to it is the out-of-sample one
        (``_loo_distance``).
        """
        C, H = self._centres_tensor(device, dtype)
        Nc, Cw = center_side(C, self.dims_)
        if greedy:
            patterns, pat_idx = np.unique(mask[rows_all], axis=0, return_inverse=True)
            pat_idx = pat_idx.reshape(-1)
            Bnum, Bcnt = center_center_terms(C, H, self.dims_, torch.as_tensor(patterns, device=device))  # (P, k, k)
        chunk = self._chunk(cube=greedy, device=device)
        blocks = self._blocks(Xs, mask, device, dtype, chunk, cache=False)
        for s in range(0, rows_all.size, chunk):
            rows = rows_all[s : s + chunk]
            Zcat, a, Nz = blocks.rows(rows)
            A, cntA = sample_center_terms(Zcat, a, Nz, Cw, H, Nc)  # (c, k)
            r2 = None
            if greedy:
                pi = torch.as_tensor(pat_idx[s : s + chunk], device=device)
                # (c, f, j): candidate f of each sample against centre j; min over j gives r_f^2.
                tot = Bnum[pi].add_(A[:, None, :])  # (c, k, k), in place to keep temporaries few
                cnt = Bcnt[pi].add_(cntA[:, None, :])
                r2 = ratio_or_inf(tot, cnt).amin(dim=2)
            d = torch.sqrt(ratio_or_inf(A, cntA))
            if own is not None:
                lab = own[rows]
                fitted = np.flatnonzero(lab >= 0)
                if fitted.size:
                    at = torch.as_tensor(fitted, device=device)
                    j = torch.as_tensor(lab[fitted], device=device)
                    d[at, j] = self._loo_distance(Zcat[at], a[at], C[j], j)
            yield rows, r2, a, d

    def _loo_distance(self, Z, a, Cj, j):
        """Partial distance from fitted samples to their own centres without them: (c,) from z-units
        ``Z`` (c, D) (absent blocks zero), presence ``a`` (c, M), their centres' rows ``Cj`` (c, D) and
        indices ``j`` (c,).

        A centre's modality m is the mean of its cnt members that observe m, so without the sample it
        lies cnt / (cnt - 1) times farther from it: each shared modality's term is scaled by that factor
        squared, and one the sample alone gave the centre is no longer shared. +inf when nothing stays
        shared. (Exact when the fit converged, as ``typical_distance_``.)
        """
        held = torch.as_tensor(np.where(self.center_mask_, self.centre_sizes_, 0), device=Z.device)[j]  # (c, M)
        diff = Z - Cj
        terms = block_norms(diff, self.dims_)  # (c, M): ||z^m - c^m||^2 / d_m
        cnt = held.to(Z.dtype)
        shared = a & (held > 1)
        factor = torch.where(shared, cnt / (cnt - 1.0).clamp(min=1.0), torch.zeros_like(cnt))
        num = (terms * factor * factor).sum(dim=1)
        k = shared.sum(dim=1).to(Z.dtype)
        return torch.where(k > 0, torch.sqrt(num / k.clamp(min=1.0)), torch.full_like(num, float("inf")))

    def _soft_weights(self, d, m, temperature):
        """(c, k) weights n_jm exp(-d / t) over the centres that may fill m, normalised; NaN rows where
        no such centre shares a modality with the sample."""
        ok = torch.as_tensor(self._eligible()[:, m], device=d.device)
        logn = torch.log(torch.as_tensor(self.centre_sizes_[:, m], dtype=d.dtype, device=d.device).clamp(min=1.0))
        logits = (-d / temperature + logn).masked_fill_(~ok, float("-inf"))
        logits = logits.masked_fill_(torch.isnan(logits), float("-inf"))
        return torch.softmax(logits, dim=1)  # a row of -inf gives NaN

    def _soft_average(self, d, m, temperature, Czm):
        """Soft weights of ``_soft_weights`` with NaN rows as 0 (r, k), which rows have any (r,), and the
        weighted average of the centres' modality m, ``Czm`` (k, d_m): (r, d_m)."""
        w = self._soft_weights(d, m, temperature)
        usable = ~torch.isnan(w[:, 0])
        wz = torch.nan_to_num(w)
        return wz, usable, wz @ Czm

    def soft_reconstruction(self, Xs, mask=None):
        """Every modality of every sample as the soft average of the centres, in z-units.

        Each sample's weights are those of the soft completion (``softmax(-d / temperature_)`` with the
        centres' sizes, d the partial distance on the modalities the sample observes), applied to every
        modality, observed ones included: the part of each block the clusters explain. Where no centre
        that holds a modality shares a modality with the sample, that block is 0 (the training mean).

        Returns
        -------
        list of ndarray of float64 of shape (n_samples, n_features_m)
        """
        Xs, mask, device, dtype = self._prepare(Xs, mask)
        n, M = mask.shape
        out = [np.zeros((n, d)) for d in self.dims_]
        Cz = [torch.as_tensor(np.nan_to_num(c), dtype=dtype, device=device) for c in self.cluster_centers_z_]
        for rows, _, _, d in self._candidate_blocks(Xs, mask, np.arange(n), device, dtype, greedy=False):
            for m in range(M):
                w = torch.nan_to_num(self._soft_weights(d, m, self.temperature_))  # a NaN row (no centre) -> 0
                out[m][rows] = (w @ Cz[m]).double().cpu().numpy()
        return out

    def _holdout_errors(self, Xs, mask, device, dtype, hidden, truth, sd, temperatures, completion):
        """(sum of per-block MSE, blocks) of the completion of the ``hidden`` (n, M) blocks against ``truth``
        (scaled by ``sd``), for each temperature: what ``_complete`` would give there, computed only for
        rows with a hidden block and, for the soft completion, with one distance pass for all temperatures."""
        M = mask.shape[1]
        if completion != "soft":
            out = []
            for temp in temperatures:
                filled, _ = self._complete(Xs, mask, device, dtype, temperature=temp, completion=completion)
                num, cnt = 0.0, 0
                for m in range(M):
                    h = hidden[:, m]
                    if h.any():
                        num += float(((((filled[m][h] - truth[m][h]) / sd[m]) ** 2).mean(axis=1)).sum())
                        cnt += int(h.sum())
                out.append((num, cnt))
            return out
        nums = np.zeros(len(temperatures))
        cnt = int(hidden.sum())
        Hn = self._eligible()
        Cz = [torch.as_tensor(c, dtype=dtype, device=device) for c in self.cluster_centers_z_]
        rows_all = np.flatnonzero(hidden.any(axis=1))
        # The rows are the ones fitted on (with their hidden blocks removed): completed out of sample, as
        # ``fit_transform`` completes them.
        own = np.asarray(self.labels_, dtype=np.int64)
        for rows, _, _, d in self._candidate_blocks(Xs, mask, rows_all, device, dtype, greedy=False, own=own):
            for m in range(M):
                h = hidden[rows, m]
                if not h.any():
                    continue
                target = rows[h]
                dn = d[torch.as_tensor(h, device=d.device)]
                for i, temp in enumerate(temperatures):
                    if Hn[:, m].any():
                        _, usable, mean_c = self._soft_average(dn, m, self.temperature_ if temp is None else temp, Cz[m])
                        fz = torch.where(usable[:, None], mean_c, torch.zeros_like(mean_c))
                        filled = fz.cpu().double().numpy() * self.scale_[m] + self.mean_[m]
                    else:  # no centre holds m: the training mean, as _complete fills it
                        filled = np.broadcast_to(self.mean_[m], (target.size, self.dims_[m]))
                    nums[i] += float(((((filled - truth[m][target]) / sd[m]) ** 2).mean(axis=1)).sum())
        return [(float(v), cnt) for v in nums]

    def _complete(self, Xs, mask, device, dtype, temperature=None, completion=None, own=None):
        n, M = mask.shape
        completion = completion or self.completion
        temperature = self.temperature_ if temperature is None else temperature
        out = [X.copy() for X in Xs]
        source = np.full((n, M), OBSERVED, dtype=np.int64)
        distance = np.full((n, M), np.nan)
        runner = np.full((n, M), -1, dtype=np.int64)
        runner_d = np.full((n, M), np.nan)
        conf = np.full((n, M), np.nan)
        weight = np.full((n, M), np.nan)
        prov = Provenance(source, distance, runner, runner_d, conf, weight)
        incomplete = np.flatnonzero(~mask.all(axis=1))
        if incomplete.size == 0:
            return out, prov

        Hn = self._eligible()
        for m in range(M):
            need = incomplete[~mask[incomplete, m]]
            if need.size and not Hn[:, m].any():
                what = "holds" if self.min_cluster_size is None else f"with >= {self.min_cluster_size} members holds"
                warn(
                    f"No cluster centre {what} modality {m}; {counted(need.size, 'sample')} missing it "
                    f"{'was' if need.size == 1 else 'were'} filled "
                    "with its training mean instead."
                )
                out[m][need] = self.mean_[m]
                source[need, m] = FILLED_BY_MEAN
                conf[need, m] = 0.5

        H = torch.as_tensor(Hn, device=device)
        Cz = [torch.as_tensor(c, dtype=dtype, device=device) for c in self.cluster_centers_z_]
        cn2 = [(c * c).mean(dim=1) for c in Cz]  # (k,) ||c^m||^2 / d_m
        spread = torch.as_tensor(np.nan_to_num(self.centre_spread_), dtype=dtype, device=device)
        n_mean = 0
        greedy = completion == "greedy"
        for rows, r2, a, d in self._candidate_blocks(Xs, mask, incomplete, device, dtype, greedy=greedy,
                                                     own=None if greedy else own):
            if r2 is not None:
                # Greedy order: candidates sorted by r (stable, so ties go to the lowest index).
                r2_sorted, order = torch.sort(r2, dim=1, stable=True)  # (c, k)
                r_sorted = torch.sqrt(r2_sorted)
            for m in range(M):
                if not Hn[:, m].any():
                    continue
                need_t = ~a[:, m]
                need = need_t.cpu().numpy()
                if not need.any():
                    continue
                target = rows[need]
                wz, usable, mean_c = self._soft_average(d[need_t], m, temperature, Cz[m])  # mean_c: the soft fill
                if r2 is not None:
                    holds = H[:, m][order].to(torch.uint8)  # (c, k): candidate at each position holds m
                    first = holds.argmax(dim=1)  # first position whose candidate holds m
                    src = order.gather(1, first[:, None])[:, 0].cpu().numpy()
                    fz = Cz[m][torch.as_tensor(src[need], device=device)]
                    out[m][target] = self.cluster_centers_z_[m][src[need]] * self.scale_[m] + self.mean_[m]
                    source[target, m] = src[need]
                    distance[target, m] = r_sorted.gather(1, first[:, None])[:, 0].cpu().numpy()[need]
                    second = holds.cumsum(dim=1) == 2  # (c, k)
                    has2 = second.any(dim=1).cpu().numpy()
                    pos2 = second.to(torch.uint8).argmax(dim=1)
                    ru = order.gather(1, pos2[:, None])[:, 0].cpu().numpy()
                    ru_d = r_sorted.gather(1, pos2[:, None])[:, 0].cpu().numpy()
                    runner[target, m] = np.where(has2, ru, -1)[need]
                    runner_d[target, m] = np.where(has2, ru_d, np.inf)[need]
                    weight[target, m] = 1.0
                else:
                    fz = torch.where(usable[:, None], mean_c, torch.zeros_like(mean_c))
                    out[m][target] = fz.cpu().double().numpy() * self.scale_[m] + self.mean_[m]
                    top = torch.topk(wz, k=min(2, wz.shape[1]), dim=1)
                    dn = d[need_t]
                    src = torch.where(usable, top.indices[:, 0], FILLED_BY_MEAN).cpu().numpy()
                    source[target, m] = src
                    distance[target, m] = np.where(usable.cpu().numpy(), dn.gather(1, top.indices[:, :1])[:, 0].cpu().numpy(), np.nan)
                    weight[target, m] = np.where(usable.cpu().numpy(), top.values[:, 0].cpu().numpy(), np.nan)
                    if wz.shape[1] > 1:
                        has2 = (top.values[:, 1] > 0).cpu().numpy() & usable.cpu().numpy()
                        runner[target, m] = np.where(has2, top.indices[:, 1].cpu().numpy(), -1)
                        ru_d = dn.gather(1, top.indices[:, 1:2])[:, 0].cpu().numpy()
                        runner_d[target, m] = np.where(has2, ru_d, np.inf)
                    else:
                        runner_d[target, m] = np.inf
                    runner_d[target[~usable.cpu().numpy()], m] = np.nan
                    n_mean += int((~usable).sum())
                # Expected squared error per entry of the fill fz under the soft weights:
                # sum_j w_j (spread_jm + ||c_j - fz||^2 / d_m), expanded so no (r, k, d) tensor is formed.
                dm = Cz[m].shape[1]
                exp_mse = (wz @ spread[:, m] + wz @ cn2[m] - 2.0 * (fz * mean_c).sum(dim=1) / dm
                           + (fz * fz).sum(dim=1) / dm).clamp_(min=0.0)
                # No plausible centre: the fill is (or is judged as) the mean, whose expected MSE is 1.
                exp_mse = torch.where(usable, exp_mse, torch.ones_like(exp_mse))
                conf[target, m] = (1.0 / (1.0 + exp_mse)).cpu().numpy()
        if n_mean:
            warn(
                f"{counted(n_mean, 'missing block')} {'shares' if n_mean == 1 else 'share'} no modality with any "
                f"centre that could fill {'it; it was' if n_mean == 1 else 'them; they were'} filled with the training mean."
            )
        return out, prov


def _flat_completion(result):
    """(completed modalities, Provenance) as one tuple of arrays, for the Dask path."""
    out, prov = result
    return (*out, prov.source, prov.distance, prov.runner_up, prov.runner_up_distance, prov.confidence, prov.weight)


def _is_real(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


# ---------------------------------------------------------------------------------------------
# Label-free selection
# ---------------------------------------------------------------------------------------------
SELECTION_COLUMNS = ["repeat", "n_clusters", "completion", "temperature_factor", "temperature", "holdout_mse",
                     "n_hidden", "n_rows", "seconds"]


def _search(estimator, Xs, mask, ks, temperatures, completion, holdout, n_repeats, max_samples, rng, extend=True,
            early_stop=False, keep=None):
    """Hold-out table for every k (and temperature): hide observed slots, fit, complete, score.

    ``temperatures`` holds factors of the typical distance when the estimator's temperature is "auto",
    else absolute values (or None). Inputs are valid; the hidden slots' values are replaced by NaN
    before fitting, so nothing fitted can see them. Every k is scored on the same hold-outs. With
    ``early_stop``, k values stop once SELECTION_STOP_AFTER successive ones scored worse than the best.
    ``keep`` (a dict), when given, receives each k's first fit's centres (original units, NaN where
    absent) when that fit kept all k of them.
    """
    n = mask.shape[0]
    rows = np.sort(rng.choice(n, size=max_samples, replace=False)) if n > max_samples else np.arange(n)
    Xs_s = [np.asarray(X[rows], dtype=np.float64) for X in Xs]
    mask_s = mask[rows]
    # Scores in the z-units of all observed rows given, the same for every setting.
    mu, sd = modality_stats(Xs_s, mask_s)
    relative = estimator.temperature == "auto"
    holdouts = []
    while len(holdouts) < (1 if n_repeats == "auto" else n_repeats):
        hidden = holdout_mask(mask_s, holdout, rng)
        lacking = ~(mask_s & ~hidden).any(axis=0)
        if lacking.any():  # a modality observed only in hidden slots: give those slots back
            hidden[:, lacking] = False
        fit_mask = mask_s & ~hidden
        holdouts.append((hidden, fit_mask, [np.where(fit_mask[:, [m]], X, np.nan) for m, X in enumerate(Xs_s)]))
        if n_repeats == "auto":
            n_repeats = selection_repeats(int(hidden.sum()), int(hidden.sum(axis=0) @ [X.shape[1] for X in Xs_s]))
    n_fit = len(rows)
    out = []
    best, rises = np.inf, 0
    params = {**estimator.get_params(), "temperature": None, "callback": None,
              "tol": max(estimator.tol, SELECTION_TOL), "max_iter": min(estimator.max_iter, SELECTION_MAX_ITER)}
    # k-means++ draws its seeds one after another: one seeder per hold-out gives every k its seeds. Every
    # fit on a hold-out shares its validation, statistics and standardised copy.
    seeders = [None] * len(holdouts)
    shared = [{} for _ in holdouts]
    for k in selection_grid(ks, n_fit, extend=extend):
        scores = []
        for rep, (hidden, fit_mask, Xfit) in enumerate(holdouts):
            t0 = time.perf_counter()
            model = UL4M4Imputer(**{**params, "n_clusters": k})
            model._check_imputer_params()
            init = None
            if estimator.init == "k-means++":
                if seeders[rep] is None:
                    seeders[rep] = UL4M4Imputer(**params)._seeder(Xfit, fit_mask, shared[rep])
                idx = seeders[rep].seeds(k)
                init = [X[idx] for X in Xfit]
            model._fit_clusters(Xfit, fit_mask, k, init, warn=False, shared=shared[rep])
            if keep is not None and rep == 0 and len(model.center_mask_) == k:
                keep[k] = model.cluster_centers_
            model._fit_completion_stats(Xfit, fit_mask)
            model.temperature_ = model.typical_distance_ * DEFAULT_TEMPERATURE_FACTOR
            Xq, mq, device, dtype = model._prepare(Xfit, fit_mask)
            temps = [None if t is None else (t * model.typical_distance_ if relative else float(t)) for t in temperatures]
            errs = model._holdout_errors(Xq, mq, device, dtype, hidden, Xs_s, sd, temps, completion)
            share = (time.perf_counter() - t0) / len(temps)  # the fit and the completions, split evenly
            for t, temp, (num, cnt) in zip(temperatures, temps, errs):
                out.append({
                    "repeat": rep, "n_clusters": k, "completion": completion,
                    "temperature_factor": (float(t) if relative else np.nan) if completion == "soft" else np.nan,
                    "temperature": (temp if temp is not None else model.temperature_) if completion == "soft" else np.nan,
                    "holdout_mse": num / cnt if cnt else np.nan, "n_hidden": cnt, "n_rows": n_fit,
                    "seconds": share,
                })
                scores.append((t, out[-1]["holdout_mse"]))
        per_t = pd.DataFrame(scores, columns=["t", "mse"]).groupby("t", dropna=False)["mse"].mean()
        score = float(per_t.min()) if per_t.notna().any() else np.inf
        if score < best:
            best, rises = score, 0
        else:
            rises += 1
            if early_stop and rises >= SELECTION_STOP_AFTER:
                break
    return pd.DataFrame(out, columns=SELECTION_COLUMNS)


def selection_grid(ks, n_rows, extend=True):
    """The k values the search tries on ``n_rows`` rows: those of ``ks`` up to n_rows / SELECTION_MIN_MEMBERS
    and, when ``extend`` and that bound lies below max(ks), the bound itself; the smallest k if none fits."""
    top = max(1, n_rows // SELECTION_MIN_MEMBERS)
    grid = sorted({int(k) for k in ks if int(k) <= top})
    if extend and top < max(int(k) for k in ks) and (not grid or top > grid[-1]):
        grid.append(top)
    return [k for k in grid if k <= n_rows] or [min(int(min(ks)), n_rows)]


def selection_repeats(hidden_per_repeat, entries_per_repeat=None):
    """Hold-out repeats so that about SELECTION_MIN_HIDDEN blocks and SELECTION_MIN_HIDDEN_ENTRIES of their
    entries are hidden in all (1 to SELECTION_MAX_REPEATS); ``entries_per_repeat`` None counts blocks only."""
    if hidden_per_repeat <= 0:
        return 1
    need = math.ceil(SELECTION_MIN_HIDDEN / hidden_per_repeat)
    if entries_per_repeat is not None and entries_per_repeat > 0:
        need = max(need, math.ceil(SELECTION_MIN_HIDDEN_ENTRIES / entries_per_repeat))
    return int(min(SELECTION_MAX_REPEATS, max(1, need)))


def _best(table):
    """The setting chosen from a hold-out table: mean hold-out MSE over repeats; the smallest k whose best
    temperature scores within SELECTION_PARSIMONY of the best setting, at that temperature (the lower one
    on ties). None when no setting has a score (the hold-out hid nothing)."""
    keys = ["n_clusters", "completion", "temperature_factor"]
    g = table.fillna({"temperature_factor": -1.0}).groupby(keys, sort=True)["holdout_mse"].mean().reset_index()
    if g["holdout_mse"].isna().all():
        return None  # nothing was hidden: no setting is better than another
    bound = g["holdout_mse"].min() * (1.0 + SELECTION_PARSIMONY)
    k = g.loc[g["holdout_mse"] <= bound, "n_clusters"].min()
    at_k = g[g["n_clusters"] == k]
    row = at_k.loc[at_k["holdout_mse"].idxmin()]
    return {"n_clusters": int(row["n_clusters"]), "temperature_factor": row["temperature_factor"]}


def select_parameters(Xs, mask=None, *, n_clusters=N_CLUSTERS_GRID, temperatures=TEMPERATURE_FACTORS,
                      completion="soft", holdout=SELECTION_HOLDOUT, n_repeats="auto",
                      max_samples=SELECTION_MAX_SAMPLES, random_state=None, **params):
    """Score UL4M4 settings without labels: hide observed slots, fit on the rest, complete, compare.

    A fraction ``holdout`` of the *observed* slots (never a sample's last one, ``missing.holdout_mask``)
    is hidden; for each k a ``UL4M4Imputer`` is fitted on what remains, the hidden slots are completed
    and scored (MSE per entry in z-units of the observed rows). Blocks that were never observed are
    never used. ``UL4M4Imputer(n_clusters="auto")`` runs exactly this.

    Parameters
    ----------
    Xs : list of array-like of shape (n_samples, n_features_m)
    mask : array-like of bool of shape (n_samples, n_modalities), default=None
    n_clusters : sequence of int, default=N_CLUSTERS_GRID
        Values above half the rows used are skipped (the smallest is kept); with the default grid, half
        the rows is tried too when it is below 512 (``selection_grid``).
    temperatures : sequence of float, default=TEMPERATURE_FACTORS
        Multiples of each fit's ``typical_distance_`` (soft completion only).
    completion : {"greedy", "soft"}, default="soft"
    holdout : float in (0, 1), default=0.15
    n_repeats : int from 1 to ``SELECTION_MAX_USER_REPEATS`` (1000), or "auto", default="auto"
        Independent hold-outs, all kept while the grid is searched (their memory is checked first); the table
        has one row per setting and repeat. "auto" repeats until about
        ``SELECTION_MIN_HIDDEN`` blocks and ``SELECTION_MIN_HIDDEN_ENTRIES`` of their entries were hidden in
        all, at most ``SELECTION_MAX_REPEATS`` times.
    max_samples : int, default=4000
        Rows used (a seeded subsample beyond it).
    random_state : int, Generator or None
    **params : other ``UL4M4Imputer`` parameters (max_iter, dtype, min_cluster_size, scale_floor, ...)

    Returns
    -------
    pandas.DataFrame
        Columns ``repeat``, ``n_clusters``, ``completion``, ``temperature_factor``, ``temperature``,
        ``holdout_mse``, ``n_hidden``, ``n_rows``, ``seconds``.
    """
    Xv, mv = check_Xs(Xs, mask, allow_empty_modality=False,
                      working_dtype=dtype_name(params.get("dtype", "float32"), "float32"))
    if completion not in COMPLETIONS:
        raise ValueError(f"completion={completion!r} should be one of {list(COMPLETIONS)}.")
    if not _is_grid(n_clusters) or not len(n_clusters) or any(
            isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1 for k in n_clusters):
        raise ValueError(f"n_clusters={n_clusters!r} should be a non-empty list of integers >= 1.")
    if completion == "soft" and (not _is_grid(temperatures) or not len(temperatures) or any(
            not _is_real(t) or not math.isfinite(t) or t <= 0 for t in temperatures)):
        raise ValueError(f"temperatures={temperatures!r} should be a non-empty list of numbers > 0.")
    if not (isinstance(n_repeats, str) and n_repeats == "auto") and (
            isinstance(n_repeats, bool) or not isinstance(n_repeats, numbers.Integral)
            or not 1 <= n_repeats <= SELECTION_MAX_USER_REPEATS):
        raise ValueError(f"n_repeats={n_repeats!r} should be an integer from 1 to {SELECTION_MAX_USER_REPEATS} "
                         "or 'auto'.")
    if isinstance(max_samples, bool) or not isinstance(max_samples, numbers.Integral) or max_samples < 2:
        raise ValueError(f"max_samples={max_samples!r} should be an integer >= 2.")
    if not isinstance(n_repeats, str):
        # Every hold-out keeps its copy of the rows searched (float64) and two masks, all at once: said before
        # any is made (300 repeats on mfeat took 3.5 GB in seconds).
        rows = min(mv.shape[0], int(max_samples))
        per = rows * (sum(X.shape[1] for X in Xv) * 8 + 2 * mv.shape[1])
        check_memory(int(n_repeats) * per, what=f"The hold-outs of n_repeats={n_repeats}",
                     hint="use fewer repeats, or n_repeats='auto'")
    est = UL4M4Imputer(completion=completion, temperature="auto" if completion == "soft" else None,
                       random_state=random_state, **params)
    est._check_imputer_params()
    return _search(est, Xv, mv, n_clusters, temperatures if completion == "soft" else (None,), completion,
                   holdout, n_repeats if isinstance(n_repeats, str) else int(n_repeats), int(max_samples),
                   check_random_state(random_state), extend=tuple(n_clusters) == N_CLUSTERS_GRID)


def ul4m4_impute(Xs, mask=None, n_clusters=8, **kwargs):
    """One-shot wrapper: ``UL4M4Imputer(n_clusters, **kwargs).fit_transform(Xs, mask)``."""
    return UL4M4Imputer(n_clusters, **kwargs).fit_transform(Xs, mask)
