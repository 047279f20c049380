"""Input checking shared by every public entry point: multimodal data, seeds, devices and dtypes.

Multimodal data is a list ``Xs`` of M two-dimensional arrays of shape (n_samples, n_features_m) plus a
bool ``mask`` of shape (n_samples, M), True where the modality is observed.
"""

from __future__ import annotations

import math
import numbers
import re
import sys
import warnings

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions, make_constraint

__all__ = [
    "UL4M4Warning",
    "UnsupportedDtypeError",
    "NotFittedError",
    "check_is_fitted",
    "check_Xs",
    "check_modality_dtype",
    "is_dask_input",
    "max_abs_value",
    "dtype_name",
    "name_modalities",
    "check_random_state",
    "check_n_clusters",
    "check_params",
    "resolve_device",
    "resolve_dtype",
    "parse_list",
]


class UL4M4Warning(UserWarning):
    """Recoverable oddities in the data or the settings (a fallback was used, a rate was clipped...)."""


class UnsupportedDtypeError(TypeError, ValueError):
    """An array of a dtype outside the whitelist (bool, integers, float16/32/64); both a TypeError and,
    like every refusal of bad input, a ValueError."""


# Modality dtypes: accepted (bool, integers, float16/32/64) or refused with the reason.
_REFUSED = {
    "c": "complex numbers have no order or distance here; pass the real and imaginary parts as features",
    "U": "text is not a feature; encode it as numbers first",
    "S": "raw bytes are not features; decode them to numbers first",
    "O": "Python objects are not read; pass a numeric array",
    "M": "dates are not features; convert them to numbers (e.g. days since a reference date)",
    "m": "durations are not features; convert them to numbers (e.g. seconds)",
    "V": "structured or raw records are not features; pass one plain numeric array per modality",
}


def _dtype_problem(dtype):
    """Why a modality of this dtype is refused, or None when it is accepted."""
    if dtype.kind in "biu" or (dtype.kind == "f" and dtype.itemsize <= 8):
        return None
    if dtype.kind == "f":
        return ("extended precision (long double) has no torch counterpart and would be rounded silently; "
                "convert it with X.astype(np.float64)")
    return _REFUSED.get(dtype.kind, "not a number type")


def _to_numpy(X, m):
    """Turn one modality into a numpy array without copying when possible."""
    if hasattr(X, "detach") and hasattr(X, "cpu"):  # a torch tensor
        X = X.detach().cpu()
        try:
            X = X.numpy()
        except TypeError:  # a dtype numpy lacks (bfloat16, float8, ...): refused by name, as numpy's are
            raise UnsupportedDtypeError(f"Xs[{m}] has torch dtype {str(X.dtype).replace('torch.', '')}, which numpy "
                                        "cannot hold; expected a numeric (bool, integer or float16/32/64) tensor, "
                                        "e.g. X.float().") from None
    elif hasattr(X, "to_numpy"):  # a pandas DataFrame
        X = X.to_numpy()
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged nested lists and the like
        raise ValueError(f"Xs[{m}] could not be read as a 2-D numeric array: {exc}") from None
    check_modality_dtype(arr.dtype, m)
    return arr


def check_modality_dtype(dtype, m):
    """Refuse a modality of a dtype outside bool, integers and float16/32/64 (``UnsupportedDtypeError``
    with the reason); ``m`` is its index, for the message."""
    problem = _dtype_problem(dtype)
    if problem:
        raise UnsupportedDtypeError(f"Xs[{m}] has dtype {dtype}: {problem}; expected a numeric (bool, integer "
                                    "or float16/32/64) array.")


def max_abs_value(working_dtype="float32"):
    """Largest observed magnitude ``check_Xs`` accepts for a working dtype: sqrt(largest finite value) / 2**16,
    so that squares, and sums of up to 2**32 of them, stay finite (float32: 2.8e14; float64: 2.0e149)."""
    return math.sqrt(float(np.finfo(np.dtype(working_dtype)).max)) / 2**16


def is_dask_input(Xs, mask=None):
    """Whether any modality or the mask is a ``dask.array.Array`` (then the estimators take the Dask
    path). Never imports dask: without ``dask.array`` imported, nothing can be one."""
    da = sys.modules.get("dask.array")
    if da is None:
        return False
    items = list(Xs) if isinstance(Xs, (list, tuple)) else []
    return any(isinstance(v, da.Array) for v in [*items, mask])


# How ``check_Xs``'s messages name a sample ("first at row 12"): callers that know better names rewrite
# them with this pattern (a chunk's offset, a file's line).
ROW_NUMBER = re.compile(r"\brow (\d+)")


