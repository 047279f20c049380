import numpy as np
import pytest

from ul4m4 import MECHANISMS, load_dataset, simulate_missing
from ul4m4.missing import mask_report


def draw(mech, seed=0, n=2000, M=4, **kw):
    defaults = {
        "mcar": {"rate": 0.4},
        "standard": {"keep_probs": [1.0, 0.2, 0.5, 0.7][:M]},
        "complex": {"pattern_freqs": {"1" * M: 0.6, "1" + "0" * (M - 1): 0.2, "0" + "1" * (M - 1): 0.2}},
        "pepsy": {"pm": 0.5, "ps": 0.6},
        "mutually_exclusive": {"rate": 0.5},
        "partial": {"rate": 0.5},
        "mnar_value": {"rate": 0.3, "Xs": [np.random.default_rng(1).normal(size=(n, 3)) for _ in range(M)]},
        "mnar_label": {"rate": 0.3, "y": np.arange(n) % 4},
    }
    return simulate_missing(n, M, mech, random_state=seed, **{**defaults[mech], **kw})


@pytest.mark.parametrize("mech", sorted(MECHANISMS))
def test_every_sample_keeps_one_and_reproducible(mech, global_random_seed):
    mask, rep = draw(mech, global_random_seed)
    assert mask.shape == (2000, 4) and mask.dtype == bool
    assert mask.any(axis=1).all()
    again, _ = draw(mech, global_random_seed)
    assert np.array_equal(mask, again)
    assert rep.realized_slot_rate == pytest.approx((~mask).mean())
    assert rep.realized_incomplete_rate == pytest.approx((~mask.all(axis=1)).mean())
    assert sum(rep.pattern_counts.values()) == 2000


def test_mcar_rate_and_restoration():
    mask, rep = draw("mcar", rate=0.8, M=2)
    # P(both missing) = 0.64; those samples get one modality back: expected slot rate 0.8 - 0.64 / 2.
    assert rep.n_restored > 0
    assert rep.realized_slot_rate == pytest.approx(0.8 - 0.64 / 2, abs=0.03)
    assert rep.requested_rate == 0.8 and rep.requested_kind == "slots"


def test_standard_keeps_probability_one_modality():
    mask, rep = draw("standard", keep_probs=[1.0, 0.2], M=2)
    assert mask[:, 0].all()
    assert rep.per_modality_missing[1] == pytest.approx(0.8, abs=0.03)


def test_complex_frequencies():
    mask, rep = draw("complex", M=2, pattern_freqs={"11": 0.6, "10": 0.2, "01": 0.2})
    assert rep.pattern_counts["11"] / 2000 == pytest.approx(0.6, abs=0.04)
    assert rep.requested_rate == pytest.approx(0.2)


def test_pepsy_last_lead_rule_realised_rate():
    mask, rep = simulate_missing(10000, 5, "pepsy", pm=0.6, ps=0.8, random_state=0)
    leads = rep.params["leads"]
    assert len(leads) == 3
    assert mask[:, leads].any(axis=1).all()  # no sample loses every lead
    assert rep.realized_slot_rate == pytest.approx(0.392, abs=0.005)  # not 0.48
    assert rep.requested_rate == pytest.approx(0.48)


def test_mutually_exclusive_keeps_exactly_one():
    mask, rep = draw("mutually_exclusive", rate=0.5)
    inc = ~mask.all(axis=1)
    assert inc.mean() == pytest.approx(0.5)
    assert (mask[inc].sum(axis=1) == 1).all()
    assert np.bincount(mask[inc].argmax(axis=1)).min() >= 240  # spread evenly


def test_partial_only_touches_incomplete_modalities():
    mask, rep = draw("partial", incomplete_modalities=[1, 3])
    assert mask[:, [0, 2]].all()
    assert rep.realized_incomplete_rate == pytest.approx(0.5)


