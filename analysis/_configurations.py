"""The stopping configuration of a whole search: a scheduler, a per-trial rule, or both, and the one to run next.

A user switches on a scheduler (Ray's ASHA, the median stopping rule) and perhaps a
per-trial stopper; what they decide together is where each trial of the next search
ends. Cross-trial rules decide by comparing trials, so their stops depend on which
trials run, in which order and how many at once: each configuration is replayed with
Ray's own scheduler (:mod:`analysis._asha`, :mod:`analysis._median`) on simulated next
searches, each a random half of the observed configurations (with all their data folds)
started in a random order on ``workers`` trials at once.

A simulated search is judged as the user judges a search (:func:`search_outcome`): the
compute used (epochs trained over epochs of training everything), and how much worse its
best model and the model selected by the search's metric are than in the same search
trained to the budget. The rule (:func:`choose_configuration`): the configuration with
the least mean compute whose best or selected model lost more than the tolerance in at
most ``risk`` of the simulated searches. Halves of one search share its configurations,
so that share understates the risk of a search of others; the rule is also run as the
user runs it, chosen on one half of the configurations and realized on the other, and
the answer states the larger of the two shares
(:attr:`ConfigurationChoice.stated_risk`). ``benchmarks/peers.py`` realizes the chosen
configuration on independent searches and counts how often it lost more than the
tolerance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from analysis._asha import AshaSpec, simulate_asha
from analysis._median import MedianSpec, simulate_median
from analysis._policies import Policy
from analysis._replay import CurveSet, relative_regret, stop_epochs
from tune_stop.schedulers import full_entry
from tune_stop.stoppers import mode_sign

if TYPE_CHECKING:
    from analysis._recommend import Analysis

__all__ = [
    "CONFIGURATION_COLUMNS",
    "DEFAULT_RISK",
    "DEFAULT_WORKERS",
    "ConfigurationChoice",
    "SearchCurves",
    "StoppingConfig",
    "choose_configuration",
    "configuration_grid",
    "judge_configurations",
    "search_outcome",
]

#: The share of next searches in which the answer may lose more than the tolerance.
DEFAULT_RISK = 0.05
#: Trials the next search runs at once, where the user does not say.
DEFAULT_WORKERS = 4
#: Simulated next searches per configuration.
DRAWS = 30
#: ASHA and median-rule settings searched (grace periods in epochs).
ASHA_GRACE = (1, 2, 3, 5)
ASHA_REDUCTION = (2, 3, 4, 8)
MEDIAN_GRACE = (1, 3, 5)
MEDIAN_SAMPLES = (3,)
#: Splits of the configurations into halves for the held-out check, the simulated searches on each
#: first half (random halves of it) and the trial orders each second half runs in.
HELD_OUT_SPLITS, SPLIT_DRAWS, SPLIT_ORDERS = 6, 4, 2
#: Patience values of the per-trial rule searched alone and beside each scheduler.
PATIENCE = (5,)

CONFIGURATION_COLUMNS = [
    "configuration",
    "scheduler",
    "per_trial",
    "compute_used",
    "compute_used_high",
    "exceeded",
    "best_regret_mean",
    "best_regret_p95",
    "best_regret_max",
    "selected_regret_mean",
    "selected_regret_p95",
    "selected_regret_max",
    "draws",
    "chosen",
]


@dataclass(frozen=True)
class StoppingConfig:
    """A search's stopping configuration: a scheduler entry (as a space file writes it) and a per-trial rule.

    Attributes:
        scheduler: ``{"name": "fifo"}``, ``{"name": "asha", "grace_period": g, "reduction_factor": r}``
            or ``{"name": "median", "grace_period": g, "min_samples_required": n}``.
        policy: A per-trial rule with its one value as its only candidate, or None.
    """

    scheduler: Mapping[str, Any]
    policy: Policy | None = None

    def __post_init__(self) -> None:
        # Every setting written out, so that equal configurations compare equal and describe themselves.
        object.__setattr__(self, "scheduler", full_entry(self.scheduler))

    @property
    def value(self) -> float | None:
        return float(self.policy.candidates[0]) if self.policy is not None else None

    def describe(self) -> str:
        name = self.scheduler["name"]
        if name == "asha":
            rf = self.scheduler["reduction_factor"]
            head = f"ASHA (grace {self.scheduler['grace_period']}, reduction factor {rf:g})"
        elif name == "median":
            head = (
                f"median stopping rule (grace {self.scheduler['grace_period']}, "
                f"{self.scheduler['min_samples_required']} samples)"
            )
        else:
            head = "no scheduler"
        if self.policy is None:
            return head if name != "fifo" else "train everything"
        rule = self.policy.describe(self.policy.candidates[0])
        return rule if name == "fifo" else f"{head} + {rule}"

    def stopper_specs(self) -> list[dict[str, Any]]:
        """The space-file ``stoppers:`` entries of the per-trial rule (none without one)."""
        if self.policy is None:
            return []
        return [entry for entry in self.policy.specs(self.policy.candidates[0]) if entry["policy"] != "non_finite"]

    def stops(
        self,
        curves: SearchCurves,
        rows: np.ndarray,
        order: np.ndarray,
        workers: int,
        policy_stops: np.ndarray | None = None,
    ) -> np.ndarray:
        """``(len(rows),)`` the epoch each trial of the search made of ``rows`` ends at (0: its whole curve).

        ``order``: positions in ``rows`` in the order the trials start. ``policy_stops``:
        the per-trial rule's stops on every curve (:func:`stop_epochs`), if computed already.
        """
        if self.policy is None:
            own = np.zeros((len(rows), 1), dtype=np.int64)
        else:
            every = stop_epochs(self.policy, curves.curves) if policy_stops is None else policy_stops
            own = every[rows].reshape(len(rows), 1)
        name = self.scheduler["name"]
        values, lengths = curves.metric_values[rows], curves.curves.lengths[rows]
        if name == "asha":
            spec = AshaSpec.from_scheduler(self.scheduler, curves.metric, curves.mode, workers)
            stops, _ = simulate_asha(spec, values, lengths, int(curves.curves.budgets.max()), own, order=order)
        elif name == "median":
            median = MedianSpec.from_scheduler(self.scheduler, curves.metric, curves.mode, workers)
            stops, _ = simulate_median(median, values, lengths, own, order=order)
        else:
            stops = own
        return stops[:, 0]


@dataclass(frozen=True)
class SearchCurves:
    """Whole curves of a search with what judges it: the scheduler's metric, the target and the selection.

    Attributes:
        curves: The curves (every one ran its whole budget).
        config_index: ``(n_curves,)`` configuration of each curve, from 0.
        metric, mode: What the schedulers and per-trial rules compare.
        target, target_mode: The quality of the model judged at each trial's end.
        selection, selection_mode: What the user selects the configuration by.
    """

    curves: CurveSet
    config_index: np.ndarray
    metric: str
    mode: str
    target: str
    target_mode: str
    selection: str
    selection_mode: str
    metric_values: np.ndarray = field(init=False, repr=False)
    target_values: np.ndarray = field(init=False, repr=False)
    selection_values: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "metric_values", self.curves.matrix(self.metric))
        object.__setattr__(self, "target_values", self.curves.matrix(self.target))
        object.__setattr__(self, "selection_values", self.curves.matrix(self.selection))

    @property
    def n_configs(self) -> int:
        return int(self.config_index.max()) + 1 if len(self.config_index) else 0


def search_outcome(curves: SearchCurves, rows: np.ndarray, stops: np.ndarray) -> tuple[float, float, float]:
    """``(compute_used, best_regret, selected_regret)`` of the search made of ``rows`` whose trials end at ``stops``.

    A configuration's score is its fold mean of the target at its trials' ends; the
    search's best model is the best score; the selected model is the configuration with
    the best fold mean of the selection metric at the ends. Both are compared with the
    same search trained to the budget (relative regret, as the per-curve figures).
    """
    lengths = curves.curves.lengths[rows]
    ends = np.where(stops > 0, stops, lengths)
    at = ends - 1
    last = lengths - 1
    local, config = np.unique(curves.config_index[rows], return_inverse=True)
    counts = np.bincount(config, minlength=len(local))

    def per_config(values: np.ndarray) -> np.ndarray:
        return np.bincount(config, weights=values, minlength=len(local)) / counts

    target = curves.target_values[rows]
    selection = curves.selection_values[rows]
    positions = np.arange(len(rows))
    t_sign, s_sign = mode_sign(curves.target_mode), mode_sign(curves.selection_mode)
    score, full_score = per_config(target[positions, at]), per_config(target[positions, last])
    choice, full_choice = per_config(selection[positions, at]), per_config(selection[positions, last])

    def best(values: np.ndarray, sign: float) -> int:
        return int(np.argmin(np.where(np.isfinite(values), sign * values, np.inf)))

    best_regret = relative_regret(
        np.asarray(score[best(score, t_sign)]), np.asarray(full_score[best(full_score, t_sign)]), t_sign
    )
    selected_regret = relative_regret(
        np.asarray(score[best(choice, s_sign)]), np.asarray(full_score[best(full_choice, s_sign)]), t_sign
    )
    compute = float(ends.sum() / curves.curves.budgets[rows].sum())
    return compute, float(best_regret), float(selected_regret)


def configuration_grid(
    metric: str,
    mode: str,
    extra: Sequence[StoppingConfig] = (),
    per_trial: Sequence[Policy] = (),
    budget: int | None = None,
) -> list[StoppingConfig]:
    """The configurations searched: training everything, ASHA and the median rule at the settings of
    :data:`ASHA_GRACE` x :data:`ASHA_REDUCTION` and :data:`MEDIAN_GRACE` x :data:`MEDIAN_SAMPLES`, a
    patience rule (:data:`PATIENCE`) alone and beside each, ``per_trial`` rules alone and beside each,
    and ``extra`` (e.g. the space's own scheduler). With ``budget``, a scheduler whose grace period
    reaches it (it could stop nothing) is left out."""
    schedulers: list[dict[str, Any]] = [{"name": "fifo"}]
    schedulers += [
        {"name": "asha", "grace_period": g, "reduction_factor": float(r)} for g in ASHA_GRACE for r in ASHA_REDUCTION
    ]
    schedulers += [
        {"name": "median", "grace_period": g, "min_samples_required": n} for g in MEDIAN_GRACE for n in MEDIAN_SAMPLES
    ]
    rules: list[Policy | None] = [None]
    rules += [Policy("patience", metric, mode, (float(p),)) for p in PATIENCE]
    rules += list(per_trial)
    grid = [StoppingConfig(scheduler, rule) for scheduler in schedulers for rule in rules]
    for config in extra:
        if config not in grid:
            grid.append(config)
    if budget is None:
        return grid
    return [config for config in grid if config.scheduler.get("grace_period", 0) < budget]


@dataclass(frozen=True)
class ConfigurationChoice:
    """Every configuration on the simulated next searches, and the one chosen.

    Attributes:
        table: One row per configuration, columns :data:`CONFIGURATION_COLUMNS`.
        configs: The configurations, in the table's order.
        chosen: The index of the chosen one, or None when none kept the models within the
            tolerance in all but ``risk`` of the searches (never: training everything always does).
        tolerance, risk: The rule's tolerance and the share of searches it may exceed it in.
        new_configs: Configurations in each simulated search (half the observed ones).
        workers: Trials each simulated search ran at once.
        draws: Simulated searches per configuration.
        held_out_exceeded: The rule checked as the user runs it: on splits of the
            configurations into halves, the share of second halves (searches of
            configurations the choice did not see) in which the configuration chosen on
            the first half lost more than the tolerance. NaN below 8 configurations.
        held_out_splits: Splits behind it.
    """

    table: pd.DataFrame
    configs: list[StoppingConfig]
    chosen: int | None
    tolerance: float
    risk: float
    new_configs: int
    workers: int
    draws: int
    held_out_exceeded: float = np.nan
    held_out_splits: int = 0

    @property
    def stated_risk(self) -> float:
        """The share of next searches the answer is said to lose more than the tolerance in: the larger of its
        share on the draws and the rule's on held-out halves (the draws alone understate it: halves of one
        search hold the same configurations)."""
        if self.chosen is None:
            return np.nan
        in_sample = float(self.table.iloc[self.chosen]["exceeded"])
        return in_sample if np.isnan(self.held_out_exceeded) else max(in_sample, self.held_out_exceeded)

    @property
    def answer(self) -> StoppingConfig | None:
        return self.configs[self.chosen] if self.chosen is not None else None

    def row(self, config: StoppingConfig) -> dict[str, Any] | None:
        """The table's row of ``config``, if it was searched."""
        for index, candidate in enumerate(self.configs):
            if candidate == config:
                return dict(self.table.iloc[index])
        return None


