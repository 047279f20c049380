"""The app, page by page, with streamlit.testing (no browser): defaults, uploads, runs, bad settings."""

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from appui import state
from conftest import shown, unwrapped
from ul4m4.experiment import MissingConfig

PAGES = ["views/1_Data.py", "views/2_Missingness.py", "views/3_Cluster_and_impute.py", "views/4_Degradation.py"]


ROOT = Path(__file__).resolve().parents[1]


def start():
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=240).run()


def run_key(at):
    ss = at.session_state
    return ("run", ss[state.DATASET_KEY], ss[state.MISSING_CFG], ss[state.RUN_CFG])


def chart_titles(at):
    """Each chart's title, without the line breaks added for narrow windows."""
    return [unwrapped(json.loads(el.proto.spec)["layout"].get("title", {}).get("text", "")) for el in at.get("plotly_chart")]


def no_problem(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [shown(e.value) for e in at.error]


def page_downloads(at):
    """The page's download buttons (the sidebar's report is on every page)."""
    return [b for b in at.get("download_button") if b.key != "dl_report_sidebar"]


def submit(at, label):
    [b for b in at.button if b.label == label][0].click().run()


def story_caption(at, step=None):
    """The caption of the story's step ``step`` (0-4; None: the step on the page), in the story's own words."""
    if step is not None:
        at.session_state["present_step"] = step
        at.switch_page("views/present.py").run()
    return " ".join(shown(m.value) for m in at.markdown if "ul4m4-caption" in shown(m.value))


def test_home_shows_the_default_state():
    at = start()
    no_problem(at)
    text = " ".join(shown(m.value) for m in at.markdown)
    assert "mfeat: 2000 samples, 6 modalities" in text and "of modality slots missing" in text
    assert "MCAR (each slot independently), on training and test data both incomplete" in text  # no raw codes
    assert at.session_state[state.DATASET].name == "mfeat"
    # The pipeline in five boxes of text that wrap on a narrow window (a drawing scaled down had 5 px type).
    pipe = [m.value for m in at.markdown if "ul4m4-pipe" in m.value]
    assert len(pipe) == 1 and pipe[0].count("class='ul4m4-step'") == 5 and "flex-wrap:wrap" in pipe[0]
    assert "Partial-modality k-means" in pipe[0] and "No labels are used before the downstream model" in pipe[0]
    # Four arrows, each inside the item of the box it points to: a wrapped row never ends with one.
    assert pipe[0].count("&rarr;") == 4 and all(part.startswith("</span><div class='ul4m4-step'>")
                                                 for part in pipe[0].split("&rarr;")[1:])
    # The current mask at a glance, as the Missingness page draws it: requested vs realised, each modality.
    assert chart_titles(at) == ["Requested vs realised missingness"]
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    cats = spec["data"][1]["x"]
    assert cats[:2] == ["missing slots", "incomplete samples"] and len(cats) == 2 + 6


@pytest.mark.parametrize("page", PAGES)
def test_every_page_opens_with_defaults(page):
    at = start()
    at.switch_page(page).run()
    no_problem(at)


def test_data_page_charts_and_synthetic():
    at = start()
    at.switch_page("views/1_Data.py").run()
    assert chart_titles(at)[:3] == ["Features per modality", "Scale of each modality (std of each feature, observed rows)",
                                    "Samples per class"]
    at.radio(key="data_source").set_value("synthetic").run()
    no_problem(at)
    assert at.session_state[state.DATASET].name == "synthetic"
    at.text_input(key="syn_dims").set_value("a, b")
    submit(at, "Generate")
    assert any("should be integers separated by commas" in shown(e.value) for e in at.error)
    assert at.session_state[state.DATASET].name == "synthetic"  # the previous data is kept
    at.text_input(key="syn_dims").set_value(" ")
    submit(at, "Generate")
    assert not at.exception
    assert any("features per modality ' ' holds no integers" in shown(e.value) for e in at.error)
    # Said in the form's words, not the library's parameter names.
    for text, said in (("4, 5", "'Features per modality' holds 2 numbers for 3 modalities; give one number for all, "
                                "or one per modality."),
                       ("4, 0, -2", "'Features per modality': 0, -2 cannot be used; each modality needs at least "
                                    "1 feature.")):
        at.text_input(key="syn_dims").set_value(text)
        submit(at, "Generate")
        assert [shown(e.value) for e in at.error] == [f"Problem while generating synthetic data: {said}"]
    assert [n.label for n in at.number_input if n.key in ("syn_n", "syn_m")] == ["Samples (20 to 100,000)",
                                                                                 "Modalities (1 to 8)"]


def test_synthetic_clusters_that_drew_no_sample_are_said():
    # 20 samples in 50 latent clusters: at most 20 classes, said in the page's words.
    at = start()
    at.switch_page("views/1_Data.py").run()
    at.radio(key="data_source").set_value("synthetic").run()
    at.number_input(key="syn_n").set_value(20)
    at.number_input(key="syn_k").set_value(50)
    submit(at, "Generate")
    assert not at.exception and not at.error
    held = int(np.unique(at.session_state[state.DATASET].y).size)
    assert held < 20
    assert [shown(i.value) for i in at.info if "latent clusters" in shown(i.value)] == [
        f"50 latent clusters were asked for and {held} of them drew samples (each sample's cluster is drawn at "
        f"random), so these data have {held} classes."]
    at.number_input(key="syn_k").set_value(2)
    submit(at, "Generate")
    assert not [i for i in at.info if "latent clusters" in shown(i.value)]


def csv_bytes(rows=40, text=False):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"img__0": rng.normal(size=rows), "img__1": rng.normal(size=rows),
                       "txt__0": rng.normal(size=rows), "y": np.arange(rows) % 2})
    df.loc[:4, "txt__0"] = np.nan
    if text:
        df["img__1"] = df["img__1"].astype(object)
        df.loc[3, "img__1"] = "oops"
    return df.to_csv(index=False).encode()


def test_degradation_says_at_once_when_the_labels_allow_no_sweep():
    # An upload whose labels hold one class: said when the page opens, before any setting is chosen.
    df = pd.read_csv(io.BytesIO(csv_bytes()))
    df["y"] = 1
    at = start()
    at.switch_page("views/1_Data.py").run()
    at.radio(key="data_source").set_value("upload").run()
    at.file_uploader(key="upload").set_value(("one.csv", df.to_csv(index=False).encode(), "text/csv")).run()
    at.switch_page("views/4_Degradation.py").run()
    assert not at.exception
    assert [shown(e.value) for e in at.error] == [
        "No sweep can run on one.csv: the labels hold a single class (1); a classifier needs at least two, so no "
        "degradation sweep can run on these data. Load other data on the Data page."]
    assert not [b for b in at.button if b.label == "Run sweep"]


