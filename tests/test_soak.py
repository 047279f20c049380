"""A shared server that sessions cannot wear down: sessions in sequence, each uploading its own data,
running Cluster & impute in a real browser and closing. Once they are gone the server's memory is back
within a margin of its level after the first session (benchmarks/soak.py runs 100 sessions)."""

import pytest

from browser import require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

N_SESSIONS = 6
MARGIN_MB = 30  # without the app's housekeeping it grows by about 10 MB a session


def test_memory_returns_after_sessions_close():
    require_browser()
    from soak import soak

    out = soak(N_SESSIONS, rows=1500, features=64, ttl_s=6)
    assert not out["problems"], out["problems"]
    growth = out["final_mb"] - out["baseline_mb"]
    assert growth < MARGIN_MB, f"server memory grew by {growth:.0f} MB over {N_SESSIONS} sessions: {out['rss_mb']}"
