"""Which stopping configuration to run next: the cheapest within the risk on simulated next searches.

Every configuration of the grid (:func:`analysis._configurations.configuration_grid`) is
replayed on the same simulated searches, each some of the observed configurations (with
all their data folds) in a random trial order: the draws (random halves), and the
searches of the held-out check (random quarters, and halves). The rule
(:func:`choose_configuration`): of the configurations whose best or selected model lost
more than the tolerance in at most ``risk`` of all these searches, the one with the least
mean compute on the draws. Smaller searches lose more often, and a configuration picked
as the cheapest that held on the draws alone was picked partly for its luck there (on
independent mlp-digits searches, such picks lost more than 1% in 8 of 60 runs; held on
the quarters as well, in 1 of 60: ``docs/configurations.md``). Below 8 configurations
there are no quarters: the draws alone. The stated risk is the chosen configuration's
share of the simulated searches that lost more than the tolerance
(:attr:`ConfigurationChoice.stated_risk`). Searches made of one search's configurations
share them, so that share could understate the risk of a search of others;
``benchmarks/peers.py`` realizes the chosen configuration on independent searches and
counts how often it lost more (stated 3.8%, 3.0% and 1.5% on average, realized 0.0%,
1.7% and 1.0%: perceptron-digits and mlp-digits, 30 configurations, and mlp-digits, 8).
A check is reported beside it (:attr:`ConfigurationChoice.held_out_exceeded`): a simpler
choice (the least compute that never lost more on 4 random quarters of one half of the
configurations) run on the other half; it said 8.7%, 35.4% and 15.8% there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from analysis._configurations import SearchCurves, StoppingConfig, configuration_grid, search_outcome
from analysis._replay import stop_epochs
from tune_stop._count import counted

if TYPE_CHECKING:
    from analysis._recommend import Analysis

__all__ = [
    "CONFIGURATION_COLUMNS",
    "DEFAULT_RISK",
    "DEFAULT_WORKERS",
    "PEERS",
    "ConfigurationChoice",
    "choose_configuration",
    "judge_configurations",
]

#: The share of next searches in which the answer may lose more than the tolerance.
DEFAULT_RISK = 0.05
#: Trials the next search runs at once, where the user does not say.
DEFAULT_WORKERS = 4
#: What a user switches on without tune-stop, shown beside the answer: Ray's ASHA at its defaults, and Ray's
#: median stopping rule at its default grace (3 epochs here: Ray's is 60 s of training).
PEERS = (
    ({"name": "asha", "grace_period": 1, "reduction_factor": 4.0}, "Ray's default ASHA (grace 1, rf 4)"),
    ({"name": "median", "grace_period": 3, "min_samples_required": 3}, "the median rule (grace 3)"),
)
#: Simulated next searches per configuration.
DRAWS = 30
#: The most configurations in a simulated search. Replaying 40 configurations on 66 searches of half of
#: 3,330 observed ones took 116 s on 2 cores; searches of at most 200 keep a recording of any size near the
#: cost of one of 400 configurations, and the stated risk says for searches of how many it holds.
LARGEST = 200
#: Splits of the configurations into halves for the held-out check, the simulated searches on each
#: first half (random halves of it) and the trial orders each second half runs in.
HELD_OUT_SPLITS, SPLIT_DRAWS, SPLIT_ORDERS = 6, 4, 2

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
    "searches",
    "chosen",
]


@dataclass(frozen=True)
class ConfigurationChoice:
    """Every configuration on the simulated next searches, and the one chosen.

    Attributes:
        table: One row per configuration, columns :data:`CONFIGURATION_COLUMNS`.
        configs: The configurations, in the table's order.
        chosen: The index of the chosen one, or None when none kept the models within the
            tolerance in all but ``risk`` of the searches (never: training everything always does).
        tolerance, risk: The rule's tolerance and the share of searches it may exceed it in.
        new_configs: Configurations in each simulated search (half the observed ones, at most :data:`LARGEST`).
        workers: Trials each simulated search ran at once.
        draws: Simulated searches of half the configurations (the compute is their mean).
        searches: Simulated searches in all (the draws and the held-out check's): the share
            that lost more than the tolerance (``exceeded``) is over these.
        held_out_exceeded: A check of choosing on some configurations for a search of
            others: on splits of the configurations into halves, the share of second
            halves (searches of configurations the choice did not see) in which the
            configuration with the least compute that never lost more than the tolerance
            on 4 random quarters of the first half lost more. NaN below 8 configurations.
        held_out_splits: Splits behind it.
        space_scheduler: The scheduler of the space the curves came from, judged in the grid (None: none given).
        observed: Configurations the simulated searches were drawn from.
    """

    table: pd.DataFrame
    configs: list[StoppingConfig]
    chosen: int | None
    tolerance: float
    risk: float
    new_configs: int
    workers: int
    draws: int
    searches: int
    held_out_exceeded: float = np.nan
    held_out_splits: int = 0
    space_scheduler: Mapping[str, Any] | None = None
    observed: int = 0

    @property
    def stated_risk(self) -> float:
        """The share of next searches the answer is said to lose more than the tolerance in: its share of the
        simulated searches (at most ``risk``, as it was chosen), which holds on independent searches
        (``docs/configurations.md``); :attr:`held_out_exceeded` is reported beside it as a check."""
        if self.chosen is None:
            return np.nan
        return float(self.table.iloc[self.chosen]["exceeded"])

    @property
    def searched(self) -> str:
        """What the simulated searches were, in words."""
        at_once = f"{counted(self.workers, 'trial')} at once, random orders"
        if self.observed > 2 * LARGEST:
            sizes = f"{self.new_configs} and {self.new_configs // 2}" if self.held_out_splits else f"{self.new_configs}"
            return f"random searches of {sizes} of these {self.observed} configurations, {at_once}"
        parts = "halves and quarters" if self.held_out_splits else "halves"
        return f"random {parts} of these configurations, {at_once}"

    @property
    def held_out_searched(self) -> str:
        """What the held-out check chose on and ran on, in words."""
        if self.observed > 2 * LARGEST:
            return (
                f"{SPLIT_DRAWS} random searches of {self.new_configs // 2} of {self.new_configs} configurations, run "
                f"on {self.new_configs} others"
            )
        return f"{SPLIT_DRAWS} random quarters of one half of the configurations, run on the other half"

    @property
    def answer(self) -> StoppingConfig | None:
        return self.configs[self.chosen] if self.chosen is not None else None

    @property
    def runs(self) -> bool:
        """Whether the answer is a configuration to run (one was chosen, and it is not to train everything)."""
        return self.answer is not None and not self.answer.trains_everything

    def peers(self) -> list[tuple[str, dict[str, Any]]]:
        """``(name, row)`` of each of :data:`PEERS` and of the space's scheduler that was judged; the name says
        "(the answer itself)" where the peer is the configuration the answer runs."""
        space = (
            [(dict(self.space_scheduler), f"the space's {StoppingConfig(self.space_scheduler).describe()}")]
            if self.space_scheduler
            else []
        )
        found = [(name, self.row(StoppingConfig(entry))) for entry, name in (*PEERS, *space)]
        return [
            (f"{name} (the answer itself)" if self.is_answer(row) else name, row)
            for name, row in found
            if row is not None
        ]

    def is_answer(self, row: Mapping[str, Any]) -> bool:
        """Whether a row of the table (a peer's, say) is the configuration the answer runs."""
        return (
            self.runs
            and self.chosen is not None
            and row["configuration"] == self.table.iloc[self.chosen]["configuration"]
        )

    def row(self, config: StoppingConfig) -> dict[str, Any] | None:
        """The table's row of ``config``, if it was searched."""
        for index, candidate in enumerate(self.configs):
            if candidate == config:
                return dict(self.table.iloc[index])
        return None


def search_size(n_configs: int) -> int:
    """Configurations in each simulated search made of ``n_configs`` observed ones: half, at most :data:`LARGEST`."""
    return max(2, min(n_configs // 2, LARGEST))


def _halves(
    curves: SearchCurves, configs: np.ndarray, draws: int, rng: np.random.Generator
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(rows, order)`` of ``draws`` simulated searches: random halves of ``configs`` (at most :data:`LARGEST`
    of them), trials in a random order."""
    size = search_size(len(configs))
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
                # Halves; past 2 * LARGEST configurations, two parts of LARGEST (the draws' size).
                cut = min(len(shuffled) // 2, LARGEST)
                first, second = shuffled[:cut], shuffled[cut : cut + LARGEST if cut == LARGEST else None]
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
    """The configuration with the least ``compute`` (one mean per configuration) whose worst regret exceeded
    ``limit`` in at most ``risk`` of the searches in ``worst``."""
    exceeded = np.mean(~(worst <= limit), axis=1)
    feasible = exceeded <= risk + 1e-12
    if not feasible.any():
        return None
    return int(np.lexsort((np.arange(len(compute)), exceeded, compute, ~feasible))[0])


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
        chosen = _cheapest(compute[:, picked].mean(axis=1), worst[:, picked], tolerance, risk)
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
    of the configurations and realized on the other; that share is reported beside the
    stated risk (:attr:`ConfigurationChoice.stated_risk`).

    Raises:
        ValueError: With fewer than 4 configurations (a half of them says little about a search).
    """
    if curves.n_configs < 4:
        raise ValueError(
            f"the search holds {counted(curves.n_configs, 'configuration')}; judging a stopping configuration takes "
            "at least 4"
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
            "exceeded": float(np.mean(~(worst[index] <= tolerance))),
            "best_regret_mean": float(best[index, :n].mean()),
            "best_regret_p95": float(np.quantile(best[index, :n], 0.95, method="nearest")),
            "best_regret_max": float(best[index, :n].max()),
            "selected_regret_mean": float(selected[index, :n].mean()),
            "selected_regret_p95": float(np.quantile(selected[index, :n], 0.95, method="nearest")),
            "selected_regret_max": float(selected[index, :n].max()),
            "draws": n,
            "searches": len(searches),
            "chosen": False,
        }
        for index, config in enumerate(grid)
    ]
    table = pd.DataFrame(records, columns=CONFIGURATION_COLUMNS)
    chosen = _cheapest(compute[:, :n].mean(axis=1), worst, tolerance, risk)
    if chosen is not None:
        table.loc[chosen, "chosen"] = True
    return ConfigurationChoice(
        table=table,
        configs=list(grid),
        chosen=chosen,
        tolerance=tolerance,
        risk=risk,
        new_configs=search_size(curves.n_configs),
        observed=curves.n_configs,
        workers=workers,
        draws=n,
        searches=len(searches),
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
        raise ValueError(
            "judging a stopping configuration takes configurations with several curves each (config_id: the "
            "folds of one configuration)"
        )
    selection, mode = analysis.selection
    metric = analysis.selected_by  # the schedulers compare the raw metric, as they run
    curves = SearchCurves(
        analysis.curves,
        analysis.split.config_index,
        metric,
        mode,
        analysis.target,
        analysis.target_mode,
        selection,
        mode,
    )
    extra = [StoppingConfig(dict(scheduler))] if scheduler and scheduler.get("name") in ("asha", "median") else []
    choice = choose_configuration(
        curves,
        configuration_grid(metric, mode, extra, budget=int(analysis.curves.budgets.max())),
        tolerance=analysis.tolerance,
        risk=risk,
        workers=workers,
        draws=draws,
        seed=0,
    )
    return replace(choice, space_scheduler=dict(scheduler) if extra and scheduler else None)
