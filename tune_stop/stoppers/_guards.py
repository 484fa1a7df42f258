"""Guards that are not about learning progress: non-finite values and an epoch budget."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tune_stop._count import counted
from tune_stop.stoppers._base import (
    CONTINUE,
    Decision,
    HistoryStopper,
    StopRecord,
    check_metric_name,
    check_number,
)


def non_finite_rule(history: Sequence[float]) -> Decision:
    """Stops at once when the last value is NaN, +inf or -inf."""
    if not history or math.isfinite(history[-1]):
        return CONTINUE
    return Decision(True, f"non-finite value {history[-1]}")


def max_epoch_rule(history: Sequence[float], *, max_epochs: int) -> Decision:
    """Stops once ``max_epochs`` epochs have run."""
    if len(history) < max_epochs:
        return CONTINUE
    return Decision(True, f"reached max_epochs={max_epochs}")


class NonFiniteStopper(HistoryStopper):
    """Stops a trial the first epoch any monitored metric is NaN or infinite.

    Ray's ASHA never stops a trial that reports NaN (it would run to ``max_t``); this
    guard runs before the scheduler, so a diverging trial ends with ``non_finite``.

    Args:
        metrics: One metric name or several.
    """

    policy = "non_finite"

    def __init__(self, metrics: str | Sequence[str]) -> None:
        names = [metrics] if isinstance(metrics, str) else list(metrics)
        if not names:
            raise ValueError(f"metrics must name at least one metric, but got metrics={metrics!r}.")
        for name in names:
            check_metric_name("metrics", name)
        super().__init__(names)

    def make_record(self, histories: Mapping[str, Sequence[float]], epoch: int, decision: Decision) -> StopRecord:
        # Name the metric that actually went non-finite, not just the first one.
        bad = next(m for m in self._metrics if not math.isfinite(histories[m][-1]))
        value = histories[bad][-1]
        return StopRecord(self.policy, bad, epoch, value, f"{bad} is {value}")

    def decide(self, histories: Mapping[str, Sequence[float]], result: Mapping[str, Any]) -> Decision:
        for metric in self._metrics:
            decision = non_finite_rule(histories[metric])
            if decision.stop:
                return decision
        return CONTINUE

    def scores(self, matrices: Mapping[str, np.ndarray]) -> np.ndarray:
        """1 at every epoch where a monitored metric is non-finite, NaN elsewhere (fires at 1)."""
        bad = np.logical_or.reduce([~np.isfinite(matrices[metric]) for metric in self._metrics])
        return np.where(bad, 1.0, np.nan)

    def limits(self, num_curves: int, configs: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.ones(num_curves)

    def describe(self) -> str:
        return f"stop at once when {' or '.join(self._metrics)} is NaN or infinite"

    def __repr__(self) -> str:
        return f"NonFiniteStopper(metrics={list(self._metrics)!r})"


class MaxEpochStopper(HistoryStopper):
    """Stops a trial once it has run ``max_epochs`` epochs.

    Args:
        max_epochs: The epoch budget (integer ``>= 1``).
        metric: The result key counted; ``epoch`` by default.
    """

    policy = "max_epochs"
    parameter = "max_epochs"

    def __init__(self, max_epochs: int, metric: str = "epoch") -> None:
        check_number("max_epochs", max_epochs, integer=True, minimum=1)
        check_metric_name("metric", metric)
        super().__init__([metric])
        self.max_epochs = int(max_epochs)

    def decide(self, histories: Mapping[str, Sequence[float]], result: Mapping[str, Any]) -> Decision:
        return max_epoch_rule(histories[self.metric], max_epochs=self.max_epochs)

    def scores(self, matrices: Mapping[str, np.ndarray]) -> np.ndarray:
        """The number of results seen so far, at every epoch (fires at ``max_epochs``)."""
        n, num_epochs = matrices[self.metric].shape
        return np.broadcast_to(np.arange(1.0, num_epochs + 1), (n, num_epochs)).copy()

    def describe(self) -> str:
        return f"stop after {counted(self.max_epochs, 'epoch')}"

    def __repr__(self) -> str:
        shown = "" if self.metric == "epoch" else f", metric={self.metric!r}"
        return f"MaxEpochStopper(max_epochs={self.max_epochs}{shown})"
