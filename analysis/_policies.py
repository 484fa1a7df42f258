"""Stopping-policy families for the offline replay: candidates and the live rule.

A :class:`Policy` is one family (``threshold``, ``patience``, ``gl``, ``pq``, ``up``) on
one metric with a list of candidate values for its single tuned parameter. Its
:meth:`Policy.rule` binds one candidate to the same rule function the live stopper
uses, which is what the vectorised replay is tested against.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tune_stop.stoppers import Decision, gl_rule, mode_sign, patience_rule, pq_rule, threshold_rule, up_rule

__all__ = [
    "FAMILIES",
    "PARAMETERS",
    "SETTINGS",
    "Policy",
    "baseline_policies",
    "candidate_policies",
    "threshold_candidates",
]

#: The tuned parameter of each family.
PARAMETERS = {"threshold": "threshold", "patience": "patience", "gl": "alpha", "pq": "alpha", "up": "strips"}
FAMILIES = tuple(PARAMETERS)

#: The live stoppers' fixed arguments that the replay keeps (the tuned one is in PARAMETERS).
SETTINGS = {
    "threshold": ("grace_period",),
    "patience": ("min_delta", "grace_period"),
    "pq": ("strip",),
    "up": ("strip",),
}

#: Default grids (Prechelt evaluated GL 1-5, PQ 0.5-3, UP 2-4 with strips of 5 epochs).
PATIENCE_GRID = (0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30)
GL_GRID = (0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 50.0)
PQ_GRID = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
UP_GRID = (1, 2, 3, 4, 5, 6)


@dataclass(frozen=True)
class Policy:
    """One stopping-policy family on one metric, with its candidate values.

    Attributes:
        family: ``threshold``, ``patience``, ``gl``, ``pq`` or ``up``.
        metric: The monitored metric.
        mode: ``"min"`` or ``"max"`` (GL, PQ and UP need ``"min"``: they are defined on errors).
        candidates: Values of the tuned parameter (:data:`PARAMETERS`).
        train_metric: The training metric PQ needs.
        strip: Strip length of PQ and UP.
        min_delta: Patience's ``min_delta``.
        name: Label in reports (the family unless it is a baseline).
        grace_period: Threshold's and patience's leading epochs that the rule ignores,
            as the live stopper was given them.
    """

    family: str
    metric: str
    mode: str = "min"
    candidates: tuple[float, ...] = ()
    train_metric: str | None = None
    strip: int = 5
    min_delta: float = 0.0
    name: str = field(default="")
    grace_period: int = 0

    def __post_init__(self) -> None:
        if self.family not in PARAMETERS:
            raise ValueError(f"family must be one of {list(FAMILIES)}, but got family={self.family!r}.")
        mode_sign(self.mode)
        if self.family in ("gl", "pq", "up") and self.mode != "min":
            raise ValueError(
                f"{self.family} is defined on errors (mode='min'), but got mode={self.mode!r} for {self.metric!r}."
            )
        if self.family == "pq" and not self.train_metric:
            raise ValueError("pq needs train_metric, but got train_metric=None.")
        if not self.candidates:
            raise ValueError(f"candidates must not be empty for {self.family} on {self.metric!r}.")
        if isinstance(self.grace_period, bool) or not isinstance(self.grace_period, int) or self.grace_period < 0:
            raise ValueError(f"grace_period must be an integer >= 0, but got grace_period={self.grace_period!r}.")
        if self.grace_period and self.family not in ("threshold", "patience"):
            raise ValueError(f"grace_period applies to the threshold and patience families, not to {self.family}.")
        if self.min_delta and self.family != "patience":
            raise ValueError(f"min_delta applies to the patience family, not to {self.family}.")
        if not (isinstance(self.min_delta, (int, float)) and self.min_delta >= 0):
            raise ValueError(f"min_delta must be a number >= 0, but got min_delta={self.min_delta!r}.")
        if isinstance(self.strip, bool) or not isinstance(self.strip, int) or self.strip < 1:
            raise ValueError(f"strip must be an integer >= 1, but got strip={self.strip!r}.")
        if not self.name:
            object.__setattr__(self, "name", self.family)

    @property
    def parameter(self) -> str:
        return PARAMETERS[self.family]

    def rule(self, value: float, train_history: Sequence[float] = ()) -> Callable[[Sequence[float]], Decision]:
        """The live rule with the candidate ``value`` bound (for ``first_stop``)."""
        if self.family == "threshold":
            return functools.partial(threshold_rule, mode=self.mode, threshold=value, grace_period=self.grace_period)
        if self.family == "patience":
            return functools.partial(
                patience_rule,
                mode=self.mode,
                patience=int(value),
                min_delta=self.min_delta,
                grace_period=self.grace_period,
            )
        if self.family == "gl":
            return functools.partial(gl_rule, alpha=value)
        if self.family == "up":
            return functools.partial(up_rule, strips=int(value), strip=self.strip)
        train = list(train_history)

        def pq(history: Sequence[float]) -> Decision:
            return pq_rule(history, train[: len(history)], alpha=value, strip=self.strip)

        return pq

    def describe(self, value: float) -> str:
        """Plain-language statement of the policy at ``value``."""
        relation = "<=" if self.mode == "min" else ">="
        from_epoch = f", from epoch {self.grace_period + 1} on" if self.grace_period else ""
        return {
            "threshold": f"stop at the first epoch {self.metric} {relation} {value:.4g}{from_epoch}",
            "patience": f"stop after {int(value)} epochs without improvement of {self.metric}"
            + (f" by more than {self.min_delta:g}" if self.min_delta else "")
            + from_epoch,
            "gl": f"stop when {self.metric} is {value:g}% above its best (Prechelt GL)",
            "pq": f"stop when GL/progress of {self.metric} exceeds {value:g} (Prechelt PQ)",
            "up": f"stop when {self.metric} rose over {int(value)} strips of {self.strip} epochs (Prechelt UP)",
        }[self.family]


def threshold_candidates(values: np.ndarray, mode: str, count: int = 100) -> tuple[float, ...]:
    """Threshold candidates from the observed range: quantiles, on a log scale when positive.

    Args:
        values: Every observed value of the metric (non-finite ones are ignored).
        mode: The metric's direction (only used to order the candidates, loosest first).
        count: Number of quantiles.
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return ()
    levels = np.linspace(0.0, 1.0, count)
    grid = np.exp(np.quantile(np.log(finite), levels)) if finite.min() > 0 else np.quantile(finite, levels)
    unique = np.unique(grid)
    ordered = unique[::-1] if mode == "min" else unique  # loosest (fires earliest) first
    return tuple(float(v) for v in ordered)


