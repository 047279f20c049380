"""Plotly figures for the app and the command line: pure functions from results to figures.

Every figure has a title, labelled axes (with units where there are any) and a legend a newcomer can
read. Cluster j has the same colour everywhere (``cluster_color``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from .missing import pattern_label
from .summary import summarise

__all__ = [
    "STATUS_COLOURS",
    "STATUS_SYMBOLS",
    "STATUS_LEGEND",
    "LEGEND",
    "cluster_color",
    "method_color",
    "method_symbol",
    "fig_dimensions",
    "fig_scales",
    "fig_label_balance",
    "fig_mask_heatmap",
    "fig_patterns",
    "fig_rates",
    "fig_cluster_map",
    "fig_cluster_sizes",
    "fig_centre_presence",
    "fig_imputation_error",
    "fig_candidates",
    "fig_k_selection",
]

_PALETTE = qualitative.Dark24 + qualitative.Light24
METHOD_COLORS = {
    "ul4m4": "#d62728", "zero": "#7f7f7f", "mean": "#1f77b4", "knn": "#2ca02c", "iterative": "#9467bd",
    "complete": "#000000", "ul4m4_soft": "#ff7f0e", "softimpute": "#17becf",
    "ul4m4_lowrank": "#8c564b",
}
METHOD_LABELS = {
    "ul4m4": "UL4M4 (paper)", "zero": "Zero fill", "mean": "Mean", "knn": "kNN", "iterative": "Iterative",
    "complete": "Complete data (ceiling)", "ul4m4_soft": "UL4M4 soft, auto", "softimpute": "SoftImpute",
    "ul4m4_lowrank": "UL4M4 + low rank",
}
# One visual code for a modality block, on every chart and page (Okabe-Ito colours, safe for the common
# colour-vision deficiencies; imputed blocks also differ by marker shape, so the code survives greyscale).
STATUS_COLOURS = {"observed": "#0072B2", "missing": "#E69F00", "imputed": "#CC79A7"}
STATUS_SYMBOLS = {"observed": "circle", "missing": "circle-open", "imputed": "x"}
STATUS_LEGEND = ("observed: blue circle; missing (removed, not yet filled): orange; "
                 "imputed (filled by a method): purple cross")
WEBGL_ABOVE = 3000  # points; beyond this scatter plots switch to WebGL
# Legends go under the plot, in rows that wrap with the chart's width: beside it, methods' long names squeezed
# the plot to a sliver at 900 px (about 180 px of a 440 px chart). Placed on the figure's bottom edge, plotly
# widens the bottom margin to hold them, clear of the x axis's title.
LEGEND = dict(title_text="", orientation="h", yref="container", y=0, yanchor="bottom", x=0, xanchor="left")
LAYOUT = dict(template="plotly_white", margin=dict(l=60, r=20, t=60, b=50), legend=LEGEND)

# Modality names along a heatmap's x axis: upright where they fit at the width the chart is drawn at, slanted
# or turned where they would overlap (plotly chooses in the browser; long names at half width overlapped).
NAME_TICK_ANGLES = (0, -45, -90)


def cluster_color(j):
    """Colour of cluster j, the same on every page."""
    return _PALETTE[int(j) % len(_PALETTE)]


def method_color(method):
    return METHOD_COLORS.get(method, "#8c564b")


# A marker shape per method, beside its colour: a reader who cannot tell the red of UL4M4 (paper) from
# the green of kNN (the commonest colour-vision deficiency) tells a circle from a triangle, and so does
# a greyscale print. None of them is a shape of the modality-block code (circle-open, x) or the centres' star.
METHOD_SYMBOLS = {
    "ul4m4": "circle", "ul4m4_soft": "diamond", "ul4m4_lowrank": "star-diamond", "zero": "triangle-down",
    "mean": "square", "knn": "triangle-up", "iterative": "pentagon", "softimpute": "hexagon",
    "complete": "hourglass",
}


def method_symbol(method):
    return METHOD_SYMBOLS.get(method, "circle")


def method_label(method):
    return METHOD_LABELS.get(method, method)


def fig_dimensions(names, dims):
    """Bar chart of the number of features of each modality."""
    fig = go.Figure(go.Bar(x=names, y=dims, text=dims, textposition="outside", marker_color="#1f77b4",
                           name="features"))
    fig.update_layout(title="Features per modality", xaxis_title="Modality", yaxis_title="Number of features",
                      showlegend=False, **LAYOUT)
    return fig


def fig_scales(names, Xs, mask):
    """Box plot of per-feature standard deviations of each modality (log scale): why standardise."""
    fig = go.Figure()
    all_sd = []
    for m, (name, X) in enumerate(zip(names, Xs)):
        obs = X[mask[:, m]]
        sd = obs.std(axis=0) if obs.shape[0] else np.array([np.nan])
        sd = np.where(sd > 0, sd, np.nan)
        fig.add_trace(go.Box(y=sd, name=name, boxpoints=False, marker_color=cluster_color(m)))
        all_sd.append(sd)
    fig.update_layout(title="Scale of each modality (std of each feature, observed rows)",
                      xaxis_title="Modality", yaxis_title="Feature standard deviation (original units, log scale)",
                      yaxis_type="log", showlegend=False, **LAYOUT)
    return readable_log_ticks(fig, np.concatenate(all_sd) if all_sd else [])


def fig_label_balance(y, target_names=None):
    """Bar chart of samples per class (or positives per label for multilabel targets)."""
    y = np.asarray(y)
    if y.ndim == 2:
        counts = y.sum(axis=0)
        names = target_names or [f"label {j}" for j in range(y.shape[1])]
        title, xt, yt = "Positives per label (multilabel)", "Label", "Samples with the label"
    else:
        classes, counts = np.unique(y, return_counts=True)
        names = [str(c) for c in classes]
        if target_names is not None and len(target_names) == len(classes) and np.issubdtype(classes.dtype, np.integer):
            # "3: cat", but "3" alone where the class's name is its number (mfeat's digits read "0: 0" otherwise).
            names = [str(c) if int(c) >= len(target_names) or str(target_names[int(c)]) == str(c)
                     else f"{c}: {target_names[int(c)]}" for c in classes]
        title, xt, yt = "Samples per class", "Class", "Number of samples"
    fig = go.Figure(go.Bar(x=[str(n) for n in names], y=counts, marker_color="#1f77b4", name="samples"))
    fig.update_layout(title=title, xaxis_title=xt, yaxis_title=yt, showlegend=False, **LAYOUT)
    fig.update_xaxes(type="category")
    return fig


def fig_mask_heatmap(mask, names, max_rows=400, seed=0):
    """Samples x modalities heatmap of the mask, rows sorted by pattern (a random subset if large)."""
    mask = np.asarray(mask, dtype=bool)
    n = mask.shape[0]
    rows = np.arange(n)
    if n > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))
    sub = mask[rows]
    order = np.lexsort(sub.T[::-1])[::-1]
    z = sub[order].astype(int)
    fig = go.Figure(go.Heatmap(
        z=z, x=names, y=[str(r) for r in rows[order]], zmin=0, zmax=1,
        colorscale=[[0, STATUS_COLOURS["missing"]], [0.5, STATUS_COLOURS["missing"]],
                    [0.5, STATUS_COLOURS["observed"]], [1, STATUS_COLOURS["observed"]]],
        showscale=False, customdata=np.where(z == 1, "observed", "missing"),
        hovertemplate="sample %{y}<br>%{x}: %{customdata}<extra></extra>",
    ))
    shown = f"{len(rows)} random samples of {n}" if n > max_rows else f"all {n} samples"
    # The two colours in the title, as on the pattern chart beside it (a colour bar squeezed the map).
    fig.update_layout(title=f"Mask of {shown}<br><sup>blue: observed; orange: missing</sup>", xaxis_title="Modality",
                      yaxis_title="Sample (sorted by pattern)", **LAYOUT)
    fig.update_yaxes(showticklabels=False, type="category")
    fig.update_xaxes(autotickangles=list(NAME_TICK_ANGLES))
    return fig


def fig_patterns(pattern_counts, names, top=20):
    """UpSet-style chart: frequency of each missing pattern (bars) and which modalities it observes (dots)."""
    items = sorted(pattern_counts.items(), key=lambda kv: -kv[1])[:top]
    total = sum(pattern_counts.values())
    labels = [p for p, _ in items]
    counts = [c for _, c in items]
    # The dot matrix gets a row of about 22 px per modality, so that every modality's name shows (with 6
    # modalities in 35 % of the default height plotly showed every other name); beyond 24 it thins them.
    dots_px = 22 * min(len(names), 24)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[260, dots_px], vertical_spacing=0.04)
    # The share is the bar's height (on its axis), not a label over it: 20 bars leave no room for legible text.
    fig.add_trace(go.Bar(
        x=labels, y=[100 * c / total for c in counts], marker_color="#264653", name="samples", customdata=counts,
        hovertemplate="pattern %{x}: %{customdata} samples (%{y:.1f}%)<extra></extra>",
    ), row=1, col=1)
    xs, ys, colors = [], [], []
    for p in labels:
        for m, ch in enumerate(p):
            xs.append(p)
            ys.append(names[m])
            colors.append(STATUS_COLOURS["observed"] if ch == "1" else STATUS_COLOURS["missing"])
    symbols = [STATUS_SYMBOLS["observed"] if c == STATUS_COLOURS["observed"] else STATUS_SYMBOLS["missing"]
               for c in colors]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", marker=dict(size=12, color=colors, symbol=symbols,
                                                                      line=dict(width=2, color=colors)),
                             name="observed modality (filled)", hoverinfo="skip", showlegend=False), row=2, col=1)
    shown = (f"the {len(items)} most frequent of {len(pattern_counts)}" if len(items) < len(pattern_counts)
             else f"all {len(pattern_counts)}" if len(pattern_counts) > 1 else "a single one, shared by every sample")
    fig.update_layout(title=f"Missing patterns: {shown}<br><sup>blue dot = observed, orange ring = missing; bars: "
                            "share of the samples</sup>", showlegend=False, height=260 + dots_px + 190, **LAYOUT)
    fig.update_yaxes(title_text="Share of samples (%)", row=1, col=1)
    every = dict(tickmode="array", tickvals=list(names)) if len(names) <= 24 else {}
    fig.update_yaxes(title_text="Modality", row=2, col=1, type="category", autorange="reversed", **every)
    # Every pattern named, upright, small (plotly showed every other one, so a bar had no name to read).
    fig.update_xaxes(title_text="Pattern (1 = observed, in modality order)", row=2, col=1, type="category",
                     tickmode="array", tickvals=labels, tickangle=-90, tickfont=dict(size=10))
    fig.update_xaxes(type="category", row=1, col=1)
    return fig


def fig_rates(report, names, where=""):
    """Requested versus realised missing rates: slots, incomplete samples and each modality. ``report`` is
    of the data the request applied to; ``where`` names them in the title (e.g. "test split")."""
    cats = ["missing slots", "incomplete samples"] + [f"{n} missing" for n in names]
    realised = [report.realized_slot_rate, report.realized_incomplete_rate] + list(report.per_modality_missing)
    requested = [np.nan] * len(cats)
    if report.requested_kind == "slots":
        requested[0] = report.requested_rate
    else:
        requested[1] = report.requested_rate
    fig = go.Figure([
        go.Bar(x=cats, y=[100 * v for v in requested], name=f"requested ({report.requested_kind} rate)",
               marker_color="#a8dadc"),
        # The labels keep their size (plotly shrank them to the bar's width: 5 px at 900 px) and may overhang.
        go.Bar(x=cats, y=[100 * v for v in realised], name="realised", marker_color="#1d3557",
               text=[f"{100 * v:.1f}%" for v in realised], textposition="outside", constraintext="none",
               textfont=dict(size=11), cliponaxis=False),
    ])
    top = max([100 * v for v in realised] + [100 * v for v in requested if not np.isnan(v)] + [0.0])
    fig.update_layout(title="Requested vs realised missingness" + (f" ({where})" if where else ""),
                      xaxis_title="Measure",
                      yaxis_title="Percent (%)", barmode="group", **LAYOUT)
    fig.update_yaxes(range=[0, max(5.0, 1.15 * top)])  # from 0 even when nothing is missing (was -1 to 1)
    return fig


# Centres are labelled with their index on the map up to this many; beyond, the labels would cover the data.
CENTRE_LABELS_UP_TO = 20
# A legend swatch per cluster (or label) up to this many groups; beyond, the legend took most of the chart's
# height (128 entries left the map 150 px tall) and its colours repeat, so one entry says how to read them.
LEGEND_GROUPS_UP_TO = 20
# Per-cluster bars (and gaps between the presence rows) up to this many clusters; beyond, a bar or a row is
# under a pixel wide and the chart drew nothing visible (k = 1,400).
BARS_UP_TO = 60


def fig_cluster_map(coords, colour_by, imputed, centres=None, title="", axis_names=("dim 1", "dim 2"),
                    colour_title="cluster", hover=None, centre_note="", ids=None):
    """2-D map of samples: colour by cluster or label, circles observed, crosses imputed, stars centres.

    Parameters
    ----------
    coords : (n, 2)
    colour_by : (n,) int cluster indices (coloured with ``cluster_color``) or labels
    imputed : (n,) bool, True where at least one modality was imputed
    centres : (k, 2) or None
    ids : (n,) int or None
        Sample ids carried by every point as ``customdata`` (selection events report them); default 0..n-1.
    """
    coords = np.asarray(coords)
    n = coords.shape[0]
    ids = np.arange(n) if ids is None else np.asarray(ids)
    Scatter = go.Scattergl if n > WEBGL_ABOVE else go.Scatter
    colour_by = np.asarray(colour_by)
    is_cluster = colour_title == "cluster"
    fig = go.Figure()
    imputed = np.asarray(imputed, dtype=bool)
    continuous = colour_title == "confidence"
    groups = [] if continuous else np.unique(colour_by)
    if continuous:  # confidence in [0, 1]; samples with nothing filled are grey
        has = ~np.isnan(colour_by.astype(float))
        for sel, name, marker in (
            (~has, "nothing filled", dict(size=6, color="#c8c8c8", symbol="circle", opacity=0.6)),
            (has, "mean confidence of the filled blocks", dict(
                size=7, color=colour_by[has], colorscale="Viridis", cmin=0.0, cmax=1.0, symbol="x", opacity=0.85,
                colorbar=dict(title="confidence<br>(0-1)", x=1.02, y=0.35, len=0.6))),
        ):
            fig.add_trace(Scatter(
                x=coords[sel, 0], y=coords[sel, 1], mode="markers", marker=marker, name=name, customdata=ids[sel],
                text=None if hover is None else np.asarray(hover)[sel],
                hovertemplate="%{text}<extra></extra>" if hover is not None else None,
            ))
    for gi, g in enumerate(groups):
        sel = colour_by == g
        colour = cluster_color(g) if is_cluster else cluster_color(gi)
        fig.add_trace(Scatter(
            x=coords[sel, 0], y=coords[sel, 1], mode="markers", customdata=ids[sel],
            marker=dict(size=6, color=colour, symbol=np.where(imputed[sel], "x", "circle"), opacity=0.75,
                        line=dict(width=0)),
            name=f"{colour_title} {g}", legendgroup=str(g), showlegend=False,
            text=None if hover is None else np.asarray(hover)[sel],
            hovertemplate="%{text}<extra></extra>" if hover is not None else None,
        ))
        if len(groups) <= LEGEND_GROUPS_UP_TO:
            # The legend's swatch is a square in the group's colour: the trace's own would take its first point's
            # shape, a circle for one cluster and a cross for the next, as if the shape meant something there.
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=f"{colour_title} {g}",
                                     legendgroup=str(g), marker=dict(size=9, color=colour, symbol="square")))
    if len(groups) > LEGEND_GROUPS_UP_TO:
        fig.add_trace(go.Scatter(
            x=[None], y=[None], mode="markers", marker=dict(size=9, color="#c8c8c8", symbol="square"),
            name=f"colour: {colour_title}, {len(groups)} of them (colours repeat; hover a point for its {colour_title})"))
    # The points' colour is the cluster (or label), so the shape legend is drawn in a neutral grey: the status
    # colours would name colours no point has. Coloured by confidence, the two traces above already say it
    # (grey circles: nothing filled; crosses: filled).
    for status, tag in () if continuous else (("observed", "all modalities observed"), ("imputed", "some modality imputed")):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=tag,
                                 marker=dict(size=8, color="#555555", symbol=STATUS_SYMBOLS[status])))
    if centres is not None:
        centres = np.asarray(centres)
        ok = ~np.isnan(centres).any(axis=1)
        idx = np.flatnonzero(ok)
        few = idx.size <= CENTRE_LABELS_UP_TO  # many centres: smaller stars, their index on hover only
        # The same trace type as the points: WebGL traces are drawn above every SVG one, so an SVG centre
        # would hide under a large map's points.
        fig.add_trace(Scatter(
            x=centres[ok, 0], y=centres[ok, 1], mode="markers+text" if few else "markers",
            # Coloured by confidence, white stars: a cluster's colour would read as a value of the colour bar.
            marker=dict(size=20 if few else 11, symbol="star",
                        color="#ffffff" if continuous else [cluster_color(j) for j in idx],
                        line=dict(width=2 if few else 1, color="black"), opacity=1.0),
            text=[str(j) for j in idx], textposition="top center",
            hovertemplate="centre %{text}<extra></extra>",
            name=f"cluster centre {centre_note}".strip(),
        ))
    fig.update_layout(title=title or "Samples in 2-D", xaxis_title=axis_names[0], yaxis_title=axis_names[1],
                      legend={**LEGEND, "itemsizing": "constant"}, height=560,
                      **{k: v for k, v in LAYOUT.items() if k != "legend"})
    return fig


def fig_k_selection(curve, chosen_k=None, bound=None):
    """Label-free choice of k: hold-out error against k, with the true error when it is known.

    Parameters
    ----------
    curve : DataFrame with columns ``k``, ``holdout_mse`` and optionally ``holdout_best_mse`` (each k at its
        own best temperature), ``true_mse_soft`` and ``true_mse_paper`` (``experiment.holdout_curve``,
        ``experiment.k_curve``)
    chosen_k : int or None, marked with a vertical line
    bound : float or None, the hold-out error a k's best temperature must come under to be chosen
        (``experiment.selection_bound``), drawn as a horizontal line with each k's best temperature
    """
    fig = go.Figure()
    curve = curve.sort_values("k")
    lines = (("holdout_mse", "hold-out error (label-free, what chooses k)", method_color("ul4m4_soft"), "solid"),
             ("true_mse_soft", "true error, UL4M4 soft (removed blocks)", method_color("ul4m4_soft"), "dash"),
             ("true_mse_paper", "true error, UL4M4 paper's greedy (removed blocks)", method_color("ul4m4"), "dot"))
    for col, name, colour, dash in lines:
        if col in curve and curve[col].notna().any():
            fig.add_trace(go.Scatter(x=curve["k"], y=curve[col], mode="lines+markers", name=name,
                                     line=dict(color=colour, dash=dash)))
    drawn = [c for c, *_ in lines if c in curve and curve[c].notna().any()]
    ks = curve["k"].tolist()
    if bound is not None and "holdout_best_mse" in curve and curve["holdout_best_mse"].notna().any():
        # The rule itself: the smallest k whose best temperature (open circles) lies under the line is chosen.
        fig.add_trace(go.Scatter(x=curve["k"], y=curve["holdout_best_mse"], mode="markers",
                                 name="hold-out error, each k at its best temperature",
                                 marker=dict(symbol="circle-open", size=11, color=method_color("ul4m4_soft"))))
        fig.add_trace(go.Scatter(x=[ks[0], ks[-1]], y=[bound, bound], mode="lines",
                                 name=f"choice bound {bound:.3f}: the smallest k with a circle under it is chosen",
                                 line=dict(color="#555555", dash="dot", width=1)))
        drawn.append("holdout_best_mse")
    if chosen_k is not None:  # a trace, not add_vline: shapes on a log axis take log10 coordinates
        lo, hi = float(np.nanmin(curve[drawn].to_numpy())), float(np.nanmax(curve[drawn].to_numpy()))
        fig.add_trace(go.Scatter(x=[chosen_k, chosen_k], y=[lo, hi], mode="lines", name=f"chosen k = {chosen_k}",
                                 line=dict(color="#555555", dash="dash", width=1)))
    truth = any(c in drawn for c in ("true_mse_soft", "true_mse_paper"))
    fig.update_layout(title="Choosing k without labels: error on hidden observed slots against k"
                            + (", with the true error on the removed blocks" if truth else ""), height=560, **LAYOUT)
    fig.update_xaxes(title_text="Number of clusters k (log scale)", type="log", tickvals=ks,
                     ticktext=[str(int(k)) for k in ks])
    fig.update_yaxes(title_text="MSE per entry (standardised units²)")
    return fig


def fig_cluster_sizes(labels, k):
    """Members per cluster, coloured as on the map; beyond ``BARS_UP_TO`` clusters, how many clusters have
    each size (a bar per cluster would be under a pixel wide)."""
    counts = np.bincount(np.asarray(labels), minlength=k)
    if k > BARS_UP_TO:
        sizes, n_clusters = np.unique(counts, return_counts=True)
        fig = go.Figure(go.Bar(x=sizes, y=n_clusters, marker_color="#7f7f7f", name="clusters",
                               hovertemplate="%{y} clusters of %{x} samples<extra></extra>"))
        fig.update_layout(title=f"Cluster sizes<br><sup>{k:,} clusters: how many have each size "
                                f"(median {int(np.median(counts))}, largest {int(counts.max())})</sup>",
                          xaxis_title="Training samples in the cluster", yaxis_title="Number of clusters",
                          showlegend=False, **LAYOUT)
        return fig
    fig = go.Figure(go.Bar(x=[str(j) for j in range(k)], y=counts, marker_color=[cluster_color(j) for j in range(k)],
                           name="members"))
    fig.update_layout(title="Cluster sizes", xaxis_title="Cluster", yaxis_title="Number of samples",
                      showlegend=False, **LAYOUT)
    fig.update_xaxes(type="category")
    return fig


def fig_centre_presence(center_mask, names):
    """Which modalities each centre holds (a centre lacks a modality none of its members observes)."""
    H = np.asarray(center_mask, dtype=int)
    k = H.shape[0]
    fig = go.Figure(go.Heatmap(
        z=H, x=names, y=[str(j) for j in range(k)], zmin=0, zmax=1,
        colorscale=[[0, STATUS_COLOURS["missing"]], [0.5, STATUS_COLOURS["missing"]],
                    [0.5, STATUS_COLOURS["observed"]], [1, STATUS_COLOURS["observed"]]],
        showscale=False, customdata=np.where(H == 1, "holds", "lacks (no member observes it)"),
        hovertemplate="centre %{y}, %{x}: %{customdata}<extra></extra>", xgap=1, ygap=1 if k <= BARS_UP_TO else 0,
    ))
    # The two colours are said in the title: a colour bar took a third of a half-width chart for two words.
    fig.update_layout(title="Modalities held by each cluster centre<br><sup>blue: holds; orange: lacks (no member "
                            "observes it)</sup>", xaxis_title="Modality", yaxis_title="Cluster", **LAYOUT)
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_xaxes(autotickangles=list(NAME_TICK_ANGLES))
    return fig


def fig_imputation_error(errors, metric="mse", split="all"):
    """Imputation error per modality, one colour per method (removed blocks only): grouped bars for the
    cosine similarity, grouped dots for the MSE (on its log scale a bar's length would mean nothing)."""
    df = errors[(errors["split"] == split)].copy()
    fig = go.Figure()
    log = metric == "mse"
    for method, sub in df.groupby("method", sort=False):
        common = dict(x=sub["modality"], y=sub[metric], name=method_label(method), customdata=sub["n_removed"],
                      hovertemplate="%{x}: %{y:.3f} (%{customdata} removed blocks)<extra></extra>")
        if log:
            fig.add_trace(go.Scatter(mode="markers", marker=dict(size=11, color=method_color(method),
                                                                 symbol=method_symbol(method),
                                                                 line=dict(width=1, color="white")), **common))
        else:
            fig.add_trace(go.Bar(marker_color=method_color(method), **common))
    if log:
        title = "Imputation error: mean squared error on removed blocks (lower is better)"
        yt = "MSE (standardised units², log scale)"
    else:
        title = "Imputation quality: cosine similarity to the truth on removed blocks (higher is better)"
        yt = "Cosine similarity (no units; 1 = same direction)"
    fig.update_layout(title=title, xaxis_title="Modality ('all' = every removed block)", yaxis_title=yt,
                      barmode="group", scattermode="group", yaxis_type="log" if log else "linear", **LAYOUT)
    if log:
        readable_log_ticks(fig, df[metric])
    return fig


def readable_log_ticks(fig, values, axis="y"):
    """Label a log axis with round numbers, each written in full (plotly writes 20 and 0.2 both as "2"
    between its decade labels), never crowded.

    Data spanning more than a factor of 10 get 1, 2 and 5 times the powers of ten and plotly's own range.
    Narrower data get the range of the data (``values``: pass every value drawn, bands included) with a
    small margin, and labels at every digit, half digit or tenth of a digit as the range is wider or
    narrower, the roundest first, each at least 1/12 of the axis from the next: an axis always shows
    several labels, evenly spread (a lone point got 0.55, 0.6, ..., 0.95 squeezed under 1 once)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return fig
    lo, hi = v.min(), v.max()
    update = getattr(fig, f"update_{axis}axes")
    if hi / lo > 10:
        ticks = [m * 10.0 ** e for e in range(int(np.floor(np.log10(lo))) - 1, int(np.ceil(np.log10(hi))) + 2)
                 for m in (1, 2, 5)]
        inside = [t for t in ticks if lo / 2.5 <= t <= hi * 2.5]
        update(tickvals=inside, ticktext=[_tick_text(t) for t in inside])
        return fig
    a, b = lo / 1.15, hi * 1.15  # the axis: the data and a margin
    ratio = b / a
    step = 1.0 if ratio > 2.5 else 0.5 if ratio > 1.5 else 0.1
    mantissas = np.round(np.arange(1.0, 10.0, step), 1)
    candidates = [float(f"{m * 10.0 ** e:.3g}") for e in range(int(np.floor(np.log10(a))) - 1, int(np.ceil(np.log10(b))) + 1)
                  for m in mantissas]
    candidates = sorted({t for t in candidates if a <= t <= b})

    def roundness(t):  # 1 and the powers of ten first, then 2 and 5, whole digits, halves, tenths
        m = round(t / 10.0 ** np.floor(np.log10(t)), 6)
        return (0 if m == 1 else 1 if m in (2, 5) else 2 if m == int(m) else 3 if 2 * m == int(2 * m) else 4, t)

    gap = np.log10(ratio) / 12
    kept = []
    for t in sorted(candidates, key=roundness):
        if all(abs(np.log10(t / u)) >= gap * (1 - 1e-9) for u in kept):
            kept.append(t)
    kept.sort()
    update(range=[np.log10(a), np.log10(b)], tickvals=kept, ticktext=[_tick_text(t) for t in kept])
    return fig


def _tick_text(t):
    return f"{float(f'{t:.3g}'):.12g}"


def fig_candidates(r, chosen_by_modality, names):
    """r_f of every candidate of one sample, with the candidates that filled a modality highlighted."""
    r = np.asarray(r, dtype=float)
    k = r.size
    winners = {}
    for m, src in chosen_by_modality.items():
        winners.setdefault(src, []).append(names[m])
    colours = ["#d62728" if f in winners else "#c7c7c7" for f in range(k)]
    finite = np.where(np.isfinite(r), r, np.nan)
    filled = [", ".join(winners[f]) if f in winners else "no modality" for f in range(k)]
    fig = go.Figure(go.Bar(x=[str(f) for f in range(k)], y=finite, marker_color=colours, name="candidate distance",
                           customdata=filled,
                           hovertemplate="candidate %{x}: r = %{y:.3f}, filled %{customdata}<extra></extra>"))
    # Which modalities each red candidate filled, one per line above its bar, in readable type on a white
    # ground (bar text was shrunk to the bar's width: 6 px on mfeat's k = 10).
    for f, got in winners.items():
        if 0 <= f < k and np.isfinite(finite[f]):
            fig.add_annotation(x=str(f), y=finite[f], text="<br>".join(got), showarrow=False, yanchor="bottom",
                               yshift=4, font=dict(size=12, color="#d62728"), bgcolor="rgba(255,255,255,0.85)")
    top = float(np.nanmax(finite)) if np.isfinite(finite).any() else 1.0
    top = top if top > 0 else 1.0
    fig.update_yaxes(range=[0, top * (1.15 + 0.12 * max((len(v) for v in winners.values()), default=0))])
    fig.update_layout(title="Candidate distances for this sample in UL4M4 (paper)'s greedy completion<br><sup>red: "
                            "the candidate that filled the named modality</sup>",
                      xaxis_title="Candidate f (built from centre f)",
                      yaxis_title="r_f = distance to nearest centre (standardised units)", showlegend=False, **LAYOUT)
    fig.update_xaxes(type="category")
    return fig


def errors_wide(errors, metric="mse", split="all"):
    """Table: one row per modality, one column per method, headed by the method's label."""
    df = errors[errors["split"] == split]
    wide = df.pivot_table(index="modality", columns="method", values=metric, sort=False)
    return wide.rename(columns=method_label).rename_axis(columns="method")


def pattern_table(report, names):
    """DataFrame of patterns: observed modalities, count and share."""
    total = sum(report.pattern_counts.values())
    rows = []
    for p, c in report.pattern_counts.items():
        rows.append({"pattern": p, "observed": ", ".join(n for n, ch in zip(names, p) if ch == "1"),
                     "samples": c, "share (%)": round(100 * c / total, 1)})
    return pd.DataFrame(rows)


__all__ += ["errors_wide", "pattern_table", "method_label", "pattern_label", "readable_log_ticks", "CENTRE_LABELS_UP_TO",
            "LEGEND_GROUPS_UP_TO", "BARS_UP_TO"]


METRIC_LABELS = {
    "f1_micro": "F1-micro", "f1_macro": "F1-macro", "accuracy": "Accuracy",
    "flattened_f1_micro": "published scripts' 'F1-micro' (flattened labels)", "imputation_mse": "Imputation MSE",
}


def _band_note(summary):
    n = int(summary["n"].max()) if len(summary) else 0
    return f"mean ± 1 std over n={n} seeds" if n > 1 else "one seed, no band"


def _rgba(hex_colour, alpha):
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _line_with_band(fig, x, mean, std, name, colour, dash=None, row=None, col=None, showlegend=True,
                    symbol="circle"):
    kw = {} if row is None else {"row": row, "col": col}
    std = np.nan_to_num(np.asarray(std, dtype=float))
    if np.any(std > 0):
        fig.add_trace(go.Scatter(x=np.concatenate([x, x[::-1]]), y=np.concatenate([mean + std, (mean - std)[::-1]]),
                                 mode="lines", fill="toself", fillcolor=_rgba(colour, 0.15), line=dict(width=0),
                                 hoverinfo="skip", showlegend=False, legendgroup=name), **kw)
    fig.add_trace(go.Scatter(x=x, y=mean, mode="lines+markers", name=name, legendgroup=name, showlegend=showlegend,
                             line=dict(color=colour, dash=dash), marker=dict(size=8, symbol=symbol)), **kw)


def _unified_hover(fig):
    """Hovering an x lists every trace's value there: full method names, three decimals, the rate to two."""
    fig.update_layout(hovermode="x unified", hoverlabel_namelength=-1)
    fig.update_yaxes(hoverformat=".3f")
    fig.update_xaxes(hoverformat=".2f")


def fig_degradation(df, metric="f1_micro"):
    """Downstream score against the realised missing-slot rate, one line per method (band over seeds)."""
    summ = summarise(df, metric)
    fig = go.Figure()
    x_max = float(summ.loc[summ["method"] != "complete", "x"].max()) if (summ["method"] != "complete").any() else 1.0
    drawn = {}  # (x, mean) of each curve drawn -> its method's label
    for method, sub in summ.groupby("method", sort=False):
        if method == "complete":
            m, s = float(sub["mean"].mean()), float(sub["std"].fillna(0).mean())
            _line_with_band(fig, np.array([0.0, x_max]), np.array([m, m]), np.array([s, s]),
                            method_label(method), method_color(method), dash="dash", symbol=method_symbol(method))
            continue
        if sub["k"].notna().any() and sub["k"].nunique() > 1:
            sub = sub[sub["k"] == sub["k"].min()]
        sub = sub.sort_values("x")
        x, mean = sub["x"].to_numpy(), sub["mean"].to_numpy()
        # A method scoring exactly what one drawn before it scores (the same predictions) would hide under that
        # line: its legend entry says so and its line is dotted, so that both are seen.
        twin = drawn.get((tuple(x), tuple(mean)))
        name = method_label(method) + (f" (same scores as {twin})" if twin else "")
        _line_with_band(fig, x, mean, sub["std"].to_numpy(), name, method_color(method),
                        dash="dot" if twin else None, symbol=method_symbol(method))
        drawn.setdefault((tuple(x), tuple(mean)), method_label(method))
    label = METRIC_LABELS.get(metric, metric)
    fig.update_layout(title=f"{label} on the test split vs missing modality slots ({_band_note(summ)})",
                      xaxis_title="Realised missing modality slots<br>(fraction, mean over seeds)",
                      yaxis_title=f"{label} (test split)", **LAYOUT)
    # Hovering a rate lists every method's score there: methods with equal scores draw one line over the
    # other, and the list shows both.
    _unified_hover(fig)
    return _fraction_axis(fig, x_max)


def _fraction_axis(fig, x_max):
    """The realised-rate axis from 0 to the largest rate drawn: a fraction, never -0.5 to 1.5 (plotly's range
    around a single point)."""
    x_max = float(x_max) if np.isfinite(x_max) else 1.0
    return fig.update_xaxes(range=[-0.02, max(x_max, 0.1) + 0.03])


def fig_error_vs_rate(df):
    """Imputation MSE on removed blocks against the realised missing-slot rate (log scale)."""
    d = df[(df["method"] != "complete") & df["imputation_mse"].notna()]
    summ = summarise(d, "imputation_mse")
    fig = go.Figure()
    for method, sub in summ.groupby("method", sort=False):
        if sub["k"].notna().any() and sub["k"].nunique() > 1:
            sub = sub[sub["k"] == sub["k"].min()]
        sub = sub.sort_values("x")
        _line_with_band(fig, sub["x"].to_numpy(), sub["mean"].to_numpy(), sub["std"].to_numpy(),
                        method_label(method), method_color(method), symbol=method_symbol(method))
    _fraction_axis(fig, summ["x"].max() if len(summ) else 1.0)
    fig.update_layout(title=f"Imputation error on removed blocks vs missing slots ({_band_note(summ)})",
                      xaxis_title="Realised missing modality slots<br>(fraction, mean over seeds)",
                      yaxis_title="MSE, standardised units² (log scale)", yaxis_type="log", **LAYOUT)
    _unified_hover(fig)  # every method's error at the hovered rate, as fig_degradation
    std = summ["std"].fillna(0).to_numpy()
    return readable_log_ticks(fig, np.concatenate([summ["mean"] - std, summ["mean"] + std, summ["mean"]]))


def fig_k_sensitivity(df, metric="f1_micro"):
    """UL4M4's score and imputation error against k at a fixed rate; baselines as dashed references."""
    # One panel above the other, sharing k: side by side, each had under 200 px on a narrow page and their
    # titles ran into each other.
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.14,
                        subplot_titles=(f"{METRIC_LABELS.get(metric, metric)} (test split) vs k", "Imputation MSE vs k"))
    for row, met in ((1, metric), (2, "imputation_mse")):
        summ = summarise(df[df[met].notna()], met)
        u = summ[summ["method"] == "ul4m4"].sort_values("k")
        if len(u):
            _line_with_band(fig, u["k"].to_numpy(dtype=float), u["mean"].to_numpy(), u["std"].to_numpy(),
                            method_label("ul4m4"), method_color("ul4m4"), row=row, col=1, showlegend=row == 1,
                            symbol=method_symbol("ul4m4"))
        ks = u["k"].to_numpy(dtype=float) if len(u) else np.array([1.0, 2.0])
        for method, sub in summ[summ["method"] != "ul4m4"].groupby("method", sort=False):
            m = float(sub["mean"].mean())
            # A point at every k, so that hovering a k lists every method's value.
            fig.add_trace(go.Scatter(x=ks, y=np.full(len(ks), m), mode="lines+markers", name=method_label(method),
                                     marker=dict(size=8, symbol=method_symbol(method)),
                                     legendgroup=method, showlegend=row == 1,
                                     line=dict(color=method_color(method), dash="dash")), row=row, col=1)
        if row == 1:
            fig.data[-1].showlegend = True
    rate = df["rate"].iloc[0] if len(df) else float("nan")
    summ = summarise(df, metric)
    fig.update_layout(title=f"Sensitivity to the number of clusters k at rate {rate} ({_band_note(summ)}; "
                            "dashed: methods that do not take this k)", height=650, **LAYOUT)
    ks_all = sorted(df.loc[df["method"] == "ul4m4", "k"].dropna().unique())
    fig.update_xaxes(type="log", tickvals=ks_all, ticktext=[str(int(k)) for k in ks_all], showticklabels=True)
    fig.update_xaxes(title_text="Number of clusters k (log scale)", row=2, col=1)
    fig.update_yaxes(title_text=METRIC_LABELS.get(metric, metric), row=1, col=1)
    fig.update_yaxes(title_text="MSE (standardised units²)", row=2, col=1)
    # Hovering a k lists every method's value there: a baseline scoring exactly what another scores is drawn
    # under it, and the list shows both.
    _unified_hover(fig)
    fig.update_xaxes(hoverformat=".0f")  # k, a whole number
    return fig


