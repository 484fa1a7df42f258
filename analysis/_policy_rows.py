"""One policy judged: its recommendation row, its candidate table and its cross-validation cells.

The steps, in order: the estimates and intervals of every candidate (:mod:`analysis._estimate`,
:mod:`analysis._search`), the choice (:mod:`analysis._choice`), the search objective's refusal
where the best model is noise and its check on held-out splits (:mod:`analysis._held_out`),
then the grouped cross-validation of the same rule (:mod:`analysis._cross_validation`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis._choice import Choice, choose_candidate
from analysis._context import Context, search_of
from analysis._cross_validation import cross_validate
from analysis._estimate import DRAWS, Estimate, estimate
from analysis._held_out import HeldOut, held_out_tolerance
from analysis._policies import Policy
from analysis._replay import CurveSet, PolicyReplay, earliest_stops
from analysis._search import SEARCH_COLUMNS, SearchFigures
from analysis._split import Split

__all__ = ["PolicyRows", "policy_rows"]

_CV_FIGURES = (
    "regret",
    "epochs_saved",
    "trigger_rate",
    "best_regret",
    "selected_regret",
    "compute_used",
    "within_tolerance",
)


@dataclass(frozen=True)
class PolicyRows:
    """What one policy adds to an analysis.

    Attributes:
        row: Its row of the recommendations (``choice`` holds a :class:`Choice`).
        candidates: Every candidate with its estimates (``policies.csv``).
        cv_rows: One record per cross-validation cell.
        chosen: The index of the chosen candidate, or None.
    """

    row: dict[str, Any]
    candidates: pd.DataFrame
    cv_rows: list[dict[str, Any]]
    chosen: int | None


@dataclass(frozen=True)
class _Judged:
    """The estimates, the choice and its checks of one policy."""

    estimate: Estimate
    search: SearchFigures
    chosen: int | None
    how: Choice
    held_out: HeldOut
    cells: list[dict[str, Any]]


def _judge(policy: Policy, kind: str, result: PolicyReplay, curves: CurveSet, split: Split, ctx: Context) -> _Judged:
    """Estimates every candidate, chooses one, and checks the choice."""
    everything = np.ones(len(curves.trial_ids), dtype=bool)
    # A row that is no stopper of its own (ASHA alone) is judged by what ran, not by its stopper.
    earliest = (
        np.ones(len(policy.candidates), dtype=np.int64)
        if policy.description
        else earliest_stops(policy, int(curves.budgets.max()))
    )
    estimated = estimate(
        result,
        everything,
        split,
        curves.budgets,
        earliest,
        new_configs=ctx.new_configs,
        level=ctx.level,
        rng=np.random.default_rng([ctx.seed, 0]),
        draws=DRAWS,
    )
    rng = np.random.default_rng([ctx.seed, 2])
    search = search_of(result, curves, split, ctx, None, new_configs=ctx.new_configs, rng=rng, draws=DRAWS)
    if estimated.saved_nothing is not None and estimated.saved_nothing.any():
        # The compute a value that saved nothing here may save on unseen configurations, as its epochs saved.
        lowered = estimated.saved_nothing
        low = search["compute_used_low"]
        low[lowered] = np.fmin(low[lowered], 1.0 - estimated.epochs_saved_high[lowered])
    chosen, how = choose_candidate(estimated, ctx.objective, ctx.tolerance, ctx.penalty, search)
    # The search objective's choice within the tolerance is refused where the best model is noise,
    # else checked on splits of these configurations.
    checked = ctx.objective == "search" and kind == "recommended" and how is Choice.WITHIN
    if checked and ctx.noise > ctx.tolerance:
        how = Choice.NOISE  # the best model moves by more than the tolerance by chance alone
    if kind == "recommended" and how in (Choice.WITHIN, Choice.TRADEOFF) and curves.mostly_cut:
        how = Choice.CUT  # judged on the few curves the scheduler let run: not a sample of the next search
    held_out = (
        held_out_tolerance(result, curves, split, earliest, ctx)
        if checked and how is Choice.WITHIN
        else HeldOut(ctx.tolerance, np.nan, 0)
    )
    if how is Choice.WITHIN and held_out.tolerance != ctx.tolerance:
        chosen, how = choose_candidate(estimated, ctx.objective, held_out.tolerance, ctx.penalty, search)
        # Nothing within the stricter share, or only a value that never fires here: the check refused.
        how = how if how is Choice.WITHIN else Choice.HELD_OUT
    cells = cross_validate(result, curves, split, earliest, ctx, held_out.tolerance)
    return _Judged(estimated, search, chosen, how, held_out, cells)


def _row(
    policy: Policy, kind: str, result: PolicyReplay, curves: CurveSet, split: Split, ctx: Context, judged: _Judged
) -> dict[str, Any]:
    """The policy's row of the recommendations, columns :data:`analysis.RECOMMENDATION_COLUMNS`."""
    chosen, estimated, search, held_out = judged.chosen, judged.estimate, judged.search, judged.held_out
    cells = [cell for cell in judged.cells if cell["n_evaluable"] > 0 and not np.isnan(cell["within_tolerance"])]
    n_judged = sum(cell["n_evaluable"] for cell in cells)
    has_target = np.isfinite(result.target_best)

    def at(array: np.ndarray) -> float:
        return float(array[chosen]) if chosen is not None else np.nan

    regret_vs_full = np.nan
    if chosen is not None:
        complete = result.evaluable[:, chosen] & curves.complete
        regret_vs_full = float(result.regret_vs_last[complete, chosen].mean()) if complete.any() else np.nan
    value = policy.candidates[chosen] if chosen is not None else np.nan
    return {
        "policy": policy.name,
        "metric": policy.metric,
        "mode": policy.mode,
        # A row that is no stopper of its own (ASHA alone) has no parameter to show.
        "parameter": "" if policy.description else policy.parameter,
        "recommended": np.nan if policy.description else value,
        "regret": at(estimated.regret),
        "regret_low": at(estimated.regret_low),
        "regret_high": at(estimated.regret_high),
        "epochs_saved": at(estimated.epochs_saved),
        "epochs_saved_low": at(estimated.epochs_saved_low),
        "epochs_saved_high": at(estimated.epochs_saved_high),
        "interval": ctx.level,
        "new_configs": ctx.new_configs,
        "regret_vs_full": regret_vs_full,
        **{name: at(search[name]) for name in SEARCH_COLUMNS},
        "search_configs": search.n_configs,
        "chosen_within": held_out.tolerance,
        "held_out_exceeded": held_out.exceeded,
        "held_out_splits": held_out.splits,
        "selection": f"{ctx.selection[0]} ({ctx.selection[1]})",
        "trigger_rate": at(estimated.trigger_rate),
        "cv_regret_mean": sum(c["regret_sum"] for c in cells) / n_judged if n_judged else np.nan,
        "cv_epochs_saved_mean": sum(c["saved_sum"] for c in cells) / n_judged if n_judged else np.nan,
        "cv_within_tolerance": float(np.mean([c["within_tolerance"] for c in cells])) if cells else np.nan,
        "cv_unit": split.unit,
        "cv_groups": split.n_groups if split.n_cells else 0,
        "cv_cells": len(cells),
        "n_curves": len(curves.trial_ids),
        "n_configs": split.n_configs,
        "n_censored": int((~result.evaluable[:, chosen] & has_target).sum()) if chosen is not None else 0,
        "n_no_target": int((~has_target).sum()),
        "n_folds": split.n_folds,
        "kind": kind,
        "target": ctx.target,
        "choice": Choice.FIXED if kind == "baseline" and chosen is not None else judged.how,
        # Where nothing was chosen, the report describes the row by its choice.
        "description": policy.describe(value) if chosen is not None else "",
    }


