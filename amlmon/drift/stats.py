"""Drift and data-quality statistics with Azure ML model monitoring's names, definitions and defaults.

Pure functions over numpy arrays (numerical features) and category counts (categorical features).
Definitions follow Azure ML's own model-monitoring components (Azure/azureml-assets,
assets/model_monitoring/components/src/data_drift_compute_metrics/*_data_drift_metrics.py and
shared_utilities/histogram_utils.py), so a value here means what it means in Azure ML studio:

- normalized_wasserstein_distance: the 1-D Wasserstein (earth mover's) distance between the two samples
  divided by the baseline's sample standard deviation (floored at 0.001).
- jensen_shannon_distance: scipy.spatial.distance.jensenshannon with base 2 (0 … 1) over the bin
  (numerical) or category (categorical) proportions.
- population_stability_index: Σ (p_cur − p_base) · ln(p_cur / p_base) where every bin's count is
  incremented by one before dividing by the sample size (Azure ML's guard against empty bins).
- two_sample_kolmogorov_smirnov_test and pearsons_chi_squared_test: the tests' p-values (scipy), so a
  *small* value means drift: these breach when the value falls below the threshold.
- Numerical bins: Sturges' rule on the smaller sample, ceil(log2(n) + 1) equal-width bins over the
  joint range of both samples.

Default thresholds: Azure ML's basic monitor (azure-ai-ml, the default signals of a monitor without
signals): data/prediction drift normalized_wasserstein_distance 0.1 (numerical) and
jensen_shannon_distance 0.1 (categorical); data quality null_value_rate, data_type_error_rate and
out_of_bounds_rate 0.0. Metric names: reference-yaml-monitor (metric_thresholds.numerical/categorical).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

NUMERICAL = "numerical"
CATEGORICAL = "categorical"

NWD = "normalized_wasserstein_distance"
JSD = "jensen_shannon_distance"
PSI = "population_stability_index"
KS = "two_sample_kolmogorov_smirnov_test"
CHI2 = "pearsons_chi_squared_test"
NULL_RATE = "null_value_rate"
TYPE_ERROR_RATE = "data_type_error_rate"
OUT_OF_BOUNDS_RATE = "out_of_bounds_rate"

DRIFT_METRICS = {NUMERICAL: (NWD, JSD, PSI, KS), CATEGORICAL: (JSD, PSI, CHI2)}
QUALITY_METRICS = (NULL_RATE, TYPE_ERROR_RATE, OUT_OF_BOUNDS_RATE)
ALL_METRICS = (NWD, JSD, PSI, KS, CHI2, *QUALITY_METRICS)
# p-values: drift shows as a value *below* the threshold
P_VALUE_METRICS = frozenset({KS, CHI2})

DEFAULT_THRESHOLDS: dict[tuple[str, str], float] = {
    (NUMERICAL, NWD): 0.1,
    (CATEGORICAL, JSD): 0.1,
    **{(kind, metric): 0.0 for kind in (NUMERICAL, CATEGORICAL) for metric in QUALITY_METRICS},
}
# Azure ML's floor under the baseline standard deviation (no division by zero for a constant feature)
MIN_NORM = 0.001
# scipy.stats.ks_2samp computes the exact p-value up to this sample size, the asymptotic one beyond
KS_EXACT_MAX_N = 10_000


def breached(metric: str, value: float | None, threshold: float | None) -> bool:
    """A distance or rate breaches above its threshold; a p-value below it."""
    if value is None or threshold is None or math.isnan(value):
        return False
    return value < threshold if metric in P_VALUE_METRICS else value > threshold


# ------------------------------------------------------------------------------------------------
# Numerical features
# ------------------------------------------------------------------------------------------------
def sturges_bins(baseline_n: int, current_n: int) -> int:
    """Azure ML's bin count: Sturges' rule on the smaller sample."""
    return max(1, math.ceil(math.log2(max(1, min(baseline_n, current_n))) + 1))


def bin_edges(baseline: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Equal-width edges over the joint range; one bin when every value is the same."""
    import numpy as np

    low = min(float(baseline.min()), float(current.min()))
    high = max(float(baseline.max()), float(current.max()))
    if low == high:
        return np.array([low, low + 1.0])
    return np.linspace(low, high, sturges_bins(baseline.size, current.size) + 1)


