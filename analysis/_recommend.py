"""Recommendation of stopping-policy parameters for the user's next search.

For every policy the replay gives each candidate's outcome on every curve. With the
``tolerance`` objective the recommended candidate is the one that saves the most epochs
while the *upper* end of its mean per-curve regret interval, for a new search of
``new_configs`` configurations, stays within the tolerance. With the ``search`` objective
it is the one that uses the least compute while the upper ends of the search's
best-model and selected-model regret intervals (:mod:`analysis._search`) stay within it.
The same rule is checked by grouped cross-validation: in each cell it chooses on the
other configurations (on the other data folds) and is judged on the held-out ones, which
report how often the choice stayed within the tolerance.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis._asha import AshaSpec, simulate_asha
from analysis._ceiling import SavingsCeiling, savings_ceiling
from analysis._defaults import TRAIN_METRICS, default_metrics, default_target, infer_mode
from analysis._intervals import config_sums, predicted_means, unseen_share
from analysis._policies import Policy, baseline_policies, candidate_policies
from analysis._replay import CurveSet, PolicyReplay, earliest_stops, replay_policy, stop_epochs
from analysis._search import (
    NOISE_EPOCHS,
    SEARCH_COLUMNS,
    SearchFigures,
    best_model_noise,
    search_figures,
    time_per_epoch,
)
from analysis._split import Split, make_split, search_splits
from tune_stop.stoppers import FAMILIES

__all__ = [
    "CHOICES",
    "HELD_OUT_SPLITS",
    "OBJECTIVES",
    "RECOMMENDATION_COLUMNS",
    "Analysis",
    "Recommendation",
    "analyse",
    "choose_candidate",
    "recommend",
]

OBJECTIVES = ("tolerance", "search", "tradeoff")

#: What the ``choice`` column says about how the value was chosen.
CHOICES = {
    "within": "within the tolerance",
    "fallback": "nothing within the tolerance: lowest regret",
    "tradeoff": "best trade-off",
    "never": "never fires on these curves: saves nothing",
    "cannot": "cannot stop a curve before its epoch budget ends",
    "held_out": "no value kept held-out searches' best and selected models within the tolerance: lowest regret",
    "noise": "within the tolerance, not recommended: the best model moves more than that from epoch to epoch by chance",
    "none": "no evaluable curve",
    "fixed": "fixed (baseline)",
}

RECOMMENDATION_COLUMNS = [
    "policy",
    "metric",
    "mode",
    "parameter",
    "recommended",
    "regret",
    "regret_low",
    "regret_high",
    "epochs_saved",
    "epochs_saved_low",
    "epochs_saved_high",
    "interval",
    "new_configs",
    "regret_vs_full",
    *SEARCH_COLUMNS,
    "search_configs",
    "chosen_within",
    "held_out_exceeded",
    "held_out_splits",
    "selection",
    "trigger_rate",
    "cv_regret_mean",
    "cv_epochs_saved_mean",
    "cv_within_tolerance",
    "cv_unit",
    "cv_groups",
    "cv_cells",
    "n_curves",
    "n_configs",
    "n_censored",
    "n_no_target",
    "n_folds",
    "kind",
    "target",
    "choice",
    "description",
]

#: Simulated new searches for the reported intervals, and for each cross-validation cell's choice.
_DRAWS, _CV_DRAWS = 2000, 400

#: The search objective's held-out check: splits of the configurations into a predicting and a new
#: search, the simulated searches behind each split's choice, and the shares of the tolerance tried,
#: loosest first.
HELD_OUT_SPLITS, _SPLIT_DRAWS = 20, 200
_TOLERANCE_SHARES = (1.0, 0.5, 0.25, 0.0)


@dataclass(frozen=True)
class _Estimate:
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


def _estimate(
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
) -> _Estimate:
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
        return _Estimate(count, regret, saved, trigger, nan, nan, nan, nan, can_fire)
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
    return _Estimate(
        count, regret, saved, trigger, regret_high, regret_low, saved_low, saved_high, can_fire, saved_nothing
    )


def choose_candidate(
    estimate: _Estimate, objective: str, tolerance: float, penalty: float, search: SearchFigures | None = None
) -> tuple[int | None, str]:
    """Index of the chosen candidate and how it was chosen (a key of :data:`CHOICES`).

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
            return None, "cannot"
        valid = valid & estimate.can_fire
    if not valid.any():
        return None, "none"
    index = np.arange(len(valid))
    if objective == "tradeoff":
        score = np.where(valid, -estimate.regret + penalty * estimate.epochs_saved, -np.inf)
        chosen, how = int(index[score == score.max()][-1]), "tradeoff"
    else:
        if objective == "search":
            assert search is not None
            regret = np.fmax(search["best_regret"], search["selected_regret"])
            high = np.fmax(search["best_regret_high"], search["selected_regret_high"])
            cost = search["compute_used"]
        else:
            regret, high, cost = estimate.regret, estimate.regret_high, -estimate.epochs_saved
        feasible = valid & (high <= tolerance)
        if feasible.any():
            # lexsort: the last key is primary. Least cost (most saved), then least regret, then the latest.
            chosen = int(np.lexsort((-index, regret, cost, ~feasible))[0])
            how = "within"
        else:
            lowest = np.where(valid & ~np.isnan(regret), regret, np.inf)
            chosen, how = int(index[lowest == lowest.min()][-1]), "fallback"
    if estimate.trigger_rate[chosen] == 0:
        how = "never"
    return chosen, how