def _candidates(policy: Policy, kind: str, result: PolicyReplay, judged: _Judged) -> pd.DataFrame:
    """Every candidate of the policy with its estimates (``policies.csv``)."""
    estimated, search = judged.estimate, judged.search
    has_target = np.isfinite(result.target_best)
    chosen_in_cells = np.bincount(
        [c["index"] for c in judged.cells if c["index"] is not None], minlength=len(policy.candidates)
    )
    return pd.DataFrame(
        {
            "policy": policy.name,
            "metric": policy.metric,
            "mode": policy.mode,
            "parameter": policy.parameter,
            "value": np.asarray(policy.candidates, dtype=float),
            "kind": kind,
            "regret": estimated.regret,
            "regret_low": estimated.regret_low,
            "regret_high": estimated.regret_high,
            "epochs_saved": estimated.epochs_saved,
            "epochs_saved_low": estimated.epochs_saved_low,
            "epochs_saved_high": estimated.epochs_saved_high,
            **{name: search[name] for name in SEARCH_COLUMNS},
            "trigger_rate": estimated.trigger_rate,
            "n_evaluable": estimated.n_evaluable,
            "n_censored": (~result.evaluable & has_target[:, None]).sum(axis=0),
            "chosen_in_cells": chosen_in_cells,
            "recommended": np.arange(len(policy.candidates)) == judged.chosen,
        }
    )


def policy_rows(
    policy: Policy, kind: str, result: PolicyReplay, curves: CurveSet, split: Split, ctx: Context
) -> PolicyRows:
    """The recommendation row, candidate table and cross-validation cells of one policy."""
    judged = _judge(policy, kind, result, curves, split, ctx)
    cv_rows = [
        {
            "policy": policy.name,
            "metric": policy.metric,
            "cell": c["cell"],
            "group": c["group"],
            "fold": c["fold"],
            "value": policy.candidates[c["index"]] if c["index"] is not None else np.nan,
            **{key: c[key] for key in _CV_FIGURES},
        }
        for c in judged.cells
    ]
    return PolicyRows(
        _row(policy, kind, result, curves, split, ctx, judged),
        _candidates(policy, kind, result, judged),
        cv_rows,
        judged.chosen,
    )
