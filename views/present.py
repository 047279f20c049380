"""Presentation: the current scenario as a five-step story (the problem, the mask, the clusters, the
error, the downstream curves), each step captioned in plain words from the current numbers. In
presentation mode (sidebar button or ?present=1) the controls and the sidebar are hidden and type is larger."""

import html

import numpy as np
import streamlit as st

from appui import bigdata, scenario, state, story
from appui.reporting import report_button
from appui.widgets import Progress, chart, guard
from ul4m4.timing import format_seconds

state.ensure_defaults()
ss = st.session_state
state.sweep_workers()  # start the server's sweep processes now: they are ready by Run
STEP = state.PRESENT_STEP
presenting = bool(ss.get(state.PRESENT))
if presenting:
    st.markdown(story.PRESENTATION_CSS, unsafe_allow_html=True)

ss.setdefault(STEP, 0)
step = int(np.clip(ss[STEP], 0, len(story.STEPS) - 1))


def go(delta):
    ss[STEP] = int(np.clip(ss.get(STEP, 0) + delta, 0, len(story.STEPS) - 1))


def leave():
    ss[state.PRESENT] = False
    ss[state.PRESENT_LEAVING] = True


if ss.pop(state.PRESENT_LEAVING, False):  # back to the page presentation mode was entered from, if any
    origin = ss.pop(state.PRESENT_FROM, None)
    if origin:
        st.switch_page(origin, query_params=scenario.current())


# One row that wraps on a narrow window (fixed columns cut "Back", "Next" and "Presentation mode" at 900 px).
c_back = c_title = c_next = c_exit = st.container(horizontal=True, vertical_alignment="center")
c_back.button("Back", icon=":material/arrow_back:", on_click=go, args=(-1,), disabled=step == 0, key="present_back")
c_title.markdown(f"#### Step {step + 1} of {len(story.STEPS)}: {story.STEPS[step]}", width="stretch")
c_next.button("Next", icon=":material/arrow_forward:", on_click=go, args=(1,),
              disabled=step == len(story.STEPS) - 1, key="present_next")
if presenting:
    c_exit.button("Exit presentation", icon=":material/close_fullscreen:", on_click=leave, key="present_exit")
else:
    c_exit.button("Presentation mode", icon=":material/open_in_full:", key="present_enter",
                  on_click=lambda: ss.__setitem__(state.PRESENT, True))

facts = None
with guard("preparing the story"):
    run = state.current_run()
    if run is None:
        mres = state.current_mask()
        secs, total, need = bigdata.run_estimates(ss[state.DATASET], int(mres.train_idx.size), ss[state.RUN_CFG])
        if not bigdata.runs_on_open(ss[state.DATASET], int(mres.train_idx.size), ss[state.RUN_CFG]) and not st.button(
                f"Run UL4M4 and the baselines now ({format_seconds(total)})", type="primary", key="present_run"):
            st.info(bigdata.waiting_message(ss[state.DATASET], total) + " " + bigdata.describe_estimates(secs, total, need),
                    icon=":material/hourglass_empty:")
            state.stop_page()
        prog = Progress("Running UL4M4 and the baselines for the current settings...")
        run = state.run_and_remember(ss[state.RUN_CFG], callback=prog.method_step)
        prog.done()
    facts = story.Facts.gather(run)
if facts is None:
    state.stop_page()

st.title(facts.headline(step), anchor=False)
st.markdown(f"<div class='ul4m4-caption'>{html.escape(facts.caption(step))}</div>", unsafe_allow_html=True)
fig = facts.figure(step)
if fig is not None:
    if presenting:  # readable from the back of a room: the charts' type grows with the page's
        fig.update_layout(font_size=17, title_font_size=22, legend_font_size=16, hoverlabel_font_size=16)
        fig.update_xaxes(tickfont_size=15, title_font_size=17)  # the house layout sets the axes' own sizes
        fig.update_yaxes(tickfont_size=15, title_font_size=17)
        # Tall enough for the whole legend at that size (the map's 13 entries were cut, behind a scrollbar).
        entries = sum(t.showlegend is not False for t in fig.data)
        fig.update_layout(height=max(fig.layout.height or 450, 200 + 36 * entries))
    chart(fig, f"fig_story_{step}")
elif step == len(story.STEPS) - 1:
    st.info("The downstream curves have not been computed for this scenario yet (estimated time: "
            f"{story.sweep_estimate_words()}).")
    if st.button(f"Compute them now ({story.sweep_description()})", type="primary", key="present_sweep"):
        prog = Progress("Running the downstream sweep...")
        done = False
        with guard("running the sweep"):
            story.run_default_sweep(callback=prog.method_step)
            done = True
        prog.done()
        if done:  # a failed sweep leaves its message on the page: a rerun would wipe it
            st.rerun()

st.divider()
report_button("dl_report_present")