@dataclass
class Analysis:
    """Everything ``tune-stop recommend`` reports.

    Attributes:
        recommendations: One row per (metric, policy), columns :data:`RECOMMENDATION_COLUMNS`.
        candidates: Every candidate with its estimates and intervals (``policies.csv``).
        cv_choices: Per (metric, policy, held-out cell): the cell's ``group`` and
            ``fold``, the candidate chosen without it (``value``), and its held-out
            ``regret``, ``epochs_saved``, ``trigger_rate`` and ``within_tolerance``.
        replays: The replay of every policy with its chosen index and kind, for plots.
        curves: The curve matrices.
        split: How configurations were held out.
        target, target_mode: The quality judged at the stop epoch.
        interval: The level of the prediction intervals.
        new_configs: The size of the new search the intervals are for.
        objective: How values were chosen (:data:`OBJECTIVES`).
        tolerance: The regret tolerance of the ``tolerance`` objective.
        ceiling: The most epochs any rule could save within the tolerance (hindsight bound).
        selection: ``(metric, mode)`` by which the search-level figures select a configuration.
        asha: The ASHA replayed beside every policy, or None.
        alone: With ``asha``, the same analysis without it (the policies alone), else None.
        best_model_noise: How much the best model moves from one epoch to the next by chance
            (:func:`analysis._search.best_model_noise`; NaN without whole curves).
    """

    recommendations: pd.DataFrame
    candidates: pd.DataFrame
    cv_choices: pd.DataFrame = field(default_factory=pd.DataFrame)
    replays: list[tuple[PolicyReplay, int | None, str]] = field(default_factory=list)
    curves: CurveSet | None = None
    split: Split | None = None
    target: str = ""
    target_mode: str = "max"
    interval: float = 0.8
    new_configs: int = 0
    objective: str = "tolerance"
    tolerance: float = 0.01
    ceiling: SavingsCeiling | None = None
    selection: tuple[str, str] = ("", "min")
    asha: AshaSpec | None = None
    alone: Analysis | None = None
    best_model_noise: float = np.nan

    def recommended(self) -> Recommendation | None:
        """The one policy to run: the best of those chosen within the tolerance, or None if none was.

        Rows on the selection metric come first (the search's own metric); among them the
        least compute used (``search`` objective) or the most epochs saved (otherwise),
        then the lower regret.
        """
        table = self.recommendations
        rows = table[(table["kind"] == "recommended") & (table["choice"] == CHOICES["within"])]
        if self.objective == "tradeoff":
            rows = table[(table["kind"] == "recommended") & (table["choice"] == CHOICES["tradeoff"])]
        if rows.empty:
            return None
        on_selection = rows[rows["metric"] == self.selection[0]]
        rows = on_selection if not on_selection.empty else rows
        if self.objective == "search":
            order = rows.assign(
                _cost=rows["compute_used"], _regret=np.fmax(rows["best_regret"], rows["selected_regret"])
            )
        else:
            order = rows.assign(_cost=-rows["epochs_saved"], _regret=rows["regret"])
        best = order.sort_values(["_cost", "_regret"], kind="stable").iloc[0]
        for result, chosen, kind in self.replays:
            policy = result.policy
            if (
                kind == "recommended"
                and chosen is not None
                and (policy.name, policy.metric) == (best["policy"], best["metric"])
            ):
                value = policy.candidates[chosen]
                row = {key: best[key] for key in RECOMMENDATION_COLUMNS}
                return Recommendation(row, dataclasses.replace(policy, candidates=(value,)), value)
        return None


