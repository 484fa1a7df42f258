"""The stopping configuration of a whole search: a scheduler, a per-trial rule, or both, and what it does.

A user switches on a scheduler (Ray's ASHA, the median stopping rule) and perhaps a
per-trial stopper; what they decide together is where each trial of the next search
ends. Cross-trial rules decide by comparing trials, so their stops depend on which
trials run, in which order and how many at once: :meth:`StoppingConfig.stops` replays a
configuration with Ray's own scheduler (:mod:`analysis._asha`, :mod:`analysis._median`)
on a search made of some of the observed curves, started in a given order on
``workers`` trials at once.

A search is judged as the user judges a search (:func:`search_outcome`): the compute
used (epochs trained over epochs of training everything), and how much worse its best
model and the model selected by the search's metric are than in the same search trained
to the budget. Which configuration to run next: :mod:`analysis._configuration_choice`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis._asha import AshaSpec, simulate_asha
from analysis._median import MedianSpec, simulate_median
from analysis._policies import Policy
from analysis._regret import relative_regret
from analysis._replay import CurveSet, stop_epochs
from tune_stop.schedulers import full_entry
from tune_stop.stoppers import mode_sign

__all__ = ["SearchCurves", "StoppingConfig", "configuration_grid", "search_outcome"]

#: ASHA and median-rule settings searched (grace periods in epochs).
ASHA_GRACE = (1, 2, 3, 5)
ASHA_REDUCTION = (2, 3, 4, 8)
MEDIAN_GRACE = (1, 3, 5)
MEDIAN_SAMPLES = (3,)
#: Patience values of the per-trial rule searched alone and beside each scheduler.
PATIENCE = (5,)


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

    @property
    def trains_everything(self) -> bool:
        """No scheduler and no per-trial rule: every trial runs its whole budget."""
        return self.scheduler["name"] == "fifo" and self.policy is None

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
        if self.trains_everything:
            return "train everything"
        if self.policy is None:
            return head
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

    scale = curves.curves.regret_scale
    best_regret = relative_regret(
        np.asarray(score[best(score, t_sign)]), np.asarray(full_score[best(full_score, t_sign)]), t_sign, scale
    )
    selected_regret = relative_regret(
        np.asarray(score[best(choice, s_sign)]), np.asarray(full_score[best(full_choice, s_sign)]), t_sign, scale
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
