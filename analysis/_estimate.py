"""Per-candidate means over a set of curves and their prediction intervals for a new search."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis._intervals import config_sums, predicted_means, unseen_share
from analysis._replay import PolicyReplay
from analysis._split import Split

__all__ = ["CV_DRAWS", "DRAWS", "Estimate", "estimate"]

#: Simulated new searches for the reported intervals, and for each cross-validation cell's choice.
DRAWS, CV_DRAWS = 2000, 400


@dataclass(frozen=True)
class Estimate:
    """Per-candidate means over the evaluable curves of a set, arrays of shape ``(n_candidates,)``."""

    n_evaluable: np.ndarray
    regret: np.ndarray
    epochs_saved: np.ndarray
    trigger_rate: np.ndarray
    regret_high: np.ndarray
    regret_low: np.ndarray
    epochs_saved_low: np.ndarray
    epochs_saved_high: np.ndarray
    #: Whether each candidate can stop a curve before its epoch budget ends (None: all can).
    can_fire: np.ndarray | None = None
    #: Whether each candidate saved nothing here, its upper end of epochs saved left for unseen configurations.
    saved_nothing: np.ndarray | None = None


def estimate(
    result: PolicyReplay,
    mask: np.ndarray,
    split: Split,
    budgets: np.ndarray,
    earliest: np.ndarray,
    *,
    new_configs: int,
    level: float,
    rng: np.random.Generator,
    draws: int,
) -> Estimate:
    """Point estimates and prediction intervals of each candidate on the curves in ``mask``.

    ``budgets``: each curve's epoch budget; ``earliest``: per candidate, the earliest epoch
    it can stop any curve (:func:`analysis._replay.earliest_stops`, 0: never within the budget).
    With ``draws`` 0 the intervals are NaN.
    """
    rows = np.flatnonzero(mask)
    evaluable, regrets, savings = result.evaluable[rows], result.regret[rows], result.epochs_saved[rows]
    count = evaluable.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        regret = np.where(evaluable, regrets, 0.0).sum(axis=0) / count
        saved = np.where(evaluable, savings, 0.0).sum(axis=0) / count
        trigger = (evaluable & result.triggered[rows]).sum(axis=0) / count
    n_candidates = evaluable.shape[1]
    can_fire = (earliest > 0) & (earliest < budgets.max())
    if not draws:  # the means alone (the search objective chooses by the search-level figures)
        nan = np.full(n_candidates, np.nan)
        return Estimate(count, regret, saved, trigger, nan, nan, nan, nan, can_fire)
    # Both quantities from the same simulated searches: one resampling, twice the columns.
    sums, counts = config_sums(
        np.hstack([regrets, savings]),
        np.hstack([evaluable, evaluable]),
        split.config_index[rows],
        split.n_configs,
    )
    present = counts.sum(axis=1) > 0  # configurations with a curve in this set
    low, high = predicted_means(
        sums[present], counts[present], new_configs=new_configs, level=level, rng=rng, draws=draws
    )
    # The small-sample widening must not leave what each quantity can be.
    regret_low, regret_high = np.fmax(low[:n_candidates], 0.0), np.fmax(high[:n_candidates], 0.0)
    saved_low, saved_high = np.clip(low[n_candidates:], 0.0, 1.0), np.clip(high[n_candidates:], 0.0, 1.0)
    # A candidate that saved nothing on any curve here (it never fired, or only at the budget's
    # last epoch) resamples to exactly 0 saved, as if it never could. A new search may hold
    # configurations unlike every one seen (unseen_share); on each it may fire at its earliest.
    saved_nothing = (count > 0) & (np.where(evaluable, savings, 0.0).max(axis=0, initial=0.0) <= 0.0)
    if saved_nothing.any():
        observed = (counts[present][:, :n_candidates] > 0).sum(axis=0)
        share = np.array([unseen_share(int(m), new_configs, level) for m in observed[saved_nothing]])
        curve_budgets = budgets[rows]
        most = np.array(
            [
                np.mean(np.clip(1.0 - earliest[j] / curve_budgets[evaluable[:, j]], 0.0, 1.0)) if earliest[j] else 0.0
                for j in np.flatnonzero(saved_nothing)
            ]
        )
        saved_high[saved_nothing] = np.fmax(saved_high[saved_nothing], share * most)
    return Estimate(
        count, regret, saved, trigger, regret_high, regret_low, saved_low, saved_high, can_fire, saved_nothing
    )
