"""The one list of stopping-policy families: what each is, tunes and keeps fixed.

Space files, the CLI, the analysis and the reports read :data:`FAMILIES` (the tunable
families) and :data:`POLICIES` (every policy a space file may name, guards included),
so adding a family touches this file and the family's own module only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tune_stop.stoppers._base import HistoryStopper
from tune_stop.stoppers._guards import MaxEpochStopper, NonFiniteStopper
from tune_stop.stoppers._patience import PatienceStopper
from tune_stop.stoppers._prechelt import GLStopper, PQStopper, UPStopper
from tune_stop.stoppers._threshold import ThresholdStopper

__all__ = ["FAMILIES", "POLICIES", "Family"]


@dataclass(frozen=True)
class Family:
    """A tunable stopping-policy family.

    Attributes:
        name: The policy name in space files, reports and ``stop_reasons.csv``.
        stopper: The live ``Stopper`` class; its ``parameter`` is the tuned argument.
        settings: The stopper's fixed arguments that a recommendation keeps as the
            live stopper had them while it tunes the parameter.
        errors_only: Defined on errors, so the metric must be lower-is-better
            (``mode="min"``; the stopper takes no ``mode``).
        needs_train_metric: Also reads a training metric (``train_metric``).
        integer: The tuned parameter takes whole numbers (patience, UP's strips).
        grid: Default candidate values; empty when they come from the observed values.
        description: What the family does, in plain language.
    """

    name: str
    stopper: type[HistoryStopper]
    settings: tuple[str, ...]
    errors_only: bool
    needs_train_metric: bool
    integer: bool
    grid: tuple[float, ...]
    description: str

    @property
    def parameter(self) -> str:
        """The tuned argument (``threshold``, ``patience``, ``alpha``, ``strips``)."""
        return self.stopper.parameter

    def build(
        self,
        metric: str,
        mode: str,
        value: float,
        *,
        train_metric: str | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> HistoryStopper:
        """The live stopper with the tuned parameter set to ``value`` (its arguments: :meth:`arguments`)."""
        return self.stopper(**self.arguments(metric, mode, value, train_metric=train_metric, settings=settings))

    def arguments(
        self,
        metric: str,
        mode: str,
        value: float,
        *,
        train_metric: str | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The live stopper's arguments with the tuned parameter set to ``value``.

        They are also what a space file's ``stoppers:`` entry for this family holds.

        Raises:
            ValueError: If ``mode`` is not ``"min"`` for a family defined on errors, a
                setting is not one of :attr:`settings`, or the stopper rejects an argument.
            TypeError: If the stopper rejects an argument's type.
        """
        settings = dict(settings or {})
        unknown = sorted(set(settings) - set(self.settings))
        if unknown:
            raise ValueError(
                f"{self.name} cannot keep {unknown} fixed (its settings: {', '.join(self.settings) or 'none'})."
            )
        if self.integer and not float(value).is_integer():
            raise ValueError(f"{self.parameter} must be a whole number, but got {self.parameter}={value!r}.")
        arguments: dict[str, Any] = {"metric": metric, self.parameter: int(value) if self.integer else value}
        if self.errors_only:
            if mode != "min":
                raise ValueError(
                    f"{self.name} is defined on errors (mode='min'), but got mode={mode!r} for {metric!r}."
                )
        else:
            arguments["mode"] = mode
        if self.needs_train_metric:
            arguments["train_metric"] = settings.pop("train_metric", train_metric)
            if arguments["train_metric"] is None:
                raise ValueError(f"{self.name} needs train_metric, but got train_metric=None.")
        return {**arguments, **settings}


#: The tunable families, in report order. Grids follow Prechelt's ranges (GL 1-5, PQ
#: 0.5-3, UP 2-4 with strips of 5 epochs), widened on both sides.
FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family(
            "threshold",
            ThresholdStopper,
            settings=("grace_period",),
            errors_only=False,
            needs_train_metric=False,
            integer=False,
            grid=(),
            description="stop the first epoch the metric reaches a threshold",
        ),
        Family(
            "patience",
            PatienceStopper,
            settings=("min_delta", "grace_period", "baseline"),
            errors_only=False,
            needs_train_metric=False,
            integer=True,
            grid=(0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30),
            description="stop after a number of epochs without improvement (Keras/Lightning EarlyStopping)",
        ),
        Family(
            "gl",
            GLStopper,
            settings=(),
            errors_only=True,
            needs_train_metric=False,
            integer=False,
            grid=(0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 50.0),
            description="stop when the error is more than alpha percent above its best (Prechelt GL)",
        ),
        Family(
            "pq",
            PQStopper,
            settings=("strip", "train_metric"),
            errors_only=True,
            needs_train_metric=True,
            integer=False,
            grid=(0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0),
            description="stop when GL over the training progress exceeds alpha at a strip end (Prechelt PQ)",
        ),
        Family(
            "up",
            UPStopper,
            settings=("strip",),
            errors_only=True,
            needs_train_metric=False,
            integer=True,
            grid=(1, 2, 3, 4, 5, 6),
            description="stop when the error rose over a number of successive strips (Prechelt UP)",
        ),
    )
}

#: Every policy a space file may name: the tunable families and the guards.
POLICIES: dict[str, type[HistoryStopper]] = {
    **{name: family.stopper for name, family in FAMILIES.items()},
    NonFiniteStopper.policy: NonFiniteStopper,
    MaxEpochStopper.policy: MaxEpochStopper,
}