@dataclass(frozen=True)
class Recommendation:
    """The one policy to run in the next search (:meth:`Analysis.recommended`).

    Attributes:
        row: Its row of :attr:`Analysis.recommendations`.
        policy: The policy, with the one recommended value as its only candidate.
        value: The recommended value.
    """

    row: dict[str, Any]
    policy: Policy
    value: float

    def specs(self) -> list[dict[str, Any]]:
        """The space-file ``stoppers:`` entries that run it."""
        return self.policy.specs(self.value)


@dataclass(frozen=True)
class _Options:
    """How :func:`analyse` was asked to choose (see its arguments), and what the search-level figures read."""

    objective: str
    tolerance: float
    penalty: float
    level: float
    new_configs: int
    seed: int
    target: str
    target_mode: str
    selection: tuple[str, str]
    selection_values: np.ndarray = field(repr=False)
    seconds: np.ndarray | None = field(repr=False)
    #: :attr:`Analysis.best_model_noise`.
    noise: float = np.nan


def _search(
    result: PolicyReplay,
    curves: CurveSet,
    split: Split,
    options: _Options,
    mask: np.ndarray | None,
    *,
    new_configs: int,
    rng: np.random.Generator,
    draws: int,
) -> SearchFigures:
    """:func:`analysis._search.search_figures` of the curves in ``mask`` with the analysis' options."""
    return search_figures(
        result,
        curves,
        split.config_index,
        options.selection_values,
        options.selection[1],
        options.target_mode,
        mask=mask,
        new_configs=new_configs,
        level=options.level,
        rng=rng,
        draws=draws,
        seconds=options.seconds,
    )


