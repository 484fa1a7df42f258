"""The most epochs any stopping rule could save on a set of curves, within a regret tolerance.

A clairvoyant rule that knows every curve in advance stops each one at the epoch that
best trades epochs for quality. Choosing those epochs so that the mean epochs saved is
largest while the mean relative regret stays within the tolerance is a multiple-choice
knapsack problem; the value of its linear relaxation bounds every real rule from above.
By LP duality that value is ``min over lambda >= 0 of g(lambda)`` with

    g(lambda) = mean_i max_k (saved[i, k] - lambda * regret[i, k]) + lambda * tolerance,

a convex piecewise-linear function of one variable. Every ``lambda`` gives an upper
bound, so the minimum found by bisecting its slope is a bound even when not exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis._regret import relative_regret
from analysis._replay import CurveSet
from tune_stop.stoppers import mode_sign

__all__ = ["SavingsCeiling", "savings_ceiling", "search_ceiling"]


@dataclass(frozen=True)
class SavingsCeiling:
    """Upper bound on the mean share of epochs saved within a regret tolerance.

    Attributes:
        epochs_saved: No stopping rule saves more on these curves at mean regret ``<= tolerance``.
        tolerance: The mean relative regret allowed.
        n_curves: Complete curves the bound is computed on (censored ones say nothing).
    """

    epochs_saved: float
    tolerance: float
    n_curves: int


def _dual(saved: np.ndarray, regret: np.ndarray, lam: float, tolerance: float) -> tuple[float, float]:
    """``g(lam)`` and the mean regret of each curve's maximiser (the slope is ``tolerance`` minus it)."""
    score = saved - lam * regret
    choice = np.argmax(score, axis=1)
    rows = np.arange(len(choice))
    return float(score[rows, choice].mean() + lam * tolerance), float(regret[rows, choice].mean())


def savings_ceiling(
    curves: CurveSet, target: str, target_mode: str, tolerance: float, iterations: int = 100
) -> SavingsCeiling:
    """The clairvoyant bound on epochs saved at mean ``target`` regret ``<= tolerance``.

    Regret is measured as the replay measures it: the relative loss of ``target`` at the
    stop epoch against the curve's best epoch. Only complete curves with a finite target
    count; an epoch whose target is not finite is never a stop the bound may choose.
    """
    values = curves.matrix(target)
    sign = mode_sign(target_mode)
    finite = np.isfinite(values)
    keep = curves.complete & finite.any(axis=1)
    if not keep.any():
        return SavingsCeiling(float("nan"), tolerance, 0)
    values, finite = values[keep], finite[keep]
    best = sign * np.where(finite, sign * values, np.inf).min(axis=1)
    regret = np.where(finite, relative_regret(values, best[:, None], sign, curves.regret_scale), np.inf)
    epochs = np.arange(1, values.shape[1] + 1)
    saved = np.where(finite, 1.0 - epochs[None, :] / curves.budgets[keep][:, None], -np.inf)
    # An epoch with infinite regret is never chosen once lambda > 0; 0 * inf must not poison g.
    regret = np.where(finite, regret, 0.0)

    upper, slope_regret = _dual(saved, regret, 0.0, tolerance)
    if slope_regret <= tolerance:
        return SavingsCeiling(upper, tolerance, int(keep.sum()))
    low, high = 0.0, 1.0
    while _dual(saved, regret, high, tolerance)[1] > tolerance and high < 1e12:
        low, high = high, high * 2.0
    for _ in range(iterations):
        if high - low <= 1e-9 * high:  # lambda known to 9 digits: g no longer moves
            break
        middle = 0.5 * (low + high)
        value, mean_regret = _dual(saved, regret, middle, tolerance)
        upper = min(upper, value)
        if mean_regret > tolerance:
            low = middle
        else:
            high = middle
    upper = min(upper, _dual(saved, regret, low, tolerance)[0], _dual(saved, regret, high, tolerance)[0])
    return SavingsCeiling(upper, tolerance, int(keep.sum()))


def search_ceiling(curves: CurveSet, target: str, target_mode: str, tolerance: float) -> float:
    """The most compute (share of the epochs of full training) any rule could save keeping the best model.

    In hindsight a rule could stop every trial after its first epoch except those of one
    configuration, trained (all its folds alike) to the earliest epoch whose fold-mean
    ``target`` is within ``tolerance`` of the search's best trained to the budget; this is
    the least compute of any such choice. NaN unless every curve ran its whole budget.
    """
    if not len(curves.trial_ids) or not curves.complete.all():
        return float("nan")
    sign = mode_sign(target_mode)
    values = curves.matrix(target)
    configs, config_index = np.unique(np.asarray(curves.config_ids).astype(str), return_inverse=True)
    folds = np.bincount(config_index, minlength=len(configs)).astype(float)
    # Fold-mean target of each configuration at each epoch (all its folds stopped at the same epoch).
    means = np.stack([values[config_index == c].mean(axis=0) for c in range(len(configs))])
    full = sign * np.nanmin(sign * means[np.arange(len(configs)), curves.lengths.max() - 1])
    regret = relative_regret(means, np.full_like(means, full), sign, curves.regret_scale)
    within = np.isfinite(means) & (regret <= tolerance)
    epochs = np.arange(1, means.shape[1] + 1)
    spent = folds[:, None] * epochs[None, :] + (len(curves.trial_ids) - folds[:, None])  # the others: one epoch
    used = np.where(within, spent, np.inf).min()
    return float(1.0 - used / curves.budgets.sum())
