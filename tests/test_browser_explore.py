"""Explore, share, present, in a real browser: box-select on the map and read the table; copy the address
after changing settings and open it in a fresh browser context; step through presentation mode; download
the report and check it is one self-contained file with every figure."""

import re
import time

import pytest

from browser import ARGS, CHROMIUM, ROOT, require_browser, streamlit_server, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]
LONG = 240_000  # ms: a first run on a loaded 2-core machine


def error_summary(page):
    """The 'Over every removed block' line of Cluster & impute (the imputation error of every method)."""
    loc = page.get_by_text(re.compile(r"^Over every removed block")).first
    loc.wait_for(timeout=LONG)
    return loc.inner_text()


def map_chart(page):
    charts = page.locator("[data-testid='stPlotlyChart']")
    for i in range(charts.count()):
        title = charts.nth(i).evaluate("e => (e.querySelector('text.gtitle') || {}).textContent || ''")
        if title.startswith(("PCA of the data", "UMAP of the data")):
            return charts.nth(i)
    raise AssertionError("no map on the page")


def full_shot(page, path):
    h = page.evaluate("() => (document.querySelector('[data-testid=\"stMain\"]') || document.body).scrollHeight")
    page.set_viewport_size({"width": 1400, "height": max(900, min(int(h) + 80, 16000))})
    time.sleep(0.5)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})


def test_select_share_present_report(tmp_path):
    require_browser()
    from playwright.sync_api import sync_playwright

    shots = ROOT / "artifacts"
    shots.mkdir(exist_ok=True)
    with streamlit_server() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page.set_default_timeout(LONG)
        page.goto(url)
        wait_idle(page, timeout=LONG)
        nav = page.locator("[data-testid='stSidebarNav']")
        nav.wait_for(timeout=LONG)
        assert nav.count() == 1 and nav.get_by_role("link", name="Cluster & impute").count() == 1

        # Change a setting on Missingness, by clicking, as a person does.
        page.get_by_role("link", name="Missingness").first.click()
        wait_idle(page, timeout=LONG)
        page.get_by_role("spinbutton", name="Seed").first.fill("5")  # the field, not its help button
        page.get_by_role("button", name="Simulate").click()
        wait_idle(page, timeout=LONG)
        page.get_by_role("link", name="Cluster & impute").first.click()
        wait_idle(page, timeout=LONG)
        summary = error_summary(page)
        wait_idle(page, timeout=LONG)
        shared = page.url
        assert "/cluster?" in shared and "mseed=5" in shared and "data=mfeat" in shared

        # 1. Box selection on the map drives the table of those samples.
        chart = map_chart(page)
        chart.scroll_into_view_if_needed()
        chart.hover(force=True)
        chart.locator("[data-title='Box Select']").click(force=True)
        box = chart.locator(".nsewdrag").first.bounding_box()
        x0, y0 = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x0 + box["width"] * 0.4, y0 + box["height"] * 0.4, steps=10)
        page.mouse.up()
        wait_idle(page, timeout=LONG)
        head = page.get_by_text(re.compile(r"[\d,]+ samples? selected")).first
        head.wait_for(timeout=LONG)
        n_selected = int(re.match(r"\*?\*?([\d,]+)", head.inner_text()).group(1).replace(",", ""))
        assert n_selected > 0
        table = page.locator(".st-key-selection [data-testid='stDataFrame']")
        table.wait_for(timeout=LONG)
        assert table.is_visible()
        full_shot(page, shots / "explore_selection.png")
        with page.expect_download() as dl:
            page.get_by_role("button", name="Selected samples (.csv)").click()
        csv = (tmp_path / "sel.csv")
        dl.value.save_as(csv)
        lines = csv.read_text().splitlines()
        assert lines[0].startswith("sample,split,label,cluster,modality,status")
        assert len({ln.split(",")[0] for ln in lines[1:]}) == n_selected

        # 2. The address reproduces the scenario in a fresh browser context (a new session).
        other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        other.set_default_timeout(LONG)
        other.goto(shared)
        wait_idle(other, timeout=LONG)
        assert error_summary(other) == summary
        other.context.close()

        # 3. Presentation mode: no sidebar, five steps, captions from the numbers.
        page.get_by_role("button", name="Presentation mode").first.click()
        wait_idle(page, timeout=LONG)
        page.get_by_text("Step 1 of 5").first.wait_for(timeout=LONG)
        page.wait_for_url(re.compile(r"[?&]present=1"), timeout=LONG)
        assert not page.locator("section[data-testid='stSidebar']").is_visible()
        seen = []
        for step in range(1, 6):
            page.get_by_text(f"Step {step} of 5").first.wait_for(timeout=LONG)
            seen.append(page.locator(".ul4m4-caption").first.inner_text())
            full_shot(page, shots / f"present_step{step}.png")
            if step < 5:
                page.get_by_role("button", name="Next").click()
                wait_idle(page, timeout=LONG)
        assert len(set(seen)) == 5 and any("%" in s for s in seen)

        # 4. The report: one self-contained HTML file with every figure.
        with page.expect_download() as dl:
            page.get_by_role("button", name=re.compile(r"^Report")).first.click()
        path = tmp_path / "report.html"
        dl.value.save_as(path)
        html = path.read_text()
        assert html.startswith("<!DOCTYPE html>")
        assert not re.search(r"<script\b[^>]*\bsrc=", html, flags=re.I)
        assert not re.search(r"<link\b[^>]*\bhref=", html, flags=re.I)
        assert html.count("Plotly.newPlot") >= 8
        assert "How to reproduce" in html and "python -m ul4m4 impute --manifest" in html and "mseed=5" in html
        page.get_by_role("button", name="Exit presentation").click()
        wait_idle(page, timeout=LONG)
        page.wait_for_url(re.compile(r"/cluster\?.*mseed=5"), timeout=LONG)  # back where it was entered
        assert "present=1" not in page.url
        assert page.locator("section[data-testid='stSidebar']").is_visible()

        # 5. A page that ends early (Degradation before any sweep) keeps the scenario in the address and the
        # sidebar's report: after st.stop() Streamlit would run none of the app's code that follows the page.
        page.get_by_role("link", name="Degradation").first.click()
        wait_idle(page, timeout=LONG)
        page.get_by_text("Choose the settings and press").first.wait_for(timeout=LONG)
        page.wait_for_url(re.compile(r"/degradation\?.*mseed=5"), timeout=LONG)
        page.get_by_role("button", name=re.compile(r"^Report")).first.wait_for(timeout=LONG)
        browser.close()