def name_modalities(message, names, word="modality"):
    """``check_Xs``'s message with each ``Xs[m]`` said as ``<word> '<names[m]>'`` (a file's modality, a store's
    array)."""
    for m in range(len(names) - 1, -1, -1):  # Xs[10] before Xs[1]
        message = message.replace(f"Xs[{m}]", f"{word} '{names[m]}'")
    return message


def check_Xs(Xs, mask=None, *, copy=False, n_modalities=None, dims=None, allow_empty_modality=True,
             working_dtype="float32"):
    """Validate multimodal data and return it as float arrays plus a bool observation mask.

    Parameters
    ----------
    Xs : list of array-like of shape (n_samples, n_features_m)
        One array per modality. Rows of a missing modality may hold anything when ``mask`` is given;
        without ``mask``, a row that is entirely NaN means "missing".
    mask : array-like of bool of shape (n_samples, n_modalities), default=None
        True where the modality is observed. Integer 0/1 arrays are accepted.
    copy : bool, default=False
        Return copies even when no conversion is needed.
    n_modalities : int, default=None
        Expected number of modalities (for data passed to a fitted estimator).
    dims : sequence of int, default=None
        Expected feature count of each modality (for data passed to a fitted estimator).
    allow_empty_modality : bool, default=True
        If False, a modality observed in no sample is an error.
    working_dtype : {"float32", "float64"}, default="float32"
        The dtype the caller computes in. Observed values above ``max_abs_value(working_dtype)`` in
        magnitude are refused: their squares would overflow it and turn results into NaN.

    Returns
    -------
    Xs : list of ndarray of float of shape (n_samples, n_features_m)
        Float arrays in native byte order: float32 and float64 are kept, bool, integers and float16 become
        float64; views with negative strides (``X[:, ::-1]``) are copied, as torch cannot hold them.
    mask : ndarray of bool of shape (n_samples, n_modalities)

    Raises
    ------
    UnsupportedDtypeError (a TypeError and a ValueError)
        A dtype outside bool, integers and float16/32/64, with the reason.
    ValueError
        With the number of offending rows and what is expected.
    """
    if isinstance(Xs, np.ndarray) or not isinstance(Xs, (list, tuple)):
        raise TypeError(
            f"Xs should be a list of 2-D arrays, one per modality; got {type(Xs).__name__}."
        )
    if len(Xs) == 0:
        raise ValueError("Xs is empty; expected at least one modality.")
    if n_modalities is not None and len(Xs) != n_modalities:
        raise ValueError(f"Xs has {len(Xs)} modalities; expected {n_modalities} (as seen in fit).")
    arrays = []
    for m, X in enumerate(Xs):
        arr = _to_numpy(X, m)
        if arr.ndim != 2:
            raise ValueError(
                f"Xs[{m}] has {counted(arr.ndim, 'dimension')} with shape {arr.shape}; expected a 2-D array "
                "(n_samples, n_features). Reshape a single feature with X.reshape(-1, 1)."
            )
        if arr.shape[1] == 0:
            raise ValueError(f"Xs[{m}] has 0 features; expected at least 1.")
        if not arr.dtype.isnative:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        if arr.dtype not in (np.float32, np.float64):
            arr = arr.astype(np.float64)  # bool, integers and float16 become float64
        elif copy or any(s < 0 for s in arr.strides):
            arr = arr.copy()
        arrays.append(arr)
    n = arrays[0].shape[0]
    bad = [(m, a.shape[0]) for m, a in enumerate(arrays) if a.shape[0] != n]
    if bad:
        rows = ", ".join(f"Xs[{m}] has {r}" for m, r in bad)
        raise ValueError(f"All modalities must have the same number of rows; Xs[0] has {n}, {rows}.")
    if n == 0:
        raise ValueError("Xs has 0 samples; expected at least 1.")
    if dims is not None:
        for m, (a, d) in enumerate(zip(arrays, dims)):
            if a.shape[1] != d:
                raise ValueError(
                    f"Xs[{m}] has {a.shape[1]} features; expected {d} (as seen in fit)."
                )

    # Row summaries computed in blocks so that validation never copies a whole modality.
    limit = max_abs_value(working_dtype)
    mask_given = mask is not None
    if mask is None:  # each: (all_nan, all_finite, any_nan, max_abs), (n,)
        stats = [_observed_row_stats(a, None, limit) for a in arrays]
        mask = np.column_stack([~s[0] for s in stats])
    else:  # only the observed rows need checking
        mask = _check_mask(mask, n, len(arrays))
        stats = [_observed_row_stats(a, mask[:, m], limit) for m, a in enumerate(arrays)]
    for m, (all_nan, all_finite, any_nan, max_abs) in enumerate(stats):
        bad_rows = mask[:, m] & ~all_finite
        if bad_rows.any():
            n_bad = int(bad_rows.sum())
            if mask_given and (all_nan & bad_rows).any():
                whole = bad_rows & all_nan
                raise ValueError(
                    f"Xs[{m}]: {counted(int(whole.sum()), 'row')} marked observed in the mask "
                    f"{in_number(int(whole.sum()), 'is', 'are')} all NaN (first at row "
                    f"{int(np.flatnonzero(whole)[0])}). Set mask=False where a modality is missing, or give its "
                    "values."
                )
            why = "NaN in some but not all features" if (any_nan & bad_rows).any() else "infinite values"
            raise ValueError(
                f"Xs[{m}]: {counted(n_bad, 'observed row')} {in_number(n_bad, 'contains', 'contain')} {why} "
                f"(first at row {int(np.flatnonzero(bad_rows)[0])}). Observed rows must be finite; mark a missing "
                "modality with a full row of NaN or with mask=False."
            )
        big = mask[:, m] & (max_abs > limit)
        if big.any():
            largest = float(max_abs[mask[:, m]].max())
            factor = 10.0 ** math.ceil(math.log10(largest / limit))
            raise ValueError(
                f"Xs[{m}]: the largest observed |value| is {largest:.3g} ({counted(big.sum(), 'observed row')} above "
                f"{limit:.2g}, first at row {int(np.flatnonzero(big)[0])}); its square overflows "
                f"{np.dtype(working_dtype).name} arithmetic and would turn results into NaN. Rescale this "
                f"modality (e.g. divide it by {factor:.0e})."
            )
    empty = ~mask.any(axis=1)
    if empty.any():
        raise ValueError(
            f"{counted(empty.sum(), 'sample')} {in_number(empty.sum(), 'observes', 'observe')} no modality at all "
            f"(first at row {int(np.flatnonzero(empty)[0])}); every sample must observe at least one modality."
        )
    if not allow_empty_modality:
        none = np.flatnonzero(~mask.any(axis=0))
        if none.size:
            raise ValueError(
                f"Modality {int(none[0])} is observed in no sample; every modality needs at least one "
                "observed row to be standardised and clustered."
            )
    return arrays, mask


