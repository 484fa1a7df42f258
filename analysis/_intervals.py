"""What a policy will do in the user's next search: held-out configurations and prediction intervals.

The curves of one configuration are not independent: its data folds share its
hyperparameters and seed, so a held-out data fold is a near-copy of the folds it was
chosen on. A user's next search has *new configurations*. So every held-out set here is
a set of whole configurations, crossed with the data folds when the curves have them
(:class:`Split`), and every interval comes from resampling configurations
(:func:`predicted_means`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import sparse, stats

__all__ = ["Split", "config_sums", "make_split", "predicted_means"]

#: Elements of one block of resampling weights (draws x configurations), to bound memory.
_BLOCK_ELEMENTS = 4_000_000


@dataclass(frozen=True)
class Split:
    """Grouped cross-validation over configurations, crossed with the data folds.

    Attributes:
        unit: What is held out: ``"configuration"`` (with all its folds) or ``"trial"``
            (curves without configuration ids, each its own configuration).
        config_index: ``(n_curves,)`` index of each curve's configuration, from 0.
        n_configs: Number of configurations.
        group: ``(n_curves,)`` group of each curve's configuration, from 0.
        n_groups: Number of groups of configurations.
        fold: ``(n_curves,)`` data fold of each curve, from 0.
        n_folds: Number of data folds.
    """

    unit: str
    config_index: np.ndarray
    n_configs: int
    group: np.ndarray
    n_groups: int
    fold: np.ndarray
    n_folds: int

    @property
    def n_cells(self) -> int:
        """Held-out cells: groups x folds (groups alone with one fold); 0 when nothing can be held out."""
        if self.n_groups < 2:
            return 0
        return self.n_groups * (self.n_folds if self.n_folds > 1 else 1)

    def cells(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(train, test)`` curve masks of each held-out cell.

        The test set is one group of configurations on one data fold (all of its curves
        when there is one fold); the training set is the other configurations on the
        other folds, so no test curve shares a configuration or a fold with training.
        """
        if self.n_cells == 0:
            return
        folds = range(self.n_folds) if self.n_folds > 1 else [None]
        for group in range(self.n_groups):
            for fold in folds:
                held_out = self.group == group
                if fold is None:
                    yield ~held_out, held_out
                else:
                    yield ~held_out & (self.fold != fold), held_out & (self.fold == fold)

    def describe(self) -> str:
        """K and the unit held out, in words."""
        if self.n_cells == 0:
            return f"nothing held out (only {self.n_configs} {self.unit})"
        crossed = f" x {self.n_folds} data folds" if self.n_folds > 1 else ""
        unit = "configurations (each with all its folds)" if self.unit == "configuration" else "trials"
        return f"{self.n_groups} groups of {unit}{crossed} = {self.n_cells} held-out cells"


def make_split(config_ids: np.ndarray, folds: np.ndarray, *, max_groups: int = 5, seed: int = 0) -> Split:
    """Assigns configurations to ``min(max_groups, n_configs)`` groups at random (seeded).

    Args:
        config_ids: ``(n_curves,)`` configuration of each curve.
        folds: ``(n_curves,)`` data fold of each curve.
        max_groups: Most groups (5 when there are enough configurations).
        seed: Seed of the random assignment.
    """
    configs, config_index = np.unique(np.asarray(config_ids).astype(str), return_inverse=True)
    _, fold_index = np.unique(np.asarray(folds).astype(str), return_inverse=True)
    n_configs = len(configs)
    n_groups = min(max_groups, n_configs)
    order = np.random.default_rng(seed).permutation(n_configs)
    group_of_config = np.empty(n_configs, dtype=np.int64)
    group_of_config[order] = np.arange(n_configs) % max(n_groups, 1)
    return Split(
        unit="configuration" if n_configs < len(config_index) else "trial",
        config_index=config_index,
        n_configs=n_configs,
        group=group_of_config[config_index],
        n_groups=n_groups,
        fold=fold_index,
        n_folds=int(fold_index.max()) + 1 if len(fold_index) else 0,
    )


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
        has an evaluable curve.
    """
    n_configs = len(sums)
    if n_configs == 0:
        nan = np.full(sums.shape[1], np.nan)
        return nan, nan.copy()
    block = max(1, _BLOCK_ELEMENTS // max(n_configs, new_configs))
    means = []
    for start in range(0, draws, block):
        size = min(block, draws - start)
        # A resampled population per draw, then the new search drawn from it, as counts per configuration.
        population = rng.integers(n_configs, size=(size, n_configs))
        drawn = np.take_along_axis(population, rng.integers(n_configs, size=(size, new_configs)), axis=1)
        offsets = np.arange(size)[:, None] * n_configs
        weights = np.bincount((offsets + drawn).ravel(), minlength=size * n_configs).reshape(size, n_configs)
        with np.errstate(invalid="ignore", divide="ignore"):
            means.append((weights @ sums) / (weights @ counts))
    simulated = np.concatenate(means)
    tail = (1.0 - level) / 2.0
    low = np.full(sums.shape[1], np.nan)
    high = np.full(sums.shape[1], np.nan)
    defined = np.isfinite(simulated).any(axis=0)
    if defined.any():
        low[defined], high[defined] = np.nanquantile(simulated[:, defined], [tail, 1.0 - tail], axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        center = sums.sum(axis=0) / counts.sum(axis=0)
    widen = _small_sample_widening(n_configs, new_configs, level)
    return center - widen * (center - low), center + widen * (high - center)


def _small_sample_widening(observed: int, new: int, level: float) -> float:
    """How much wider than the resampled quantiles a prediction interval must be (see :func:`predicted_means`)."""
    if observed < 2:
        return 1.0
    m, n = float(observed), float(new)
    variance_ratio = (1 / m + 1 / n) / ((m - 1) / m**2 + (m - 1) ** 2 / (m**2 * n))
    quantile_ratio = stats.t.ppf(0.5 + level / 2, observed - 1) / stats.norm.ppf(0.5 + level / 2)
    return float(np.sqrt(variance_ratio) * quantile_ratio)
