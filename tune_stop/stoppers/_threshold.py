"""Threshold policy: stop the first epoch the metric reaches a target value."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tune_stop.stoppers._base import (
    CONTINUE,
    Decision,
    HistoryStopper,
    check_metric_name,
    check_number,
    mode_sign,
    result_value,
)
from tune_stop.stoppers._scores import as_matrix, reaches

#: A value reaches its threshold on a tie (``<=`` / ``>=``): the score must reach the limit.
THRESHOLD_STRICT = False


def threshold_scores(values: np.ndarray, *, mode: str, grace_period: int = 0) -> np.ndarray:
    """The threshold family's score: ``-sign * value``, which reaches ``-sign * threshold``.

    Turning both directions into "the score reaches the limit" keeps one comparison
    (:func:`threshold_limit` maps a threshold to its limit). Non-finite values and the
    first ``grace_period`` epochs score NaN: they never reach a threshold.

    Args:
        values: ``(n_curves, n_epochs)`` values of the metric.
        mode: ``"min"`` or ``"max"``.
        grace_period: Leading epochs in which the rule never fires.
    """
    sign = mode_sign(mode)
    scores = np.where(np.isfinite(values), -sign * values, np.nan)
    scores[:, :grace_period] = np.nan
    return scores


def threshold_limit(threshold: float, mode: str) -> float:
    """The score a value must reach to reach ``threshold`` (see :func:`threshold_scores`)."""
    return -mode_sign(mode) * float(threshold)


def threshold_rule(history: Sequence[float], *, mode: str, threshold: float, grace_period: int = 0) -> Decision:
    """Stops when the last value reaches ``threshold``.

    Reaching means ``value <= threshold`` for ``mode="min"`` and ``value >= threshold``
    for ``mode="max"`` (ties stop). NaN and inf never reach a threshold: pair this
    rule with :func:`non_finite_rule` to stop diverging trials.

    Args:
        history: The metric's values, epoch 1 first.
        mode: ``"min"`` or ``"max"``.
        threshold: The target value. ``0.0`` is a valid threshold.
        grace_period: Leading epochs in which the rule never fires (as Keras'
            ``start_from_epoch``), for metrics whose early values mislead, such as a
            GAN discriminator's accuracy, which is near 1 in the first epochs of
            trainings that go on to do well.

    Returns:
        The decision at the last epoch of ``history``.
    """
    if len(history) == 0:
        return CONTINUE
    score = threshold_scores(as_matrix(history), mode=mode, grace_period=grace_period)[0, -1]
    # Not there yet (non-finite values and the grace period score NaN: never there).
    if not reaches(score, threshold_limit(threshold, mode), strict=THRESHOLD_STRICT):
        return CONTINUE
    relation = "<=" if mode == "min" else ">="
    return Decision(True, f"{history[-1]:.6g} {relation} threshold {threshold:.6g}")


class ThresholdStopper(HistoryStopper):
    """Stops a trial at the first epoch its metric reaches a threshold.

    The threshold is either fixed (``threshold``) or read per trial from the trial's
    own config (``threshold_key``; Ray puts ``config`` into every result), so that each
    trial of a search can sample its own threshold.

    Args:
        metric: The monitored metric, e.g. ``"val_loss"``.
        mode: ``"min"`` (stop when ``metric <= threshold``) or ``"max"``.
        threshold: A fixed threshold.
        threshold_key: A config key holding the trial's threshold (``a/b`` for nested).
        grace_period: Leading epochs in which it never stops (integer ``>= 0``).

    Raises:
        ValueError: If neither or both of ``threshold`` and ``threshold_key`` are given,
            or an argument is out of range.
        TypeError: If an argument has the wrong type.
    """

    policy = "threshold"
    parameter = "threshold"
    strict = THRESHOLD_STRICT

    def __init__(
        self,
        metric: str,
        mode: str = "min",
        threshold: float | None = None,
        threshold_key: str | None = None,
        grace_period: int = 0,
    ) -> None:
        check_metric_name("metric", metric)
        mode_sign(mode)
        if (threshold is None) == (threshold_key is None):
            raise ValueError(
                "give exactly one of threshold and threshold_key, but got "
                f"threshold={threshold!r}, threshold_key={threshold_key!r}."
            )
        if threshold is not None:
            check_number("threshold", threshold)
        if threshold_key is not None:
            check_metric_name("threshold_key", threshold_key)
        check_number("grace_period", grace_period, integer=True, minimum=0)
        super().__init__([metric])
        self.mode = mode
        self.threshold = threshold
        self.threshold_key = threshold_key
        self.grace_period = int(grace_period)

    def trial_threshold(self, result: Mapping[str, Any]) -> float:
        """The threshold that applies to the trial that produced ``result``.

        Raises:
            KeyError: If ``threshold_key`` is missing from the trial's config.
            TypeError, ValueError: If the configured threshold is not a finite number.
        """
        if self.threshold is not None:
            return float(self.threshold)
        assert self.threshold_key is not None  # guaranteed by __init__
        config = result.get("config")
        if not isinstance(config, Mapping):
            raise KeyError(f"threshold_key={self.threshold_key!r} needs the trial's config in its results.")
        try:
            value = result_value(config, self.threshold_key)
        except KeyError:
            raise KeyError(f"threshold_key={self.threshold_key!r} is not in the trial's config.") from None
        return float(check_number(self.threshold_key, value))

    def decide(self, histories: Mapping[str, Sequence[float]], result: Mapping[str, Any]) -> Decision:
        return threshold_rule(
            histories[self.metric],
            mode=self.mode,
            threshold=self.trial_threshold(result),
            grace_period=self.grace_period,
        )

    def scores(self, matrices: Mapping[str, np.ndarray]) -> np.ndarray:
        return threshold_scores(matrices[self.metric], mode=self.mode, grace_period=self.grace_period)

    def limit(self, value: float) -> float:
        return threshold_limit(value, self.mode)

    def limits(self, num_curves: int, configs: Mapping[str, np.ndarray]) -> np.ndarray:
        """The fixed threshold's limit, or each trial's own from ``configs[threshold_key]``.

        Raises:
            ValueError: If ``threshold_key`` is not among ``configs`` or a trial's value
                is missing or not a finite number.
        """
        if self.threshold is not None:
            return np.full(num_curves, self.limit(self.threshold))
        key = str(self.threshold_key)
        if key not in configs:
            raise ValueError(
                f"threshold_key={key!r} is not in the curves' configs (no 'config/{key}' column), "
                "so each trial's threshold is unknown."
            )
        thresholds = np.asarray(configs[key], dtype=np.float64)
        if not np.isfinite(thresholds).all():
            raise ValueError(f"threshold_key={key!r}: some trials have no finite threshold in 'config/{key}'.")
        return np.asarray(-mode_sign(self.mode) * thresholds)

    def describe(self) -> str:
        relation = "<=" if self.mode == "min" else ">="
        bound = f"{self.threshold:.4g}" if self.threshold is not None else f"the trial's config[{self.threshold_key!r}]"
        from_epoch = f", from epoch {self.grace_period + 1} on" if self.grace_period else ""
        return f"stop at the first epoch {self.metric} {relation} {bound}{from_epoch}"

    def __repr__(self) -> str:
        bound = (
            f"threshold={self.threshold!r}" if self.threshold is not None else (f"threshold_key={self.threshold_key!r}")
        )
        grace = f", grace_period={self.grace_period}" if self.grace_period else ""
        return f"ThresholdStopper(metric={self.metric!r}, mode={self.mode!r}, {bound}{grace})"