def _row_stats(a, block=4096):
    """Per-row (all NaN, all finite, any NaN) flags and largest |value| (NaN ignored) of a 2-D float
    array, computed block by block."""
    n = a.shape[0]
    all_nan = np.empty(n, bool)
    all_finite = np.empty(n, bool)
    any_nan = np.empty(n, bool)
    max_abs = np.empty(n, np.float64)
    for s in range(0, n, block):
        blk = a[s : s + block]
        # The largest |value| per row from two reductions (no |blk| copy); NaN only where the whole row is NaN.
        max_abs[s : s + block] = np.fmax(np.fmax.reduce(blk, axis=1), -np.fmin.reduce(blk, axis=1))
        finite = np.isfinite(blk).all(axis=1)
        all_finite[s : s + block] = finite
        if finite.all():  # the common case: no NaN to look for
            all_nan[s : s + block] = False
            any_nan[s : s + block] = False
            continue
        isnan = np.isnan(blk)
        all_nan[s : s + block] = isnan.all(axis=1)
        any_nan[s : s + block] = isnan.any(axis=1)
    return all_nan, all_finite, any_nan, max_abs


def _observed_row_stats(a, observed, limit, block=4096):
    """``_row_stats`` for the ``observed`` rows (all rows when None), fast where they are unremarkable:
    one pass computes each row's sum of squares q, which is finite and at most (limit / 2)^2 only if
    every value of the row is finite and at most limit / 2 in magnitude; only observed rows failing that
    (NaN rows among them) are summarised exactly. Unobserved rows (which may hold anything) get (False,
    True, False, 0). For unremarkable rows max_abs is sqrt(q), an upper bound below limit / 2, so
    comparisons with ``limit`` and the largest value among rows above it are exact."""
    n = a.shape[0]
    all_nan = np.zeros(n, bool)
    all_finite = np.ones(n, bool)
    any_nan = np.zeros(n, bool)
    max_abs = np.zeros(n, np.float64)
    bound = (limit / 2.0) ** 2
    for s in range(0, n, block):
        blk = a[s : s + block]
        with np.errstate(over="ignore", invalid="ignore"):
            q = np.einsum("ij,ij->i", blk, blk).astype(np.float64, copy=False)
        ok = q <= bound  # False for NaN and inf
        obs = np.ones(blk.shape[0], bool) if observed is None else observed[s : s + block]
        max_abs[s : s + block] = np.where(ok & obs, np.sqrt(np.where(ok, q, 0.0)), 0.0)
        odd = np.flatnonzero(obs & ~ok)
        if odd.size:
            sub = _row_stats(blk[odd])
            for out, v in zip((all_nan, all_finite, any_nan, max_abs), sub):
                out[s + odd] = v
    return all_nan, all_finite, any_nan, max_abs


