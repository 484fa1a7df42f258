"""Patience policy: the semantics of Keras and Lightning ``EarlyStopping``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tune_stop.stoppers._base import (
    CONTINUE,
    Decision,
    HistoryStopper,
    check_metric_name,
    check_number,
    mode_sign,
)


def patience_rule(
    history: Sequence[float],
    *,
    mode: str,
    patience: int,
    min_delta: float = 0.0,
    grace_period: int = 0,
    baseline: float | None = None,
) -> Decision:
    """Stops when ``patience`` epochs in a row brought no improvement.

    An epoch improves when it beats the best value so far by more than ``min_delta``
    (``value < best - min_delta`` for ``"min"``; ties do not improve). As in Keras
    ``EarlyStopping(start_from_epoch=grace_period, baseline=...)``: the first
    ``grace_period`` epochs are ignored; with a ``baseline`` the wait is reset only by
    an epoch that also beats the baseline, so a run that never beats it stops after
    ``patience`` epochs. An improving epoch never stops. NaN counts as an epoch without
    improvement (pair with :func:`non_finite_rule` to stop at once).

    Args:
        history: The metric's values, epoch 1 first.
        mode: ``"min"`` or ``"max"``.
        patience: Epochs without improvement to tolerate (``0``: stop at the first).
        min_delta: Smallest change that counts as an improvement (``>= 0``).
        grace_period: Leading epochs to ignore.
        baseline: A value the metric must beat for the wait to reset.

    Returns:
        The decision at the last epoch of ``history``.
    """
    sign = mode_sign(mode)
    best = float("inf")
    wait = 0
    improved = False
    for value in history[grace_period:]:
        wait += 1
        # Comparisons with NaN are false: a NaN epoch never improves.
        improved = sign * value < best - min_delta
        if improved:
            best = sign * value
            if baseline is None or sign * value < sign * baseline - min_delta:
                wait = 0
    # Nothing to judge yet, or the last epoch improved.
    if len(history) <= grace_period or improved:
        return CONTINUE
    # Still within patience.
    if wait < patience:
        return CONTINUE
    shown_best = "none" if best == float("inf") else f"{sign * best:.6g}"
    return Decision(True, f"no improvement for {wait} epochs (best {shown_best})")


class PatienceStopper(HistoryStopper):
    """Stops a trial after ``patience`` epochs without improvement (Keras/Lightning).

    Args:
        metric: The monitored metric.
        mode: ``"min"`` or ``"max"``.
        patience: Epochs without improvement to tolerate (integer ``>= 0``).
        min_delta: Smallest change that counts as an improvement (``>= 0``).
        grace_period: Leading epochs to ignore (integer ``>= 0``).
        baseline: A value the metric must beat for the wait to reset.

    Raises:
        ValueError, TypeError: Naming the offending argument and its value.
    """

    policy = "patience"

    def __init__(
        self,
        metric: str,
        mode: str = "min",
        patience: int = 5,
        min_delta: float = 0.0,
        grace_period: int = 0,
        baseline: float | None = None,
    ) -> None:
        check_metric_name("metric", metric)
        mode_sign(mode)
        check_number("patience", patience, integer=True, minimum=0)
        check_number("min_delta", min_delta, minimum=0)
        check_number("grace_period", grace_period, integer=True, minimum=0)
        if baseline is not None:
            check_number("baseline", baseline)
        super().__init__([metric])
        self.mode = mode
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.grace_period = int(grace_period)
        self.baseline = baseline

    def decide(self, histories: Mapping[str, Sequence[float]], result: Mapping[str, Any]) -> Decision:
        return patience_rule(
            histories[self.metric],
            mode=self.mode,
            patience=self.patience,
            min_delta=self.min_delta,
            grace_period=self.grace_period,
            baseline=self.baseline,
        )

    def __repr__(self) -> str:
        return (
            f"PatienceStopper(metric={self.metric!r}, mode={self.mode!r}, "
            f"patience={self.patience}, min_delta={self.min_delta}, "
            f"grace_period={self.grace_period}, baseline={self.baseline!r})"
        )
