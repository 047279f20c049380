"""A person's main flow in a real browser: open the app, simulate missingness, run UL4M4, see the map."""

import pytest

from browser import ARGS, CHROMIUM, ROOT, require_browser, streamlit_server, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_main_flow_in_chromium(tmp_path):
    require_browser()
    from playwright.sync_api import sync_playwright

    shots = ROOT / "artifacts"
    shots.mkdir(exist_ok=True)
    with streamlit_server() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2400})
        page.goto(url)
        wait_idle(page)
        page.locator("h1", has_text="UL4M4 Explorer").first.wait_for(timeout=60_000)

        page.get_by_role("link", name="Missingness").first.click()
        wait_idle(page)
        # .streamlit/config.toml takes effect (the theme's primary colour); the navigation is Streamlit's
        # own (st.navigation), with readable page titles.
        simulate = page.get_by_role("button", name="Simulate")
        assert simulate.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(214, 39, 40)"  # #d62728
        assert page.locator("[data-testid='stSidebarNav']").count() == 1
        assert page.get_by_role("link", name="Cluster & impute").count() >= 1
        simulate.click()
        wait_idle(page)
        assert page.get_by_text("Missing modality slots").first.is_visible()
        # The mask and the pattern chart sit side by side on a wide page and one under the other on a narrow
        # one (900 px, sidebar open), where side by side each had about 200 px and cut its title.
        mask, patterns = page.locator(".st-key-fig_mask"), page.locator(".st-key-fig_patterns")
        a, b = mask.bounding_box(), patterns.bounding_box()
        assert b["x"] > a["x"] + a["width"] - 1 and abs(a["y"] - b["y"]) < 50, (a, b)
        page.set_viewport_size({"width": 900, "height": 2400})
        page.wait_for_timeout(1000)
        a, b = mask.bounding_box(), patterns.bounding_box()
        assert b["y"] >= a["y"] + a["height"] - 1 and a["width"] >= 380, (a, b)
        page.set_viewport_size({"width": 1400, "height": 2400})

        page.get_by_role("link", name="Cluster & impute").first.click()
        wait_idle(page)
        page.get_by_text("PCA of the data completed by UL4M4 (paper)").first.wait_for(timeout=120_000)
        page.get_by_role("button", name="Run", exact=True).click()
        wait_idle(page)
        page.get_by_text("PCA of the data completed by UL4M4 (paper)").first.wait_for(timeout=120_000)
        body = page.inner_text("body")
        assert "Traceback" not in body and "Unexpected error" not in body
        assert "Lloyd iterations" in body
        page.screenshot(path=str(shots / "cluster_and_impute.png"), full_page=True)
        browser.close()
    assert (shots / "cluster_and_impute.png").stat().st_size > 10_000
