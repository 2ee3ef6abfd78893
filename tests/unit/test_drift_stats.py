"""amlmon.drift.stats against scipy on the same arrays, against formula examples worked by hand, and
properties (identical samples, symmetry)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial import distance

from amlmon.drift import stats as s

TOL = 1e-9


def _fixed(seed: int, size: int, shift: float = 0.0) -> np.ndarray:
    # rounded to 2 decimals: plenty of ties, which is where CDF bookkeeping goes wrong
    return np.round(np.random.default_rng(seed).normal(shift, 1.0, size), 2)


@pytest.mark.parametrize(
    ("nb", "nc", "shift"),
    [(40, 55, 0.0), (300, 200, 0.3), (12_000, 15_000, 0.05), (120_000, 80_000, 0.5)],
)
def test_numerical_metrics_equal_scipy_on_the_same_arrays(nb: int, nc: int, shift: float) -> None:
    b, c = _fixed(1, nb), _fixed(2, nc, shift)
    got = s.numerical_drift(b, c)
    norm = max(float(np.std(b, ddof=1)), 0.001)
    assert got.values[s.NWD] == pytest.approx(stats.wasserstein_distance(b, c) / norm, abs=TOL, rel=TOL)
    assert got.values[s.KS] == pytest.approx(stats.ks_2samp(b, c).pvalue, abs=TOL, rel=TOL)
    edges = np.linspace(
        min(b.min(), c.min()), max(b.max(), c.max()), math.ceil(math.log2(min(nb, nc)) + 1) + 1
    )
    hb, hc = np.histogram(b, edges)[0], np.histogram(c, edges)[0]
    assert got.baseline_counts == hb.tolist() and got.current_counts == hc.tolist()
    assert got.values[s.JSD] == pytest.approx(distance.jensenshannon(hb / nb, hc / nc, base=2), abs=TOL)


def test_the_ks_statistic_equals_scipy_where_the_p_value_underflows() -> None:
    b, c = _fixed(3, 50_000), _fixed(4, 60_000, 0.2)
    got = s.cdf_distances(np.sort(b), np.sort(c))
    assert got.ks_statistic == pytest.approx(stats.ks_2samp(b, c).statistic, abs=TOL)
    assert got.wasserstein == pytest.approx(stats.wasserstein_distance(b, c), abs=TOL, rel=TOL)


def test_a_constant_baseline_is_normalized_by_azure_mls_floor() -> None:
    b, c = np.full(100, 3.0), np.full(100, 3.5)
    assert s.normalized_wasserstein_distance(b, c) == pytest.approx(0.5 / 0.001)


def test_psi_matches_the_formula_worked_by_hand() -> None:
    # PSI = Σ (q − p) ln(q / p) with each bin's count + 1 over n (Azure ML's smoothing):
    # p = (11, 21, 31, 41)/100, q = (21, 21, 31, 31)/100
    # = 0.10·ln(21/11) + 0 + 0 + (−0.10)·ln(31/41) = 0.10·0.646627 + 0.10·0.279585 = 0.0926212
    by_hand = 0.10 * math.log(21 / 11) - 0.10 * math.log(31 / 41)
    assert by_hand == pytest.approx(0.0926212, abs=1e-7)
    assert s.population_stability_index(
        np.array([10, 20, 30, 40]), np.array([20, 20, 30, 30])
    ) == pytest.approx(by_hand, abs=TOL)
    counts = {"a": 10, "b": 20, "c": 30, "d": 40}
    assert s.categorical_drift(counts, {"a": 20, "b": 20, "c": 30, "d": 30})[s.PSI] == pytest.approx(
        by_hand, abs=TOL
    )


def test_jensen_shannon_matches_the_formula_worked_by_hand() -> None:
    # P = (½, ½), Q = (1, 0), M = (¾, ¼); base 2:
    # KL(P‖M) = ½·log2(⅔) + ½·log2(2) = 0.2075187, KL(Q‖M) = log2(4/3) = 0.4150375
    # JSD = ½(0.2075187 + 0.4150375) = 0.3112781, distance = √JSD = 0.5579230
    kl_pm = 0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25)
    kl_qm = math.log2(1 / 0.75)
    by_hand = math.sqrt((kl_pm + kl_qm) / 2)
    assert by_hand == pytest.approx(0.5579230, abs=1e-7)
    assert s.jensen_shannon_distance(np.array([5, 5]), np.array([10, 0])) == pytest.approx(by_hand, abs=TOL)
    assert s.categorical_drift({"x": 5, "y": 5}, {"x": 10})[s.JSD] == pytest.approx(by_hand, abs=TOL)
    # disjoint supports: the largest distance there is, 1 in base 2
    assert s.categorical_drift({"x": 3}, {"y": 7})[s.JSD] == pytest.approx(1.0, abs=TOL)


def test_chi_squared_is_scipys_p_value_against_the_baseline_proportions() -> None:
    baseline, current = {"a": 50, "b": 30, "c": 20}, {"a": 30, "b": 30, "c": 40}
    expected = np.array([50, 30, 20]) / 100 * 100
    assert s.pearsons_chi_squared_test(baseline, current) == pytest.approx(
        stats.chisquare([30, 30, 40], expected).pvalue, abs=TOL
    )
    assert s.pearsons_chi_squared_test(baseline, {**current, "new": 1}) == 0.0
    assert s.pearsons_chi_squared_test(baseline, baseline) == pytest.approx(1.0)


def test_p_values_breach_below_and_distances_above_their_threshold() -> None:
    assert s.breached(s.NWD, 0.2, 0.1) and not s.breached(s.NWD, 0.1, 0.1)
    assert s.breached(s.KS, 0.01, 0.05) and not s.breached(s.KS, 0.5, 0.05)
    assert s.breached(s.NULL_RATE, 0.01, 0.0) and not s.breached(s.NULL_RATE, 0.0, 0.0)
    assert not s.breached(s.NWD, 5.0, None)


samples = st.lists(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False), min_size=2, max_size=60
)


@settings(max_examples=200, deadline=None)
@given(samples)
def test_identical_samples_are_at_zero_distance(values: list[float]) -> None:
    a = np.array(values)
    got = s.numerical_drift(a, a.copy()).values
    assert got[s.NWD] == 0.0 and got[s.PSI] == pytest.approx(0.0, abs=TOL)
    assert got[s.JSD] == pytest.approx(0.0, abs=1e-7)
    assert got[s.KS] == pytest.approx(1.0)


@settings(max_examples=200, deadline=None)
@given(samples, samples)
def test_distances_are_symmetric_and_equal_scipy(left: list[float], right: list[float]) -> None:
    a, b = np.array(left), np.array(right)
    ab, ba = s.cdf_distances(np.sort(a), np.sort(b)), s.cdf_distances(np.sort(b), np.sort(a))
    assert ab.wasserstein == pytest.approx(ba.wasserstein, rel=1e-9, abs=1e-6)
    assert ab.ks_statistic == pytest.approx(ba.ks_statistic, abs=TOL)
    assert ab.wasserstein == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-9, abs=1e-6)
    assert ab.ks_statistic == pytest.approx(stats.ks_2samp(a, b).statistic, abs=TOL)
    # amlmon's own edges: numpy refuses to bin a range as narrow as [0, 5e-324] (hypothesis found it)
    edges = s.bin_edges(a, b)
    ha, hb = s.histogram(np.sort(a), edges), s.histogram(np.sort(b), edges)
    if hb.sum():
        assert s.jensen_shannon_distance(ha, hb) == pytest.approx(s.jensen_shannon_distance(hb, ha), abs=TOL)
        assert s.population_stability_index(ha, hb) == pytest.approx(
            s.population_stability_index(hb, ha), abs=TOL
        )


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from("abcdef"), st.integers(1, 500), min_size=1))
def test_identical_category_counts_do_not_drift(counts: dict[str, int]) -> None:
    got = s.categorical_drift(counts, dict(counts))
    assert got[s.JSD] == pytest.approx(0.0, abs=1e-7) and got[s.PSI] == pytest.approx(0.0, abs=TOL)
    assert got[s.CHI2] == pytest.approx(1.0)