def test_good_then_bad_upload():
    at = start()
    at.switch_page("views/1_Data.py").run()
    at.radio(key="data_source").set_value("upload").run()
    at.file_uploader(key="upload").set_value(("mine.csv", csv_bytes(), "text/csv")).run()
    no_problem(at)
    ds = at.session_state[state.DATASET]
    assert ds.name == "mine.csv" and ds.modality_names == ["img", "txt"] and (~ds.mask[:5, 1]).all()
    at.file_uploader(key="upload").set_value(("bad.csv", csv_bytes(text=True), "text/csv")).run()
    assert not at.exception
    assert any("column 'img__1' holds text" in shown(e.value) for e in at.error)
    assert at.session_state[state.DATASET].name == "mine.csv"  # the good data is kept, and the page says so
    assert [shown(i.value) for i in at.info if "was not loaded" in shown(i.value)] == [
        "'bad.csv' was not loaded (see the message above): the pages keep using the previous dataset (mine.csv)."]
    # The other pages work on the uploaded data.
    at.switch_page("views/3_Cluster_and_impute.py").run()
    no_problem(at)


@pytest.mark.slow  # a whole app session for one setting: with the slow tests
def test_link_note_speaks_of_the_data_the_page_left_loaded():
    # The sidebar's note is written after the page ran: in the same run as an upload it already says the file
    # is not in the link, and in the run that goes back to bundled data it no longer does.
    def note(at):
        said = [shown(i.value) for i in at.sidebar.info] + [shown(c.value) for c in at.sidebar.caption]
        return [s for s in said if "address holds" in s]

    at = start()
    at.switch_page("views/1_Data.py").run()
    assert note(at) == ["The address holds this scenario (data, missingness, run, map): copy it to share it."]
    at.radio(key="data_source").set_value("upload").run()
    at.file_uploader(key="upload").set_value(("mine.csv", csv_bytes(), "text/csv")).run()
    assert len(note(at)) == 1 and "not your uploaded file" in note(at)[0]
    at.radio(key="data_source").set_value("mfeat").run()
    assert note(at) == ["The address holds this scenario (data, missingness, run, map): copy it to share it."]


def test_upload_messages_show_names_as_they_are_and_small_files_are_refused():
    at = start()
    at.switch_page("views/1_Data.py").run()
    at.radio(key="data_source").set_value("upload").run()
    # The loader's message quotes the expected '<modality>__<feature>': markdown would read the "__" as
    # bold. Its source is escaped, so it shows character for character.
    at.file_uploader(key="upload").set_value(("a$b$.csv", b"a,b\n1,2\n", "text/csv")).run()
    [err] = [e.value for e in at.error]
    assert "__" not in err and "$" not in err.replace("\\$", "")  # nothing left for markdown or LaTeX
    assert shown(err).startswith("Problem while reading 'a$b$.csv': column 'a' is not named '<modality>__<feature>'")
    assert any(shown(i.value).startswith("'a$b$.csv' was not loaded (see the message above): the pages keep using "
                                         "the previous dataset (mfeat)") for i in at.info)
    # A file of too few samples for a training and a test split is refused, the previous data kept.
    at.file_uploader(key="upload").set_value(("few.csv", csv_bytes(rows=state.MIN_SAMPLES - 1), "text/csv")).run()
    assert not at.exception
    assert [shown(e.value) for e in at.error] == [
        f"Problem while reading 'few.csv': the file holds {state.MIN_SAMPLES - 1} samples (rows); the app needs at "
        f"least {state.MIN_SAMPLES}, so that a training and a test split each keep samples to cluster, complete and "
        "score."]
    assert at.session_state[state.DATASET].name == "mfeat"
    at.file_uploader(key="upload").set_value(("enough.csv", csv_bytes(rows=state.MIN_SAMPLES), "text/csv")).run()
    no_problem(at)
    assert at.session_state[state.DATASET].name == "enough.csv"


def test_npz_upload_with_pickled_objects_is_refused():
    buf = io.BytesIO()
    np.savez(buf, a=np.array([{"x": 1}], dtype=object))
    at = start()
    at.switch_page("views/1_Data.py").run()
    at.radio(key="data_source").set_value("upload").run()
    at.file_uploader(key="upload").set_value(("evil.npz", buf.getvalue(), "application/octet-stream")).run()
    assert not at.exception
    assert any("dtype object" in shown(e.value) for e in at.error)


def test_missingness_page_simulates_and_reports():
    at = start()
    at.switch_page("views/2_Missingness.py").run()
    assert "Requested vs realised missingness" in chart_titles(at)
    at.selectbox(key="miss_mechanism").set_value("pepsy").run()
    at.slider(key="miss_pm").set_value(0.6)
    at.slider(key="miss_ps").set_value(0.8)
    submit(at, "Simulate")
    no_problem(at)
    cfg = at.session_state[state.MISSING_CFG]
    assert (cfg.mechanism, cfg.pm, cfg.ps) == ("pepsy", 0.6, 0.8)
    titles = chart_titles(at)
    assert any(t.startswith("Mask of") for t in titles) and any(t.startswith("Missing patterns") for t in titles)


def test_requested_and_realised_rates_compare_the_split_that_lost_modalities():
    """With only the test split losing modalities, the request (95 % of its slots) is set beside what the test
    split lost, not beside the whole data's share (which the untouched training split halves)."""
    at = start()
    at.switch_page("views/2_Missingness.py").run()
    at.slider(key="miss_rate").set_value(0.95)
    at.radio(key="miss_apply_to").set_value("test")
    at.slider(key="miss_test_size").set_value(0.5)
    submit(at, "Simulate")
    no_problem(at)
    fig = [json.loads(el.proto.spec) for el in at.get("plotly_chart")
           if "Requested vs realised" in json.loads(el.proto.spec)["layout"]["title"]["text"]][0]
    assert fig["layout"]["title"]["text"] == "Requested vs realised missingness (test split)"
    requested, realised = fig["data"][0]["y"][0], fig["data"][1]["y"][0]
    assert requested == 95.0 and 75 < realised < 95  # the test split's slots (a sample keeps one modality)
    metric = [m for m in at.metric if m.label.startswith("Missing modality slots")][0]
    assert metric.label == "Missing modality slots (test split)" and metric.value == f"{realised:.1f}%"
    info = " ".join(i.value for i in at.info)
    assert "Only the test split loses modalities" in info
    caption = [c.value for c in at.caption if c.value.startswith("Current settings")][0]
    assert "; train on complete data, test incomplete; seed 0;" in caption


