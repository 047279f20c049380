"""Soak: 100 sessions in sequence against one app server, each opening the app in a fresh browser context
(Playwright, Debian's chromium, loopback only), uploading its own CSV (2,000 samples, two 64-d
modalities, labels), running Cluster & impute and closing. Prints the server's resident memory after the
first session has gone and after the last one has, and writes every figure to artifacts/soak.json.

    python benchmarks/soak.py                  # 100 sessions, disconnected sessions kept 120 s (config.toml)
    python benchmarks/soak.py --sessions 20 --ttl 8

Target (issue 11): after the sessions close, server memory within 200 MB of its level after the first.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--features", type=int, default=64)
    ap.add_argument("--ttl", type=int, default=120, help="server.disconnectedSessionTTL in seconds (default 120)")
    args = ap.parse_args()
    from soak import soak

    t0 = time.perf_counter()

    def progress(i, out):
        print(f"session {i + 1}/{args.sessions}: {out['seconds'][-1]:.1f} s, server {out['rss_mb'][-1]:.0f} MB",
              file=sys.stderr, flush=True)

    out = soak(args.sessions, rows=args.rows, features=args.features, ttl_s=args.ttl, on_session=progress)
    out.update(sessions=args.sessions, rows=args.rows, features=args.features, ttl_s=args.ttl,
               growth_mb=round(out["final_mb"] - out["baseline_mb"], 1), max_mb=max(out["rss_mb"]),
               total_s=round(time.perf_counter() - t0, 1))
    (ROOT / "artifacts").mkdir(exist_ok=True)
    (ROOT / "artifacts" / "soak.json").write_text(json.dumps(out, indent=1))
    print(json.dumps({k: out[k] for k in ("sessions", "baseline_mb", "final_mb", "growth_mb", "max_mb", "total_s")}
                     | {"problems": len(out["problems"])}, indent=1))


if __name__ == "__main__":
    main()
