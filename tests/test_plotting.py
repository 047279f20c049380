"""Every figure has a title and labelled axes; the cluster colours are stable."""

import ast
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ul4m4 import make_synthetic, plotting
from ul4m4.experiment import MissingConfig, RunConfig, make_mask, run_methods
from ul4m4.sweep import SweepConfig, run_sweep


@pytest.fixture(scope="module")
def bits():
    ds = make_synthetic(n_samples=150, n_modalities=3, dims=[4, 3, 2], n_clusters=3, random_state=0)
    m = make_mask(ds, MissingConfig(rate=0.3))
    run = run_methods(ds, m, RunConfig(methods=("ul4m4", "mean"), n_clusters=3))
    sweep = run_sweep(ds, SweepConfig(rates=(0.0, 0.3), seeds=(0, 1), methods=("ul4m4", "mean", "complete"), k=3))
    ksweep = run_sweep(ds, SweepConfig(rates=(0.3,), seeds=(0,), methods=("ul4m4", "mean"), ks=(2, 3)))
    return ds, m, run, sweep, ksweep


def figures(bits):
    ds, m, run, sweep, ksweep = bits
    names = ds.modality_names
    coords = np.random.default_rng(0).normal(size=(ds.n_samples, 2))
    return {
        "dimensions": plotting.fig_dimensions(names, ds.dims),
        "scales": plotting.fig_scales(names, ds.Xs, ds.mask),
        "labels": plotting.fig_label_balance(ds.y, ds.target_names),
        "mask": plotting.fig_mask_heatmap(m.mask, names),
        "patterns": plotting.fig_patterns(m.report.pattern_counts, names),
        "rates": plotting.fig_rates(m.report, names),
        "map": plotting.fig_cluster_map(coords, run.model.predict(run.completed["ul4m4"]), ~m.mask.all(axis=1),
                                        np.zeros((3, 2)), title="map", axis_names=("a", "b")),
        "sizes": plotting.fig_cluster_sizes(run.model.labels_, 3),
        "presence": plotting.fig_centre_presence(run.model.center_mask_, names),
        "error": plotting.fig_imputation_error(run.errors),
        "candidates": plotting.fig_candidates(np.array([0.5, 0.2, np.inf]), {0: 1}, names),
        "degradation": plotting.fig_degradation(sweep, "f1_micro"),
        "error_rate": plotting.fig_error_vs_rate(sweep),
        "k": plotting.fig_k_sensitivity(ksweep),
    }


def test_titles_and_axis_labels(bits):
    for name, fig in figures(bits).items():
        lay = fig.layout
        assert lay.title.text, name
        xaxes = [k for k in lay.to_plotly_json() if k.startswith("xaxis")]
        yaxes = [k for k in lay.to_plotly_json() if k.startswith("yaxis")]
        assert any(lay[k].title.text for k in xaxes), name
        assert any(lay[k].title.text for k in yaxes), name
        assert len(fig.data) > 0, name


def test_degradation_band_says_std_and_n(bits):
    fig = figures(bits)["degradation"]
    assert "±1 std" in fig.layout.title.text or "± 1 std" in fig.layout.title.text
    assert "n=2 seeds" in fig.layout.title.text
    names = {t.name for t in fig.data if t.showlegend is not False}
    assert {"UL4M4 (paper)", "Mean", "Complete data (ceiling)"} <= names


def test_map_marks_imputed_and_centres(bits):
    fig = figures(bits)["map"]
    names = [t.name for t in fig.data]
    assert "some modality imputed" in names and any("centre" in (n or "") for n in names)
    cluster_trace = [t for t in fig.data if t.name == "cluster 0"][0]
    assert cluster_trace.marker.color == plotting.cluster_color(0)