def test_impossible_setting_shows_error_and_keeps_settings():
    at = start()
    at.switch_page("views/1_Data.py").run()
    at.radio(key="data_source").set_value("upload").run()
    no_labels = pd.read_csv(io.BytesIO(csv_bytes())).drop(columns="y").to_csv(index=False).encode()
    at.file_uploader(key="upload").set_value(("nolabels.csv", no_labels, "text/csv")).run()
    at.switch_page("views/2_Missingness.py").run()
    before = at.session_state[state.MISSING_CFG]
    at.selectbox(key="miss_mechanism").set_value("mnar_label").run()
    submit(at, "Simulate")
    assert not at.exception
    assert any("needs labels" in shown(e.value) for e in at.error)
    assert at.session_state[state.MISSING_CFG] == before


def test_cluster_page_runs_and_draws_everything():
    at = start()
    at.switch_page("views/3_Cluster_and_impute.py").run()
    no_problem(at)
    titles = chart_titles(at)
    assert titles[0].startswith("Imputation error: mean squared error on removed blocks")
    assert any(t.startswith("PCA of the data completed by UL4M4 (paper)") for t in titles)
    assert "Choosing k without labels: error on hidden observed slots against k" in titles
    # The button that adds the true error says how long it takes, before it starts.
    assert re.search(r"\(fits two models per k on the training split; about \d", at.button(key="k_curve_btn").label)
    assert "Cluster sizes" in titles and any(t.startswith("Modalities held by each cluster centre") for t in titles)
    assert any(t.startswith("Candidate distances for this sample") for t in titles)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    methods = {trace["name"] for trace in spec["data"]}
    assert methods == {"UL4M4 (paper)", "UL4M4 soft, auto", "Zero fill", "Mean", "kNN", "SoftImpute"}
    run = at.session_state[state.MEMO][run_key(at)]
    assert run.model.n_clusters == 10
    assert len(page_downloads(at)) == 5  # data, parquet, mask, manifest, report
    # Re-opening the page does not recompute: the memo already holds the run.
    at.switch_page("views/2_Missingness.py").run()
    at.switch_page("views/3_Cluster_and_impute.py").run()
    assert at.session_state[state.MEMO][run_key(at)] is run


def test_cluster_page_new_settings():
    at = start()
    at.switch_page("views/3_Cluster_and_impute.py").run()
    at.number_input(key="run_k").set_value(4)
    at.multiselect(key="run_baselines").set_value(["mean"])
    submit(at, "Run")
    no_problem(at)
    assert at.session_state[state.RUN_CFG].n_clusters == 4
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert {t["name"] for t in spec["data"]} == {"UL4M4 (paper)", "Mean"}


@pytest.mark.slow
def test_cluster_page_with_ul4m4_low_rank():
    """UL4M4 + low rank next to the paper's method and SoftImpute: its chosen centre weight is said, and the
    verdict counts it as UL4M4's only when it kept the centres."""
    at = start()
    at.switch_page("views/3_Cluster_and_impute.py").run()
    at.multiselect(key="run_baselines").set_value(["softimpute", "ul4m4_lowrank"])
    submit(at, "Run")
    no_problem(at)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert {t["name"] for t in spec["data"]} == {"UL4M4 (paper)", "SoftImpute", "UL4M4 + low rank"}
    run = at.session_state[state.MEMO][run_key(at)]
    weight = run.imputers["ul4m4_lowrank"].centre_weight_
    assert any(f"UL4M4 + low rank weighs its centres by {weight:g}" in shown(s.value) for s in at.success)
    scores = run.errors[(run.errors["split"] == "all") & (run.errors["modality"] == "all")].set_index("method")["mse"]
    said = " ".join(shown(m.value) for m in [*at.success, *at.warning] if "Best:" in shown(m.value))
    assert f"UL4M4 + low rank {scores['ul4m4_lowrank']:.3f}" in said
    loses = "UL4M4 loses to a baseline here." in said
    # mfeat's near-constant features: one box naming every method that said it, never one box per method.
    # (Not asserted present: warnings are recorded process-wide, and the UMAP warm-up thread's own
    # catch_warnings can swallow one; seen once in eight runs.)
    said = [shown(w.value).partition(": ")[2] for w in at.warning if "std below" in shown(w.value)]
    assert len(said) <= 1
    tails = [shown(w.value).partition(": ")[2] for w in at.warning]
    assert len(tails) == len(set(tails))
    assert loses == (scores.idxmin() == "softimpute" or (scores.idxmin() == "ul4m4_lowrank" and weight == 0))


def test_degradation_page_small_sweep():
    at = start()
    at.switch_page("views/1_Data.py").run()
    at.radio(key="data_source").set_value("breast_cancer").run()
    at.switch_page("views/4_Degradation.py").run()
    no_problem(at)
    at.text_input(key="deg_rates").set_value("0, 0.4")
    at.number_input(key="deg_seeds").set_value(2)
    at.multiselect(key="deg_methods").set_value(["ul4m4", "mean", "complete"])
    at.text_input(key="deg_ks").set_value("2, 4")
    submit(at, "Run sweep")
    no_problem(at)
    titles = chart_titles(at)
    assert titles[0].startswith("F1-micro on the test split vs missing modality slots (mean ± 1 std over n=2 seeds)")
    assert any(t.startswith("F1-macro") for t in titles)
    assert any(t.startswith("Sensitivity to the number of clusters k") for t in titles)
    assert len(page_downloads(at)) == 3
    verdicts = [shown(m.value) for m in [*at.success, *at.warning] if shown(m.value).startswith("At rate 0.4 (")]
    assert len(verdicts) == 1 and "(F1-micro, mean over seeds). Best: " in verdicts[0]
    assert "of the modality slots missing in fact" in verdicts[0]  # not only the rate asked
    assert "Complete data" not in verdicts[0]  # the ceiling is no imputer


