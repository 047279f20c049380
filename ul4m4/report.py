"""A one-file HTML report: settings, numbers, every figure, software versions and how to reproduce it.

The file is self-contained: plotly.js is inlined once in the head, every figure is a ``<div>`` drawn by
it, and nothing is fetched from anywhere (no external script, style sheet, font or image), so it opens
offline and can be mailed. Every text that comes from data or settings is HTML-escaped.
"""

from __future__ import annotations

import datetime as _dt
import html
import json

import numpy as np
import pandas as pd
import plotly.io as pio
from plotly.offline import get_plotlyjs

__all__ = ["build_report"]

_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2rem auto; max-width: 1200px;
       color: #222; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.9rem; margin-bottom: 0.2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6rem 0 1rem; font-size: 0.92rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.55rem; text-align: right; }
th { background: #f5f5f5; } td:first-child, th:first-child { text-align: left; }
pre { background: #f6f8fa; padding: 0.8rem; overflow-x: auto; font-size: 0.85rem; }
.caption { color: #444; margin: 0.2rem 0 1.2rem; } .figure { margin: 1rem 0 2rem; }
.story h3 { margin-bottom: 0.2rem; } .muted { color: #666; font-size: 0.9rem; }
"""


def _e(text):
    return html.escape(str(text), quote=True)


def _table(df, decimals=3):
    """One header row (the index becomes the first column, under its name); each float column to at most
    ``decimals`` places, fewer when its values have fewer (a share rounded to 0.1 % stays 35.1, not 35.100)."""
    if isinstance(df, pd.Series):
        df = df.to_frame()
    df = df.rename_axis(columns=None)
    if not isinstance(df.index, pd.RangeIndex) or df.index.name is not None:
        df = df.rename_axis(index=df.index.name or "").reset_index()
    formatters = {}
    for col in df.columns:
        if pd.api.types.is_float_dtype(df[col]):
            v = df[col].dropna().to_numpy()
            d = next((d for d in range(decimals) if np.allclose(v, np.round(v, d), rtol=0, atol=1e-9)), decimals)
            formatters[col] = lambda x, d=d: f"{x:,.{d}f}"
    return df.to_html(formatters=formatters, border=0, escape=True, na_rep="", index=False)


def _settings_table(d):
    rows = "".join(f"<tr><td>{_e(k)}</td><td>{_e(json.dumps(v, default=str) if isinstance(v, (dict, list, tuple)) else v)}</td></tr>"
                   for k, v in d.items())
    return f"<table><tr><th>setting</th><th>value</th></tr>{rows}</table>"


def build_report(title, *, settings, story=(), tables=(), figures=(), versions=None, manifest=None,
                 commands=(), link=None, notes=()):
    """The report as one HTML string.

    Parameters
    ----------
    title : str
    settings : dict of section name -> dict of setting -> value
    story : sequence of (headline, caption) plain-text pairs
    tables : sequence of (caption, DataFrame or Series)
    figures : sequence of (caption, plotly Figure)
    versions : dict of package -> version, or None
    manifest : dict (written as JSON) or None
    commands : sequence of shell command lines that reproduce the results
    link : the app's query string that reproduces the scenario, or None
    notes : sequence of plain-text remarks (e.g. that an uploaded file is not in the link)

    Returns
    -------
    str
    """
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"<h1>{_e(title)}</h1><p class='muted'>Made by UL4M4 Explorer on {now}. One self-contained file: "
             "it opens offline; every figure is interactive (zoom, hover, save as PNG from its toolbar).</p>"]
    for note in notes:
        parts.append(f"<p><strong>Note:</strong> {_e(note)}</p>")
    if story:
        parts.append("<h2>Summary</h2><div class='story'>")
        for i, (head, caption) in enumerate(story, 1):
            parts.append(f"<h3>{i}. {_e(head)}</h3><p class='caption'>{_e(caption)}</p>")
        parts.append("</div>")
    parts.append("<h2>Scenario</h2>")
    for section, d in settings.items():
        parts.append(f"<h3>{_e(section)}</h3>{_settings_table(d)}")
    if tables:
        parts.append("<h2>Numbers</h2>")
        for caption, df in tables:
            parts.append(f"<h3>{_e(caption)}</h3>{_table(df)}")
    if figures:
        parts.append("<h2>Figures</h2>")
        for i, (caption, fig) in enumerate(figures):
            div = pio.to_html(fig, full_html=False, include_plotlyjs=False, include_mathjax=False,
                              div_id=f"figure-{i}", config={"displaylogo": False, "responsive": True,
                                                            "toImageButtonOptions": {"width": 1600, "height": 900}})
            parts.append(f"<div class='figure'>{div}<p class='caption'>{_e(caption)}</p></div>")
    parts.append("<h2>How to reproduce</h2>")
    if link:
        parts.append(f"<p>In the app, open its address followed by this query string (it holds the data, missingness, "
                     f"run and map settings):</p><pre>{_e(link)}</pre>")
    if commands:
        parts.append("<p>Headless, with the manifest below saved as <code>manifest.json</code>:</p><pre>"
                     + "\n".join(_e(c) for c in commands) + "</pre>")
    if manifest is not None:
        parts.append(f"<h3>Manifest</h3><pre>{_e(json.dumps(manifest, indent=1, default=str))}</pre>")
    if versions:
        parts.append("<h2>Software</h2>" + _settings_table(versions))
    body = "\n".join(parts)
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><style>{_STYLE}</style>"
            f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>\n{body}\n</body></html>\n")
