"""The scenario in the page's address: data, missingness, run settings and map choice as query parameters.

``restore()`` reads them once, when a session starts (a fresh browser, a shared link), checks every value
and applies the good ones; ``publish()`` writes the current settings back after every script run, so the
address always reproduces what the page shows, on every page. An uploaded file cannot travel in a link:
the address then says ``data=upload`` and a session opened from it says so and uses the default data.

Parameters (all optional; anything else in the address is left alone):
    data      mfeat | breast_cancer | synthetic | upload
    syn_*     the synthetic generator's options (n, m, dims, k, corr, noise, sep, ml, labels, seed)
    mech      missingness mechanism; rate, strength, keep (comma list), patterns (101:0.2,011:0.3),
              pm, ps, split (both | test | train), test (test fraction), mseed
    k, init, seed, iter, methods (comma list)   the run
    map       pca | umap
    present   1 for presentation mode
"""

from __future__ import annotations

import dataclasses
import math

import streamlit as st

import ul4m4
from appui import state
from ul4m4.experiment import METHODS, SPLIT_CHOICES, MissingConfig, RunConfig, default_n_clusters
from ul4m4.missing import MECHANISMS

READ = "scenario_read"  # session-state flag: the address was read for this session
NOTES = "scenario_notes"  # messages about values of the address that were not used
BUNDLED = ("mfeat", "breast_cancer")
SYNTHETIC = {  # address key -> (make_synthetic option, parser)
    "syn_n": ("n_samples", int), "syn_m": ("n_modalities", int), "syn_dims": ("dims", "dims"),
    "syn_k": ("n_clusters", int), "syn_corr": ("correlation", float), "syn_noise": ("noise", float),
    "syn_sep": ("separation", float), "syn_ml": ("multilabel", "bool"), "syn_labels": ("n_labels", int),
    "syn_seed": ("random_state", int),
}
OWN_KEYS = ("data", *SYNTHETIC, "mech", "rate", "strength", "keep", "patterns", "pm", "ps", "split", "test",
            "mseed", "k", "init", "seed", "iter", "methods", "map", "present")
MAX_VALUE_CHARS = 2000  # longer values are refused before they are parsed


def _num(text, kind, name):
    try:
        v = kind(text)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={text!r} is not {'an integer' if kind is int else 'a number'}") from None
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(f"{name}={text!r} is not a finite number")
    return v


def _floats(text, name):
    return tuple(_num(t.strip(), float, name) for t in text.split(",") if t.strip())


def _parse_patterns(text):
    pairs = []
    for item in text.split(","):
        if not item.strip():
            continue
        pattern, sep, freq = item.partition(":")
        if not sep:
            raise ValueError(f"patterns item {item!r} should read pattern:frequency, e.g. 101:0.2")
        pairs.append((pattern.strip(), _num(freq.strip(), float, "patterns")))
    return tuple(pairs)


def _dataset(q, notes):
    """(dataset, spec, key) the address asks for, or None to keep the default."""
    data = q.get("data")
    if data is None or data == "mfeat":
        return None
    if data in BUNDLED:
        return state.bundled(data), {"name": data, "source": data}, f"bundled:{data}"
    if data == "upload":
        notes.append("This link was made from an uploaded file, which a link cannot carry: the bundled mfeat "
                     "data are shown instead. Upload the file on the Data page to reproduce it.")
        return None
    if data != "synthetic":
        notes.append(f"data={data!r} is not one of {', '.join(BUNDLED)}, synthetic or upload; mfeat is shown.")
        return None
    params = {}
    for key, (option, kind) in SYNTHETIC.items():
        if key not in q:
            continue
        text = q[key]
        if kind == "bool":
            params[option] = text in ("1", "true", "True")
        elif kind == "dims":
            dims = tuple(int(_num(t, int, key)) for t in text.split(",") if t.strip())
            params[option] = dims[0] if len(dims) == 1 else dims
        else:
            params[option] = _num(text, kind, key)
    ds = ul4m4.make_synthetic(**params)  # checks every option and its memory (ValueError)
    full = {**_synthetic_defaults(), **params}
    return ds, {"name": "synthetic", "source": "synthetic", "options": full}, "synthetic:" + repr(sorted(full.items()))


def _synthetic_defaults():
    """The Data page's synthetic form defaults, as make_synthetic options."""
    return dict(n_samples=600, n_modalities=3, dims=16, n_clusters=4, correlation=0.8, noise=0.5, separation=2.5,
                multilabel=False, n_labels=5, random_state=0)


def _missing(q, base):
    kw = {}
    if "mech" in q:
        if q["mech"] not in MECHANISMS:
            raise ValueError(f"mech={q['mech']!r} is not one of {', '.join(MECHANISMS)}")
        kw["mechanism"] = q["mech"]
    for key, field, kind in (("rate", "rate", float), ("strength", "strength", float), ("pm", "pm", float),
                             ("ps", "ps", float), ("test", "test_size", float), ("mseed", "seed", int)):
        if key in q:
            kw[field] = _num(q[key], kind, key)
    if "keep" in q:
        kw["keep_probs"] = _floats(q["keep"], "keep")
    if "patterns" in q:
        kw["pattern_freqs"] = _parse_patterns(q["patterns"])
    if "split" in q:
        if q["split"] not in SPLIT_CHOICES:
            raise ValueError(f"split={q['split']!r} is not one of {', '.join(SPLIT_CHOICES)}")
        kw["apply_to"] = q["split"]
    if not kw:
        return None
    if "mechanism" in kw and kw["mechanism"] != base.mechanism:  # a new mechanism starts from its defaults
        base = MissingConfig(mechanism=kw["mechanism"])
    return dataclasses.replace(base, **kw)


