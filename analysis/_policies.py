"""Stopping-policy families with candidate values, for the offline replay.

A :class:`Policy` is one family of :data:`tune_stop.stoppers.FAMILIES` on one metric,
with the live stopper's fixed arguments and a list of candidate values for the tuned
parameter. :meth:`Policy.stopper` builds the live stopper for one candidate; the
replay asks that stopper for its per-epoch scores, so a policy is replayed exactly as
it runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tune_stop.stoppers import FAMILIES, HistoryStopper, mode_sign

__all__ = [
    "Policy",
    "baseline_policies",
    "candidate_policies",
    "threshold_candidates",
]


@dataclass(frozen=True)
class Policy:
    """One stopping-policy family on one metric, with its candidate values.

    Attributes:
        family: A name in :data:`tune_stop.stoppers.FAMILIES`.
        metric: The monitored metric.
        mode: ``"min"`` or ``"max"`` (GL, PQ and UP need ``"min"``: they are defined on errors).
        candidates: Values of the tuned parameter.
        train_metric: The training metric PQ needs.
        settings: The live stopper's fixed arguments (the family's ``settings``, e.g.
            ``{"grace_period": 5}`` for a threshold, ``{"strip": 3}`` for UP).
        name: Label in reports (the family unless it is a baseline).
        check_finite: Also stop at the first non-finite value of the metric (as
            Lightning's ``EarlyStopping(check_finite=True)``).
        description: What the row is, in place of the stopper's own statement (for a
            row that is no stopper of its own, such as ASHA alone).

    Raises:
        ValueError: For an unknown family, no candidates, or arguments the live
            stopper rejects (named as the stopper names them).
    """

    family: str
    metric: str
    mode: str = "min"
    candidates: tuple[float, ...] = ()
    train_metric: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict, hash=False)
    name: str = ""
    check_finite: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {list(FAMILIES)}, but got family={self.family!r}.")
        mode_sign(self.mode)
        if not self.candidates:
            raise ValueError(
                f"candidates must not be empty for {self.family} on {self.metric!r}, "
                f"but got candidates={self.candidates!r}."
            )
        object.__setattr__(self, "settings", dict(self.settings))
        # The live stopper validates every argument, so the replay accepts exactly what runs.
        for value in self.candidates:
            self.stopper(value)
        if not self.name:
            object.__setattr__(self, "name", self.family)

    @property
    def parameter(self) -> str:
        """The tuned argument of the family."""
        return FAMILIES[self.family].parameter

    def stopper(self, value: float) -> HistoryStopper:
        """The live stopper with the tuned parameter set to ``value``."""
        return FAMILIES[self.family].build(
            self.metric, self.mode, value, train_metric=self.train_metric, settings=self.settings
        )

    def specs(self, value: float) -> list[dict[str, Any]]:
        """The space-file ``stoppers:`` entries that run this policy at ``value``.

        A policy that checks finiteness gets its own non-finite guard first.
        """
        arguments = FAMILIES[self.family].arguments(
            self.metric, self.mode, value, train_metric=self.train_metric, settings=self.settings
        )
        guard = [{"policy": "non_finite", "metrics": [self.metric]}] if self.check_finite else []
        return [*guard, {"policy": self.family, **arguments}]

    def describe(self, value: float) -> str:
        """Plain-language statement of the policy at ``value``."""
        if self.description:
            return self.description
        text = self.stopper(value).describe()
        return text + (f", or at once when {self.metric} is NaN or infinite" if self.check_finite else "")


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
    (the family's ``settings`` in :data:`tune_stop.stoppers.FAMILIES`), e.g.
    ``{"threshold": {"grace_period": 5}}``. Threshold candidates come from the
    ``values`` after the threshold's grace period.
    """
    settings = settings or {}
    policies = []
    for name in families:
        family = FAMILIES[name]
        fixed = dict(settings.get(name, {}))
        if family.errors_only and mode != "min":
            continue
        if family.needs_train_metric and fixed.get("train_metric", train_metric) is None:
            continue
        candidates = tuple(float(v) for v in family.grid)
        if not candidates:
            # A grace period past every epoch leaves no value to draw from: the whole curves give candidates,
            # and the rows say they cannot stop a curve before its budget ends.
            graced = values[:, int(fixed.get("grace_period", 0)) :]
            candidates = threshold_candidates(graced if graced.size else values, mode, threshold_count)
            if not candidates:
                continue
        policies.append(Policy(name, metric, mode, candidates, train_metric=train_metric, settings=fixed))
    return policies


def baseline_policies(metric: str, mode: str, train_metric: str | None) -> list[Policy]:
    """What a user would use without tune-stop: the Keras and Lightning defaults, Prechelt's settings.

    ``keras_default``: Keras' ``EarlyStopping()`` defaults (``patience=0``,
    ``min_delta=0``; Keras has no non-finite check); ``lightning_default``: Lightning's
    ``EarlyStopping`` defaults (``patience=3``, ``min_delta=0``, ``check_finite=True``);
    ``prechelt_gl5``, ``prechelt_pq1``, ``prechelt_up3``: GL_5, PQ_1 and UP_3 with strips
    of 5 epochs, the middle of the ranges Prechelt evaluated.
    """
    baselines = [
        Policy("patience", metric, mode, (0.0,), name="keras_default"),
        Policy("patience", metric, mode, (3.0,), name="lightning_default", check_finite=True),
    ]
    if mode == "min":
        baselines += [
            Policy("gl", metric, mode, (5.0,), name="prechelt_gl5"),
            Policy("up", metric, mode, (3.0,), name="prechelt_up3"),
        ]
        if train_metric is not None:
            baselines.append(Policy("pq", metric, mode, (1.0,), train_metric=train_metric, name="prechelt_pq1"))
    return baselines