def histogram(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """np.histogram's counts for sorted values: bins [e_i, e_i+1), the last one closed (as Spark counts).

    Read off the sorted sample with searchsorted: np.histogram would sort it again, block by block."""
    import numpy as np

    starts = np.searchsorted(sorted_values, edges[:-1], side="left")
    end = np.searchsorted(sorted_values, edges[-1], side="right")
    return np.diff(np.append(starts, end))


def jensen_shannon_distance(baseline_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """scipy's Jensen-Shannon distance in base 2 between two count vectors over the same bins."""
    import numpy as np
    from scipy.spatial import distance

    p = np.asarray(baseline_counts, dtype=float)
    q = np.asarray(current_counts, dtype=float)
    return float(distance.jensenshannon(p / p.sum(), q / q.sum(), base=2))


def population_stability_index(baseline_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """PSI with Azure ML's add-one smoothing: Σ (q − p) ln(q / p) = Σ rel_entr(q, p) + rel_entr(p, q)."""
    import numpy as np
    from scipy.special import rel_entr

    b = np.asarray(baseline_counts, dtype=float)
    c = np.asarray(current_counts, dtype=float)
    p = (b + 1.0) / b.sum()
    q = (c + 1.0) / c.sum()
    return float(np.sum(rel_entr(q, p) + rel_entr(p, q)))


@dataclass(frozen=True)
class CdfDistances:
    """What the two samples' empirical CDFs give: Wasserstein-1 and the KS statistic."""

    wasserstein: float
    ks_statistic: float


def cdf_distances(baseline_sorted: np.ndarray, current_sorted: np.ndarray) -> CdfDistances:
    """scipy.stats.wasserstein_distance and ks_2samp's statistic from one merge of the sorted samples.

    The same integrals scipy computes (∫|F_b − F_c| and max|F_b − F_c| with right-continuous CDFs),
    done once for both: scipy sorts each sample again per call (a second of work per million rows),
    which would put a 20-feature million-row check past 10 s. Tests hold both to scipy to 1e-9.
    """
    import numpy as np

    nb, nc = baseline_sorted.size, current_sorted.size
    pooled = np.concatenate([baseline_sorted, current_sorted])
    # a stable sort of two sorted runs is a merge (timsort); whether a value came from the baseline rides along
    order = np.argsort(pooled, kind="stable")
    values = pooled[order]
    from_baseline = order < nb
    # F_b − F_c after the first k pooled values, b of them the baseline's: b/nb − (k − b)/nc, kept as the
    # exact integer b·(nb + nc) − k·nb over nb·nc (equal CDFs give exactly 0): a running sum of +nc per
    # baseline value and −nb per current one. Every step writes into an array already made (the sort's
    # order, the pooled copy): each new array is fresh memory the kernel must map, page by page.
    gap = order
    np.multiply(from_baseline, nb + nc, out=gap)
    gap -= nb
    np.cumsum(gap, out=gap)
    np.abs(gap, out=gap)
    del from_baseline
    # the right-continuous CDFs are read at the last of each run of equal values
    run_ends = np.empty(values.size, dtype=bool)
    np.not_equal(values[1:], values[:-1], out=run_ends[:-1])
    run_ends[-1] = True
    steps = pooled[:-1]
    np.subtract(values[1:], values[:-1], out=steps)
    gap_values = values
    np.copyto(gap_values, gap)  # int64 → float64, exact below 2**53
    del gap, order
    scale = float(nb) * float(nc)
    wasserstein = float(np.dot(gap_values[:-1], steps)) / scale
    ks = min(1.0, float(np.max(gap_values, where=run_ends, initial=0.0)) / scale)
    return CdfDistances(wasserstein, ks)


def normalized_wasserstein_distance(baseline: np.ndarray, current: np.ndarray) -> float:
    """Wasserstein distance over the baseline's sample standard deviation (at least 0.001)."""
    import numpy as np

    distance = cdf_distances(np.sort(baseline), np.sort(current)).wasserstein
    return distance / _norm(baseline)


def _norm(baseline: np.ndarray) -> float:
    import numpy as np

    std = float(np.std(baseline, ddof=1)) if baseline.size > 1 else 0.0
    return max(std, MIN_NORM)


def ks_p_value(baseline_sorted: np.ndarray, current_sorted: np.ndarray, statistic: float) -> float:
    """ks_2samp's two-sided p-value: exact (scipy itself) for small samples, else kstwo as scipy does."""
    from scipy import stats

    nb, nc = baseline_sorted.size, current_sorted.size
    if max(nb, nc) <= KS_EXACT_MAX_N:
        return float(stats.ks_2samp(baseline_sorted, current_sorted).pvalue)
    m, n = float(max(nb, nc)), float(min(nb, nc))
    effective = round(m * n / (m + n))
    return float(min(1.0, max(0.0, stats.kstwo.sf(statistic, effective))))


def two_sample_kolmogorov_smirnov_test(baseline: np.ndarray, current: np.ndarray) -> float:
    import numpy as np

    b, c = np.sort(baseline), np.sort(current)
    return ks_p_value(b, c, cdf_distances(b, c).ks_statistic)


@dataclass(frozen=True)
class NumericalDrift:
    values: dict[str, float]
    edges: list[float]
    baseline_counts: list[int]
    current_counts: list[int]


def numerical_drift(
    baseline: np.ndarray, current: np.ndarray, *, in_place: bool = False, presorted: bool = False
) -> NumericalDrift:
    """Every numerical drift metric, sorting each sample once (`in_place`: sorting the arrays given,
    which saves a copy of each; `presorted`: the caller sorted both). Both samples must be non-empty."""
    import numpy as np

    if presorted:
        b, c = baseline, current
    elif in_place:
        baseline.sort()
        current.sort()
        b, c = baseline, current
    else:
        b, c = np.sort(baseline), np.sort(current)
    distances = cdf_distances(b, c)
    edges = bin_edges(b, c)
    b_counts, c_counts = histogram(b, edges), histogram(c, edges)
    return NumericalDrift(
        values={
            NWD: distances.wasserstein / _norm(b),
            JSD: jensen_shannon_distance(b_counts, c_counts),
            PSI: population_stability_index(b_counts, c_counts),
            KS: ks_p_value(b, c, distances.ks_statistic),
        },
        edges=[float(x) for x in edges],
        baseline_counts=[int(x) for x in b_counts],
        current_counts=[int(x) for x in c_counts],
    )


# ------------------------------------------------------------------------------------------------
# Categorical features
# ------------------------------------------------------------------------------------------------
def aligned_counts(
    baseline: Mapping[str, int], current: Mapping[str, int]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Both count vectors over the union of categories (baseline's first, most frequent first)."""
    import numpy as np

    categories = sorted(baseline, key=lambda k: (-baseline[k], k))
    categories += sorted((k for k in current if k not in baseline), key=lambda k: (-current[k], k))
    b = np.array([baseline.get(k, 0) for k in categories], dtype=float)
    c = np.array([current.get(k, 0) for k in categories], dtype=float)
    return categories, b, c


def pearsons_chi_squared_test(baseline: Mapping[str, int], current: Mapping[str, int]) -> float:
    """p-value of scipy.stats.chisquare: current counts against the baseline's proportions.

    A category the baseline never saw expects zero: any current value there is infinitely unlikely
    (p = 0), which is what Azure ML's computation gives too.
    """
    import numpy as np
    from scipy import stats

    _categories, b, c = aligned_counts(baseline, current)
    expected = b / b.sum() * c.sum()
    if np.any((expected == 0) & (c > 0)):
        return 0.0
    keep = expected > 0
    if keep.sum() < 2:
        return 1.0  # one category: nothing can differ
    return float(stats.chisquare(c[keep], expected[keep]).pvalue)


def categorical_drift(baseline: Mapping[str, int], current: Mapping[str, int]) -> dict[str, float]:
    _categories, b, c = aligned_counts(baseline, current)
    return {
        JSD: jensen_shannon_distance(b, c),
        PSI: population_stability_index(b, c),
        CHI2: pearsons_chi_squared_test(baseline, current),
    }