def sweep_figures(df, k_df=None):
    """The figures of a sweep, by name, in the order the command line and the app's download show them.

    Parameters
    ----------
    df : DataFrame, a sweep table (``sweep.COLUMNS``)
    k_df : DataFrame or None, a k-sensitivity sweep table (UL4M4 at several k, one rate)

    Returns
    -------
    dict name -> plotly Figure: "f1_micro" and "f1_macro" always; "imputation_mse" when some block was
    removed; "flattened_f1_micro" for multilabel data; "k_sensitivity" when ``k_df`` is given.
    """
    figs = {"f1_micro": fig_degradation(df, "f1_micro"), "f1_macro": fig_degradation(df, "f1_macro")}
    if df["imputation_mse"].notna().any():
        figs["imputation_mse"] = fig_error_vs_rate(df)
    if df["flattened_f1_micro"].notna().any():
        figs["flattened_f1_micro"] = fig_degradation(df, "flattened_f1_micro")
    if k_df is not None:
        figs["k_sensitivity"] = fig_k_sensitivity(k_df)
    return figs


def figures_html(figs, title):
    """One offline HTML page holding several figures (plotly.js embedded once)."""
    parts = [f"<html><head><meta charset='utf-8'><title>{title}</title></head><body>"]
    for i, fig in enumerate(figs):
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0)))
    parts.append("</body></html>")
    return "\n".join(parts)


