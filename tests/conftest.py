"""Shared fixtures: seeds to parametrise over and small random incomplete datasets."""

import pytest

import os

SEEDS = list(range(int(os.environ.get("UL4M4_N_SEEDS", "3"))))


@pytest.fixture(params=SEEDS)
def global_random_seed(request):
    return request.param


def random_incomplete(rng, n, dims, p_obs=0.6):
    """Random multimodal data of mixed scale with a random mask (every sample observes something)."""
    M = len(dims)
    Xs = [rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0) + rng.normal(scale=2.0) for d in dims]
    mask = rng.random((n, M)) < p_obs
    empty = ~mask.any(axis=1)
    mask[empty, rng.integers(M, size=empty.sum())] = True
    return Xs, mask


def with_nan(Xs, mask):
    from ul4m4.experiment import masked

    return masked(Xs, mask)


def shown(text):
    """What a Streamlit message reads like on screen when its source was written with ``appui.text.plain``:
    the backslash escapes and word joiners removed (other markdown is left as it is)."""
    import re

    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text).replace("\u2060", "")


def unwrapped(title):
    """A chart title with the line breaks ``plotting.wrap_title`` added for narrow windows taken out (a
    subtitle keeps its own line), and the blank lines that align two titles side by side."""
    import re

    title = title.replace("<br><sup>\u00a0</sup>", "").replace("<br>\u00a0", "")
    return re.sub(r"<br>(?!<sup>)", " ", title.replace("</sup><br><sup>", " "))


@pytest.fixture(autouse=True)
def _machine_speed_kept_apart(monkeypatch, tmp_path_factory):
    """Tests neither read nor write the speed the app keeps in the user's cache between processes
    (``ul4m4.timing._speed_file``), nor each other's: a speed seen elsewhere would change what a test reads."""
    import ul4m4.timing as timing

    import uuid

    where = tmp_path_factory.getbasetemp() / f"machine_speed_{uuid.uuid4().hex}.json"  # one per test, made on use
    monkeypatch.setattr(timing, "_speed_file", lambda: where)
    monkeypatch.setattr(timing, "_LEARNED", {})  # what earlier runs took: each test starts without
