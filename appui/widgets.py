"""Small UI helpers: readable errors instead of tracebacks, progress bars driven by library callbacks."""

from __future__ import annotations

import contextlib
import logging
import re
import time
import traceback

import streamlit as st

from appui import scenario, state
from appui.text import plain
from ul4m4 import plotting
from ul4m4.plotting import STATUS_COLOURS, method_label
from ul4m4.summary import failure_summary
from ul4m4.sweep import units_per_method

log = logging.getLogger("ul4m4.app")


def error_text(what, error_type, message, expected, kept="The previous results are kept"):
    """What the page says about an error while ``what`` (words, e.g. "running kNN"): the library's message
    for an error about the data or settings (``expected``), a memory hint for ``MemoryError``, and for
    anything else (a bug) only its type and a request to report it. ``kept`` says what the user still has."""
    if error_type == "MemoryError":
        return f"Not enough memory while {plain(what)}. Try a smaller dataset, fewer clusters or fewer methods."
    if expected:
        return f"Problem while {plain(what)}: {plain(message)}"
    return (f"Unexpected error while {plain(what)} ({plain(error_type)}). {kept}; please report this with the "
            "settings you used.")


@contextlib.contextmanager
def guard(what):
    """Show library errors as a readable ``st.error``; unexpected errors get a short note, no traceback.
    The message is shown as the library wrote it (``plain``): names of files and columns in it stay literal.

    Usage: ``with guard("loading the file"): ...``. Returns normally after showing the message, so the
    rest of the page (and the previous results) stay usable.
    """
    try:
        yield
    except state.MethodFailed as exc:  # the paper's UL4M4 failed inside a run: as if it had raised here
        f = exc.failure
        if not f.expected:
            log.error("unexpected error in %s while %s:\n%s", f.method, what, f.traceback)
        st.error(error_text(what, f.error_type, f.message, f.expected),
                 icon=":material/memory:" if f.error_type == "MemoryError" else
                 ":material/error:" if f.expected else ":material/bug_report:")
    except (ValueError, TypeError, FileNotFoundError, OSError) as exc:
        st.error(error_text(what, type(exc).__name__, exc, True), icon=":material/error:")
    except MemoryError:
        st.error(error_text(what, "MemoryError", "", True), icon=":material/memory:")
    except Exception as exc:  # a bug: keep the page alive, log the traceback for the developers
        log.error("unexpected error while %s:\n%s", what, traceback.format_exc())
        st.error(error_text(what, type(exc).__name__, exc, False), icon=":material/bug_report:")


def show_method_failures(failed):
    """One box per method that failed in a run (``RunResult.failed``): which, why, and that the other
    methods' results are shown without it (``state.run_and_remember`` logged the unexpected ones)."""
    for f in failed.values():
        label = method_label(f.method)
        if f.error_type == "MemoryError":
            text, icon = (f"Not enough memory while running {plain(label)}: it is left out of the results below. "
                          "Try a smaller dataset, fewer clusters or fewer methods.", ":material/memory:")
        elif f.expected:
            text, icon = (f"{plain(label)} could not run on these data and is left out of the results below: "
                          f"{plain(f.message)}", ":material/error:")
        else:
            text, icon = (f"Unexpected error while running {plain(label)} ({plain(f.error_type)}): it is left out of "
                          "the results below; please report this with the settings you used.", ":material/bug_report:")
        st.error(text, icon=icon)