def candidate_policies(
    families: Sequence[str],
    metric: str,
    mode: str,
    values: np.ndarray,
    train_metric: str | None,
    threshold_count: int = 100,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Policy]:
    """The default candidate grid of each requested family that applies to this metric.

    ``settings`` gives, per family, the live stopper's fixed arguments the replay keeps
    (:data:`SETTINGS`), e.g. ``{"threshold": {"grace_period": 5}}``. Threshold candidates
    come from the ``values`` after the threshold's grace period.
    """
    settings = settings or {}
    policies = []
    for family in families:
        if family in ("gl", "pq", "up") and mode != "min":
            continue
        if family == "pq" and train_metric is None:
            continue
        candidates: tuple[float, ...] = {
            "threshold": (),
            "patience": tuple(float(p) for p in PATIENCE_GRID),
            "gl": GL_GRID,
            "pq": PQ_GRID,
            "up": tuple(float(s) for s in UP_GRID),
        }[family]
        fixed = dict(settings.get(family, {}))
        if family == "threshold":
            candidates = threshold_candidates(values[:, int(fixed.get("grace_period", 0)) :], mode, threshold_count)
            if not candidates:
                continue
        policies.append(Policy(family, metric, mode, candidates, train_metric=train_metric, **fixed))
    return policies


def baseline_policies(metric: str, mode: str, train_metric: str | None) -> list[Policy]:
    """What a user would use without tune-stop: Keras' default patience, Prechelt's settings.

    ``keras_default``: ``EarlyStopping()`` defaults (``patience=0``, ``min_delta=0``);
    ``lightning_default``: Lightning's ``EarlyStopping`` default ``patience=3``;
    ``prechelt_gl5``, ``prechelt_pq1``, ``prechelt_up3``: GL_5, PQ_1 and UP_3 with strips of
    5 epochs, the middle of the ranges Prechelt evaluated.
    """
    baselines = [
        Policy("patience", metric, mode, (0.0,), name="keras_default"),
        Policy("patience", metric, mode, (3.0,), name="lightning_default"),
    ]
    if mode == "min":
        baselines += [
            Policy("gl", metric, mode, (5.0,), name="prechelt_gl5"),
            Policy("up", metric, mode, (3.0,), name="prechelt_up3"),
        ]
        if train_metric is not None:
            baselines.append(Policy("pq", metric, mode, (1.0,), train_metric=train_metric, name="prechelt_pq1"))
    return baselines
