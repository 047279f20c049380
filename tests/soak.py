"""Soak: sessions in sequence, each opening the app in a fresh browser context, uploading its own file,
running Cluster & impute, and closing; the server's resident memory is read after each session is gone.

Used by tests/test_soak.py (a few sessions) and benchmarks/soak.py (100 sessions, figure in RESULTS.md).
Loopback only; every step has a time limit, and the number of sessions is fixed by the caller.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from browser import ARGS, CHROMIUM, rss_mb, streamlit_process, wait_idle

STEP_TIMEOUT_MS = 240_000


def upload_csv(seed, rows, features):
    """A labelled CSV of two modalities (``features`` each), some blocks of the second missing."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, rows)
    cols = {}
    for m in ("img", "txt"):
        X = rng.normal(size=(rows, features)) + y[:, None]
        if m == "txt":
            X[rng.random(rows) < 0.2] = np.nan
        cols.update({f"{m}__{j}": np.round(X[:, j], 4) for j in range(features)})
    return pd.DataFrame(cols).assign(y=y).to_csv(index=False).encode()


def one_session(browser, url, i, rows, features):
    """Open, upload, run, close; returns the page text at the end (for checks)."""
    ctx = browser.new_context(viewport={"width": 1300, "height": 1800})
    try:
        page = ctx.new_page()
        page.set_default_timeout(STEP_TIMEOUT_MS)
        page.goto(url)
        page.get_by_text("Where you are").first.wait_for()
        wait_idle(page, timeout=STEP_TIMEOUT_MS)
        page.get_by_role("link", name="Data").first.click()
        page.get_by_text("Upload your own file").first.wait_for()
        wait_idle(page, timeout=STEP_TIMEOUT_MS)
        page.get_by_text("Upload your own file").first.click()
        page.locator("input[type='file']").wait_for(state="attached")
        wait_idle(page, timeout=STEP_TIMEOUT_MS)
        name = f"soak{i}.csv"
        page.locator("input[type='file']").set_input_files(
            files=[{"name": name, "mimeType": "text/csv", "buffer": upload_csv(i, rows, features)}])
        page.get_by_text(f"Loaded '{name}'").first.wait_for()
        wait_idle(page, timeout=STEP_TIMEOUT_MS)
        page.get_by_role("link", name="Cluster & impute").first.click()
        page.get_by_text("Candidate distances for this sample").first.wait_for()
        wait_idle(page, timeout=STEP_TIMEOUT_MS)
        return page.inner_text("body")
    finally:
        ctx.close()  # the browser goes away: the server sees the websocket close


def soak(n_sessions, rows=2000, features=64, ttl_s=8, on_session=None, settle_every=False):
    """Run ``n_sessions`` sessions in sequence against a fresh server whose disconnected sessions are kept
    ``ttl_s`` seconds (``server.disconnectedSessionTTL``; the app closes them after half of it).

    Returns {"rss_mb": server memory after each session had gone, "baseline_mb": after the first,
    "final_mb": after the last, "seconds": per session, "problems": pages that showed an error}.
    """
    from playwright.sync_api import sync_playwright

    settle = ttl_s / 2 + 8  # the app's grace (half the TTL), a few of its 2 s sweeps, and the trim after them
    out = {"rss_mb": [], "seconds": [], "problems": []}
    with streamlit_process(extra_args=("--server.disconnectedSessionTTL", str(ttl_s))) as (url, proc), \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for i in range(n_sessions):
                t = time.perf_counter()
                body = one_session(browser, url, i, rows, features)
                out["seconds"].append(round(time.perf_counter() - t, 2))
                if "Traceback" in body or "Unexpected error" in body or "Problem while" in body:
                    out["problems"].append((i, body[:500]))
                if i == 0 or i == n_sessions - 1 or settle_every:
                    time.sleep(settle)
                out["rss_mb"].append(round(rss_mb(proc.pid), 1))
                if on_session is not None:
                    on_session(i, out)
        finally:
            browser.close()
    out["baseline_mb"], out["final_mb"] = out["rss_mb"][0], out["rss_mb"][-1]
    out["settle_s"] = settle
    return out