def sweep_failure_texts(failures, cfg):
    """(text, icon) per method and kind of error among the units a sweep left out (``sweep.UnitFailure``),
    for ``cfg`` (a ``SweepConfig``): which method, where (rates, seeds, k), why, and what the curves show.
    The texts are plain words (``plain`` them for a Streamlit message)."""
    out = []
    for g in failure_summary(failures, units_per_method(cfg)):
        label = method_label(g["method"])
        where = "at every rate" if g["everywhere"] else f"at {g['where']}"
        left = "its curve is missing" if g["everywhere"] else "its curve has gaps there"
        if g["error_type"] == "MemoryError":
            out.append((f"Not enough memory while running {label} {where}, so {left}. Try a smaller dataset, smaller "
                        "k values or fewer methods.", ":material/memory:"))
        elif g["expected"]:
            out.append((f"{label} could not run {where}, so {left}: {g['message']}", ":material/error:"))
        else:
            out.append((f"Unexpected error ({g['error_type']}) while running {label} {where}, so {left}; please "
                        "report this with the settings you used.", ":material/bug_report:"))
    return out


def show_sweep_failures(failures, cfg):
    """One box per method and kind of error among the units a sweep left out (the other methods' curves
    stand; methods are compared on the seeds they all have)."""
    for text, icon in sweep_failure_texts(failures, cfg):
        st.error(plain(text), icon=icon)


class Progress:
    """A progress bar plus status line fed by the library's callback dicts. A sweep's units may finish in
    bursts (a cell of a sweep run by worker processes): the bar moves at most every ``EVERY_S`` seconds, and
    at the last unit, as each update costs the browser a redraw."""

    EVERY_S = 0.25

    def __init__(self, label):
        self.bar = st.progress(0.0, text=label)
        self.shown = 0.0  # when the bar last moved

    def method_step(self, info):
        stage = info.get("stage")
        if stage == "method":
            done, total = info["done"], info["total"]
            name = info.get("method")
            text = f"Running {method_label(name)} ({done + 1}/{total})..." if name else "Done."
            self.bar.progress(min(done / max(total, 1), 1.0), text=text)
        elif stage == "seeding":
            self.bar.progress(0.0, text=f"UL4M4: k-means++ seeding, centre {info['done']}/{info['total']}")
        elif stage == "lloyd":
            self.bar.progress(0.0, text=f"UL4M4: Lloyd iteration {info['iteration']} "
                                        f"({info['n_changed']} samples changed cluster)")
        elif stage == "sweep":
            done, total = info["done"], info["total"]
            now = time.perf_counter()
            if done < total and now - self.shown < self.EVERY_S:
                return
            self.shown = now
            if "method" in info:  # the method by its label (the library's text names it by its key)
                k = f", k = {info['k']}" if info.get("k") is not None else ""
                text = (f"Seed {info['seed']}, rate {info['rate']:g}: {method_label(info['method'])}{k} done "
                        f"({done}/{total})")
            else:
                text = info.get("text", f"{done}/{total}")
            self.bar.progress(min(done / max(total, 1), 1.0), text=plain(text))

    def done(self):
        self.bar.empty()



FIGURE_FORMAT = "figure_format"  # session-state key: "png" | "svg", what a chart's camera button saves
PRESENTATION_SIZE = (1600, 900)  # pixels of a figure saved from its toolbar


def chart_config():
    """Plotly's toolbar for every chart: the camera saves the figure at presentation size, as PNG or SVG
    (the sidebar's choice), named after its title."""
    fmt = st.session_state.get(FIGURE_FORMAT, "png")
    w, h = PRESENTATION_SIZE
    return {"displaylogo": False,
            "toImageButtonOptions": {"format": fmt, "width": w, "height": h, "scale": 1, "filename": "ul4m4_figure"}}


TITLE_CHARS = {"full": 60, "half": 32}  # title characters per line of a chart across the page, and in half of it


def chart(fig, key, where=None, span="full", shape=None, **kwargs):
    """Show a plotly figure as every chart of the app: the page's width, the toolbar of ``chart_config``, its
    title broken into lines that fit a narrow window (``span``: "full" or "half" of the page's width; ``shape``:
    the room its title takes, as ``plotting.wrap_title``)."""
    plotting.wrap_title(fig, TITLE_CHARS[span], shape)
    return (where or st).plotly_chart(fig, width="stretch", config=chart_config(), key=key, **kwargs)


