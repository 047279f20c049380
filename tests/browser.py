"""Helpers for real-browser tests: a Streamlit server on loopback and Debian's chromium via Playwright."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_browser():
    """Skip without chromium, unless UL4M4_REQUIRE_BROWSER=1 (as in CI), where that is a failure."""
    if not os.path.exists(CHROMIUM):
        msg = "Debian's chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("UL4M4_REQUIRE_BROWSER") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    pytest.importorskip("playwright.sync_api")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_process(timeout=90, extra_args=(), env=None):
    """Start ``streamlit run app.py`` on a free loopback port; yield (url, process); stop it afterwards."""
    port = free_port()
    log = open(ROOT / ".pytest_cache" / f"streamlit_{port}.log", "w") if (ROOT / ".pytest_cache").exists() \
        else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", *extra_args],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=None if env is None else {**os.environ, **env},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError("the Streamlit server did not start")
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def streamlit_server(timeout=90):
    """Start ``streamlit run app.py`` on a free loopback port; yield its URL; stop it afterwards."""
    with streamlit_process(timeout) as (url, _):
        yield url


def rss_mb(pid):
    """Resident memory of a process, in MB (Linux)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def wait_idle(page, timeout=120_000, appear_ms=400):
    """Wait until the script run finished: the 'running' indicator appears (if it does within
    ``appear_ms``) and is gone again."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout)
    try:
        page.wait_for_selector("[data-testid='stStatusWidget']", timeout=appear_ms)
    except Exception:  # the run may have finished before the indicator showed
        pass
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout)