def _check_mask(mask, n, M):
    if hasattr(mask, "detach"):
        mask = mask.detach().cpu().numpy()
    mask = np.asarray(mask)
    if mask.shape != (n, M):
        raise ValueError(f"mask has shape {mask.shape}; expected (n_samples, n_modalities) = ({n}, {M}).")
    if mask.dtype != bool:
        if mask.dtype.kind not in "iuf" or not np.isin(mask, (0, 1)).all():
            raise ValueError("mask must be boolean (or 0/1); True/1 marks an observed modality.")
        mask = mask.astype(bool)
    return mask


def check_is_fitted(estimator, attribute):
    """Raise ``NotFittedError`` (scikit-learn's; a ValueError and AttributeError) if ``estimator`` has no
    ``attribute`` yet, i.e. it was used before ``fit``."""
    if not hasattr(estimator, attribute):
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet; call 'fit' with appropriate arguments "
            "before using this estimator."
        )


def check_random_state(random_state):
    """Turn ``random_state`` into a ``numpy.random.Generator``.

    None gives fresh entropy, an int seeds a new generator, a Generator is passed through.
    """
    if random_state is None or isinstance(random_state, np.random.Generator):
        return np.random.default_rng(random_state)
    if isinstance(random_state, (bool, np.bool_)):
        raise TypeError(f"random_state={random_state!r} should be an integer seed, None or a Generator.")
    if isinstance(random_state, numbers.Integral):
        if random_state < 0:
            raise ValueError(f"random_state={random_state} should be a non-negative integer.")
        return np.random.default_rng(int(random_state))
    raise TypeError(
        f"random_state={random_state!r} ({type(random_state).__name__}) should be an integer seed, "
        "None or a numpy Generator."
    )


def check_n_clusters(n_clusters, n_samples):
    """Check that ``n_clusters`` is an integer in [1, n_samples]."""
    if isinstance(n_clusters, (bool, np.bool_)) or not isinstance(n_clusters, numbers.Integral):
        raise TypeError(f"n_clusters={n_clusters!r} should be an integer >= 1.")
    if n_clusters < 1:
        raise ValueError(f"n_clusters={n_clusters} should be >= 1.")
    if n_samples < n_clusters:
        raise ValueError(f"n_samples={n_samples} should be >= n_clusters={n_clusters}.")
    return int(n_clusters)


def check_params(params, constraints):
    """Check estimator parameters against declarative constraints (scikit-learn's ``_parameter_constraints``).

    A parameter is valid when one of its constraints accepts it; parameters without an entry are not
    checked. The constraints are those of ``sklearn.utils._param_validation``: ``Interval``,
    ``StrOptions``, ``None``, a type, ``callable``, ``"boolean"``, ``"no_validation"``... Unlike in
    scikit-learn, a bool satisfies no numeric ``Interval`` (``chunk_size=True`` is no chunk size).

    Parameters
    ----------
    params : dict, parameter name -> value (``estimator.get_params(deep=False)``)
    constraints : dict, parameter name -> list of constraints

    Raises
    ------
    InvalidParameterError
        A ``ValueError`` (and ``TypeError``) saying ``name=value should be <what is accepted>``.
    """
    for name, value in params.items():
        allowed = constraints.get(name, "no_validation")
        if allowed == "no_validation":
            continue
        if any(_satisfies(c, value) for c in allowed):
            continue
        got = " ".join(repr(value).split())
        got = got if len(got) <= 80 else got[:77] + "..."
        expected = [text for c in allowed for text in _describe(c)]
        expected = expected[0] if len(expected) == 1 else ", ".join(expected[:-1]) + " or " + expected[-1]
        raise InvalidParameterError(f"{name}={got} should be {expected}.")


def _satisfies(constraint, value):
    c = make_constraint(constraint)
    if isinstance(c, Interval) and isinstance(value, (bool, np.bool_)):
        return False
    return c.is_satisfied_by(value)


