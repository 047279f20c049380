"""Server housekeeping for a shared app: sessions whose browser went away are shut down after a grace
period, and memory freed by closed sessions and finished runs is handed back to the operating system.

Why: Streamlit keeps a disconnected session for ``server.disconnectedSessionTTL`` seconds so that a
reconnecting browser finds it, then only *forgets* it, without shutting it down: its uploaded files and
its download buttons' payloads (which hold completed data) stay referenced for the life of the server.
The janitor closes such sessions properly once half that TTL has passed, so nothing of them is kept.
And glibc keeps freed memory in per-thread arenas (every script run is a new thread) unless told
otherwise: ``tune_malloc`` limits the arenas and gives large arrays their own mappings, and the janitor
returns what is free (``malloc_trim``) after closing sessions and every 30 s.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import threading
import time

import streamlit as st

log = logging.getLogger("ul4m4.app")

PERIOD_S = 2.0  # how often disconnected sessions are looked for
TRIM_EVERY_S = 30.0  # freed memory is returned at least this often, and after every closed session


def grace_seconds():
    """How long a disconnected session is kept for its browser to come back: half of Streamlit's
    ``server.disconnectedSessionTTL`` (after which Streamlit would forget it without shutting it down)."""
    try:
        ttl = float(st.get_option("server.disconnectedSessionTTL"))
    except Exception:  # an older Streamlit without the option keeps sessions 120 s
        ttl = 120.0
    return max(1.0, ttl / 2)


def _libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


_LIBC = _libc()
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
ARENAS = 2  # malloc arenas shared by the script threads (glibc's default allows 8 per core)
# Allocations from this size get their own mapping, returned when freed. Not lower: every such allocation
# page-faults its memory in afresh, and at 1 MB the sweeps' many few-MB temporaries made the app's default
# Degradation sweep take 74.8 s instead of 55.4 s (benchmarks/RESULTS.md).
MMAP_FROM_BYTES = 4 << 20


def tune_malloc():
    """Make glibc hand freed memory back: each Streamlit script run is a new thread, and by default threads
    spread over up to 8 arenas per core whose freed pages glibc keeps, and glibc raises its mmap threshold
    after every large free (up to 32 MB), so large arrays end up in arenas too. Fewer arenas and a fixed
    threshold keep the server's memory close to what it holds."""
    if _LIBC is None or not hasattr(_LIBC, "mallopt"):
        return False
    ok = _LIBC.mallopt(M_ARENA_MAX, ARENAS) == 1
    ok &= _LIBC.mallopt(M_MMAP_THRESHOLD, MMAP_FROM_BYTES) == 1
    ok &= _LIBC.mallopt(M_TRIM_THRESHOLD, 2 * MMAP_FROM_BYTES) == 1
    return ok


def trim_memory():
    """Collect garbage cycles and return freed heap memory to the operating system (glibc only)."""
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


class Janitor:
    """Closes sessions that have been disconnected for longer than ``grace`` seconds (on the server's
    event loop, as Streamlit requires) and trims memory; runs in a daemon thread for the server's life."""

    def __init__(self, runtime, grace):
        self.runtime, self.grace = runtime, grace
        self.first_seen = {}  # session id -> when it was first seen disconnected (monotonic seconds)
        self.closed = 0

    def sweep(self):
        """One pass, on the event loop: returns how many sessions it closed."""
        mgr = self.runtime._session_mgr
        active = {info.session.id for info in mgr.list_active_sessions()}
        stored = {info.session.id for info in mgr.list_sessions()} - active
        now = time.monotonic()
        for sid in list(self.first_seen):
            if sid not in stored:  # reconnected, or gone
                del self.first_seen[sid]
        closed = 0
        for sid in stored:
            since = self.first_seen.setdefault(sid, now)
            if now - since >= self.grace:
                self.runtime.close_session(sid)  # shuts it down: uploads, download payloads, state
                del self.first_seen[sid]
                closed += 1
        self.closed += closed
        return closed

    def _sweep_on_loop(self):
        loop = self.runtime._get_async_objs().eventloop
        done, box = threading.Event(), {}

        def work():
            try:
                box["closed"] = self.sweep()
            except Exception as exc:  # never let housekeeping break the server
                box["error"] = exc
            finally:
                done.set()

        loop.call_soon_threadsafe(work)
        if not done.wait(30) or "error" in box:
            raise RuntimeError(f"session sweep failed: {box.get('error', 'timed out')}")
        return box["closed"]

    def run(self):
        last_trim = time.monotonic()
        while True:
            time.sleep(PERIOD_S)
            try:
                closed = self._sweep_on_loop()
            except Exception as exc:
                log.warning("housekeeping stopped: %s", exc)
                return
            if closed or time.monotonic() - last_trim >= TRIM_EVERY_S:
                trim_memory()
                last_trim = time.monotonic()


@st.cache_resource(show_spinner=False)
def start():
    """Start the janitor once per server (a no-op without a running Streamlit server, as under AppTest)."""
    try:
        from streamlit.runtime import Runtime

        runtime = Runtime.instance()
        runtime._get_async_objs()
        runtime._session_mgr.list_sessions
    except Exception:  # no server (AppTest) or a Streamlit without these internals: nothing to look after
        return None
    tune_malloc()
    janitor = Janitor(runtime, grace_seconds())
    threading.Thread(target=janitor.run, name="ul4m4-janitor", daemon=True).start()
    return janitor