def test_mnar_value_depends_on_values():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 5))
    Xs = [X, rng.normal(size=(4000, 3))]
    mask, rep = simulate_missing(4000, 2, "mnar_value", rate=0.3, Xs=Xs, strength=3.0, random_state=0)
    from sklearn.decomposition import PCA

    s = PCA(1, random_state=0).fit_transform((X - X.mean(0)) / X.std(0))[:, 0]
    corr = np.corrcoef(s, ~mask[:, 0])[0, 1]
    assert abs(corr) > 0.3
    assert rep.realized_slot_rate == pytest.approx(0.3, abs=0.05)


def test_mnar_label_differs_by_class():
    y = np.arange(4000) % 4
    mask, rep = simulate_missing(4000, 3, "mnar_label", rate=0.3, y=y, strength=2.0, random_state=0)
    per_class = [(~mask[y == c]).mean() for c in range(4)]
    assert max(per_class) - min(per_class) > 0.2


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"mechanism": "mcar", "rate": 1.0}, ValueError, r"rate=1.0 should be in \[0, 1\)"),
        ({"mechanism": "mcar", "rate": -0.1}, ValueError, "should be in"),
        ({"mechanism": "mcar"}, ValueError, "needs rate"),
        ({"mechanism": "mcar", "rate": "0.3"}, TypeError, "should be a number"),
        ({"mechanism": "nope", "rate": 0.1}, ValueError, "mechanism='nope' is not known"),
        ({"mechanism": "standard", "keep_probs": [1.0]}, ValueError, "needs keep_probs: a list of 2"),
        ({"mechanism": "standard", "keep_probs": [1.0, 0.0]}, ValueError, "has a 0"),
        ({"mechanism": "complex", "pattern_freqs": {"00": 1.0}}, ValueError, "observes no modality"),
        ({"mechanism": "complex", "pattern_freqs": {"1": 1.0}}, ValueError, "string of 2 characters"),
        ({"mechanism": "complex", "pattern_freqs": {"11": 0}}, ValueError, "sum to 0"),
        ({"mechanism": "pepsy", "pm": 0.5}, ValueError, "needs pm"),
        ({"mechanism": "mnar_value", "rate": 0.2}, ValueError, "needs the complete data Xs"),
        ({"mechanism": "mnar_label", "rate": 0.2}, ValueError, "needs the labels y"),
        ({"mechanism": "mcar", "rate": 0.1, "random_state": 1.5}, TypeError, "random_state=1.5"),
    ],
)
def test_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        simulate_missing(10, 2, **kwargs)


def test_bad_sizes():
    with pytest.raises(ValueError, match="n_samples=0 should be an integer >= 1"):
        simulate_missing(0, 2, "mcar", rate=0.1)


@pytest.mark.parametrize("mechanism, kw", [("mcar", {"rate": 0.9}), ("standard", {"keep_probs": [0.5]}),
                                         ("mnar_label", {"rate": 0.3, "y": np.arange(100) % 2}),
                                         ("mutually_exclusive", {"rate": 0.5}), ("partial", {"rate": 0.5})])
def test_single_modality_cannot_lose_it_and_says_so(mechanism, kw):
    # Every sample keeps a modality: with one, any request for missingness would silently give none.
    with pytest.raises(ValueError, match="with one modality nothing can be removed"):
        simulate_missing(100, 1, mechanism, random_state=0, **kw)
    mask, rep = simulate_missing(100, 1, "mcar", rate=0.0, random_state=0)  # asking for nothing is fine
    assert mask.all()


def test_mask_report_for_any_mask():
    rep = mask_report(np.array([[True, False], [True, True]]))
    assert rep.realized_slot_rate == 0.25 and rep.realized_incomplete_rate == 0.5
    assert rep.pattern_counts == {"10": 1, "11": 1}


def test_mnar_value_on_real_data():
    ds = load_dataset("breast_cancer")
    mask, rep = simulate_missing(ds.n_samples, 3, "mnar_value", rate=0.3, Xs=ds.Xs, random_state=0)
    assert mask.any(axis=1).all()