def charts_side_by_side(name, left, right):
    """Two charts, each a (figure, key) pair, in the columns of ``chart_pair(name)``, their titles given the
    same room so that both plots start at the same height (a subtitle or a longer title on one side only
    had pushed its plot down)."""
    shapes = [plotting.title_shape(fig, TITLE_CHARS["half"]) for fig, _ in (left, right)]
    shape = (max(s[0] for s in shapes), max(s[1] for s in shapes))
    cols = chart_pair(name)
    return [chart(fig, key, where=c, span="half", shape=shape) for (fig, key), c in zip((left, right), cols)]


# Two charts side by side take a row each when the page is too narrow for both (a chart under about 400 px
# cut its title and crammed its axis labels); Streamlit's own columns only stack below a 640 px window.
CHART_PAIR_CSS = """
<style>
[class*="st-key-chart_pair_"] [data-testid="stHorizontalBlock"] { flex-wrap: wrap; }
[class*="st-key-chart_pair_"] [data-testid="stColumn"] { flex: 1 1 400px; min-width: 400px; }
</style>
"""


def chart_pair(name):
    """Two columns for two charts (``chart(..., where=c, span="half")``) that wrap onto two rows on a narrow
    page; ``name`` makes the pair's key."""
    with st.container(key=f"chart_pair_{name}"):
        return st.columns(2)


def _number_words(v):
    return f"{v:,}" if isinstance(v, int) else f"{v:g}"


def number_field(where, label, lo, hi, value, *, key, problems, step=None, help=None, name=None):
    """``st.number_input`` that takes whatever number is typed, its range checked here.

    Given ``min_value``/``max_value``, Streamlit outlines a number outside them in red and drops it, in a form
    with the rest of the submission, without a word: Run did nothing and the old results stayed. Here the
    widget has no bounds; a number outside [lo, hi] (or an empty field) is added to ``problems`` (a list) as a
    sentence naming the field (``name``, else the label without its bracketed range), the number and the range.
    The page says them and acts on nothing while there are any (``refuse``). The label should say the range.
    """
    v = where.number_input(label, value=value, step=step, key=key, help=help)
    field = name or re.sub(r"\s*\([^)]*\)\s*$", "", label)
    if v is None:
        problems.append(f"'{field}' is empty; give a number from {_number_words(lo)} to {_number_words(hi)}.")
        return value
    if not lo <= v <= hi:
        problems.append(f"'{field}' is {_number_words(v)}; it must lie between {_number_words(lo)} and "
                        f"{_number_words(hi)}.")
    return v


def refuse(problems, action):
    """Say the fields out of range (``number_field``) in one error box; True when there were any. ``action``
    is what is not done until they are mended (e.g. "Run")."""
    if problems:
        st.error(" ".join(problems) + f" {action} waits until {'it is' if len(problems) == 1 else 'they are'} "
                 "mended; nothing else changed.", icon=":material/error:")
    return bool(problems)


def decimals_per_column(df, decimals=3, na_rep="–"):
    """A Styler writing each float column of ``df`` with one number of decimals: the fewest (at most
    ``decimals``) that show every value of the column as rounded to ``decimals``. Streamlit's default wrote each
    cell with its own (0.627 next to 0.8005 in one column)."""
    import numpy as np
    import pandas as pd

    formats = {}
    for col in df.columns:
        if pd.api.types.is_float_dtype(df[col]):
            v = np.round(df[col].dropna().to_numpy(), decimals)
            d = next((d for d in range(decimals) if np.allclose(v, np.round(v, d), rtol=0, atol=1e-9)), decimals)
            formats[col] = f"{{:,.{d}f}}"
    return df.style.format(formats, na_rep=na_rep)


def status_legend():
    """The one visual code for modality blocks, as HTML swatches (used once, in the sidebar)."""
    sw = {status: f"<span style='color:{c};font-size:1.2em'>{'&#10005;' if status == 'imputed' else '&#9679;'}</span>"
          for status, c in STATUS_COLOURS.items()}
    return (f"{sw['observed']} observed &nbsp; {sw['missing']} missing &nbsp; {sw['imputed']} imputed")