def _cross_validate(
    result: PolicyReplay, curves: CurveSet, split: Split, earliest: np.ndarray, options: _Options, within: float
) -> list[dict[str, Any]]:
    """The choice rule run without each held-out cell, judged on the cell.

    In each cell the rule's intervals are for a search the size of the cell (its
    configurations on one fold), the search it is then judged on. The rule chooses within
    ``within`` (the tolerance the search objective's held-out check settled on, see
    :func:`_held_out_tolerance`); the cell is judged against the user's tolerance.
    """
    rng = np.random.default_rng([options.seed, 1])
    records = []
    for cell, (train, test) in enumerate(split.cells()):
        held_out_configs = len(np.unique(split.config_index[test]))
        estimate = _estimate(
            result,
            train,
            split,
            curves.budgets,
            earliest,
            new_configs=max(held_out_configs, 1),
            level=options.level,
            rng=rng,
            draws=0 if options.objective == "search" else _CV_DRAWS,
        )
        by_search = options.objective == "search"
        trained = (
            _search(
                result, curves, split, options, train, new_configs=max(held_out_configs, 1), rng=rng, draws=_CV_DRAWS
            )
            if by_search
            else None
        )
        chosen, _ = choose_candidate(estimate, options.objective, within, options.penalty, trained)
        judged_search = (
            _search(result, curves, split, options, test, new_configs=1, rng=rng, draws=0) if by_search else None
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
        record["within_tolerance"] = record["regret"] <= options.tolerance if judged else np.nan
        for name in ("best_regret", "selected_regret", "compute_used"):
            record[name] = (
                float(judged_search[name][chosen]) if judged_search is not None and chosen is not None else np.nan
            )
        if judged_search is not None:
            # The search objective is judged as it chooses: the held-out cell's best and selected models.
            worst = max(record["best_regret"], record["selected_regret"])
            record["within_tolerance"] = worst <= options.tolerance if np.isfinite(worst) else np.nan
        records.append(record)
    return records


@dataclass(frozen=True)
class _HeldOut:
    """The search objective's check of its own choice on searches it did not see.

    Attributes:
        tolerance: The tolerance the value is chosen within: the user's, or a share of it
            (NaN when no share tried passed).
        exceeded: At that tolerance, the share of splits whose new part's best or selected
            model lost more than the user's tolerance (at the strictest share, when none passed).
        splits: Splits judged (0: too few configurations to split).
    """

    tolerance: float
    exceeded: float
    splits: int


def _held_out_tolerance(
    result: PolicyReplay, curves: CurveSet, split: Split, earliest: np.ndarray, options: _Options
) -> _HeldOut:
    """The loosest share of the tolerance whose choice holds up on searches it did not see.

    A value whose best-model interval ends within the tolerance was judged on the observed
    configurations only, and a new search's best configuration is often better than all of
    them (with chance N/(N+M)): a threshold that never reached the observed best ones can
    stop that one early. So the rule is run as the user runs it, many times over: the
    configurations are split into a predicting search and a new one (:func:`search_splits`),
    a value is chosen on the first within a share of the tolerance, and the second says
    whether its best or selected model lost more than the tolerance. The loosest share
    (of :data:`_TOLERANCE_SHARES`) that exceeded it in at most the interval's upper tail
    (``(1 - level) / 2``) of the splits is used.
    """
    rng = np.random.default_rng([options.seed, 3])
    exceeded = []
    for predicting, new in search_splits(split, options.new_configs, HELD_OUT_SPLITS, options.seed):
        n_new = len(np.unique(split.config_index[new]))
        estimate = _estimate(
            result,
            predicting,
            split,
            curves.budgets,
            earliest,
            new_configs=n_new,
            level=options.level,
            rng=rng,
            draws=0,
        )
        trained = _search(result, curves, split, options, predicting, new_configs=n_new, rng=rng, draws=_SPLIT_DRAWS)
        judged = _search(result, curves, split, options, new, new_configs=1, rng=rng, draws=0)
        worst = np.fmax(judged["best_regret"], judged["selected_regret"])
        row = []
        for share in _TOLERANCE_SHARES:
            chosen, how = choose_candidate(estimate, "search", share * options.tolerance, options.penalty, trained)
            # A split where nothing qualifies runs no policy: it cannot cost the best model.
            row.append(chosen is not None and how == "within" and not worst[chosen] <= options.tolerance)
        exceeded.append(row)
    if not exceeded:
        return _HeldOut(options.tolerance, np.nan, 0)
    rates = np.mean(exceeded, axis=0)
    allowed = (1.0 - options.level) / 2.0
    for share, rate in zip(_TOLERANCE_SHARES, rates, strict=True):
        if rate <= allowed:
            return _HeldOut(share * options.tolerance, float(rate), len(exceeded))
    return _HeldOut(np.nan, float(rates[-1]), len(exceeded))


def _policy_rows(
    policy: Policy, kind: str, result: PolicyReplay, curves: CurveSet, split: Split, options: _Options
) -> tuple[dict[str, Any], pd.DataFrame, list[dict[str, Any]], int | None]:
    """The recommendation row, candidate table and cross-validation cells of one policy."""
    everything = np.ones(len(curves.trial_ids), dtype=bool)
    rng = np.random.default_rng([options.seed, 0])
    # A row that is no stopper of its own (ASHA alone) is judged by what ran, not by its stopper.
    earliest = (
        np.ones(len(policy.candidates), dtype=np.int64)
        if policy.description
        else earliest_stops(policy, int(curves.budgets.max()))
    )
    estimate = _estimate(
        result,
        everything,
        split,
        curves.budgets,
        earliest,
        new_configs=options.new_configs,
        level=options.level,
        rng=rng,
        draws=_DRAWS,
    )
    search = _search(
        result,
        curves,
        split,
        options,
        None,
        new_configs=options.new_configs,
        rng=np.random.default_rng([options.seed, 2]),
        draws=_DRAWS,
    )
    if estimate.saved_nothing is not None and estimate.saved_nothing.any():
        # The compute a value that saved nothing here may save on unseen configurations, as its epochs saved.
        lowered = estimate.saved_nothing
        low = search["compute_used_low"]
        low[lowered] = np.fmin(low[lowered], 1.0 - estimate.epochs_saved_high[lowered])
    chosen, how = choose_candidate(estimate, options.objective, options.tolerance, options.penalty, search)
    # The search objective's choice within the tolerance is refused where the best model is noise,
    # else checked on splits of these configurations.
    checked = options.objective == "search" and kind == "recommended" and how == "within"
    if checked and options.noise > options.tolerance:
        how = "noise"  # the best model moves by more than the tolerance by chance alone
    held_out = (
        _held_out_tolerance(result, curves, split, earliest, options)
        if checked and how == "within"
        else _HeldOut(options.tolerance, np.nan, 0)
    )
    if how == "within" and held_out.tolerance != options.tolerance:
        chosen, how = choose_candidate(estimate, options.objective, held_out.tolerance, options.penalty, search)
        # Nothing within the stricter share, or only a value that never fires here: the check refused.
        how = how if how == "within" else "held_out"
    cells = _cross_validate(result, curves, split, earliest, options, held_out.tolerance)
    judged = [cell for cell in cells if cell["n_evaluable"] > 0 and not np.isnan(cell["within_tolerance"])]
    n_judged = sum(cell["n_evaluable"] for cell in judged)
    has_target = np.isfinite(result.target_best)

    def at(array: np.ndarray) -> float:
        return float(array[chosen]) if chosen is not None else np.nan

    regret_vs_full = np.nan
    if chosen is not None:
        complete = result.evaluable[:, chosen] & curves.complete
        regret_vs_full = float(result.regret_vs_last[complete, chosen].mean()) if complete.any() else np.nan
    value = policy.candidates[chosen] if chosen is not None else np.nan
    row = {
        "policy": policy.name,
        "metric": policy.metric,
        "mode": policy.mode,
        # A row that is no stopper of its own (ASHA alone) has no parameter to show.
        "parameter": "" if policy.description else policy.parameter,
        "recommended": np.nan if policy.description else value,
        "regret": at(estimate.regret),
        "regret_low": at(estimate.regret_low),
        "regret_high": at(estimate.regret_high),
        "epochs_saved": at(estimate.epochs_saved),
        "epochs_saved_low": at(estimate.epochs_saved_low),
        "epochs_saved_high": at(estimate.epochs_saved_high),
        "interval": options.level,
        "new_configs": options.new_configs,
        "regret_vs_full": regret_vs_full,
        **{name: at(search[name]) for name in SEARCH_COLUMNS},
        "search_configs": search.n_configs,
        "chosen_within": held_out.tolerance,
        "held_out_exceeded": held_out.exceeded,
        "held_out_splits": held_out.splits,
        "selection": f"{options.selection[0]} ({options.selection[1]})",
        "trigger_rate": at(estimate.trigger_rate),
        "cv_regret_mean": sum(c["regret_sum"] for c in judged) / n_judged if n_judged else np.nan,
        "cv_epochs_saved_mean": sum(c["saved_sum"] for c in judged) / n_judged if n_judged else np.nan,
        "cv_within_tolerance": float(np.mean([c["within_tolerance"] for c in judged])) if judged else np.nan,
        "cv_unit": split.unit,
        "cv_groups": split.n_groups if split.n_cells else 0,
        "cv_cells": len(judged),
        "n_curves": len(curves.trial_ids),
        "n_configs": split.n_configs,
        "n_censored": int((~result.evaluable[:, chosen] & has_target).sum()) if chosen is not None else 0,
        "n_no_target": int((~has_target).sum()),
        "n_folds": split.n_folds,
        "kind": kind,
        "target": options.target,
        "choice": CHOICES["fixed" if kind == "baseline" and chosen is not None else how],
        "description": policy.describe(value) if chosen is not None else CHOICES[how],
    }
    chosen_in_cells = np.bincount(
        [c["index"] for c in cells if c["index"] is not None], minlength=len(policy.candidates)
    )
    candidates = pd.DataFrame(
        {
            "policy": policy.name,
            "metric": policy.metric,
            "mode": policy.mode,
            "parameter": policy.parameter,
            "value": np.asarray(policy.candidates, dtype=float),
            "kind": kind,
            "regret": estimate.regret,
            "regret_low": estimate.regret_low,
            "regret_high": estimate.regret_high,
            "epochs_saved": estimate.epochs_saved,
            "epochs_saved_low": estimate.epochs_saved_low,
            "epochs_saved_high": estimate.epochs_saved_high,
            **{name: search[name] for name in SEARCH_COLUMNS},
            "trigger_rate": estimate.trigger_rate,
            "n_evaluable": estimate.n_evaluable,
            "n_censored": (~result.evaluable & has_target[:, None]).sum(axis=0),
            "chosen_in_cells": chosen_in_cells,
            "recommended": np.arange(len(policy.candidates)) == chosen,
        }
    )
    cv_rows = [
        {
            "policy": policy.name,
            "metric": policy.metric,
            "cell": c["cell"],
            "group": c["group"],
            "fold": c["fold"],
            "value": policy.candidates[c["index"]] if c["index"] is not None else np.nan,
            **{
                key: c[key]
                for key in (
                    "regret",
                    "epochs_saved",
                    "trigger_rate",
                    "best_regret",
                    "selected_regret",
                    "compute_used",
                    "within_tolerance",
                )
            },
        }
        for c in cells
    ]
    return row, candidates, cv_rows, chosen


def _check_numbers(values: pd.Series, what: str) -> None:
    """Warns about values that are not numbers (read as NaN); raises if none is a number."""
    if pd.api.types.is_numeric_dtype(values):
        return
    numbers = pd.to_numeric(values, errors="coerce")
    text = values.notna() & numbers.isna()
    if not text.any():
        return
    example = values[text].iloc[0]
    if numbers.isna().all():
        raise ValueError(f"{what} holds no numbers (e.g. {example!r}).")
    warnings.warn(
        f"{what}: {int(text.sum())} of {len(values)} values are not numbers (e.g. {example!r}); they are read as "
        "NaN, where a non-finite guard stops a curve.",
        stacklevel=3,
    )


def analyse(
    curves: pd.DataFrame | CurveSet,
    *,
    metrics: Sequence[tuple[str, str]] | None = None,
    target: str | None = None,
    target_mode: str | None = None,
    families: Sequence[str] = tuple(FAMILIES),
    tolerance: float = 0.01,
    objective: str = "tolerance",
    penalty: float = 0.05,
    threshold_count: int = 100,
    baselines: bool = True,
    settings: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
    interval: float = 0.8,
    new_configs: int | None = None,
    groups: int = 5,
    seed: int = 0,
    selection: tuple[str, str] | None = None,
    asha: AshaSpec | None = None,
) -> Analysis:
    """Replays the policies and recommends each one's parameter for the next search.

    Args:
        curves: Long learning curves (``trial_id``, ``epoch``, metrics; ``config_id`` and
            ``fold`` when the search had them) or a CurveSet.
        metrics: ``(metric, mode)`` pairs to stop on; default: validation metrics present.
        target: Quality judged at the stop epoch; default ``test_accuracy`` or ``fid``.
        target_mode: Direction of the target; inferred from its name by default.
        families: Policy families to tune.
        tolerance: Largest mean relative regret of the ``tolerance`` objective (0.01 = 1%),
            met by the upper end of the regret interval.
        objective: ``tolerance`` (the most epochs saved whose mean per-curve regret
            interval stays within the tolerance), ``search`` (the least compute used whose
            best-model and selected-model regret intervals stay within it; needs curves that
            ran their whole budget) or ``tradeoff`` (best ``-regret + penalty * epochs_saved``).
        penalty: Weight of the epochs saved in the ``tradeoff`` objective.
        threshold_count: Number of threshold candidates (quantiles of the observed range).
        baselines: Add rows for Keras' and Lightning's defaults and Prechelt's GL/PQ/UP.
        settings: The live stoppers' fixed arguments, per family and metric, that the
            replay keeps while it tunes the family's parameter, e.g. ``{"threshold":
            {"d_accuracy": {"grace_period": 5}}, "patience": {"val_loss": {"min_delta":
            0.001}}}``; the metric ``"*"`` stands for every metric not named. Each
            family's ``settings`` in :data:`tune_stop.stoppers.FAMILIES` lists them; a
            search records its space's as :meth:`search_spaces.SearchSpace.replay_settings`.
            Baselines keep theirs.
        interval: Level of the prediction intervals, in (0, 1).
        new_configs: Configurations in the next search the intervals are for; default:
            as many as the curves have.
        groups: Most groups of configurations in the cross-validation (each held out
            in turn, crossed with the data folds).
        seed: Seed of the grouping and the resampling.
        selection: ``(metric, mode)`` by which a user selects the configuration a search
            ends with (the search-level figures); default: the first of ``metrics``.
        asha: The ASHA the next search runs beside the policy: every figure is then of
            the policy beside this ASHA, replayed by :func:`analysis._asha.simulate_asha`
            with the trials starting in the order of their ids, and a baseline row gives
            ASHA alone (``asha_alone``). Needs curves that ran their whole budget.

    Raises:
        ValueError: For an unknown objective or family, a bad tolerance, interval or
            size, or a metric or target missing from the curves.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {list(OBJECTIVES)}, but got objective={objective!r}.")
    if not np.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance must be a finite number >= 0, but got tolerance={tolerance!r}.")
    if not 0 < interval < 1:
        raise ValueError(f"interval must be in (0, 1), but got interval={interval!r}.")
    if new_configs is not None and (
        isinstance(new_configs, bool) or not isinstance(new_configs, int) or new_configs < 1
    ):
        raise ValueError(f"new_configs must be an integer >= 1, but got new_configs={new_configs!r}.")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 2:
        raise ValueError(f"groups must be an integer >= 2, but got groups={groups!r}.")
    for family in families:
        if family not in FAMILIES:
            raise ValueError(f"policy must be one of {list(FAMILIES)}, but got policy={family!r}.")
    settings = settings or {}
    for family, per_metric in settings.items():
        allowed = FAMILIES[family].settings if family in FAMILIES else ()
        for metric, arguments in per_metric.items():
            unknown = sorted(set(arguments) - set(allowed))
            if unknown:
                raise ValueError(
                    f"settings for {family} on {metric!r}: {unknown} cannot be set (allowed: {list(allowed)})."
                )
    curve_set = curves if isinstance(curves, CurveSet) else CurveSet.from_frame(curves)
    columns = list(curve_set.frame.columns)
    metrics = list(metrics) if metrics is not None else default_metrics(columns)
    if not metrics:
        raise ValueError("no metric to analyse: give --metric (none of val_loss, val_accuracy, fid is present).")
    if target is None:
        found = default_target(columns)
        target, inferred = found if found is not None else (metrics[0][0], metrics[0][1])
        target_mode = target_mode or inferred
        if found is None:
            warnings.warn(
                f"no test_accuracy or fid in the curves: quality is judged by {target}, a metric the policies stop "
                f"on, so each regret is against {target}'s own best epoch. Give --target to judge by another column.",
                stacklevel=2,
            )
    target_mode = target_mode or infer_mode(target)
    selection = selection or metrics[0]
    roles: dict[str, str] = {}  # each column checked once, named by its first role
    for name, role in [*((m, "metric") for m, _ in metrics), (target, "target"), (selection[0], "selection metric")]:
        roles.setdefault(name, role)
    for name, role in roles.items():
        if name not in columns:
            reported = ", ".join(c for c in columns if not c.startswith("config/") and not c.startswith("_"))
            raise ValueError(f"{role} {name!r} is not in the curves; they have: {reported}")
        _check_numbers(curve_set.frame[name], f"{role} {name!r}")

    split = make_split(curve_set.config_ids, curve_set.folds, max_groups=groups, seed=seed)
    if split.n_cells == 0:
        warnings.warn(
            f"only {split.n_configs} {split.unit}: nothing can be held out, so the cv_* columns are empty.",
            stacklevel=2,
        )
    cut_short = int((~curve_set.complete).sum())
    if cut_short * 2 > len(curve_set.trial_ids):
        warnings.warn(
            f"{cut_short} of {len(curve_set.trial_ids)} curves were cut short (by ASHA or their own stopper): a "
            "policy that has not fired by a curve's end cannot be judged on it, and the search-level figures need "
            "whole curves. Record them with tune-stop search SPACE --full-curves, or run the whole loop with "
            "--calibrate N.",
            stacklevel=2,
        )
    if split.n_cells and split.n_configs < 10:
        warnings.warn(
            f"only {split.n_configs} configurations: the per-curve intervals are wide, the best-model and "
            "selected-model ones rest on the few best configurations (read them as rough), and each held-out group "
            "is small.",
            stacklevel=2,
        )
    for needs, what in ((objective == "search", "the search objective"), (asha is not None, "replaying ASHA")):
        if needs and not curve_set.complete.all():
            cut = int((~curve_set.complete).sum())
            raise ValueError(
                f"{what} needs every curve trained to its budget, but {cut} of "
                f"{len(curve_set.trial_ids)} were cut short: record them with tune-stop search --full-curves."
            )
    if asha is not None and asha.metric not in columns:
        raise ValueError(f"ASHA's metric {asha.metric!r} is not in the curves.")
    noise = best_model_noise(curve_set, split.config_index, target, target_mode)
    if objective == "search" and noise > tolerance:
        warnings.warn(
            f"the best model's {target} moves by {noise:.1%} from one epoch to the next by chance (what its folds "
            f"disagree on over the last {NOISE_EPOCHS} epochs), more than the {tolerance:.1%} tolerance: within it "
            "the best-model figures are noise, so no policy is recommended. Judge with a tolerance above that noise "
            "(tune-stop recommend --tolerance), or a steadier target (more data folds, a larger evaluation set).",
            stacklevel=2,
        )
    options = _Options(
        objective,
        tolerance,
        penalty,
        interval,
        new_configs or split.n_configs,
        seed,
        target,
        target_mode,
        (selection[0], selection[1]),
        curve_set.matrix(selection[0]),
        time_per_epoch(curve_set),
        noise,
    )

    rows, candidate_rows, replays, cv_rows = [], [], [], []
    for metric, mode in metrics:
        train_metric = TRAIN_METRICS.get(metric) if TRAIN_METRICS.get(metric) in columns else None
        values = curve_set.matrix(metric)
        fixed = {family: per_metric.get(metric, per_metric.get("*", {})) for family, per_metric in settings.items()}
        try:
            policies = candidate_policies(families, metric, mode, values, train_metric, threshold_count, fixed)
        except ValueError as error:
            raise ValueError(f"settings for {metric!r}: {error}") from None
        if not policies:
            raise ValueError(
                f"none of the policies {', '.join(families)} applies to {metric} (mode={mode}): gl, pq and up "
                "are defined on errors (mode='min'), and pq needs the training loss."
            )
        kinds = ["recommended"] * len(policies)
        if baselines:
            extra = baseline_policies(metric, mode, train_metric)
            if asha is not None:
                extra.append(_asha_alone(asha, metric, mode, int(curve_set.budgets.max())))
            policies += extra
            kinds += ["baseline"] * len(extra)
        for policy, kind in zip(policies, kinds, strict=True):
            stops = _beside_asha(policy, curve_set, asha, options) if asha is not None else None
            result = replay_policy(policy, curve_set, target, target_mode, stops=stops)
            row, candidates, cells, chosen = _policy_rows(policy, kind, result, curve_set, split, options)
            rows.append(row)
            candidate_rows.append(candidates)
            cv_rows += cells
            replays.append((result, chosen, kind))
    # Beside ASHA, the same policies without it: what audit trials (never cut by ASHA) measure.
    alone = (
        analyse(
            curve_set,
            metrics=metrics,
            target=target,
            target_mode=target_mode,
            families=families,
            tolerance=tolerance,
            objective=objective,
            penalty=penalty,
            threshold_count=threshold_count,
            baselines=False,
            settings=settings,
            interval=interval,
            new_configs=new_configs,
            groups=groups,
            seed=seed,
            selection=selection,
        )
        if asha is not None
        else None
    )
    return Analysis(
        alone=alone,
        recommendations=pd.DataFrame(rows, columns=RECOMMENDATION_COLUMNS),
        candidates=pd.concat(candidate_rows, ignore_index=True),
        cv_choices=pd.DataFrame(cv_rows),
        replays=replays,
        curves=curve_set,
        split=split,
        target=target,
        target_mode=target_mode,
        interval=interval,
        new_configs=options.new_configs,
        objective=objective,
        tolerance=tolerance,
        ceiling=savings_ceiling(curve_set, target, target_mode, tolerance),
        selection=options.selection,
        asha=asha,
        best_model_noise=noise,
    )


def _asha_alone(asha: AshaSpec, metric: str, mode: str, budget: int) -> Policy:
    """The baseline row of ASHA with no stopping policy: a patience of the whole budget never fires."""
    return Policy(
        "patience", metric, mode, (float(budget),), name="asha_alone", description=f"{asha.describe()}, alone"
    )


def _beside_asha(policy: Policy, curves: CurveSet, asha: AshaSpec, options: _Options) -> np.ndarray:
    """Where each trial ends with ``asha`` beside each candidate of ``policy`` (0: its whole curve)."""
    stops, _ = simulate_asha(
        asha,
        curves.matrix(asha.metric),
        curves.lengths,
        int(curves.budgets.max()),
        stop_epochs(policy, curves),
        seconds=options.seconds,
    )
    return stops


def recommend(curves: pd.DataFrame | CurveSet, **options: object) -> pd.DataFrame:
    """The recommendations table of :func:`analyse` (one row per metric and policy)."""
    return analyse(curves, **options).recommendations  # type: ignore[arg-type]
