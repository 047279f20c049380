"""The scenario in the address: written after every run, read once per session, bad values explained."""

import pytest
from streamlit.testing.v1 import AppTest

from appui import scenario, state
from conftest import shown
from test_app import ROOT, submit
from ul4m4.experiment import MissingConfig, RunConfig


def open_app(**params):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def sidebar_warnings(at):
    return [shown(w.value) for w in at.sidebar.warning]  # as it reads on screen


def test_the_address_holds_the_scenario_and_a_new_session_reads_it_back():
    at = open_app()
    q = dict(at.query_params)
    assert q["data"] == "mfeat" and q["mech"] == "mcar" and q["k"] == str(at.session_state[state.RUN_CFG].n_clusters)
    at2 = open_app(data="breast_cancer", mech="mnar_value", rate="0.5", strength="3.0", split="test", test="0.25",
                   mseed="4", k="7", init="random", seed="3", iter="50", methods="ul4m4,mean,knn", map="umap")
    ss = at2.session_state
    assert not at2.exception and not sidebar_warnings(at2)
    assert ss[state.DATASET_KEY] == "bundled:breast_cancer"
    assert ss[state.MISSING_CFG] == MissingConfig(mechanism="mnar_value", rate=0.5, strength=3.0, apply_to="test",
                                                  test_size=0.25, seed=4)
    assert ss[state.RUN_CFG] == RunConfig(methods=("ul4m4", "mean", "knn"), n_clusters=7, init="random",
                                          max_iter=50, seed=3)
    assert ss[state.MAP_METHOD] == "umap"
    q2 = dict(at2.query_params)
    assert q2["rate"] == "0.5" and q2["k"] == "7" and q2["methods"] == "ul4m4,mean,knn" and q2["map"] == "umap"


def test_settings_changed_on_a_page_reach_the_address():
    at = open_app()
    at.switch_page("views/3_Cluster_and_impute.py").run()
    at.number_input(key="run_k").set_value(5)
    submit(at, "Run")
    assert at.query_params["k"] == "5" and at.session_state[state.RUN_CFG].n_clusters == 5


def test_synthetic_data_travel_in_the_address():
    at = open_app(data="synthetic", syn_n="300", syn_m="2", syn_dims="5,7", syn_k="3", syn_seed="9")
    ds = at.session_state[state.DATASET]
    assert not sidebar_warnings(at) and ds.n_samples == 300 and ds.dims == [5, 7]
    q = dict(at.query_params)
    assert q["data"] == "synthetic" and q["syn_dims"] == "5,7" and q["syn_seed"] == "9"


@pytest.mark.parametrize("params, words", [
    ({"rate": "abc"}, "is not a number"),
    ({"rate": "nan"}, "not a finite number"),
    ({"rate": "7"}, "missingness settings were not used"),
    ({"mech": "bogus"}, "is not one of"),
    ({"k": "-3"}, "k should be"),
    ({"k": "1e9"}, "is not an integer"),
    ({"methods": "ul4m4,evil"}, "'evil' not among"),
    ({"data": "nope"}, "is not one of"),
    ({"data": "upload"}, "cannot carry"),
    ({"data": "synthetic", "syn_n": "100000000", "syn_dims": "4096"}, "synthetic data could not be made"),
    ({"patterns": "zz", "mech": "complex"}, "should read pattern:frequency"),
    ({"map": "<script>"}, "is not pca or umap"),
    ({"rate": "0." + "1" * 5000}, "too long"),
])
def test_bad_values_in_the_address_are_explained_and_the_defaults_used(params, words):
    at = open_app(**params)
    assert not at.exception, [e.value for e in at.exception]
    notes = sidebar_warnings(at)
    assert any(words in n for n in notes), notes
    assert at.session_state[state.MISSING_CFG].rate is None or 0 <= at.session_state[state.MISSING_CFG].rate < 1


def test_parsers_refuse_each_bad_value_class():
    base = MissingConfig()
    with pytest.raises(ValueError, match="inf"):
        scenario._missing({"pm": "inf"}, base)
    with pytest.raises(ValueError, match="split"):
        scenario._missing({"split": "none"}, base)
    assert scenario._missing({"mech": "pepsy", "pm": "0.5"}, base).pm == 0.5
    assert scenario._parse_patterns("101:0.2, 011:0.3") == (("101", 0.2), ("011", 0.3))
    with pytest.raises(ValueError, match="init"):
        scenario._run({"init": "kmeans"}, RunConfig())


def test_every_bad_run_value_of_a_link_is_named_at_once():
    at = open_app(seed="abc", k="-3", methods="ul4m4,nonsense", iter="5")
    assert not at.exception
    notes = [n for n in sidebar_warnings(at) if "run settings" in n]
    assert len(notes) == 1
    for words in ("seed='abc' is not an integer", "k should be 1..100000, not -3", "'nonsense' not among"):
        assert words in notes[0], notes
    assert at.session_state[state.RUN_CFG].max_iter == 300  # none of the link's run settings is used