def test_degradation_sweep_says_each_methods_warning_once():
    # mfeat's near-constant features: UL4M4 warns at each of its fits; the page shows it once, by method.
    at = start()
    at.switch_page("views/4_Degradation.py").run()
    set_small_sweep(at, rates="0, 0.3, 0.6", seeds=2)
    submit(at, "Run sweep")
    no_problem(at)
    said = [shown(w.value) for w in at.warning if "std below" in shown(w.value)]
    assert len(said) == 1 and said[0].startswith("UL4M4 (paper): ")
    # In the app's words: the modality's name, and the library's option named as the library's.
    assert "'zernike'" in said[0] and "modality 4" not in said[0] and "The library's option" in said[0]
    at.run()  # shown again from the session's memo, not only while the sweep runs
    assert len([shown(w.value) for w in at.warning if "std below" in shown(w.value)]) == 1


def spy_report_snapshots(monkeypatch):
    """The report snapshots taken from now on (the sidebar's Report takes one at the end of every run)."""
    import appui.reporting as reporting

    snaps = []
    real = reporting.snapshot

    def spy():
        snaps.append(real())
        return snaps[-1]

    monkeypatch.setattr(reporting, "snapshot", spy)
    return snaps


def set_small_sweep(at, rates="0, 0.4", seeds=1, methods=("ul4m4", "mean")):
    """Degradation's form set to a sweep of ``methods`` at ``rates`` over ``seeds`` seeds, without
    k-sensitivity (by default two rates, one seed, UL4M4 and mean)."""
    at.text_input(key="deg_rates").set_value(rates)
    at.number_input(key="deg_seeds").set_value(seeds)
    at.multiselect(key="deg_methods").set_value(list(methods))
    at.checkbox(key="deg_do_k").uncheck()


def small_sweep_on_breast_cancer(run_first=False):
    """A session on breast cancer at the Degradation page, its form set by ``set_small_sweep`` (after a
    Cluster & impute run when ``run_first``); nothing submitted yet."""
    at = start()
    at.switch_page("views/1_Data.py").run()
    at.radio(key="data_source").set_value("breast_cancer").run()
    if run_first:
        at.switch_page("views/3_Cluster_and_impute.py").run()
        no_problem(at)
    at.switch_page("views/4_Degradation.py").run()
    set_small_sweep(at)
    return at


def test_the_report_holds_a_sweep_finished_in_the_same_run(monkeypatch):
    # The sidebar's Report is built after the page ran: a sweep that just finished is in it at once.
    snaps = spy_report_snapshots(monkeypatch)
    at = small_sweep_on_breast_cancer(run_first=True)
    assert snaps and snaps[-1]["facts"].sweep is None  # a run, no sweep yet
    snaps.clear()
    submit(at, "Run sweep")
    no_problem(at)
    assert len(snaps) == 1 and snaps[0]["facts"].sweep is not None
    # The full report also holds UL4M4 soft's choice of k, as the Cluster & impute page draws it.
    from appui.reporting import report_html

    assert "ul4m4_soft" in snaps[0]["facts"].run.models
    assert "Choosing k without labels" in report_html(snaps[0])
    # The story's last step speaks of the share missing in fact and of the classifier the sweep used.
    at.session_state["present_step"] = 4
    at.switch_page("views/present.py").run()
    no_problem(at)
    caption = story_caption(at)
    assert "of the modality slots missing in fact" in caption and "a linear classifier" in caption
    assert "UL4M4 (paper)" in caption
    # The error step says how much lower or higher the error is, with the numbers it lists.
    at.session_state["present_step"] = 3
    at.switch_page("views/present.py").run()
    caption = story_caption(at)
    said = re.search(r"(?:its error is|the error of .+ is) (\d+)% (lower|higher)", caption)
    assert said, caption


def test_the_report_holds_a_sweep_when_no_ul4m4_run_exists(monkeypatch):
    # Straight to Degradation, a sweep and no Cluster & impute run: the Report is a report of the sweep
    # (its settings, figures, verdict and command line), not a disabled button.
    import appui.reporting as reporting

    snaps = spy_report_snapshots(monkeypatch)
    at = small_sweep_on_breast_cancer()
    assert not [b for b in at.get("download_button") if b.key == "dl_report_sidebar" and not b.proto.disabled]
    snaps.clear()
    submit(at, "Run sweep")
    no_problem(at)
    snap = snaps[-1]
    assert snap is not None and snap["facts"] is None
    assert not [b for b in at.get("download_button") if b.key == "dl_report_sidebar"][0].proto.disabled
    html = reporting.report_html(snap)
    assert "holds the degradation sweep only" in html and "python -m ul4m4 sweep --dataset breast_cancer" in html
    assert html.count('class="plotly-graph-div"') >= 3  # the data's shape and the sweep's two figures
    assert "<script src=" not in html


def test_degradation_sweep_keeps_finished_units(monkeypatch):
    # A second sweep with another k reruns UL4M4 only: the baselines, the ceiling and the k-sensitivity's
    # shared units come from the session's store of finished units.
    import ul4m4.sweep as sweep

    fitted = []
    real = sweep.complete_split
    monkeypatch.setattr(sweep, "complete_split", lambda method, *a, **k: fitted.append(method) or real(method, *a, **k))
    monkeypatch.setenv("UL4M4_SWEEP_WORKERS", "0")  # the units are counted in this process, not in workers
    at = start()
    at.switch_page("views/1_Data.py").run()
    at.radio(key="data_source").set_value("breast_cancer").run()
    at.switch_page("views/4_Degradation.py").run()
    at.text_input(key="deg_rates").set_value("0, 0.4")
    at.number_input(key="deg_seeds").set_value(1)
    at.multiselect(key="deg_methods").set_value(["ul4m4", "mean", "complete"])
    at.text_input(key="deg_ks").set_value("2, 3")
    at.number_input(key="deg_k").set_value(2)
    submit(at, "Run sweep")
    no_problem(at)
    assert sorted(fitted) == ["mean", "ul4m4", "ul4m4"]  # rate 0.4: mean and k=2, then k=3 (k=2 is shared)
    fitted.clear()
    at.number_input(key="deg_k").set_value(3)
    submit(at, "Run sweep")
    no_problem(at)
    assert fitted == []  # k=3 at rate 0.4 is known from the k-sensitivity; nothing else changed
    store = at.session_state[state.MEMO][("sweep_units", at.session_state[state.DATASET_KEY])]
    assert len(store) == 7  # the ceiling; mean and UL4M4 at k = 2 and 3 at rates 0 and 0.4