def _halves(
    curves: SearchCurves, configs: np.ndarray, draws: int, rng: np.random.Generator
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(rows, order)`` of ``draws`` simulated searches: random halves of ``configs``, trials in a random order."""
    size = max(2, len(configs) // 2)
    searches = []
    for _ in range(draws):
        rows = np.flatnonzero(np.isin(curves.config_index, rng.choice(configs, size=size, replace=False)))
        searches.append((rows, rng.permutation(len(rows))))
    return searches


@dataclass(frozen=True)
class _Plan:
    """Every simulated search the configurations are replayed on: the draws, then each split's two parts."""

    draws: list[tuple[np.ndarray, np.ndarray]]
    splits: list[tuple[list[tuple[np.ndarray, np.ndarray]], list[tuple[np.ndarray, np.ndarray]]]]

    @classmethod
    def of(cls, curves: SearchCurves, draws: int, seed: int) -> _Plan:
        rng = np.random.default_rng([seed, 11])
        everything = np.arange(curves.n_configs)
        plan_draws = _halves(curves, everything, draws, rng)
        splits = []
        if curves.n_configs >= 8:  # each first half still splits into halves of 2
            for _ in range(HELD_OUT_SPLITS):
                shuffled = rng.permutation(everything)
                first, second = shuffled[: len(shuffled) // 2], shuffled[len(shuffled) // 2 :]
                rows = np.flatnonzero(np.isin(curves.config_index, second))
                splits.append(
                    (
                        _halves(curves, first, SPLIT_DRAWS, rng),
                        [(rows, rng.permutation(len(rows))) for _ in range(SPLIT_ORDERS)],
                    )
                )
        return cls(plan_draws, splits)

    def searches(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return [*self.draws, *(search for first, second in self.splits for search in (*first, *second))]


def _cheapest(compute: np.ndarray, worst: np.ndarray, limit: float, risk: float) -> int | None:
    """The configuration with the least mean compute whose worst regret exceeded ``limit`` in at most ``risk``."""
    exceeded = np.mean(~(worst <= limit), axis=1)
    feasible = exceeded <= risk + 1e-12
    if not feasible.any():
        return None
    return int(np.lexsort((np.arange(len(compute)), exceeded, compute.mean(axis=1), ~feasible))[0])


def _held_out(compute: np.ndarray, worst: np.ndarray, plan: _Plan, tolerance: float, risk: float) -> float:
    """The share of held-out halves in which the rule's choice lost more than the tolerance.

    For each split, the rule chooses on random halves of the first half of the
    configurations, and the second half (a search of other configurations, as the user's
    next one is) runs the choice in random orders.
    """
    exceeded, offset = [], len(plan.draws)
    for first, second in plan.splits:
        picked = slice(offset, offset + len(first))
        realized = slice(offset + len(first), offset + len(first) + len(second))
        offset += len(first) + len(second)
        chosen = _cheapest(compute[:, picked], worst[:, picked], tolerance, risk)
        if chosen is not None:
            exceeded += list(~(worst[chosen, realized] <= tolerance))
    return float(np.mean(exceeded)) if exceeded else 0.0


def choose_configuration(
    curves: SearchCurves,
    grid: Sequence[StoppingConfig],
    *,
    tolerance: float,
    risk: float = DEFAULT_RISK,
    workers: int = DEFAULT_WORKERS,
    draws: int = DRAWS,
    seed: int = 0,
) -> ConfigurationChoice:
    """Every configuration of ``grid`` judged on the same simulated next searches, and the cheapest within the risk.

    The rule is also checked as the user runs it (:func:`_held_out`): chosen on one half
    of the configurations and realized on the other; that share is part of the stated
    risk (:attr:`ConfigurationChoice.stated_risk`).

    Raises:
        ValueError: With fewer than 4 configurations (a half of them says little about a search).
    """
    if curves.n_configs < 4:
        raise ValueError(
            f"the search holds {curves.n_configs} configurations; judging a stopping configuration takes at least 4"
        )
    if not curves.curves.complete.all():
        raise ValueError("judging a stopping configuration takes whole curves")
    plan = _Plan.of(curves, draws, seed)
    searches = plan.searches()
    policy_stops: dict[int, np.ndarray] = {}
    compute = np.empty((len(grid), len(searches)))
    best = np.empty_like(compute)
    selected = np.empty_like(compute)
    for index, config in enumerate(grid):
        every = None
        if config.policy is not None:
            key = id(config.policy)
            if key not in policy_stops:
                policy_stops[key] = stop_epochs(config.policy, curves.curves)
            every = policy_stops[key]
        for column, (rows, order) in enumerate(searches):
            outcome = search_outcome(curves, rows, config.stops(curves, rows, order, workers, every))
            compute[index, column], best[index, column], selected[index, column] = outcome
    worst = np.where(np.isnan(best) | np.isnan(selected), np.inf, np.fmax(best, selected))  # NaN: unknown, lost
    held = _held_out(compute, worst, plan, tolerance, risk) if plan.splits else np.nan
    n = len(plan.draws)
    records = [
        {
            "configuration": config.describe(),
            "scheduler": dict(config.scheduler),
            "per_trial": config.policy.describe(config.policy.candidates[0]) if config.policy else "",
            "compute_used": float(compute[index, :n].mean()),
            "compute_used_high": float(np.quantile(compute[index, :n], 0.95)),
            "exceeded": float(np.mean(~(worst[index, :n] <= tolerance))),
            "best_regret_mean": float(best[index, :n].mean()),
            "best_regret_p95": float(np.quantile(best[index, :n], 0.95, method="nearest")),
            "best_regret_max": float(best[index, :n].max()),
            "selected_regret_mean": float(selected[index, :n].mean()),
            "selected_regret_p95": float(np.quantile(selected[index, :n], 0.95, method="nearest")),
            "selected_regret_max": float(selected[index, :n].max()),
            "draws": n,
            "chosen": False,
        }
        for index, config in enumerate(grid)
    ]
    table = pd.DataFrame(records, columns=CONFIGURATION_COLUMNS)
    chosen = _cheapest(compute[:, :n], worst[:, :n], tolerance, risk)
    if chosen is not None:
        table.loc[chosen, "chosen"] = True
    return ConfigurationChoice(
        table=table,
        configs=list(grid),
        chosen=chosen,
        tolerance=tolerance,
        risk=risk,
        new_configs=max(2, curves.n_configs // 2),
        workers=workers,
        draws=n,
        held_out_exceeded=held,
        held_out_splits=len(plan.splits),
    )


def judge_configurations(
    analysis: Analysis,
    *,
    workers: int = DEFAULT_WORKERS,
    risk: float = DEFAULT_RISK,
    scheduler: Mapping[str, Any] | None = None,
    draws: int = DRAWS,
) -> ConfigurationChoice:
    """:func:`choose_configuration` on the curves of an analysis, with its tolerance, target and selection.

    The schedulers and the patience rule compare trials on the search's own metric (the
    analysis' selection metric); ``scheduler``, the space's own entry, joins the grid.

    Raises:
        ValueError: Without whole curves, configuration ids, or 4 configurations.
    """
    if analysis.curves is None or analysis.split is None or analysis.split.unit != "configuration":
        raise ValueError("judging a stopping configuration takes curves with configuration ids (config_id)")
    metric, mode = analysis.selection
    curves = SearchCurves(
        analysis.curves,
        analysis.split.config_index,
        metric,
        mode,
        analysis.target,
        analysis.target_mode,
        metric,
        mode,
    )
    extra = [StoppingConfig(dict(scheduler))] if scheduler and scheduler.get("name") in ("asha", "median") else []
    return choose_configuration(
        curves,
        configuration_grid(metric, mode, extra, budget=int(analysis.curves.budgets.max())),
        tolerance=analysis.tolerance,
        risk=risk,
        workers=workers,
        draws=draws,
        seed=0,
    )