def test_cluster_colours_distinct_and_the_same_on_every_figure(bits):
    n = len(plotting._PALETTE)
    colours = [plotting.cluster_color(j) for j in range(n)]
    assert len(set(c.lower() for c in colours)) == n  # distinct clusters, distinct colours
    assert all(re.fullmatch(r"#[0-9A-Fa-f]{6}", c) for c in colours)
    assert plotting.cluster_color(n + 2) == colours[2]  # beyond the palette it wraps around
    assert plotting.cluster_color(np.int64(4)) == colours[4]  # labels straight from numpy arrays
    # Cluster j has the same colour on the map (points and centre stars) and on the sizes chart.
    labels = np.array([0, 1, 2, 2, 1, 0, 2])
    fmap = plotting.fig_cluster_map(np.zeros((7, 2)), labels, np.zeros(7, bool), np.zeros((3, 2)))
    sizes = plotting.fig_cluster_sizes(labels, 3)
    points = {t.name: t.marker.color for t in fmap.data if t.mode == "markers" and t.name.startswith("cluster ")}
    assert points == {f"cluster {j}": colours[j] for j in range(3)}
    stars = [t for t in fmap.data if t.name.startswith("cluster centre")][0]
    assert list(stars.marker.color) == colours[:3]
    assert list(sizes.data[0].marker.color) == colours[:3]


def test_sweep_figures_by_name(bits):
    ds, m, run, sweep, ksweep = bits
    figs = plotting.sweep_figures(sweep)
    assert list(figs) == ["f1_micro", "f1_macro", "imputation_mse"]
    assert figs["f1_micro"].layout.title.text.startswith("F1-micro")
    with_k = plotting.sweep_figures(sweep, ksweep)
    assert list(with_k)[-1] == "k_sensitivity"
    assert with_k["k_sensitivity"].layout.title.text.startswith("Sensitivity to the number of clusters k")
    # Nothing removed (rate 0 only): no error figure; multilabel data adds the flattened-F1 figure.
    assert "imputation_mse" not in plotting.sweep_figures(sweep[sweep["rate"] == 0.0])
    multilabel = sweep.assign(flattened_f1_micro=0.9)
    assert "flattened_f1_micro" in plotting.sweep_figures(multilabel)


