"""Grouped cross-validation of the choice rule: chosen without each held-out cell, judged on the cell."""

from __future__ import annotations

from typing import Any

import numpy as np

from analysis._choice import choose_candidate
from analysis._context import Context, search_of
from analysis._estimate import CV_DRAWS, estimate
from analysis._replay import CurveSet, PolicyReplay
from analysis._split import Split

__all__ = ["cross_validate"]


def cross_validate(
    result: PolicyReplay, curves: CurveSet, split: Split, earliest: np.ndarray, ctx: Context, within: float
) -> list[dict[str, Any]]:
    """The choice rule run without each held-out cell, judged on the cell.

    In each cell the rule's intervals are for a search the size of the cell (its
    configurations on one fold), the search it is then judged on. The rule chooses within
    ``within`` (the tolerance the search objective's held-out check settled on, see
    :func:`analysis._held_out.held_out_tolerance`); the cell is judged against the user's tolerance.
    """
    rng = np.random.default_rng([ctx.seed, 1])
    records = []
    for cell, (train, test) in enumerate(split.cells()):
        held_out_configs = len(np.unique(split.config_index[test]))
        estimated = estimate(
            result,
            train,
            split,
            curves.budgets,
            earliest,
            new_configs=max(held_out_configs, 1),
            level=ctx.level,
            rng=rng,
            draws=0 if ctx.objective == "search" else CV_DRAWS,
        )
        by_search = ctx.objective == "search"
        trained = (
            search_of(result, curves, split, ctx, train, new_configs=max(held_out_configs, 1), rng=rng, draws=CV_DRAWS)
            if by_search
            else None
        )
        chosen, _ = choose_candidate(estimated, ctx.objective, within, ctx.penalty, trained)
        judged_search = (
            search_of(result, curves, split, ctx, test, new_configs=1, rng=rng, draws=0) if by_search else None
        )
        evaluable = result.evaluable & test[:, None]
        record: dict[str, Any] = {
            "cell": cell,
            "group": int(split.group[test][0]) if test.any() else -1,
            "fold": int(split.fold[test][0]) if test.any() and split.n_folds > 1 else np.nan,
            "index": chosen,
            "n_evaluable": 0,
            "regret_sum": 0.0,
            "saved_sum": 0.0,
            "fired": 0,
        }
        if chosen is not None:
            rows = evaluable[:, chosen]
            record.update(
                n_evaluable=int(rows.sum()),
                regret_sum=float(result.regret[rows, chosen].sum()),
                saved_sum=float(result.epochs_saved[rows, chosen].sum()),
                fired=int((rows & result.triggered[:, chosen]).sum()),
            )
        judged = record["n_evaluable"]
        # The cell's own means (NaN where it holds no evaluable curve).
        record["regret"] = record["regret_sum"] / judged if judged else np.nan
        record["epochs_saved"] = record["saved_sum"] / judged if judged else np.nan
        record["trigger_rate"] = record["fired"] / judged if judged else np.nan
        record["within_tolerance"] = record["regret"] <= ctx.tolerance if judged else np.nan
        for name in ("best_regret", "selected_regret", "compute_used"):
            record[name] = (
                float(judged_search[name][chosen]) if judged_search is not None and chosen is not None else np.nan
            )
        if judged_search is not None:
            # The search objective is judged as it chooses: the held-out cell's best and selected models.
            worst = max(record["best_regret"], record["selected_regret"])
            record["within_tolerance"] = worst <= ctx.tolerance if np.isfinite(worst) else np.nan
        records.append(record)
    return records