def test_degradation_bad_rates_show_error():
    at = start()
    at.switch_page("views/4_Degradation.py").run()
    at.text_input(key="deg_rates").set_value("0, 1.0")
    submit(at, "Run sweep")
    assert not at.exception
    assert any("rate 1.0 should be below 1 (a fraction in [0, 1))" in shown(e.value) for e in at.error)


@pytest.mark.slow
def test_failed_run_keeps_previous_results(monkeypatch):
    at = start()
    at.switch_page("views/3_Cluster_and_impute.py").run()
    no_problem(at)
    before = at.session_state[state.RUN_CFG]
    monkeypatch.setenv("UL4M4_MEMORY_LIMIT_MB", "1")
    at.number_input(key="run_k").set_value(7)
    submit(at, "Run")
    assert not at.exception
    assert any("needs about" in shown(e.value) and "available" in shown(e.value) for e in at.error)
    assert at.session_state[state.RUN_CFG] == before  # the previous settings and results stay
    assert any(t.startswith("PCA of the data completed by UL4M4 (paper)") for t in chart_titles(at))


@pytest.fixture
def upload_limit_1mb():
    """server.maxUploadSize (set in .streamlit/config.toml) lowered to 1 MB for one test."""
    from streamlit import config

    before = config.get_option("server.maxUploadSize")
    config.set_option("server.maxUploadSize", 1)
    yield
    config.set_option("server.maxUploadSize", before)


def test_the_configured_upload_limit_is_what_the_page_says_and_the_loader_enforces(upload_limit_1mb):
    at = start()
    at.switch_page("views/1_Data.py").run()
    at.radio(key="data_source").set_value("upload").run()
    assert at.file_uploader(key="upload").proto.max_upload_size_mb == 1
    assert any("files up to 1 MB" in shown(m.value) for m in at.markdown)
    big = csv_bytes(rows=30_000)  # about 2 MB
    assert len(big) > 2**20
    at.file_uploader(key="upload").set_value(("big.csv", big, "text/csv")).run()
    assert not at.exception
    assert any("larger than the limit of 1 MB" in shown(e.value) for e in at.error)
    assert at.session_state[state.DATASET].name == "mfeat"


def test_home_after_a_run_with_nothing_removed():
    # At rate 0 no block is removed, so no method has an error and there is no best method to name.
    at = start()
    at.session_state[state.MISSING_CFG] = MissingConfig(rate=0.0)
    at.switch_page("views/3_Cluster_and_impute.py").run()
    no_problem(at)
    assert any("Nothing was removed" in shown(i.value) for i in at.info)
    at.switch_page("views/home.py").run()
    no_problem(at)
    assert any("Nothing was removed, so there is no imputation error to compare" in shown(m.value) for m in at.markdown)