__all__ += ["fig_degradation", "fig_error_vs_rate", "fig_k_sensitivity", "sweep_figures", "figures_html", "METRIC_LABELS"]


def _wrap_line(line, width):
    """One title line broken at spaces into lines of at most ``width`` characters (a longer word stays
    whole); a ``<sup>`` line (smaller type: 1.4x the characters) stays a ``<sup>`` line on each piece."""
    sup = line.startswith("<sup>") and line.endswith("</sup>")
    text = line[5:-6] if sup else line
    width = int(width * 1.4) if sup else width
    pieces, cur = [], ""
    for word in text.split(" "):
        if cur and len(cur) + 1 + len(word) > width:
            pieces.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}" if cur else word
    pieces.append(cur)
    return [f"<sup>{p}</sup>" for p in pieces] if sup else pieces


def _title_lines(fig, width):
    text = fig.layout.title.text
    return [piece for line in text.split("<br>") for piece in _wrap_line(line, width)] if text else []


def title_shape(fig, width=60):
    """(ordinary lines, ``<sup>`` lines) of the figure's title once ``wrap_title`` broke it at ``width``."""
    lines = _title_lines(fig, width)
    sup = sum(line.startswith("<sup>") for line in lines)
    return len(lines) - sup, sup


def wrap_title(fig, width=60, shape=None):
    """Break the figure's title into lines of at most ``width`` characters (plotly never wraps a title, so
    a long one was cut at the chart's edge on a narrow window) and give the top margin room for them.
    ``shape`` (ordinary lines, ``<sup>`` lines): blank lines are added up to it, so that charts side by side
    whose titles take different room still start their plots at the same height. Returns the figure,
    changed in place."""
    lines = _title_lines(fig, width)
    if not lines:
        return fig
    if shape is not None:
        have = title_shape(fig, width)
        lines += ["\u00a0"] * max(0, shape[0] - have[0]) + ["<sup>\u00a0</sup>"] * max(0, shape[1] - have[1])
    if len(lines) == 1:
        return fig
    # Several lines stand on the plot's top edge and push the top margin up as far as they need, at any font
    # size (plotly anchors a title of several lines by its first line: hung from the top of the figure, or
    # centred in the margin, the first lines went out of sight).
    fig.update_layout(title=dict(text="<br>".join(lines), yref="paper", y=1, yanchor="bottom", pad=dict(b=24),
                                 automargin=True))
    return fig


__all__ += ["wrap_title", "title_shape"]
