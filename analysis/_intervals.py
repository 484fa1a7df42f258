"""What a policy will do in the user's next search: prediction intervals from resampled configurations.

The curves of one configuration are not independent (its data folds share its
hyperparameters and seed), and a user's next search has *new configurations*, so the
unit resampled here is the configuration with all its curves.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from scipy import sparse, stats

__all__ = [
    "config_sums",
    "nan_quantiles",
    "new_search_weights",
    "predicted_means",
    "small_sample_widening",
    "unseen_chance",
    "unseen_share",
]

#: Elements of one block of resampling weights (draws x configurations), to bound memory.
_BLOCK_ELEMENTS = 4_000_000


def config_sums(
    values: np.ndarray, evaluable: np.ndarray, config_index: np.ndarray, n_configs: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per configuration and candidate: the sum of ``values`` over evaluable curves, and their count.

    Args:
        values: ``(n_curves, n_candidates)`` per-curve outcomes.
        evaluable: ``(n_curves, n_candidates)`` which outcomes count.
        config_index: ``(n_curves,)`` configuration of each curve.
        n_configs: Number of configurations.

    Returns:
        ``(sums, counts)``, each ``(n_configs, n_candidates)``.
    """
    indicator = sparse.csr_matrix(
        (np.ones(len(config_index)), (config_index, np.arange(len(config_index)))),
        shape=(n_configs, len(config_index)),
    )
    sums = np.asarray(indicator @ np.where(evaluable, values, 0.0))
    counts = np.asarray(indicator @ evaluable.astype(float))
    return sums, counts


def new_search_weights(rng: np.random.Generator, draws: int, n_configs: int, new_configs: int) -> np.ndarray:
    """How often each configuration appears in each of ``draws`` simulated new searches, ``(draws, n_configs)``.

    Each draw resamples the ``n_configs`` observed configurations as a population, then
    draws a new search of ``new_configs`` from that population. The counts are float32
    (small integers, exact) for fast products.
    """
    # Flat int32 indexing: a third of take_along_axis's time on large searches.
    offsets = np.arange(draws, dtype=np.int64)[:, None] * n_configs
    population = rng.integers(n_configs, size=(draws, n_configs), dtype=np.int32).ravel()
    drawn = population[offsets + rng.integers(n_configs, size=(draws, new_configs), dtype=np.int32)]
    counts = np.bincount((offsets + drawn).ravel(), minlength=draws * n_configs)
    return counts.reshape(draws, n_configs).astype(np.float32)


def nan_quantiles(values: np.ndarray, quantiles: Sequence[float]) -> np.ndarray:
    """``np.nanquantile(values, quantiles, axis=0)`` (its default, linear method), value for value.

    NumPy computes it one column at a time (``apply_along_axis``), which took most of an
    analysis of cut curves, where most candidates' simulated means have NaNs. Here the
    columns are sorted at once (NaN last) and each is interpolated between the order
    statistics NumPy takes, with NumPy's own interpolation; a column without a number is NaN.
    ``values`` is 2-D with at least one row, and each quantile lies in [0, 1] (unchecked).
    """
    ordered = np.sort(values, axis=0)
    valid = (~np.isnan(values)).sum(axis=0)
    last = np.maximum(valid - 1, 0)
    result = np.full((len(quantiles), values.shape[1]), np.nan)
    for row, quantile in enumerate(quantiles):
        virtual = quantile * last
        previous = np.floor(virtual)
        gamma = virtual - previous
        below = np.minimum(previous.astype(np.intp), last)
        above = np.minimum(below + 1, last)
        a = np.take_along_axis(ordered, below[None, :], axis=0)[0]
        b = np.take_along_axis(ordered, above[None, :], axis=0)[0]
        with np.errstate(invalid="ignore"):
            difference = b - a
            interpolated = np.where(gamma >= 0.5, b - difference * (1 - gamma), a + difference * gamma)
        result[row] = np.where(valid > 0, interpolated, np.nan)
    return result


