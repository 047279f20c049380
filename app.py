"""UL4M4 Explorer: the app's entry point. Sets up the session (defaults, the scenario in the address),
the navigation and the sidebar, then runs the page the address names."""

import os

# Before torch loads its OpenMP runtime (the first import of appui below): threads that wait between
# torch's parallel regions sleep instead of spinning. Same results; on 2 cores the sweep in the
# browser used 17-20 s of the server's CPU instead of 22-25 s, and a run beside another busy process took
# 2.6 s instead of 5.5 s (benchmarks/RESULTS.md). A value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import sys  # noqa: E402

import streamlit as st  # noqa: E402

st.set_page_config(page_title="UL4M4 Explorer", page_icon=":material/hub:", layout="wide")
# The first visit after the server starts imports PyTorch, scikit-learn, pandas and plotly (3-5 s on 2 cores)
# before anything can be drawn: say so, instead of a blank page. Later runs find them imported.
starting = None
if "appui" not in sys.modules:
    starting = st.empty()
    starting.info("Starting UL4M4 Explorer: loading PyTorch and scikit-learn. The first visit after the server "
                  "starts takes a few seconds; later ones do not.", icon=":material/hourglass_top:")

from appui import scenario, state  # noqa: E402
from appui.reporting import report_button  # noqa: E402
from appui.widgets import CHART_PAIR_CSS, guard, link_note, sidebar  # noqa: E402

if starting is not None:
    starting.empty()
st.html(CHART_PAIR_CSS)  # style only: nothing shows
state.ensure_defaults()
with guard("reading the scenario from the address"):
    scenario.restore()

PAGE_FILES = {  # url path -> page file
    "": "views/home.py", "data": "views/1_Data.py", "missingness": "views/2_Missingness.py",
    "cluster": "views/3_Cluster_and_impute.py", "degradation": "views/4_Degradation.py",
}
PAGES = [
    st.Page(PAGE_FILES[""], title="Home", icon=":material/hub:", default=True),
    st.Page(PAGE_FILES["data"], title="Data", icon=":material/database:", url_path="data"),
    st.Page(PAGE_FILES["missingness"], title="Missingness", icon=":material/grid_off:", url_path="missingness"),
    st.Page(PAGE_FILES["cluster"], title="Cluster & impute", icon=":material/scatter_plot:", url_path="cluster"),
    st.Page(PAGE_FILES["degradation"], title="Degradation", icon=":material/trending_down:", url_path="degradation"),
]
# "Story", not "Presentation": the sidebar's "Presentation mode" button is the full-screen switch; this page
# is the same five steps with the controls around them.
PRESENT_PAGE = st.Page("views/present.py", title="Story", icon=":material/auto_stories:", url_path="present")

presenting = bool(st.session_state.get(state.PRESENT))
# Every page stays registered (so every address resolves); presentation mode hides the menu and shows the story.
page = st.navigation(PAGES + [PRESENT_PAGE], position="hidden" if presenting else "sidebar")
if presenting and page.url_path != PRESENT_PAGE.url_path:
    st.switch_page(PRESENT_PAGE, query_params=scenario.current())
report_slot, link_slot = (None, None) if presenting else sidebar(origin=PAGE_FILES.get(page.url_path))
try:
    page.run()
except state.PageDone:  # the page ended early (state.stop_page): the app's own steps below still run
    pass
finally:  # the address always holds the settings the page used
    scenario.publish()
    if report_slot is not None:  # built now, so the report holds what the page just computed
        with report_slot.container(), guard("preparing the report"):
            report_button("dl_report_sidebar")
        link_note(link_slot)
