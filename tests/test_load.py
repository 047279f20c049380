"""Several people at once: 8 browser sessions drive one app on loopback through load -> simulate -> impute,
each with its own data or settings. No errors, no session sees another's data or results, and each
session's numbers equal a single-session run of the same settings. Bounded: 8 sessions, one flow each,
a time limit on every step. Writes p50/p95 of the run step to artifacts/load_test.json."""

import asyncio
import json
import re
import time

import numpy as np
import pytest

from browser import ARGS, CHROMIUM, ROOT, require_browser, streamlit_server
from ul4m4 import load_dataset
from ul4m4.experiment import MissingConfig, RunConfig, make_mask, run_methods

pytestmark = [pytest.mark.browser, pytest.mark.slow]
N_SESSIONS = 8
STEP_TIMEOUT = 240_000  # ms, per step


def plan(i):
    """Session i: its dataset, missingness seed and k."""
    return {"dataset": "breast_cancer" if i % 2 else "mfeat", "seed": 100 + i, "k": 3 + i % 4}


def expected(p):
    """The numbers a single session with these settings shows (computed by the library directly)."""
    ds = load_dataset(p["dataset"])
    m = make_mask(ds, MissingConfig(seed=p["seed"]))
    run = run_methods(ds, m, RunConfig(n_clusters=p["k"]))
    err = run.errors[(run.errors["split"] == "all") & (run.errors["modality"] == "all")].set_index("method")["mse"]
    return {"n_iter": int(run.model.n_iter_), "mse": {k: f"{v:.3f}" for k, v in err.items()},
            "slots": f"{100 * m.report.realized_slot_rate:.1f}%"}


async def idle(page):
    try:
        await page.wait_for_selector("[data-testid='stStatusWidget']", timeout=400)
    except Exception:
        pass
    await page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                                 timeout=STEP_TIMEOUT)


async def fill_number(page, name, value):
    """Type a number into a form field and make sure the field holds it before the form is submitted."""
    box = page.get_by_role("spinbutton", name=name)
    for _ in range(5):
        await box.fill(str(value))
        await box.press("Tab")
        if await box.input_value() == str(value):
            return
        await page.wait_for_timeout(300)
    raise AssertionError(f"could not set {name} to {value}")


async def session(browser, url, i):
    p = plan(i)
    ctx = await browser.new_context(viewport={"width": 1300, "height": 1800})
    page = await ctx.new_page()
    page.set_default_timeout(STEP_TIMEOUT)
    await page.goto(url)
    await page.get_by_text("Where you are").first.wait_for()
    await idle(page)
    if p["dataset"] != "mfeat":
        await page.get_by_role("link", name="Data").first.click()
        await page.get_by_text("Bundled: breast cancer").first.click()
        await page.get_by_text("Current dataset: breast cancer (Wisconsin diagnostic)").first.wait_for()
        await idle(page)
    await page.get_by_role("link", name="Missingness").first.click()
    await page.get_by_role("button", name="Simulate").wait_for()
    await idle(page)
    await fill_number(page, "Seed", p["seed"])
    await page.get_by_role("button", name="Simulate").click()
    await page.get_by_text(f"seed {p['seed']};").first.wait_for()  # the result of this session's settings
    await idle(page)
    slots = await page.get_by_test_id("stMetricValue").first.inner_text()
    await page.get_by_role("link", name="Cluster & impute").first.click()
    await page.get_by_text("Over every removed block").first.wait_for()
    await idle(page)
    await fill_number(page, "Clusters k", p["k"])
    t = time.perf_counter()
    await page.get_by_role("button", name="Run", exact=True).click()
    await page.get_by_text(f"UL4M4 (paper) with k = {p['k']} ").first.wait_for()
    await idle(page)
    run_s = time.perf_counter() - t
    body = await page.inner_text("body")
    await ctx.close()
    return p, slots, body, run_s


async def drive(url):
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            return await asyncio.wait_for(
                asyncio.gather(*(session(browser, url, i) for i in range(N_SESSIONS))), timeout=600)
        finally:
            await browser.close()


def test_eight_sessions_at_once():
    require_browser()
    with streamlit_server() as url:
        results = asyncio.run(drive(url))
    times = []
    for p, slots, body, run_s in results:
        exp = expected(p)
        assert "Traceback" not in body and "Unexpected error" not in body and "Problem while" not in body
        assert slots == exp["slots"], (p, slots, exp["slots"])
        m = re.search(r"UL4M4 \(paper\) with k = (\d+) \([^)]*\): (\d+) Lloyd iterations", body)
        assert m and int(m.group(1)) == p["k"] and int(m.group(2)) == exp["n_iter"], (p, m and m.group(0))
        line = re.search(r"Over every removed block \(all\): ([^\n]*)", body).group(1)
        shown = dict(re.findall(r"(UL4M4 \(paper\)|UL4M4 soft, auto|Zero fill|Mean|kNN|SoftImpute) (\d+\.\d{3})", line))
        names = {"UL4M4 (paper)": "ul4m4", "UL4M4 soft, auto": "ul4m4_soft", "Zero fill": "zero", "Mean": "mean",
                 "kNN": "knn", "SoftImpute": "softimpute"}
        assert {names[k]: v for k, v in shown.items()} == exp["mse"], (p, shown, exp["mse"])
        other = "breast_cancer" if p["dataset"] == "mfeat" else "mfeat"
        assert other not in body  # nothing of another session's data
        times.append(run_s)
    report = {"sessions": N_SESSIONS, "run_step_s": sorted(round(t, 2) for t in times),
              "p50_s": float(np.percentile(times, 50)), "p95_s": float(np.percentile(times, 95))}
    (ROOT / "artifacts").mkdir(exist_ok=True)
    (ROOT / "artifacts" / "load_test.json").write_text(json.dumps(report, indent=1))