def test_plotting_imports_no_orchestration():
    # plotting is a leaf: it draws results and never runs an experiment, a sweep or the command line.
    tree = ast.parse(Path(plotting.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[-1] if node.level else node.module)
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    assert "missing" in imported  # the walk sees the module's own relative imports
    assert not imported & {"experiment", "sweep", "cli", "ul4m4.experiment", "ul4m4.sweep", "ul4m4.cli"}


def test_large_maps_switch_to_webgl():
    n = plotting.WEBGL_ABOVE + 1
    fig = plotting.fig_cluster_map(np.zeros((n, 2)), np.zeros(n, int), np.zeros(n, bool))
    assert fig.data[0].type == "scattergl"


def test_html_export_is_offline():
    html = plotting.figures_html([plotting.fig_dimensions(["a"], [3])], "t")
    assert '<script src="http' not in html  # nothing fetched from the network
    assert len(html) > 1_000_000  # plotly.js itself is embedded


def test_k_selection_figure_keeps_k_on_a_log_axis():
    import pandas as pd

    from ul4m4.plotting import fig_k_selection

    curve = pd.DataFrame({"k": [8, 16, 32, 64], "holdout_mse": [0.7, 0.6, 0.55, 0.62],
                          "true_mse_soft": [0.71, 0.61, 0.57, 0.6], "true_mse_paper": [0.8, 0.9, 0.7, 1.1]})
    fig = fig_k_selection(curve, chosen_k=32)
    names = [t.name for t in fig.data]
    assert names[0].startswith("hold-out error") and "chosen k = 32" in names
    assert not fig.layout.shapes  # no shape whose x would be read as log10(k)
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis.title.text.startswith("Number of clusters k")
    assert fig.layout.yaxis.title.text.startswith("MSE per entry")
    only_holdout = fig_k_selection(curve[["k", "holdout_mse"]], chosen_k=16)
    assert [t.name for t in only_holdout.data] == ["hold-out error (label-free, what chooses k)", "chosen k = 16"]


def test_k_selection_figure_draws_the_rule_each_k_best_temperature_and_the_bound():
    import pandas as pd

    from ul4m4.plotting import fig_k_selection

    curve = pd.DataFrame({"k": [8, 16, 32, 64], "holdout_mse": [0.7, 0.6, 0.58, 0.62],
                          "holdout_best_mse": [0.69, 0.55, 0.545, 0.6]})
    fig = fig_k_selection(curve, chosen_k=16, bound=0.545 * 1.01)
    by_name = {t.name: t for t in fig.data}
    circles = by_name["hold-out error, each k at its best temperature"]
    assert list(circles.y) == [0.69, 0.55, 0.545, 0.6] and circles.mode == "markers"
    line = next(t for n, t in by_name.items() if n.startswith("choice bound 0.550"))
    assert list(line.x) == [8, 64] and line.y[0] == line.y[1] == 0.545 * 1.01
    chosen = by_name["chosen k = 16"]
    assert min(chosen.y) <= 0.545 and max(chosen.y) >= 0.7  # the marker spans every drawn value
    # Without a bound (or without the per-k column) neither is drawn.
    assert len(fig_k_selection(curve, chosen_k=16).data) == 2


def test_error_table_is_headed_by_method_labels():
    errors = pd.DataFrame({"method": ["ul4m4", "ul4m4_lowrank", "ul4m4", "ul4m4_lowrank"], "split": "all",
                           "modality": ["m0", "m0", "all", "all"], "mse": [1.0, 2.0, 3.0, 4.0]})
    wide = plotting.errors_wide(errors)
    assert list(wide.columns) == ["UL4M4 (paper)", "UL4M4 + low rank"]
    assert wide.loc["all", "UL4M4 + low rank"] == 4.0


def test_many_centres_are_small_and_unlabelled_few_are_labelled():
    n = 50
    few = plotting.fig_cluster_map(np.random.default_rng(0).normal(size=(n, 2)), np.arange(n) % 5, np.zeros(n, bool),
                                   np.zeros((5, 2)))
    many = plotting.fig_cluster_map(np.random.default_rng(0).normal(size=(n, 2)), np.arange(n) % 40, np.zeros(n, bool),
                                    np.zeros((40, 2)))
    star = [t for t in few.data if "centre" in (t.name or "")][0]
    assert star.mode == "markers+text" and star.marker.size == 20
    star = [t for t in many.data if "centre" in (t.name or "")][0]
    assert star.mode == "markers" and star.marker.size < 20  # their index on hover
    # The shape legend names shapes, in a colour no cluster is drawn in.
    shapes = [t for t in many.data if t.name in ("all modalities observed", "some modality imputed")]
    assert len(shapes) == 2 and {t.marker.color for t in shapes} == {"#555555"}


def test_log_axes_write_every_tick_in_full():
    import plotly.graph_objects as go

    fig = plotting.readable_log_ticks(go.Figure(), [0.03, 0.4, 12.0, 700.0])
    text = list(fig.layout.yaxis.ticktext)
    assert len(text) == len(set(text))  # 0.2, 2 and 20 are not all "2"
    assert "0.02" in text and "0.2" in text and "2" in text and "20" in text and "1000" in text
    assert all(float(t) > 0 for t in text)


def test_mse_is_drawn_as_dots_not_bars_on_its_log_scale():
    import pandas as pd

    errors = pd.DataFrame({"method": ["ul4m4", "mean"] * 2, "split": "all", "modality": ["a", "a", "all", "all"],
                           "n_removed": 5, "mse": [0.5, 1.0, 0.6, 1.1], "cosine": [0.8, 0.0, 0.7, 0.0]})
    fig = plotting.fig_imputation_error(errors, "mse")
    assert {t.type for t in fig.data} == {"scatter"} and fig.layout.yaxis.type == "log"
    assert {t.type for t in plotting.fig_imputation_error(errors, "cosine").data} == {"bar"}


@pytest.mark.parametrize("values, at_least", [([0.45, 1.05], 5), ([0.6, 0.9], 5), ([2.0], 5), ([0.2, 1.5], 6)])
def test_log_axes_over_a_narrow_range_still_show_several_labels(values, at_least):
    import plotly.graph_objects as go

    fig = plotting.readable_log_ticks(go.Figure(), values)
    ticks = np.asarray(fig.layout.yaxis.tickvals)
    lo, hi = min(values), max(values)
    within = ticks[(ticks >= lo) & (ticks <= hi)] if hi > lo else ticks[(ticks >= lo / 1.3) & (ticks <= hi * 1.3)]
    assert within.size >= at_least - 3 and len(ticks) >= at_least, list(ticks)
    assert len(set(fig.layout.yaxis.ticktext)) == len(ticks)


def test_class_bars_name_a_class_once_when_its_name_is_its_number():
    fig = plotting.fig_label_balance(np.array([0, 1, 1, 2]), ["0", "1", "2"])
    assert list(fig.data[0].x) == ["0", "1", "2"]
    fig = plotting.fig_label_balance(np.array([0, 1, 1, 2]), ["cat", "dog", "2"])
    assert list(fig.data[0].x) == ["0: cat", "1: dog", "2"]


def test_methods_differ_by_shape_as_well_as_colour(bits):
    """Each method's markers have a shape of their own, the same on every chart that draws methods, and
    none is a shape of the modality-block code: red and green (UL4M4, kNN) alone are lost on many readers."""
    from ul4m4.experiment import METHODS

    symbols = {m: plotting.method_symbol(m) for m in METHODS}
    assert len(set(symbols.values())) == len(symbols)
    assert plotting.method_symbol("complete") not in symbols.values()
    # the plain circle is any marker's default; the open circle and the cross mean missing and imputed
    assert not set(symbols.values()) & {plotting.STATUS_SYMBOLS["missing"], plotting.STATUS_SYMBOLS["imputed"], "star"}
    figs = figures(bits)
    for name in ("error", "degradation", "error_rate", "k"):
        drawn = {t.name: t.marker.symbol for t in figs[name].data if t.name and t.mode and "markers" in t.mode}
        assert drawn, name
        by_label = {plotting.method_label(m): s for m, s in {**symbols, "complete": "hourglass"}.items()}
        assert all(by_label[label] == sym for label, sym in drawn.items()), (name, drawn)


@pytest.mark.parametrize("values", [[1.2], [0.6, 0.9], [0.45, 1.05], [0.2, 1.5], [2.0, 2.01], [0.3, 2.9]])
def test_log_labels_are_never_crowded(values):
    """Narrow data (a sweep with one rate, one modality) get labels spread over an axis fitted to the data:
    none closer than 1/12 of the axis to the next, every value drawn inside the axis."""
    import plotly.graph_objects as go

    fig = plotting.readable_log_ticks(go.Figure(), values)
    lo, hi = fig.layout.yaxis.range
    ticks = np.log10(np.asarray(fig.layout.yaxis.tickvals))
    assert len(ticks) >= 3 and np.all(np.diff(ticks) >= (hi - lo) / 12 * (1 - 1e-6))
    assert lo < np.log10(min(values)) and np.log10(max(values)) < hi and lo <= ticks.min() and ticks.max() <= hi


def test_a_sweep_with_one_rate_keeps_its_axis_a_fraction():
    sweep = pd.DataFrame({"method": "ul4m4", "rate": 0.4, "seed": [0], "k": 3.0, "classifier": "linear",
                          "realized_slot_rate": 0.38, "realized_incomplete_rate": 0.7, "f1_micro": 0.9, "f1_macro": 0.9,
                          "accuracy": 0.9, "flattened_f1_micro": np.nan, "imputation_mse": 1.2, "seconds": 1.0})
    for fig in (plotting.fig_degradation(sweep), plotting.fig_error_vs_rate(sweep)):
        lo, hi = fig.layout.xaxis.range
        assert -0.05 <= lo < 0.38 < hi <= 0.5


def test_hovering_a_rate_lists_every_method_so_a_tie_shows_both():
    """Two methods with equal scores draw one line over the other: hovering a rate lists every method."""
    row = {"rate": 0.4, "seed": 0, "k": np.nan, "classifier": "linear", "realized_slot_rate": 0.38,
           "realized_incomplete_rate": 0.7, "f1_micro": 0.955, "f1_macro": 0.95, "accuracy": 0.955,
           "flattened_f1_micro": np.nan, "imputation_mse": 0.5, "seconds": 1.0}
    sweep = pd.DataFrame([{**row, "method": "softimpute"}, {**row, "method": "ul4m4_soft"}])
    for fig in (plotting.fig_degradation(sweep), plotting.fig_error_vs_rate(sweep)):
        assert fig.layout.hovermode == "x unified"
    assert {t.name for t in plotting.fig_error_vs_rate(sweep).data} == {"SoftImpute", "UL4M4 soft, auto"}


def test_a_method_scoring_exactly_as_another_is_named_beside_it_and_dotted():
    """Equal scores at every rate (the same predictions) draw one line over the other: the later one's legend
    says whose scores it repeats and its line is dotted; a method that differs at one rate is left alone."""
    row = {"seed": 0, "k": np.nan, "classifier": "linear", "realized_incomplete_rate": 0.7, "f1_macro": 0.95,
           "accuracy": 0.955, "flattened_f1_micro": np.nan, "imputation_mse": 0.5, "seconds": 1.0}
    rows = []
    for rate, x, f1 in ((0.2, 0.19, 0.97), (0.6, 0.58, 0.9)):
        for method in ("softimpute", "ul4m4_soft", "mean"):
            rows.append({**row, "method": method, "rate": rate, "realized_slot_rate": x,
                         "f1_micro": f1 - (0.01 if method == "mean" and rate == 0.6 else 0)})
    fig = plotting.fig_degradation(pd.DataFrame(rows))
    lines = {t.name: t for t in fig.data if t.mode == "lines+markers"}
    assert set(lines) == {"SoftImpute", "UL4M4 soft, auto (same scores as SoftImpute)", "Mean"}
    assert lines["UL4M4 soft, auto (same scores as SoftImpute)"].line.dash == "dot"
    assert lines["SoftImpute"].line.dash is None and lines["Mean"].line.dash is None


def test_map_legend_swatches_do_not_borrow_a_points_shape(bits):
    """Each cluster's legend entry is a square in its colour, whatever shape its first point has (a cross
    for one cluster and a circle for the next read as if the shape meant something there)."""
    fig = figures(bits)["map"]
    legend = [t for t in fig.data if t.showlegend is not False and t.name.startswith("cluster ")
              and not t.name.startswith("cluster centre")]
    assert legend and all(t.marker.symbol == "square" and list(t.x) == [None] for t in legend)
    points = [t for t in fig.data if t.name.startswith("cluster ") and t.showlegend is False]
    assert {t.legendgroup for t in points} == {t.legendgroup for t in legend}


def test_wrap_title_breaks_long_titles_into_lines_that_fit_and_keeps_every_word():
    import plotly.graph_objects as go

    title = ("Imputation error: mean squared error on removed blocks (lower is better)"
             "<br><sup>blue dot = observed, orange ring = missing; bars: share of samples in each pattern</sup>")
    fig = plotting.wrap_title(go.Figure(layout=dict(title=title)), 32)
    lines = fig.layout.title.text.split("<br>")
    plain = [re.sub(r"</?sup>", "", line) for line in lines]
    main, sub = [p for p, line in zip(plain, lines) if "<sup>" not in line], [p for p, line in zip(plain, lines) if "<sup>" in line]
    assert len(main) == 3 and all(len(p) <= 32 for p in main)
    assert len(sub) == 2 and all(len(p) <= 44 for p in sub)  # smaller type: 1.4x the characters
    assert all(line.startswith("<sup>") and line.endswith("</sup>") for line in lines if "sup>" in line)
    assert " ".join(plain).split() == re.sub(r"<br>|</?sup>", " ", title).split()  # nothing lost or reordered
    title = fig.layout.title  # on the plot's top edge, the margin growing to hold every line
    assert (title.yref, title.y, title.yanchor, title.automargin) == ("paper", 1, "bottom", True)
    short = plotting.wrap_title(go.Figure(layout=dict(title="Cluster sizes")), 32)
    assert short.layout.title.text == "Cluster sizes"
    assert plotting.wrap_title(go.Figure(), 32).layout.title.text is None


def test_pattern_chart_names_every_modality_and_every_pattern():
    names = [f"modality_{i}" for i in range(6)]
    counts = {f"{i:06b}": 30 - i for i in range(1, 26)}
    fig = plotting.fig_patterns(counts, names)
    assert list(fig.layout.yaxis2.tickvals) == names  # not every other one, as plotly's own ticks did
    assert list(fig.layout.xaxis2.tickvals) == sorted(counts, key=lambda p: -counts[p])[:20]
    assert fig.layout.height >= 260 + 22 * 6
    many = plotting.fig_patterns({"1" * 40: 3, "0" + "1" * 39: 2}, [f"m{i}" for i in range(40)])
    assert many.layout.yaxis2.tickvals is None  # beyond 24 modalities plotly thins the names


def test_k_sensitivity_stacks_its_panels_and_hovering_a_k_lists_every_method(bits):
    """The score and the error against k sit one above the other (side by side each had under 200 px on a
    narrow page), and every baseline has a value at every k, so hovering a k lists all of them (a tie hides
    one dashed line under another)."""
    ksweep = bits[4]
    fig = plotting.fig_k_sensitivity(ksweep)
    assert fig.layout.xaxis.domain == fig.layout.xaxis2.domain and fig.layout.yaxis.domain != fig.layout.yaxis2.domain
    assert fig.layout.hovermode == "x unified"
    ks = sorted(ksweep.loc[ksweep["method"] == "ul4m4", "k"].unique())
    baselines = [t for t in fig.data if t.line.dash == "dash"]
    assert baselines and all(list(t.x) == ks for t in baselines)


def test_candidate_chart_names_the_filled_modalities_in_readable_type():
    fig = plotting.fig_candidates(np.array([0.5, 0.2, np.inf, 0.7]), {0: 1, 1: 1, 2: 3}, ["a", "bb", "ccc"])
    notes = {a.x: a for a in fig.layout.annotations}
    assert set(notes) == {"1", "3"}
    assert notes["1"].text == "a<br>bb" and notes["3"].text == "ccc"
    assert notes["1"].font.size >= 12 and notes["1"].y == pytest.approx(0.2)
    assert fig.data[0].text is None  # no bar text (plotly shrank it to the bar's width)
    assert fig.layout.yaxis.range[1] > 0.7  # room above the tallest bar for the names
    assert list(fig.data[0].customdata) == ["no modality", "a, bb", "no modality", "ccc"]


def test_centre_presence_says_its_two_colours_without_a_colour_bar():
    fig = plotting.fig_centre_presence(np.array([[1, 0], [1, 1]]), ["fourier", "karhunen_loeve"])
    assert fig.data[0].showscale is False
    assert "blue: holds; orange: lacks" in fig.layout.title.text
    assert fig.data[0].customdata[0][1] == "lacks (no member observes it)"
    assert plotting.STATUS_COLOURS["observed"] in str(fig.data[0].colorscale)


def test_mask_heatmap_says_its_two_colours_without_a_colour_bar():
    mask = np.array([[True, False], [True, True], [False, True]])
    fig = plotting.fig_mask_heatmap(mask, ["fourier", "karhunen_loeve"])
    assert fig.data[0].showscale is False
    assert "blue: observed; orange: missing" in fig.layout.title.text
    z, words = np.asarray(fig.data[0].z), np.asarray(fig.data[0].customdata)
    assert ((z == 1) == (words == "observed")).all() and ((z == 0) == (words == "missing")).all()


def test_heatmaps_turn_modality_names_only_where_they_would_overlap():
    """Names are upright where they fit at the drawn width and slanted where they would overlap: plotly picks
    the angle in the browser (a fixed angle slanted short names at full width, or left long ones overlapping)."""
    from ul4m4.plotting import NAME_TICK_ANGLES, fig_centre_presence, fig_mask_heatmap

    names = ["gene_expression_rnaseq", "lipid_profile_ms", "clinical_record_text"]
    for fig in (fig_mask_heatmap(np.ones((5, 3), dtype=bool), names), fig_centre_presence(np.ones((2, 3), bool), names)):
        assert fig.layout.xaxis.tickangle is None  # "auto"
        assert tuple(fig.layout.xaxis.autotickangles) == NAME_TICK_ANGLES and NAME_TICK_ANGLES[0] == 0


def test_titles_side_by_side_take_the_same_room():
    """Two charts side by side get titles of the same shape (blank lines added to the shorter), so their
    plots start at the same height; the words are unchanged."""
    import plotly.graph_objects as go

    from ul4m4.plotting import title_shape

    a = go.Figure(layout=dict(title="Cluster sizes"))
    b = go.Figure(layout=dict(title="Modalities each centre holds, a title long enough to take two lines<br>"
                                    "<sup>blue: holds; orange: lacks</sup>"))
    shape = tuple(max(x) for x in zip(title_shape(a, 32), title_shape(b, 32)))
    assert shape == (3, 1) and title_shape(a, 32) == (1, 0)
    for fig in (a, b):
        plotting.wrap_title(fig, 32, shape)
        assert title_shape(fig, 32) == shape
    assert a.layout.title.text == "Cluster sizes<br>\u00a0<br>\u00a0<br><sup>\u00a0</sup>"
    assert a.layout.title.yanchor == "bottom" and a.layout.title.y == 1  # stands on the plot, as b's
    from conftest import unwrapped

    assert unwrapped(a.layout.title.text) == "Cluster sizes"


def test_every_legend_stands_under_its_plot(bits):
    """A chart with a legend has it under the plot, in rows on the figure's bottom edge (plotly widens the
    margin for it): beside the plot, long method names squeezed it to a sliver at 900 px."""
    from ul4m4.plotting import fig_k_selection

    figs = {**figures(bits), "k_selection": fig_k_selection(
        pd.DataFrame({"k": [2, 4], "holdout_mse": [0.6, 0.5], "holdout_best_mse": [0.6, 0.5]}), 4, 0.51)}
    shown = 0
    for name, fig in figs.items():
        if fig.layout.showlegend is False or not any(t.showlegend is not False for t in fig.data):
            continue
        shown += 1
        leg = fig.layout.legend
        assert (leg.orientation, leg.yref, leg.y, leg.yanchor, leg.x, leg.xanchor) == \
            ("h", "container", 0, "bottom", 0, "left"), name
    assert shown >= 6


def test_many_clusters_keep_the_map_readable():
    # 128 clusters: one legend entry says how to read the colours (a swatch each left the map 150 px tall).
    n, k = 600, 128
    rng = np.random.default_rng(0)
    fig = plotting.fig_cluster_map(rng.normal(size=(n, 2)), np.arange(n) % k, np.arange(n) % 3 == 0,
                                   rng.normal(size=(k, 2)))
    shown = [t.name for t in fig.data if t.showlegend is not False]
    assert not [s for s in shown if s.startswith("cluster ") and s[8:].isdigit()]
    assert any(s.startswith(f"colour: cluster, {k} of them") for s in shown)
    assert len(shown) <= 5
    # At most LEGEND_GROUPS_UP_TO groups keep a swatch each.
    few = plotting.fig_cluster_map(rng.normal(size=(n, 2)), np.arange(n) % plotting.LEGEND_GROUPS_UP_TO,
                                   np.zeros(n, bool))
    assert sum(t.name.startswith("cluster ") for t in few.data if t.showlegend is not False) == plotting.LEGEND_GROUPS_UP_TO


def test_confidence_map_has_neutral_stars_and_no_duplicate_shape_legend():
    n = 40
    conf = np.where(np.arange(n) % 2 == 0, np.nan, np.linspace(0, 1, n))
    fig = plotting.fig_cluster_map(np.random.default_rng(1).normal(size=(n, 2)), conf, ~np.isnan(conf),
                                   np.zeros((4, 2)), colour_title="confidence")
    star = [t for t in fig.data if (t.name or "").startswith("cluster centre")][0]
    assert star.marker.color == "#ffffff"  # a cluster's colour would read as a confidence on the colour bar
    names = [t.name for t in fig.data]
    assert "nothing filled" in names and "all modalities observed" not in names


def test_cluster_sizes_and_presence_at_large_k_draw_something():
    k = 1400
    labels = np.random.default_rng(0).integers(0, k, size=3000)
    sizes = plotting.fig_cluster_sizes(labels, k)
    bar = sizes.data[0]
    assert int(np.sum(bar.y)) == k  # every cluster counted once, by its size
    assert int(np.dot(bar.x, bar.y)) == labels.size
    assert sizes.layout.xaxis.title.text and sizes.layout.yaxis.title.text == "Number of clusters"
    assert len(plotting.fig_cluster_sizes(labels % 10, 10).data[0].x) == 10  # few clusters: a bar each
    presence = plotting.fig_centre_presence(np.ones((k, 3), bool), ["a", "b", "c"])
    assert presence.data[0].ygap == 0  # a 1-px gap per row left nothing of 1,400 rows
    assert plotting.fig_centre_presence(np.ones((5, 3), bool), ["a", "b", "c"]).data[0].ygap == 1


def test_k_selection_title_names_the_true_error_when_drawn():
    curve = pd.DataFrame({"k": [8, 16, 32], "holdout_mse": [0.5, 0.4, 0.45]})
    plain_title = plotting.fig_k_selection(curve, 16).layout.title.text
    assert plain_title == "Choosing k without labels: error on hidden observed slots against k"
    with_truth = plotting.fig_k_selection(curve.assign(true_mse_soft=[0.6, 0.5, 0.55]), 16).layout.title.text
    assert with_truth.endswith("with the true error on the removed blocks")
