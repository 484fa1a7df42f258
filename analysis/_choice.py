"""The choice rule: which candidate a policy recommends, how it was chosen, and the one ranking.

Candidates of one policy (:func:`choose_candidate`) and rows of several policies
(:func:`rank_rows`) are ranked by the same keys (:func:`ranking_keys`): under the
``search`` objective the compute used, then the larger of the best-model and
selected-model regrets; otherwise the epochs saved (most first), then the mean regret.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from analysis._estimate import Estimate
from analysis._search import SearchFigures

__all__ = ["Choice", "choose_candidate", "rank_rows", "ranking_keys"]


class Choice(enum.Enum):
    """How a row's value was chosen (its sentence is made where it is shown: :data:`analysis.CHOICES`)."""

    WITHIN = "within"
    """Within the tolerance."""
    FALLBACK = "fallback"
    """Nothing within the tolerance: the lowest regret."""
    TRADEOFF = "tradeoff"
    """The best trade-off (``tradeoff`` objective)."""
    NEVER = "never"
    """The chosen value never fires on these curves."""
    CANNOT = "cannot"
    """No value can stop a curve before its budget ends."""
    HELD_OUT = "held_out"
    """No value kept held-out searches' best and selected models within the tolerance."""
    NOISE = "noise"
    """Within the tolerance, refused: the best model moves more than that by chance."""
    CUT = "cut"
    """Chosen on the curves that ran, refused: most curves were cut short (:attr:`CurveSet.mostly_cut`)."""
    NONE = "none"
    """No evaluable curve."""
    FIXED = "fixed"
    """A baseline's fixed value."""


def ranking_keys(figures: Mapping[str, Any] | pd.DataFrame, objective: str) -> tuple[Any, Any, Any]:
    """``(cost, regret, regret_high)`` of each candidate or row, lower is better for all three.

    ``figures`` maps the column names of the recommendations (``compute_used``,
    ``best_regret``, ``epochs_saved``, ...) to arrays or columns.
    """
    if objective == "search":
        regret = np.fmax(figures["best_regret"], figures["selected_regret"])
        high = np.fmax(figures["best_regret_high"], figures["selected_regret_high"])
        return figures["compute_used"], regret, high
    return -figures["epochs_saved"], figures["regret"], figures["regret_high"]


def rank_rows(rows: pd.DataFrame, objective: str, *, lowest_regret_first: bool = False) -> pd.DataFrame:
    """``rows`` from the best to the worst: least cost, then least regret (ties keep their order).

    ``lowest_regret_first``: the order of a fallback, least regret then least cost.
    """
    cost, regret, _ = ranking_keys(rows, objective)
    keys = (cost, regret) if lowest_regret_first else (regret, cost)  # lexsort: the last key is primary
    order = np.lexsort([np.arange(len(rows)), *(np.asarray(k, dtype=float) for k in keys)])
    return rows.iloc[order]


def choose_candidate(
    estimate: Estimate, objective: str, tolerance: float, penalty: float, search: SearchFigures | None = None
) -> tuple[int | None, Choice]:
    """Index of the chosen candidate and how it was chosen.

    ``tolerance``: the most epochs saved among the candidates whose regret interval's
    upper end is within ``tolerance`` (ties: lower regret, then the most conservative,
    i.e. the later candidate); if none qualifies, the lowest regret. ``search`` (needs
    ``search``): the least compute used among the candidates whose best-model and
    selected-model regret intervals both end within ``tolerance`` (ties alike); if none
    qualifies, the lowest of the two regrets' larger. ``tradeoff``: the highest
    ``-regret + penalty * epochs_saved``. Candidates are ordered from the one that fires
    earliest to the one that fires latest.
    """
    valid = (estimate.n_evaluable > 0) & np.isfinite(estimate.regret)
    if objective == "search":
        if search is None:
            raise ValueError("the search objective needs the search-level figures.")
        valid = np.isfinite(search["compute_used"])
    if estimate.can_fire is not None:
        if valid.any() and not (valid & estimate.can_fire).any():
            return None, Choice.CANNOT
        valid = valid & estimate.can_fire
    if not valid.any():
        return None, Choice.NONE
    index = np.arange(len(valid))
    if objective == "tradeoff":
        score = np.where(valid, -estimate.regret + penalty * estimate.epochs_saved, -np.inf)
        chosen, how = int(index[score == score.max()][-1]), Choice.TRADEOFF
    else:
        figures: Mapping[str, Any] = (
            search.figures
            if objective == "search" and search is not None
            else {
                "epochs_saved": estimate.epochs_saved,
                "regret": estimate.regret,
                "regret_high": estimate.regret_high,
            }
        )
        cost, regret, high = ranking_keys(figures, objective)
        feasible = valid & (high <= tolerance)
        if feasible.any():
            # lexsort: the last key is primary. Least cost (most saved), then least regret, then the latest.
            chosen = int(np.lexsort((-index, regret, cost, ~feasible))[0])
            how = Choice.WITHIN
        else:
            lowest = np.where(valid & ~np.isnan(regret), regret, np.inf)
            chosen, how = int(index[lowest == lowest.min()][-1]), Choice.FALLBACK
    if estimate.trigger_rate[chosen] == 0:
        how = Choice.NEVER
    return chosen, how