def predicted_means(
    sums: np.ndarray,
    counts: np.ndarray,
    *,
    new_configs: int,
    level: float,
    rng: np.random.Generator,
    draws: int = 2000,
) -> tuple[np.ndarray, np.ndarray]:
    """Interval in which a new search's mean will fall with probability ``level``, per candidate.

    A new search draws ``new_configs`` configurations from the population the observed
    ones came from, and its mean is over their evaluable curves. Neither the population
    nor its mean is known, so each draw first resamples the observed configurations (a
    bootstrap of the population), then draws the new search from that resample; the
    spread of the new search's mean covers both the uncertainty of the estimate and the
    luck of the next search's draw. Skewed outcomes such as regret keep their skew.

    Two small-sample corrections widen the quantiles around the point estimate: the
    resampling's variance, ``s^2 ((M-1)/M^2 + (M-1)^2/(M^2 N))`` for M observed and N new
    configurations, is scaled up to ``s^2 (1/M + 1/N)``, and the normal quantile to
    Student's t with M - 1 degrees of freedom (the spread itself is estimated).

    Args:
        sums, counts: Per configuration and candidate (:func:`config_sums`).
        new_configs: Configurations in the new search (N).
        level: Probability of the central interval, in (0, 1).
        rng: Random generator (seeded by the caller).
        draws: Number of simulated new searches.

    Returns:
        ``(low, high)`` arrays of shape ``(n_candidates,)``; NaN where no configuration
        has an evaluable curve, and ``(NaN, inf)`` where only one has (one configuration
        says nothing about how the others vary).
    """
    n_configs = len(sums)
    if n_configs == 0:
        nan = np.full(sums.shape[1], np.nan)
        return nan, nan.copy()
    block = max(1, _BLOCK_ELEMENTS // max(n_configs, new_configs))
    # Single precision for the products: the weights are small integers, and float32 BLAS is
    # about 4x the speed of int64 weights times float64 (100,000 configurations: seconds per call).
    sums32, counts32 = sums.astype(np.float32), counts.astype(np.float32)
    means = []
    for start in range(0, draws, block):
        size = min(block, draws - start)
        weights32 = new_search_weights(rng, size, n_configs, new_configs)
        with np.errstate(invalid="ignore", divide="ignore"):
            means.append((weights32 @ sums32).astype(float) / (weights32 @ counts32))
    simulated = np.concatenate(means)
    tail = (1.0 - level) / 2.0
    low = np.full(sums.shape[1], np.nan)
    high = np.full(sums.shape[1], np.nan)
    complete = ~np.isnan(simulated).any(axis=0)
    if complete.any():
        low[complete], high[complete] = np.quantile(simulated[:, complete], [tail, 1.0 - tail], axis=0)
    partial = ~complete & np.isfinite(simulated).any(axis=0)
    if partial.any():
        low[partial], high[partial] = nan_quantiles(simulated[:, partial], (tail, 1.0 - tail))
    with np.errstate(invalid="ignore", divide="ignore"):
        center = sums.sum(axis=0) / counts.sum(axis=0)
    # Each candidate is widened for the configurations that can judge it.
    observed = (counts > 0).sum(axis=0)
    widen = np.array([small_sample_widening(int(m), new_configs, level) for m in observed])
    low = center - widen * np.maximum(center - low, 0.0)
    high = center + widen * np.maximum(high - center, 0.0)
    # One configuration says nothing about how others vary: no interval; none: nothing at all.
    alone = observed == 1
    return np.where(observed < 2, np.nan, low), np.where(alone, np.inf, np.where(observed < 2, np.nan, high))


@functools.lru_cache(maxsize=4096)
def small_sample_widening(observed: int, new: int, level: float) -> float:
    """How much wider than the resampled quantiles a prediction interval must be (see :func:`predicted_means`)."""
    if observed < 2:
        return np.nan
    m, n = float(observed), float(new)
    variance_ratio = (1 / m + 1 / n) / ((m - 1) / m**2 + (m - 1) ** 2 / (m**2 * n))
    quantile_ratio = stats.t.ppf(0.5 + level / 2, observed - 1) / stats.norm.ppf(0.5 + level / 2)
    return float(np.sqrt(variance_ratio) * quantile_ratio)


def unseen_chance(observed: int, new: int) -> float:
    """Chance that a new search holds a configuration beyond every observed one, on one side.

    Configurations are exchangeable draws from one population, so each of ``new`` lies
    above the largest of ``observed`` continuous outcomes with probability
    ``1 / (observed + 1)``, and at least one of them does with ``new / (new + observed)``
    (beta-binomial with parameters 1 and ``observed``). Ties only lower it. No interval
    built from the observed configurations says how far beyond they may lie.
    """
    if observed < 1 or new < 1:
        return np.nan
    return new / (new + observed)


@functools.lru_cache(maxsize=4096)
def unseen_share(observed: int, new: int, level: float) -> float:
    """Share of a new search's configurations that may lie beyond every observed one, on one side.

    The upper ``(1 + level) / 2`` quantile of the count in :func:`unseen_chance`, over
    ``new``: the one-sided bound of a central interval at ``level``.
    """
    if observed < 1 or new < 1:
        return np.nan
    return float(stats.betabinom.ppf(0.5 + level / 2, new, 1, observed)) / new