def sidebar(origin=None):
    """Sidebar under the navigation: the visual code, presentation mode, figure format, the link note.

    Returns the Report button's place and the link note's (``link_note``): ``app.py`` fills both after the
    page ran, so the report holds what the page just computed (a sweep that finished in this run, say) and
    the note speaks of the data the page left loaded. ``origin`` is the current page's file:
    leaving presentation mode goes back there."""
    ss = st.session_state
    with st.sidebar:
        # Where blocks are drawn (mask and pattern charts, the selection table); cluster maps colour by cluster.
        st.markdown("**Modality blocks** (mask and pattern charts, sample tables)  \n" + status_legend(),
                    unsafe_allow_html=True)
        if st.button("Presentation mode", icon=":material/slideshow:", key="present_on",
                     help="Hide the controls and walk through the current scenario in five steps (or add "
                          "?present=1 to the address)."):
            ss[state.PRESENT] = True
            ss[state.PRESENT_FROM] = origin
            ss[state.PRESENT_STEP] = 0  # a talk starts at its first step, whichever the Story page was on
            # The address changes with the page, in the same message, so a link copied now carries present=1.
            st.switch_page("views/present.py", query_params=scenario.current())
        report_slot = st.empty()
        st.radio("Chart camera button saves", ["png", "svg"], key=FIGURE_FORMAT, horizontal=True,
                 format_func={"png": "PNG", "svg": "SVG"}.get,
                 help=f"At presentation size, {PRESENTATION_SIZE[0]} x {PRESENTATION_SIZE[1]} pixels.")
        for note in ss.get(scenario.NOTES, []):
            st.warning(plain(note), icon=":material/link_off:")
        link_slot = st.empty()
    return report_slot, link_slot


def link_note(slot):
    """What the address shares, said in ``slot`` after the page ran: the page may just have loaded an upload
    or left one (said before it, the note was a step behind)."""
    with slot.container():
        if scenario.uses_upload():
            st.info("This page's address holds every setting but not your uploaded file: a colleague who opens "
                    "it sees the bundled mfeat data. Share the file with the link.", icon=":material/link:")
        else:
            st.caption("The address holds this scenario (data, missingness, run, map): copy it to share it.")


def show_method_warnings(said, names):
    """The methods' warnings ("method: message" strings), one box per message naming every method that gave
    it, in the app's words: method labels, modality names, and library options said to be the library's.
    (The rewording follows the library's message texts: a reworded message is shown as the library says it.)"""

    said_by = {}
    for w in said:
        who, _, what = w.partition(": ")
        said_by.setdefault(what, []).append(who)

    def modality(match):
        m = int(match.group(1))
        return f"{names[m]!r}" if 0 <= m < len(names) else match.group(0)

    for what, who in said_by.items():
        text = re.sub(r"\bmodality (\d+)", modality, what)
        text = re.sub(r"(\w+)=([\w.]+) floors (those stds|that std)\.",
                      lambda g: f"The library's option UL4M4Imputer({g[1]}={g[2]}) floors "
                                f"{'that scale' if g[3] == 'that std' else 'those scales'} (from Python); the app "
                                "keeps the paper's setting, so the results shown are the published method's.",
                      text)
        text = re.sub(r"PartialModalityKMeans did not converge in max_iter=(\d+) iterations; increase max_iter for a "
                      r"stable partition\.",
                      lambda g: f"the clustering stopped at the {g[1]} Lloyd iteration{'s' if g[1] != '1' else ''} "
                                "allowed while samples were still changing cluster; raise 'Max Lloyd iterations' for "
                                "a stable partition.", text)
        st.warning(plain(f"{', '.join(method_label(m) for m in dict.fromkeys(who))}: {text}"))