RUN_RANGES = {"k": ("n_clusters", 1, 100_000), "seed": ("seed", 0, 2**31 - 1), "iter": ("max_iter", 1, 1000)}


def _run(q, base):
    """The run settings of the address over ``base``; a ValueError naming every value that cannot be used."""
    kw, bad = {}, []
    for key, (field, lo, hi) in RUN_RANGES.items():
        if key in q:
            try:
                v = _num(q[key], int, key)
            except ValueError as exc:
                bad.append(str(exc))
                continue
            if not lo <= v <= hi:
                bad.append(f"{key}={v} is outside {lo}..{hi}" if key != "k" else f"k should be {lo}..{hi}, not {v}")
                continue
            kw[field] = v
    if "init" in q:
        if q["init"] not in ("k-means++", "random"):
            bad.append(f"init={q['init']!r} is not k-means++ or random")
        else:
            kw["init"] = q["init"]
    if "methods" in q:
        methods = tuple(m.strip() for m in q["methods"].split(",") if m.strip())
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            bad.append(f"methods: {', '.join(map(repr, unknown))} not among {', '.join(METHODS)}")
        else:
            kw["methods"] = ("ul4m4",) + tuple(dict.fromkeys(m for m in methods if m != "ul4m4"))
    if bad:
        raise ValueError("; ".join(bad))
    return dataclasses.replace(base, **kw) if kw else None


def restore():
    """Apply the address's scenario once per session; values that cannot be used are listed in NOTES."""
    ss = st.session_state
    if ss.get(READ):
        return
    ss[READ] = True
    notes = []
    q = {}
    for key in OWN_KEYS:
        if key in st.query_params:
            value = st.query_params[key]
            if len(value) > MAX_VALUE_CHARS:
                notes.append(f"{key}: a value of {len(value):,} characters is too long (at most {MAX_VALUE_CHARS}); "
                             "ignored.")
                continue
            q[key] = value
    ss[NOTES] = notes
    if not q:
        return
    try:
        got = _dataset(q, notes)
    except (ValueError, TypeError) as exc:
        notes.append(f"The link's synthetic data could not be made ({exc}); mfeat is shown.")
        got = None
    if got is not None:
        state.set_dataset(*got)
        ss[state.RUN_CFG] = RunConfig(n_clusters=default_n_clusters(got[0]))
    try:
        cfg = _missing(q, ss[state.MISSING_CFG])
        if cfg is not None:
            previous = ss[state.MISSING_CFG]
            ss[state.MISSING_CFG] = cfg
            try:
                state.current_mask()  # the library checks every setting against the data
            except Exception:
                ss[state.MISSING_CFG] = previous
                raise
    except (ValueError, TypeError) as exc:
        notes.append(f"The link's missingness settings were not used ({exc}); the defaults are shown.")
    try:
        cfg = _run(q, ss[state.RUN_CFG])
        if cfg is not None:
            ss[state.RUN_CFG] = cfg
    except (ValueError, TypeError) as exc:
        notes.append(f"The link's run settings were not used ({exc}); the defaults are shown.")
    if "map" in q:
        if q["map"] in ("pca", "umap"):
            ss[state.MAP_METHOD] = q["map"]
        else:
            notes.append(f"map={q['map']!r} is not pca or umap; pca is shown.")
    if q.get("present") == "1":
        ss[state.PRESENT] = True


def current():
    """The current scenario as query parameters (str -> str)."""
    ss = st.session_state
    spec = ss[state.DATASET_SPEC]
    source = spec.get("source", spec.get("name"))
    out = {"data": source if source in (*BUNDLED, "synthetic", "upload") else "mfeat"}
    if source == "synthetic":
        opts = spec.get("options", {})
        for key, (option, kind) in SYNTHETIC.items():
            if option in opts:
                v = opts[option]
                if kind == "dims":
                    v = ",".join(map(str, v)) if isinstance(v, (tuple, list)) else str(v)
                elif kind == "bool":
                    v = "1" if v else "0"
                out[key] = str(v)
    c = ss[state.MISSING_CFG]
    out["mech"] = c.mechanism
    if c.rate is not None:
        out["rate"] = repr(float(c.rate))
    if c.mechanism in ("mnar_value", "mnar_label"):
        out["strength"] = repr(float(c.strength))
    if c.keep_probs is not None:
        out["keep"] = ",".join(repr(float(p)) for p in c.keep_probs)
    if c.pattern_freqs is not None:
        out["patterns"] = ",".join(f"{p}:{float(f)!r}" for p, f in c.pattern_freqs)
    if c.pm is not None:
        out["pm"] = repr(float(c.pm))
    if c.ps is not None:
        out["ps"] = repr(float(c.ps))
    out.update(split=c.apply_to, test=repr(float(c.test_size)), mseed=str(int(c.seed)))
    r = ss[state.RUN_CFG]
    out.update(k=str(int(r.n_clusters)), init=r.init, seed=str(int(r.seed)), iter=str(int(r.max_iter)),
               methods=",".join(r.methods), map=ss[state.MAP_METHOD])
    if ss.get(state.PRESENT):
        out["present"] = "1"
    return out


def publish():
    """Write the current scenario into the address, every run: a page switch empties the browser's address
    while the server's copy may still hold the old values, so comparing with it would write nothing."""
    want = current()
    others = {k: v for k, v in st.query_params.to_dict().items() if k not in OWN_KEYS}
    st.query_params.from_dict({**others, **want})


def uses_upload():
    return st.session_state[state.DATASET_SPEC].get("source") == "upload"
