"""Small UI helpers: readable errors instead of tracebacks, progress bars driven by library callbacks."""

from __future__ import annotations

import contextlib
import logging
import traceback

import streamlit as st

log = logging.getLogger("ul4m4.app")


@contextlib.contextmanager
def guard(what):
    """Show library errors as a readable ``st.error``; unexpected errors get a short note, no traceback.

    Usage: ``with guard("loading the file"): ...``. Returns normally after showing the message, so the
    rest of the page (and the previous results) stay usable.
    """
    try:
        yield
    except (ValueError, TypeError, FileNotFoundError, OSError) as exc:
        st.error(f"Problem while {what}: {exc}", icon=":material/error:")
    except MemoryError:
        st.error(f"Not enough memory while {what}. Try a smaller dataset, fewer clusters or fewer methods.",
                 icon=":material/memory:")
    except Exception as exc:  # a bug: keep the page alive, log the traceback for the developers
        log.error("unexpected error while %s:\n%s", what, traceback.format_exc())
        st.error(f"Unexpected error while {what} ({type(exc).__name__}). The previous results are kept; "
                 "please report this with the settings you used.", icon=":material/bug_report:")


class Progress:
    """A progress bar plus status line fed by the library's callback dicts."""

    def __init__(self, label):
        self.bar = st.progress(0.0, text=label)

    def method_step(self, info):
        stage = info.get("stage")
        if stage == "method":
            done, total = info["done"], info["total"]
            name = info.get("method")
            text = f"Running {name} ({done + 1}/{total})..." if name else "Done."
            self.bar.progress(min(done / max(total, 1), 1.0), text=text)
        elif stage == "seeding":
            self.bar.progress(0.0, text=f"UL4M4: k-means++ seeding, centre {info['done']}/{info['total']}")
        elif stage == "lloyd":
            self.bar.progress(0.0, text=f"UL4M4: Lloyd iteration {info['iteration']} "
                                        f"({info['n_changed']} samples changed cluster)")
        elif stage == "sweep":
            done, total = info["done"], info["total"]
            self.bar.progress(min(done / max(total, 1), 1.0), text=info.get("text", f"{done}/{total}"))

    def done(self):
        self.bar.empty()


NAV = [
    ("app.py", "Home", ":material/hub:"),
    ("pages/1_Data.py", "Data", ":material/database:"),
    ("pages/2_Missingness.py", "Missingness", ":material/grid_off:"),
    ("pages/3_Cluster_and_impute.py", "Cluster & impute", ":material/scatter_plot:"),
    ("pages/4_Degradation.py", "Degradation", ":material/trending_down:"),
]


def sidebar_nav():
    """The sidebar navigation (Streamlit's own is hidden in config.toml: it would label the home page 'app')."""
    with st.sidebar:
        st.markdown("### UL4M4 Explorer")
        for path, label, icon in NAV:
            st.page_link(path, label=label, icon=icon)