def _describe(constraint):
    """What a constraint accepts, in the words of this library's messages (a list of alternatives)."""
    c = make_constraint(constraint)
    if isinstance(c, Interval) and c.type is numbers.Integral:
        if c.left is not None and c.right is not None and c.closed == "both":
            return [f"an integer in [{c.left}, {c.right}]"]
        low = None if c.left is None else (">= " if c.closed in ("left", "both") else "> ") + str(c.left)
        high = None if c.right is None else ("<= " if c.closed in ("right", "both") else "< ") + str(c.right)
        return [" ".join(["an integer", " and ".join(b for b in (low, high) if b)]).strip()]
    if isinstance(c, StrOptions):
        return [repr(o) for o in sorted(c.options)]
    if constraint is None:
        return ["None"]
    if constraint is callable:
        return ["a callable"]
    if isinstance(constraint, str) and constraint == "boolean":
        return ["a bool"]
    if isinstance(constraint, type):
        root = constraint.__module__.split(".")[0]
        return [f"a {constraint.__name__}" if root == "builtins" else f"a {root}.{constraint.__name__}"]
    return [str(c)]


def resolve_device(device, Xs=None):
    """Resolve ``device`` once: None follows the input (CPU for numpy), "auto" picks CUDA if present."""
    import torch

    if device is None:
        for X in Xs or ():
            if isinstance(X, torch.Tensor):
                return X.device
        return torch.device("cpu")
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(f"device={device!r} should be None, 'auto', 'cpu' or 'cuda'.")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} was requested but CUDA is not available; use 'cpu' or 'auto'.")
        return torch.device(device)
    if device == "cpu":
        return torch.device("cpu")
    raise ValueError(f"device={device!r} is not recognised; expected None, 'auto', 'cpu' or 'cuda'.")


def dtype_name(dtype, fallback=None):
    """"float32" or "float64" for an estimator's ``dtype`` (as ``resolve_dtype`` reads it): the working dtype
    ``check_Xs`` takes its value limit from. A dtype ``resolve_dtype`` refuses raises its ValueError, unless
    ``fallback`` is given: then that is returned, and the estimator's parameter check says what is wrong."""
    try:
        return str(resolve_dtype(dtype)).replace("torch.", "")
    except (ValueError, TypeError):
        if fallback is None:
            raise
        return fallback


def resolve_dtype(dtype):
    """Map "float32"/"float64" (or the numpy/torch dtypes) to a torch dtype."""
    import torch

    name = getattr(dtype, "name", None) or str(dtype).replace("torch.", "")
    if name in ("float32", "float"):
        return torch.float32
    if name in ("float64", "double"):
        return torch.float64
    raise ValueError(f"dtype={dtype!r} is not supported; expected 'float32' or 'float64'.")


_LIST_KINDS = {float: ("numbers", "0, 0.2, 0.4"), int: ("integers", "2, 5, 10"), str: ("names", "ul4m4, mean")}


def parse_list(text, cast=float, what=None):
    """The values of a comma-separated list typed by a person (``;`` also separates; blanks are skipped).

    Parameters
    ----------
    text : str, e.g. "0, 0.2, 0.4"
    cast : float, int or str
    what : str or None, what the list holds, for the error message (e.g. "rates")

    Returns
    -------
    tuple of ``cast`` values, at least one

    Raises
    ------
    ValueError
        Saying what was received and what was expected, e.g. ``rates '0, x' should be numbers separated by
        commas, e.g. 0, 0.2, 0.4``.
    """
    if cast not in _LIST_KINDS:
        raise TypeError(f"cast={cast!r} should be float, int or str.")
    kind, example = _LIST_KINDS[cast]
    prefix = f"{what} " if what else ""
    items = [v.strip() for v in str(text).replace(";", ",").split(",")]
    try:
        vals = tuple(cast(v) for v in items if v)
    except ValueError:
        raise ValueError(f"{prefix}{text!r} should be {kind} separated by commas, e.g. {example}") from None
    if not vals:
        raise ValueError(f"{prefix}{text!r} holds no {kind}; give at least one, e.g. {example}")
    return vals


def in_number(n, one, many):
    """The form of a word that agrees with a count: in_number(1, "is", "are") -> "is" (``many`` otherwise)."""
    return one if int(n) == 1 else many


def counted(n, word, plural=None):
    """``n`` and the word in the number it takes: counted(1, "feature") -> "1 feature", counted(9, "feature")
    -> "9 features", counted(2, "modality", "modalities") -> "2 modalities" (thousands separated)."""
    n = int(n)
    return f"{n:,} {word if n == 1 else plural or word + 's'}"


def warn(message):
    """Issue a ``UL4M4Warning`` pointing at the caller's caller."""
    warnings.warn(message, UL4M4Warning, stacklevel=3)
