"""Simulated missing-modality patterns: the paper's schemes, iMML's mechanisms and MNAR variants.

Every sample keeps at least one modality. Where a mechanism could remove all of a sample's modalities
(MCAR, standard, MNAR), one modality chosen uniformly at random is restored for that sample; the report
counts these restorations, which lower the realised rate below the requested one.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field

import numpy as np

from .memory import check_memory
from .validation import check_random_state, check_Xs, counted

# Largest |strength| of the MNAR mechanisms (as the command line's --strength): beyond it the calibrated
# probabilities are 0 or 1 to the last bit anyway.
MAX_STRENGTH = 100.0

__all__ = ["MECHANISMS", "MissingReport", "simulate_missing", "mask_report", "pattern_label", "complex_pattern_freqs",
           "holdout_mask"]

# Short readable names of the mechanisms, for figures, pages and reports.
MECHANISM_LABELS = {
    "mcar": "MCAR (each slot independently)",
    "standard": "Paper: standard (keep probability per modality)",
    "complex": "Paper: complex (whole-pattern frequencies)",
    "pepsy": "PEPSY (lead modalities, pm / ps)",
    "mutually_exclusive": "iMML: mutually exclusive (one modality kept)",
    "partial": "iMML: partial (subset of modalities can go)",
    "mnar_value": "MNAR by value (depends on the modality itself)",
    "mnar_label": "MNAR by label (depends on the class)",
}

MECHANISMS = {
    "mcar": "MCAR: every modality slot is removed independently, with the missing rate as its probability.",
    "standard": "The paper's standard scheme: each modality is kept with a probability of its own.",
    "complex": "The paper's complex scheme: each sample draws a whole pattern of observed modalities, with the "
    "patterns' given frequencies.",
    "pepsy": "PEPSY: a fraction pm of the modalities (rounded down) are leads, and each lead loses a fraction ps of "
    "the samples; no sample loses all the leads.",
    "mutually_exclusive": "iMML's 'mem': a fraction of the samples (the rate) keep exactly one modality, spread "
    "evenly over the modalities.",
    "partial": "iMML's 'pm': a fraction of the samples (the rate) lose a random non-empty subset of a fixed set of "
    "incomplete modalities.",
    "mnar_value": "MNAR by value: a slot's chance to be missing rises with the modality's own first "
    "principal-component score.",
    "mnar_label": "MNAR by label: some classes lose modalities more often than others (needs labels).",
}


@dataclass
class MissingReport:
    """Requested versus realised missingness of a mask.

    ``requested_rate`` is of kind ``requested_kind``: "slots" (fraction of missing modality slots) or
    "samples" (fraction of incomplete samples). Realised rates of both kinds are always given.
    """

    mechanism: str
    params: dict
    requested_kind: str
    requested_rate: float
    realized_slot_rate: float
    realized_incomplete_rate: float
    per_modality_missing: list
    n_restored: int
    pattern_counts: dict = field(default_factory=dict)

    def to_dict(self):
        return asdict(self)


def pattern_label(pattern):
    """'101' style string for a presence row (1 = observed)."""
    return "".join("1" if p else "0" for p in pattern)


def complex_pattern_freqs(n_modalities, rate):
    """Pattern frequencies for the complex scheme at one missing rate: the complete pattern with frequency
    ``1 - rate``, the rest spread evenly over the M "only modality m observed" patterns.

    With one modality the only pattern is the complete one. Example: ``complex_pattern_freqs(2, 0.4)``
    is ``{"11": 0.6, "10": 0.2, "01": 0.2}``.

    Returns
    -------
    dict pattern -> frequency (patterns as '0'/'1' strings, 1 = observed)
    """
    M = int(n_modalities)
    if M == 1:
        return {"1": 1.0}
    freqs = {"1" * M: 1.0 - rate}
    for m in range(M):
        freqs["".join("1" if j == m else "0" for j in range(M))] = rate / M
    return freqs


def mask_report(mask, mechanism="given", params=None, requested_kind="slots", requested_rate=float("nan"), n_restored=0):
    """Build a ``MissingReport`` for any mask (True = observed)."""
    mask = np.asarray(mask, dtype=bool)
    patterns, counts = np.unique(mask, axis=0, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    return MissingReport(
        mechanism=mechanism,
        params=dict(params or {}),
        requested_kind=requested_kind,
        requested_rate=float(requested_rate),
        realized_slot_rate=float((~mask).mean()),
        realized_incomplete_rate=float((~mask.all(axis=1)).mean()),
        per_modality_missing=[float(v) for v in (~mask).mean(axis=0)],
        n_restored=int(n_restored),
        pattern_counts={pattern_label(patterns[i]): int(counts[i]) for i in order},
    )


def _check_rate(name, value, upper_open=True):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"{name}={value!r} should be a number in [0, 1).")
    if value < 0 or value > 1 or (upper_open and value == 1):
        rng = "[0, 1)" if upper_open else "[0, 1]"
        raise ValueError(
            f"{name}={value} should be in {rng}; a rate of 1 would remove every modality of every sample, "
            "and every sample must keep at least one."
            if upper_open
            else f"{name}={value} should be in {rng}."
        )
    return float(value)


def _restore_one(mask, rng):
    """Give every sample with nothing observed back one modality chosen uniformly at random."""
    empty = np.flatnonzero(~mask.any(axis=1))
    if empty.size:
        mask[empty, rng.integers(mask.shape[1], size=empty.size)] = True
    return int(empty.size)


def _calibrated_probs(score, rate, strength):
    """p_i = sigmoid(strength * score_i + b) with b found by bisection so that mean(p) = rate.

    The bracket holds the answer whatever the strength: at b = -(max |strength * score| + 40) every p is
    below 1e-17, at its negative every p is above 1 - 1e-17 (a fixed [-50, 50] missed it for strengths
    past about 10, so every rate gave the same mask)."""
    from scipy.special import expit

    if rate == 0:
        return np.zeros_like(score)
    z = strength * np.asarray(score, dtype=np.float64)
    reach = float(np.abs(z).max(initial=0.0)) + 40.0
    lo, hi = -reach, reach
    for _ in range(200):
        b = 0.5 * (lo + hi)
        p = expit(z + b)
        if p.mean() < rate:
            lo = b
        else:
            hi = b
        if hi - lo <= 1e-12 * reach:
            break
    return p


def _first_pc_score(X, observed_all):
    """Standardised first principal-component score of one modality (complete data expected)."""
    from sklearn.decomposition import PCA

    Z = X.astype(np.float64)
    Z = (Z - Z.mean(axis=0)) / np.where(Z.std(axis=0) > 1e-8, Z.std(axis=0), 1.0)
    if Z.shape[1] == 1:
        s = Z[:, 0]
    else:
        s = PCA(n_components=1, svd_solver="randomized", random_state=0).fit_transform(Z)[:, 0]
    sd = s.std()
    return (s - s.mean()) / (sd if sd > 1e-12 else 1.0)


def _parse_pattern(key, M):
    if isinstance(key, str):
        if len(key) != M or set(key) - {"0", "1"}:
            raise ValueError(f"pattern {key!r} should be a string of {M} characters '0'/'1' (1 = observed).")
        pat = tuple(c == "1" for c in key)
    else:
        pat = tuple(bool(v) for v in key)
        if len(pat) != M:
            raise ValueError(f"pattern {key!r} has {len(pat)} entries; expected {M}.")
    if not any(pat):
        raise ValueError(f"pattern {key!r} observes no modality; every sample must keep at least one.")
    return pat


def simulate_missing(
    n_samples,
    n_modalities,
    mechanism="mcar",
    *,
    rate=None,
    keep_probs=None,
    pattern_freqs=None,
    pm=None,
    ps=None,
    incomplete_modalities=None,
    strength=2.0,
    Xs=None,
    y=None,
    random_state=None,
):
    """Draw a missing-modality mask.

    Parameters
    ----------
    n_samples, n_modalities : int
    mechanism : str, default="mcar"
        One of ``MECHANISMS``: "mcar", "standard", "complex", "pepsy", "mutually_exclusive", "partial",
        "mnar_value", "mnar_label".
    rate : float in [0, 1)
        Fraction of missing slots ("mcar", "mnar_value", "mnar_label") or of incomplete samples
        ("mutually_exclusive", "partial").
    keep_probs : sequence of M floats in (0, 1], for "standard".
    pattern_freqs : dict pattern -> frequency, for "complex"; a pattern is a '0'/'1' string such as
        "10" (modality 0 observed, 1 missing) or a tuple of bools. Frequencies are normalised.
    pm, ps : floats, for "pepsy" (pm in [0, 1], ps in [0, 1)).
    incomplete_modalities : sequence of int, for "partial" (default: a random half of the modalities,
        at least one).
    strength : float, default=2.0
        For the MNAR mechanisms: how strongly the value or the label drives missingness.
    Xs : list of arrays, for "mnar_value" (complete data).
    y : array of shape (n_samples,) or (n_samples, n_labels), for "mnar_label".
    random_state : int, Generator or None

    Returns
    -------
    mask : ndarray of bool of shape (n_samples, n_modalities), True = observed
    report : MissingReport
    """
    for name, v in (("n_samples", n_samples), ("n_modalities", n_modalities)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError(f"{name}={v!r} should be an integer >= 1.")
    if mechanism not in MECHANISMS:
        raise ValueError(f"mechanism={mechanism!r} is not known; expected one of {sorted(MECHANISMS)}.")
    n, M = int(n_samples), int(n_modalities)
    # The mask and the (n, M) draws behind it take about 17 bytes a slot: said before any is made.
    check_memory(17 * n * M, what=f"A mask of {n:,} samples x {M:,} modalities",
                 hint="simulate fewer samples (or modalities) at a time")
    rng = check_random_state(random_state)
    mask = np.ones((n, M), dtype=bool)
    restored = 0
    params = {}
    kind = "slots"

    def need_rate():
        if rate is None:
            raise ValueError(f"mechanism={mechanism!r} needs rate=<float in [0, 1)>.")
        return _check_rate("rate", rate)

    if mechanism == "mcar":
        r = need_rate()
        params = {"rate": r}
        mask = rng.random((n, M)) >= r
        restored = _restore_one(mask, rng)
        requested = r
    elif mechanism == "standard":
        if keep_probs is None or isinstance(keep_probs, (str, bytes)) or not hasattr(keep_probs, "__len__") \
                or len(keep_probs) != M:
            raise ValueError(f"mechanism='standard' needs keep_probs: a list of {M} probabilities in (0, 1]; got "
                             f"{keep_probs!r}.")
        kp = np.array([_check_rate("keep_probs[%d]" % m, p, upper_open=False) for m, p in enumerate(keep_probs)])
        if (kp == 0).any():
            raise ValueError(
                f"keep_probs={list(kp)} has a 0: that modality would be missing for every sample. "
                "Use probabilities in (0, 1]."
            )
        params = {"keep_probs": [float(p) for p in kp]}
        mask = rng.random((n, M)) < kp[None, :]
        restored = _restore_one(mask, rng)
        requested = float((1 - kp).mean())
    elif mechanism == "complex":
        if not pattern_freqs:
            raise ValueError("mechanism='complex' needs pattern_freqs, e.g. {'11': 0.6, '10': 0.2, '01': 0.2}.")
        pats, freqs = [], []
        for key, f in dict(pattern_freqs).items():
            if isinstance(f, bool) or not isinstance(f, numbers.Real) or not math.isfinite(f) or f < 0:
                raise ValueError(f"pattern_freqs[{key!r}]={f!r} should be a non-negative number.")
            pats.append(_parse_pattern(key, M))
            freqs.append(float(f))
        freqs = np.array(freqs)
        with np.errstate(over="ignore"):
            overflows = not np.isfinite(freqs.sum())
        if overflows:  # each finite, their sum not (1e308 twice): only the ratios matter
            freqs = freqs / freqs.max()
        if freqs.sum() <= 0:
            raise ValueError("pattern_freqs sum to 0; give at least one positive frequency.")
        freqs = freqs / freqs.sum()
        pats = np.array(pats, dtype=bool)
        mask = pats[rng.choice(len(pats), size=n, p=freqs)]
        params = {"pattern_freqs": {pattern_label(p): float(f) for p, f in zip(pats, freqs)}}
        requested = float((freqs[:, None] * ~pats).sum() / M)
    elif mechanism == "pepsy":
        if pm is None or ps is None:
            raise ValueError("mechanism='pepsy' needs pm (fraction of lead modalities) and ps (fraction of samples).")
        pm_ = _check_rate("pm", pm, upper_open=False)
        ps_ = _check_rate("ps", ps)
        L = int(math.floor(M * pm_ + 1e-9))
        leads = rng.permutation(M)[:L]
        n_drop = int(round(ps_ * n))
        for t, m in enumerate(leads):
            eligible = np.arange(n)
            if t == L - 1 and L > 1:
                # Last lead: exclude samples that already miss every earlier lead.
                eligible = np.flatnonzero(mask[:, leads[:-1]].any(axis=1))
            drop = rng.choice(eligible, size=min(n_drop, eligible.size), replace=False)
            mask[drop, m] = False
        if L == M == 1:
            mask[:] = True  # a single modality can never be removed
        params = {"pm": pm_, "ps": ps_, "leads": [int(v) for v in leads]}
        requested = L * ps_ / M
    elif mechanism == "mutually_exclusive":
        r = need_rate()
        kind = "samples"
        params = {"rate": r}
        inc = rng.permutation(n)[: int(round(r * n))]
        if M > 1:
            keep = np.arange(inc.size) % M
            rng.shuffle(keep)
            mask[inc] = False
            mask[inc, keep] = True
        requested = r
    elif mechanism == "partial":
        r = need_rate()
        kind = "samples"
        if incomplete_modalities is None:
            inc_mods = np.sort(rng.permutation(M)[: max(1, M // 2)])
        else:
            given = list(incomplete_modalities) if hasattr(incomplete_modalities, "__iter__") and not isinstance(
                incomplete_modalities, (str, bytes)) else None
            if given is None or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in given):
                raise ValueError(f"incomplete_modalities={incomplete_modalities!r} should be a list of modality "
                                 f"indices (integers in [0, {M})).")
            inc_mods = np.unique(np.asarray(given, dtype=int))
            if inc_mods.size == 0 or inc_mods.min() < 0 or inc_mods.max() >= M:
                raise ValueError(f"incomplete_modalities={list(incomplete_modalities)} should be indices in [0, {M}).")
        params = {"rate": r, "incomplete_modalities": [int(v) for v in inc_mods]}
        inc = rng.permutation(n)[: int(round(r * n))] if M > 1 else np.array([], dtype=int)
        most = min(inc_mods.size, M - 1)
        for i in inc:
            size = rng.integers(1, most + 1)
            mask[i, rng.choice(inc_mods, size=size, replace=False)] = False
        requested = r
    elif mechanism in ("mnar_value", "mnar_label"):
        r = need_rate()
        if isinstance(strength, bool) or not isinstance(strength, numbers.Real) or not math.isfinite(strength) \
                or not -MAX_STRENGTH <= strength <= MAX_STRENGTH:
            raise ValueError(f"strength={strength!r} should be a number from {-MAX_STRENGTH:g} to {MAX_STRENGTH:g}.")
        params = {"rate": r, "strength": float(strength)}
        if mechanism == "mnar_value":
            if Xs is None:
                raise ValueError("mechanism='mnar_value' needs the complete data Xs to score values.")
            Xs, full = check_Xs(Xs)
            if len(Xs) != M or Xs[0].shape[0] != n:
                raise ValueError(f"Xs should hold {M} modalities of {n} rows for this mask.")
            if not full.all():
                raise ValueError("mechanism='mnar_value' needs complete Xs (no missing rows) to score values.")
            scores = np.column_stack([_first_pc_score(X, None) for X in Xs])  # (n, M)
        else:
            if y is None:
                raise ValueError("mechanism='mnar_label' needs the labels y.")
            y = np.asarray(y)
            if y.ndim == 0 or y.shape[0] != n:
                raise ValueError(f"y has {y.shape[0] if y.ndim else 0} rows; expected {n}.")
            if y.ndim > 2 or (y.ndim == 2 and y.shape[1] == 0) or y.dtype.kind not in "biufU":
                raise ValueError(f"y should hold one label per sample (numbers or strings) or a 0/1 matrix of "
                                 f"labels with at least one column; got an array of dtype {y.dtype} and shape "
                                 f"{y.shape}.")
            key = y.argmax(axis=1) if y.ndim == 2 else y
            classes, inv = np.unique(key, return_inverse=True)
            sign = np.where(np.arange(classes.size) % 2 == 0, 1.0, -1.0)
            sign = sign[rng.permutation(classes.size)]
            scores = np.repeat(sign[inv.reshape(-1)][:, None], M, axis=1)
            params["high_missing_classes"] = [str(c) for c, s in zip(classes, sign) if s > 0]
        p = np.column_stack([_calibrated_probs(scores[:, m], r, strength) for m in range(M)])
        mask = rng.random((n, M)) >= p
        restored = _restore_one(mask, rng)
        requested = r
    if M == 1 and requested > 0:
        raise ValueError(f"with one modality nothing can be removed: every sample keeps at least one modality, so "
                         f"the requested missingness ({requested:g}) cannot happen; missing-modality simulation "
                         "needs two or more modalities.")
    report = mask_report(mask, mechanism, params, kind, requested, restored)
    return mask, report


def holdout_mask(mask, fraction=0.15, random_state=None):
    """Hide a random fraction of the *observed* modality slots, never a sample's last observed one.

    This is the label-free validation protocol: the hidden slots were observed, so their true values are
    known and a completion can be scored on them without labels and without touching blocks that were
    never observed.

    Parameters
    ----------
    mask : array-like of bool of shape (n_samples, n_modalities), True = observed
    fraction : float in (0, 1), default=0.15
        Target fraction of the observed slots to hide. Samples with a single observed slot cannot give
        one up, so the realised fraction can be lower; it never exceeds the hideable share.
    random_state : int, numpy Generator or None

    Returns
    -------
    hidden : ndarray of bool of shape (n_samples, n_modalities)
        True where an observed slot is hidden; ``mask & ~hidden`` keeps at least one slot per sample
        that had one.
    """
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.ndim != 2:
        raise ValueError(f"mask should be a 2-D bool array; got dtype {mask.dtype} and "
                         f"{counted(mask.ndim, 'dimension')}.")
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 < fraction < 1:
        raise ValueError(f"fraction={fraction!r} should be a number in (0, 1).")
    rng = check_random_state(random_state)
    n, M = mask.shape
    # One random priority per slot; each sample keeps its highest-priority observed slot for sure.
    priority = np.where(mask, rng.random((n, M)), -1.0)
    keep = np.zeros_like(mask)
    keep[np.arange(n), priority.argmax(axis=1)] = True
    hideable = mask & ~keep
    n_hideable = int(hideable.sum())
    if n_hideable == 0:
        return np.zeros_like(mask)
    p = min(1.0, fraction * int(mask.sum()) / n_hideable)
    return hideable & (rng.random((n, M)) < p)