def hostile_sample():
    from test_hostile_files import CASES

    allowed = [c for c in CASES if c.values[0].rsplit(".", 1)[-1] in ("npz", "csv", "parquet")]
    return allowed[:: max(1, len(allowed) // 12)]


@pytest.mark.parametrize("fname, data, match", hostile_sample())
def test_hostile_uploads_are_refused_readably_in_the_app(fname, data, match):
    at = start()
    at.switch_page("views/1_Data.py").run()
    at.radio(key="data_source").set_value("upload").run()
    at.file_uploader(key="upload").set_value((fname, data, "application/octet-stream")).run()
    assert not at.exception
    errors = [shown(e.value) for e in at.error]
    assert len(errors) == 1 and errors[0].startswith(f"Problem while reading '{fname}':")
    if match:
        assert match in errors[0]
    assert at.session_state[state.DATASET].name == "mfeat"  # the previous data is untouched


def test_umap_warm_up_waits_for_the_first_run(monkeypatch):
    # Compiling UMAP beside the first run starved it (UL4M4 soft, auto 11.8 s instead of about 2 s on a
    # fresh server); the default map is PCA, so the warm-up starts once a run has finished.
    calls = []
    monkeypatch.setattr(state, "warm_umap", lambda: calls.append(state.units()))
    at = start()
    no_problem(at)
    assert calls == []
    at.switch_page("views/3_Cluster_and_impute.py").run()
    no_problem(at)
    assert len(calls) == 1 and calls[0]  # once, with the run's per-method results already stored


def test_degradation_k_values_fit_the_training_split_and_errors_name_the_field():
    at = start()
    at.switch_page("views/1_Data.py").run()
    at.radio(key="data_source").set_value("upload").run()
    at.file_uploader(key="upload").set_value(("small.csv", csv_bytes(rows=20), "text/csv")).run()
    at.switch_page("views/4_Degradation.py").run()
    no_problem(at)
    # 20 samples, 14 of them for training: the default k values are those a 14-sample split can hold.
    assert at.text_input(key="deg_ks").value == "2, 5, 10"
    at.text_input(key="deg_ks").set_value("2, 50, 0")
    submit(at, "Run sweep")
    assert not at.exception
    assert [shown(e.value) for e in at.error] == [
        "Problem while preparing the sweep: k values: 50, 0 cannot be used; each k must lie between 1 and the 14 "
        "training samples."]


def test_the_sweep_report_holds_the_k_sensitivity_and_commands_that_run_both_again(monkeypatch):
    import shlex

    import appui.reporting as reporting
    from ul4m4.cli import build_parser

    snaps = spy_report_snapshots(monkeypatch)
    at = small_sweep_on_breast_cancer()
    at.checkbox(key="deg_do_k").check()
    at.text_input(key="deg_ks").set_value("2, 5")
    submit(at, "Run sweep")
    no_problem(at)
    main, ksens = at.session_state[state.SWEEP_CFG]
    html = reporting.report_html(snaps[-1])
    assert "k-sensitivity: UL4M4 (paper) at each k of [2, 5] at rate 0.4" in html
    assert html.count('class="plotly-graph-div"') >= 4  # the data's shape, two F1 curves and the k chart
    assert "present=" not in html and ">None<" not in html  # no presentation flag in the link, no unused settings
    for cfg, out in ((main, "sweep/"), (ksens, "k_sensitivity/")):
        line = reporting.sweep_command(cfg, "breast_cancer", out)
        assert line in html
        args = build_parser().parse_args(shlex.split(line)[3:])  # after "python -m ul4m4"
        assert (tuple(args.rates), tuple(args.seeds), tuple(args.methods), args.k, args.ks and tuple(args.ks),
                args.classifier, args.apply_to, args.test_size) == (
                    cfg.rates, cfg.seeds, cfg.methods, cfg.k, cfg.ks, cfg.classifier, cfg.apply_to, cfg.test_size)


@pytest.mark.slow
def test_a_method_that_fails_in_a_sweep_leaves_gaps_and_the_others_curves(monkeypatch):
    """A method that cannot run at some rates does not stop the Degradation sweep: the page names the method,
    where and why, draws the others' curves (and its own where it ran), compares the methods on the seeds
    they all have, and the report and the story say what was left out. A bug gets its type, no traceback."""
    import ul4m4.sweep as sw

    real, fail = sw.complete_split, {}

    def patched(method, dataset, mres, rc):
        if method in fail and (~mres.mask).mean() > 0.25 and rc.seed in fail[method][1]:
            raise fail[method][0]
        return real(method, dataset, mres, rc)

    monkeypatch.setattr(sw, "complete_split", patched)
    monkeypatch.setenv("UL4M4_SWEEP_WORKERS", "0")  # the failures are made in this process, not in workers
    snaps = spy_report_snapshots(monkeypatch)
    fail["knn"] = (ValueError("no donor shares a modality with sample 4"), (0, 1))
    at = small_sweep_on_breast_cancer(run_first=True)
    at.number_input(key="deg_seeds").set_value(2)
    at.multiselect(key="deg_methods").set_value(["ul4m4", "mean", "knn"])
    submit(at, "Run sweep")
    assert not at.exception
    assert [shown(e.value) for e in at.error] == [
        "kNN could not run at rate 0.4 (seeds 0, 1), so its curve has gaps there: no donor shares a modality with "
        "sample 4"]
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    knn = [t for t in spec["data"] if t.get("name") == "kNN"]
    assert len(knn) == 1 and len(base64.b64decode(knn[0]["x"]["bdata"])) == 8  # one point: rate 0 only
    verdicts = [shown(m.value) for m in [*at.success, *at.warning] if shown(m.value).startswith("At rate 0.4 (")]
    assert len(verdicts) == 1 and "UL4M4 (paper)" in verdicts[0] and "kNN" not in verdicts[0].split("Best:")[0]
    assert "Best: Mean. Not compared, as they did not run at this rate: kNN." in verdicts[0]
    from appui.reporting import report_html

    assert "kNN could not run at rate 0.4 (seeds 0, 1), so its curve has gaps there: no donor shares" in \
        report_html(snaps[-1])
    caption = story_caption(at, 4)
    assert "Left out where they could not run: kNN at rate 0.4 (seeds 0, 1)." in caption
    assert "mean over the seeds every method has" in caption

    # A bug at one seed: its type and a request to report it; the methods compared on seed 0 alone.
    fail["knn"] = (IndexError("index 7 is out of bounds"), (1,))
    at.switch_page("views/4_Degradation.py").run()
    set_small_sweep(at, seeds=2, methods=("mean", "knn"))
    submit(at, "Run sweep")
    assert not at.exception
    assert [shown(e.value) for e in at.error] == [
        "Unexpected error (IndexError) while running kNN at rate 0.4 (seed 1), so its curve has gaps there; please "
        "report this with the settings you used."]
    table = at.session_state[state.SWEEP_CFG]
    assert table[0].methods == ("mean", "knn")


@pytest.mark.slow
def test_a_method_that_fails_is_named_and_the_others_are_shown(monkeypatch):
    """One baseline failing on the data does not take the run with it: the page names it and why, shows the
    other methods' results, and the report and the story say it was left out. A bug gets no traceback on
    the page, and a failing paper UL4M4 keeps the previous results."""
    import ul4m4.experiment as ex

    make = ex.make_imputer
    fails = {}

    def patched(name, *args, **kwargs):
        imp = make(name, *args, **kwargs)
        if name in fails:
            def fit(*a, **k):
                raise fails[name]
            imp.fit = fit
        return imp

    monkeypatch.setattr(ex, "make_imputer", patched)
    snaps = spy_report_snapshots(monkeypatch)
    fails["knn"] = ValueError("every neighbour of sample 3 misses 'fou'")
    at = start()
    at.switch_page("views/3_Cluster_and_impute.py").run()
    assert not at.exception
    assert [shown(e.value) for e in at.error] == [
        "kNN could not run on these data and is left out of the results below: every neighbour of sample 3 "
        "misses 'fou'"]
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert {t["name"] for t in spec["data"]} == {"UL4M4 (paper)", "UL4M4 soft, auto", "Zero fill", "Mean", "SoftImpute"}
    assert any(t.startswith("PCA of the data completed by UL4M4 (paper)") for t in chart_titles(at))
    from appui.reporting import report_html

    assert "kNN failed on these data and is left out of this report: every neighbour of sample 3" in \
        report_html(snaps[-1])
    assert "(kNN could not run on these data.)" in story_caption(at, 3)

    # A bug in a baseline: its type and a request to report it, no traceback; the others still shown.
    fails["knn"] = IndexError("index 7 is out of bounds")
    at.switch_page("views/3_Cluster_and_impute.py").run()
    at.number_input(key="run_k").set_value(4)
    at.multiselect(key="run_baselines").set_value(["knn", "mean"])
    submit(at, "Run")
    assert not at.exception
    assert [shown(e.value) for e in at.error] == [
        "Unexpected error while running kNN (IndexError): it is left out of the results below; please report "
        "this with the settings you used."]
    assert at.session_state[state.RUN_CFG].n_clusters == 4
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert {t["name"] for t in spec["data"]} == {"UL4M4 (paper)", "Mean"}

    # The paper's UL4M4 failing: nothing to show for these settings, the previous results stay.
    fails["ul4m4"] = ValueError("the clusters are all empty")
    at.number_input(key="run_k").set_value(5)
    submit(at, "Run")
    assert not at.exception
    errors = [shown(e.value) for e in at.error]
    assert errors[0] == "Problem while running the imputers: the clusters are all empty", errors
    assert any("those of the previous settings" in i.value for i in at.info)
    assert at.session_state[state.RUN_CFG].n_clusters == 4


def test_the_sweep_estimate_counts_only_the_units_still_to_run():
    """The estimate of a sweep (drawn above it while it runs) counts what is left to compute: the units
    kept from an earlier sweep are said, and the time covers only the new ones."""
    at = start()
    at.switch_page("views/4_Degradation.py").run()

    def estimate():
        return [c.value for c in at.caption if c.value.startswith("Estimated time")][0]

    set_small_sweep(at)  # UL4M4 and mean at rates 0 and 0.4, one seed: 4 units
    # Where the sweep runs is said: in the server's worker processes (one per core up to four), or not.
    from ul4m4.sweep import default_workers

    workers = default_workers()[0]
    assert (f" in {workers} worker processes (rough" in estimate()) == (workers > 1), estimate()
    submit(at, "Run sweep")
    no_problem(at)
    assert "already computed" not in estimate()
    at.multiselect(key="deg_methods").set_value(["ul4m4", "mean", "zero"])
    submit(at, "Run sweep")
    no_problem(at)
    assert "4 of its 6 units already computed in this session and reused" in estimate(), estimate()
    submit(at, "Run sweep")
    assert "under a second, 6 of its 6 units already computed" in estimate(), estimate()
    at.multiselect(key="deg_methods").set_value([])
    submit(at, "Run sweep")
    assert estimate().startswith("Estimated time: unknown until the rates, k values and methods can be read")
    assert [shown(e.value) for e in at.error] == ["Problem while preparing the sweep: choose at least one method"]


def test_estimates_learn_from_the_runs_and_sweeps_this_server_made(monkeypatch):
    """A Cluster & impute run records what each method it computed took against its estimate, and a sweep
    what it took against the estimate shown above it; later estimates say they learned from them (the
    timing module's own tests check the arithmetic)."""
    import ul4m4.timing as timing

    monkeypatch.setattr(timing, "LEARN_MIN_S", 0.0)  # these small runs are estimated under the usual floor
    at = start()
    at.switch_page("views/3_Cluster_and_impute.py").run()
    no_problem(at)
    assert not timing.learned_any() or set(timing._LEARNED) <= set(at.session_state[state.RUN_CFG].methods)
    submit(at, "Run")
    no_problem(at)
    learned = set(timing._LEARNED)
    assert learned and learned <= set(at.session_state[state.RUN_CFG].methods), learned
    n_before = {m: v[0] for m, v in timing._LEARNED.items()}
    submit(at, "Run")  # the same settings: every method's result is reused, nothing new is learned
    assert {m: v[0] for m, v in timing._LEARNED.items()} == n_before
    assert any("and what earlier runs on this machine took" in c.value for c in at.caption)

    at.switch_page("views/4_Degradation.py").run()
    set_small_sweep(at)
    assert "sweep" not in timing._LEARNED
    submit(at, "Run sweep")
    no_problem(at)
    assert "sweep" in timing._LEARNED and timing._LEARNED["sweep"][0] > 0
    estimate = [c.value for c in at.caption if c.value.startswith("Estimated time")][0]
    assert "and what earlier runs on this machine took" in estimate, estimate


def test_sweeps_on_data_with_gaps_of_their_own(monkeypatch):
    """An upload whose samples already lack modalities: the Degradation page does not preselect the ceiling
    (it needs data without gaps, and says so if chosen), its default sweep runs, and so does the story's,
    whose failure, if any, stays on the page."""
    at = start()
    at.switch_page("views/1_Data.py").run()
    at.radio(key="data_source").set_value("upload").run()
    at.file_uploader(key="upload").set_value(("gaps.csv", csv_bytes(rows=60), "text/csv")).run()
    no_problem(at)
    at.switch_page("views/4_Degradation.py").run()
    assert "complete" not in at.multiselect(key="deg_methods").value
    at.text_input(key="deg_rates").set_value("0, 0.4")
    at.number_input(key="deg_seeds").set_value(1)
    at.multiselect(key="deg_methods").set_value(["ul4m4", "mean", "complete"])
    at.checkbox(key="deg_do_k").uncheck()
    submit(at, "Run sweep")
    assert not at.exception
    assert [shown(e.value) for e in at.error] == [
        "Problem while preparing the sweep: 'complete' (the ceiling: the classifier on the data with nothing "
        "removed) needs data without gaps, and these data already lack 5 modality blocks; leave it out (each "
        "method's score at rate 0 is that of the data as they are, gaps filled by the method)."]
    at.multiselect(key="deg_methods").set_value(["ul4m4", "mean"])
    submit(at, "Run sweep")
    no_problem(at)
    assert set(at.session_state[state.MEMO][("sweep", at.session_state[state.DATASET_KEY],
                                             at.session_state[state.SWEEP_CFG][0])]["method"]) == {"ul4m4", "mean"}
    assert not [i for i in at.info if i.value.startswith("The results below are of the last sweep")]  # as set

    # The story's own sweep: without the ceiling here; a failure keeps its message on the page.
    import appui.story as story

    at = start()
    at.switch_page("views/1_Data.py").run()
    at.radio(key="data_source").set_value("upload").run()
    at.file_uploader(key="upload").set_value(("gaps.csv", csv_bytes(rows=60), "text/csv")).run()
    at.session_state["present_step"] = 4
    at.switch_page("views/present.py").run()
    no_problem(at)
    button = [b for b in at.button if b.key == "present_sweep"][0]
    assert "Complete data" not in button.label
    real = story.run_sweep
    import ul4m4.timing as timing

    monkeypatch.setattr(timing, "LEARN_MIN_S", 0.0)  # these small sweeps are estimated under the usual floor
    learned = list(timing._LEARNED.get("sweep", []))
    monkeypatch.setattr(story, "run_sweep", lambda *a, **k: (_ for _ in ()).throw(ValueError("the probe diverged")))
    button.click().run()
    assert timing._LEARNED.get("sweep", []) == learned  # a failed sweep teaches nothing
    assert [shown(e.value) for e in at.error] == ["Problem while running the sweep: the probe diverged"]
    monkeypatch.setattr(story, "run_sweep", real)
    before = list(timing._LEARNED.get("sweep", []))
    [b for b in at.button if b.key == "present_sweep"][0].click().run()
    no_problem(at)
    assert any(t.startswith("F1-micro on the test split") for t in chart_titles(at))
    assert timing._LEARNED.get("sweep", []) != before  # later estimates learn from the story's sweep too
    # The story compares the methods the Degradation page preselects; that page then shows the story's sweep
    # and says how it differs from its form (here: the form's k-sensitivity is on).
    cfg = at.session_state[state.SWEEP_CFG][0]
    assert cfg.methods == tuple(m for m in state.DEFAULT_SWEEP_METHODS if m != "complete")
    at.switch_page("views/4_Degradation.py").run()
    no_problem(at)
    assert at.multiselect(key="deg_methods").value == list(cfg.methods)
    notes = [i.value for i in at.info if i.value.startswith("The results below are of the last sweep")]
    assert notes == ["The results below are of the last sweep run (no k-sensitivity), not of the settings above: "
                     "press **Run sweep** to run those."], notes


def test_the_first_visit_says_it_is_starting_before_the_heavy_imports():
    """A fresh server's first run imports torch and scikit-learn (3-5 s) before it can draw anything: a notice
    is drawn before those imports (here the app's own modules fail to import, so the run stops there and the
    notice is what it had drawn), and removed once they are in (the test above)."""
    import subprocess
    import sys

    code = ("import sys\n"
            "class Refuse:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'appui' or name == 'torch':\n"
            "            raise ImportError('not in this test: ' + name)\n"
            "sys.meta_path.insert(0, Refuse())\n"
            "from streamlit.testing.v1 import AppTest\n"
            "at = AppTest.from_file('app.py', default_timeout=60).run()\n"
            "assert at.exception, 'the app ran without its modules'\n"
            "print([i.value for i in at.info])\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    notices = out.stdout.strip().splitlines()[-1]
    assert "Starting UL4M4 Explorer: loading PyTorch and scikit-learn" in notices, notices


@pytest.mark.parametrize("given, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_the_server_sets_openmp_threads_to_sleep_before_torch_loads(given, expected):
    """app.py sets OMP_WAIT_POLICY before anything imports torch (OpenMP reads it once, when torch loads),
    and keeps a value the user set."""
    import os
    import subprocess
    import sys

    code = ("import os, sys\n"
            "from streamlit.testing.v1 import AppTest\n"
            "assert 'torch' not in sys.modules\n"
            "at = AppTest.from_file('app.py', default_timeout=240).run()\n"
            "assert 'torch' in sys.modules\n"
            "assert not [i for i in at.info if 'Starting UL4M4' in i.value], 'the start-up notice stayed'\n"
            "print(os.environ.get('OMP_WAIT_POLICY'))\n")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == expected


def test_method_warnings_read_in_the_apps_words_in_the_singular_too():
    """The library's low-scale warning for one feature, as the app words it: the modality by its name, the
    option named as the library's, in the singular."""
    def page():
        from appui.widgets import show_method_warnings

        show_method_warnings(["ul4m4: 1 feature in 1 modality has a std below 0.05 x its modality's median "
                              "(modality 1: 1 feature); in standardised units its noise is magnified and can "
                              "dominate the distance. scale_floor=0.1 floors that std."], ["image", "text"])

    at = AppTest.from_function(page, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    said = [shown(w.value) for w in at.warning]
    assert len(said) == 1 and "'text': 1 feature" in said[0], said
    assert said[0].endswith("The library's option UL4M4Imputer(scale_floor=0.1) floors that scale (from Python); "
                            "the app keeps the paper's setting, so the results shown are the published method's."), said


def test_the_story_says_when_the_seeds_cannot_tell_a_method_from_the_best():
    """The last step's caption names a lead the seeds cannot confirm (as the Degradation page's verdict)."""
    import pandas as pd

    from appui.story import Facts
    from ul4m4.sweep import SweepConfig

    rows = []
    for seed, (a, b, c) in enumerate([(0.90, 0.89, 0.80), (0.86, 0.88, 0.79), (0.88, 0.86, 0.81)]):
        for method, v in (("mean", a), ("softimpute", b), ("ul4m4", c)):
            for rate in (0.0, 0.8):
                rows.append({"method": method, "rate": rate, "seed": seed, "k": 10 if method == "ul4m4" else None,
                             "f1_micro": v if rate else 0.95, "realized_slot_rate": rate * 0.8})
    cfg = SweepConfig(seeds=(0, 1, 2), rates=(0.0, 0.8), methods=("ul4m4", "mean", "softimpute"))
    from types import SimpleNamespace

    facts = Facts(ds=SimpleNamespace(modality_names=["a", "b"]), mres=SimpleNamespace(report=None), mcfg=None,
                  rcfg=None, run=None, sweep_cfg=cfg, sweep=pd.DataFrame(rows))  # what the last step reads
    caption = facts.caption(4)
    assert "UL4M4 does not win here: Mean scores" in caption
    assert ("The 3 seeds do not tell SoftImpute apart from Mean: it trails by less than one standard deviation of "
            "the per-seed differences.") in caption, caption


@pytest.mark.slow  # a whole app session for one setting: with the slow tests
def test_pepsy_with_no_lead_modality_says_why_nothing_is_missing():
    at = start()
    at.switch_page("views/2_Missingness.py").run()
    at.selectbox(key="miss_mechanism").set_value("pepsy").run()
    at.slider(key="miss_pm").set_value(0.1)
    submit(at, "Simulate")
    assert not at.exception
    said = [shown(w.value) for w in at.warning]
    assert any("makes no lead modality out of 6" in w and "at least 1/6 = 0.17" in w for w in said), said
    rates = [json.loads(c.proto.spec) for c in at.get("plotly_chart")
             if "Requested vs realised" in json.loads(c.proto.spec)["layout"]["title"]["text"]][0]
    assert rates["layout"]["yaxis"]["range"][0] == 0


@pytest.mark.slow  # a whole app session for one setting: with the slow tests
def test_presentation_mode_starts_at_the_first_step():
    # The Story page left on its last step: the talk still opens on step 1.
    at = start()
    at.session_state["present_step"] = 4
    at.switch_page("views/present.py").run()
    at.button(key="present_on").click().run()
    assert not at.exception
    assert at.session_state[state.PRESENT] and at.session_state["present_step"] == 0
    assert any("Step 1 of 5" in shown(m.value) for m in at.markdown)


def test_the_story_says_its_last_question_is_not_answered_before_a_sweep():
    at = start()
    assert "Not answered yet: no degradation sweep has run in this session" in story_caption(at, 4)


def test_tables_write_each_column_with_one_number_of_decimals():
    from appui.widgets import decimals_per_column

    df = pd.DataFrame({"mse": [0.627, 0.8005, np.nan], "count": [1.0, 2.0, 3.0], "name": ["a", "b", "c"]})
    text = decimals_per_column(df, 4).to_string()
    assert "0.6270" in text and "0.8005" in text and "–" in text  # not 0.627 beside 0.8005
    assert " 1 " in text and "1.0000" not in text  # whole numbers stay whole
    assert "0.627" in decimals_per_column(df.assign(mse=[0.627, 0.8, np.nan]), 4).to_string()