def test_complex_pattern_freqs_by_hand():
    from ul4m4.missing import complex_pattern_freqs

    assert complex_pattern_freqs(2, 0.4) == {"11": 0.6, "10": 0.2, "01": 0.2}
    f3 = complex_pattern_freqs(3, 0.3)
    assert f3 == pytest.approx({"111": 0.7, "100": 0.1, "010": 0.1, "001": 0.1})
    assert sum(f3.values()) == pytest.approx(1.0)
    assert complex_pattern_freqs(1, 0.5) == {"1": 1.0}  # one modality: nothing can go
    # The frequencies are a valid request for the complex scheme, and about `rate` of samples lose something.
    mask, rep = simulate_missing(4000, 3, "complex", pattern_freqs=f3, random_state=0)
    assert abs(rep.realized_incomplete_rate - 0.3) < 0.03


@pytest.mark.parametrize("mechanism", ["mnar_value", "mnar_label"])
@pytest.mark.parametrize("strength", [-100.0, -20.0, 20.0, 100.0])
def test_mnar_follows_the_requested_rate_at_any_strength(mechanism, strength):
    # The offset's search once stopped at +-50: past a strength of about 10 every rate gave the same mask.
    n, M = 3000, 3
    kw = ({"Xs": [np.random.default_rng(m).normal(size=(n, 4)) for m in range(M)]} if mechanism == "mnar_value"
          else {"y": np.arange(n) % 4})
    got = [simulate_missing(n, M, mechanism, rate=r, strength=strength, random_state=0, **kw)[1].realized_slot_rate
           for r in (0.1, 0.3, 0.5)]
    assert got[0] < got[1] < got[2]
    assert abs(got[0] - 0.1) < 0.03


@pytest.mark.parametrize("kwargs, match", [
    (dict(mechanism="standard", keep_probs=5), "needs keep_probs: a list of 2 probabilities"),
    (dict(mechanism="standard", keep_probs="0.5"), "needs keep_probs: a list of 2 probabilities"),
    (dict(mechanism="mnar_label", rate=0.3, y=[None] * 10), "one label per sample"),
    (dict(mechanism="mnar_label", rate=0.3, y=np.zeros((10, 0))), "one label per sample"),
    (dict(mechanism="mnar_label", rate=0.3, y=np.arange(10), strength=float("nan")), "strength=nan"),
    (dict(mechanism="mnar_label", rate=0.3, y=np.arange(10), strength=float("inf")), "strength=inf"),
    (dict(mechanism="mnar_label", rate=0.3, y=np.arange(10), strength=1e308), "from -100 to 100"),
    (dict(mechanism="partial", rate=0.3, incomplete_modalities=[0.7]), "integers in \\[0, 2\\)"),
    (dict(mechanism="partial", rate=0.3, incomplete_modalities="1"), "integers in \\[0, 2\\)"),
])
def test_parameters_of_the_wrong_kind_are_refused_with_a_message(kwargs, match):
    # Each was a raw TypeError or numpy error, or (strength, incomplete_modalities) silently read otherwise.
    with pytest.raises(ValueError, match=match):
        simulate_missing(10, 2, random_state=0, **kwargs)


def test_pattern_frequencies_whose_sum_overflows_are_read_as_ratios():
    mask, report = simulate_missing(1000, 2, "complex", pattern_freqs={"10": 1e308, "01": 1e308}, random_state=0)
    assert report.params["pattern_freqs"] == {"10": 0.5, "01": 0.5}
    assert 400 < mask[:, 0].sum() < 600


def test_a_mask_too_large_for_memory_is_refused_before_it_is_made():
    with pytest.raises(ValueError, match="A mask of 1,000,000,000,000 samples x 2 modalities needs about"):
        simulate_missing(10**12, 2, "mcar", rate=0.5, random_state=0)
