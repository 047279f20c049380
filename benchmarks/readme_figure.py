"""Regenerate the README's degradation figure and headline table from the documented command.

    python benchmarks/readme_figure.py

Runs ``python -m ul4m4 sweep`` (mfeat, MCAR, rates 0-0.8, 3 seeds, linear probe) into out/readme, then
takes a screenshot of the first figure of degradation.html with Debian's chromium, saved as
assets/degradation_mfeat.png, and prints the F1-micro table (mean over seeds) used in the README.
"""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
CMD = ["-m", "ul4m4", "sweep", "--dataset", "mfeat", "--mechanism", "mcar", "--rates", "0,0.2,0.4,0.6,0.8",
       "--seeds", "3", "--methods", "ul4m4,mean,zero,knn,complete", "--classifier", "linear", "--out", "out/readme"]


def main():
    if "--reuse" not in sys.argv:
        subprocess.run([sys.executable, *CMD], cwd=ROOT, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    from playwright.sync_api import sync_playwright

    from browser import ARGS, CHROMIUM

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = b.new_page(viewport={"width": 1100, "height": 560})
        page.goto((ROOT / "out" / "readme" / "degradation.html").as_uri())
        page.locator(".plotly-graph-div").first.wait_for()
        page.locator(".plotly-graph-div").first.screenshot(path=str(ROOT / "assets" / "degradation_mfeat.png"))
        b.close()
    df = pd.read_csv(ROOT / "out" / "readme" / "results.csv")
    table = df.groupby(["method", "rate"])["f1_micro"].mean().unstack("rate").round(3)
    cols = list(table.columns)
    print("| method | " + " | ".join(f"rate {c:g}" for c in cols) + " |")
    print("|---|" + "---|" * len(cols))
    for method, row in table.iterrows():
        print(f"| {method} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
    slots = df[df["method"] == "ul4m4"].groupby("rate")["realized_slot_rate"].mean()
    print("realised missing slots: " + ", ".join(f"{r:g} -> {v:.3f}" for r, v in slots.items()))


if __name__ == "__main__":
    main()
