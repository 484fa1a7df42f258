"""Shared pieces of the stopping policies: decisions, validation and the Ray wiring.

Every policy is written once as a per-epoch *score* over a ``(curves, epochs)``
matrix (see :mod:`tune_stop.stoppers._scores`). Its *rule*, a function of a plain
history of floats (epochs numbered from 1, ``history[t - 1]`` is epoch ``t``), asks the
score of the last epoch whether it reaches the limit and returns a :class:`Decision`.
The Ray Tune ``Stopper`` classes keep one history per ``trial_id`` and ask the rule;
the offline replay (:mod:`analysis`) asks the same stoppers for the same scores on
all curves at once (:meth:`HistoryStopper.scores`), so live and replayed decisions
cannot drift apart.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
from ray.tune import Stopper


class Decision(NamedTuple):
    """What a rule decided at the last epoch of the history it was given.

    Attributes:
        stop: Whether the trial should stop now.
        reason: Plain-language explanation when ``stop`` is true, else ``""``.
    """

    stop: bool
    reason: str = ""


CONTINUE = Decision(False)


@dataclass(frozen=True)
class StopRecord:
    """Why and when a live stopper stopped a trial.

    Attributes:
        policy: Short policy name (``threshold``, ``patience``, ``gl``, ...).
        metric: The monitored metric.
        epoch: The epoch at which the trial was stopped (numbered from 1).
        value: The metric's value at that epoch.
        detail: The rule's plain-language reason.
    """

    policy: str
    metric: str
    epoch: int
    value: float
    detail: str


Rule = Callable[[Sequence[float]], Decision]

# The latest stop record of each trial in this (driver) process. After Tuner.restore,
# Tune calls its own unpickled copy of the stopper; the stop-reasons callback finds the
# records here. Trial ids are unique across experiments.
_LAST_RECORDS: dict[str, StopRecord] = {}


def last_stop_record(trial_id: str) -> StopRecord | None:
    """The record of the last stopper (or combination) in this process that stopped ``trial_id``."""
    return _LAST_RECORDS.get(trial_id)


def first_stop(rule: Rule, history: Sequence[float]) -> tuple[int | None, str]:
    """Replays ``rule`` epoch by epoch and returns the first epoch it fires.

    Args:
        rule: A rule with all its parameters bound (e.g. a ``functools.partial``).
        history: The metric's values, epoch 1 first.

    Returns:
        ``(epoch, reason)`` for the first stopping epoch, or ``(None, "")`` when the
        rule never fires on this history.
    """
    for epoch in range(1, len(history) + 1):
        decision = rule(history[:epoch])
        if decision.stop:
            return epoch, decision.reason
    return None, ""


def mode_sign(mode: str) -> float:
    """Returns ``+1.0`` for ``"min"`` and ``-1.0`` for ``"max"``.

    Multiplying by the sign turns every comparison into "smaller is better", so the
    decision code handles one direction only.

    Raises:
        ValueError: If ``mode`` is neither ``"min"`` nor ``"max"``.
    """
    if mode == "min":
        return 1.0
    if mode == "max":
        return -1.0
    raise ValueError(f"mode must be 'min' or 'max', but got mode={mode!r}.")


def check_number(
    name: str,
    value: Any,
    *,
    integer: bool = False,
    minimum: float | None = None,
    strictly_positive: bool = False,
) -> float:
    """Validates a numeric constructor argument and returns it as a float.

    Raises:
        TypeError: If ``value`` is not a real number (or not an integer when
            ``integer`` is set). Booleans are rejected.
        ValueError: If ``value`` is not finite or is out of range.
    """
    kind = "an integer" if integer else "a number"
    wanted = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, wanted):
        raise TypeError(f"{name} must be {kind}, but got {name}={value!r}.")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, but got {name}={value!r}.")
    if strictly_positive and value <= 0:
        raise ValueError(f"{name} must be > 0, but got {name}={value!r}.")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum:g}, but got {name}={value!r}.")
    return float(value)


def check_metric_name(name: str, value: Any) -> str:
    """Validates a metric name argument."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, but got {name}={value!r}.")
    if not value:
        raise ValueError(f"{name} must not be empty, but got {name}={value!r}.")
    return value


def result_value(result: Mapping[str, Any], key: str) -> Any:
    """Looks ``key`` up in a (possibly nested) Ray result; ``a/b`` reads ``result["a"]["b"]``.

    Raises:
        KeyError: If the key is absent, naming the key and the keys that are there.
    """
    if key in result:
        return result[key]
    node: Any = result
    for part in key.split("/"):
        if not isinstance(node, Mapping) or part not in node:
            available = ", ".join(sorted(str(k) for k in result if k != "config"))
            raise KeyError(f"{key!r} is not in the trial's result; it reports: {available}")
        node = node[part]
    return node


def metric_value(result: Mapping[str, Any], metric: str) -> float:
    """Reads ``metric`` from a Ray result as a float.

    Raises:
        KeyError: If the metric is missing.
        TypeError: If the value is not a real number.
    """
    value = result_value(result, metric)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"metric {metric!r} must be a number, but the trial reported {value!r}.")
    return float(value)


def result_epoch(result: Mapping[str, Any], fallback: int) -> int:
    """The epoch a result belongs to: ``epoch``, else ``training_iteration``, else ``fallback``.

    Raises:
        ValueError: If the result numbers its epoch below 1 (epochs are numbered from 1).
    """
    for key in ("epoch", "training_iteration"):
        value = result.get(key)
        if isinstance(value, numbers.Integral) or (isinstance(value, float) and value.is_integer()):
            if value < 1:
                raise ValueError(
                    f"epochs are numbered from 1, but a result reports {key}={value!r}: report epoch + 1, "
                    "or leave epoch out so that Ray's training_iteration counts."
                )
            return int(value)
    return fallback


class HistoryStopper(Stopper):
    """Base class: keeps one history per (trial, metric) and asks a pure rule.

    Subclasses set ``policy`` and implement :meth:`decide`; to be replayable offline
    they also set ``parameter`` and ``strict`` and implement :meth:`scores` (the
    quantity their rule tests, for many curves at once) and, where the parameter is not
    already on the score's scale, :meth:`limit`. Histories are indexed by the result's
    ``epoch``: a result for an epoch already seen (a trial retried from a checkpoint)
    replaces that epoch and drops the ones after it, so a curve never holds duplicated
    epochs.
    """

    policy: ClassVar[str] = "custom"
    #: The argument a recommendation tunes (``threshold``, ``patience``, ``alpha``, ...).
    parameter: ClassVar[str] = ""
    #: Whether a score must exceed the limit (``>``) rather than reach it (``>=``).
    strict: ClassVar[bool] = False

    def __init__(self, metrics: Sequence[str]) -> None:
        self._metrics = tuple(metrics)
        self._histories: dict[str, dict[str, list[float]]] = {}
        self._records: dict[str, StopRecord] = {}

    @property
    def metric(self) -> str:
        """The primary monitored metric (the first one)."""
        return self._metrics[0]

    @property
    def metrics(self) -> tuple[str, ...]:
        """Every metric this stopper reads, the primary one first."""
        return self._metrics

    def scores(self, matrices: Mapping[str, np.ndarray]) -> np.ndarray:
        """The per-epoch score the rule tests, for many curves at once.

        Args:
            matrices: ``(n_curves, n_epochs)`` float matrices of every metric in
                :attr:`metrics`, NaN past each curve's end.

        Returns:
            ``(n_curves, n_epochs)`` scores, NaN where the rule cannot fire; the rule
            fires at the first epoch whose score reaches :meth:`limits`.

        Raises:
            NotImplementedError: For stoppers that cannot be replayed.
        """
        raise NotImplementedError(f"{type(self).__name__} does not define scores, so it cannot be replayed.")

    def limit(self, value: float) -> float:
        """The limit on the score's scale for the tuned parameter's ``value``."""
        return float(value)

    def limits(self, num_curves: int, configs: Mapping[str, np.ndarray]) -> np.ndarray:
        """This stopper's own limit for each of ``num_curves`` curves.

        Args:
            num_curves: Number of curves.
            configs: Per-curve config values by key (a ``ThresholdStopper`` with
                ``threshold_key`` reads each trial's own threshold there).
        """
        return np.full(num_curves, self.limit(getattr(self, self.parameter)))

    def describe(self) -> str:
        """The policy in plain language (for reports)."""
        return repr(self)

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        histories = self._histories.setdefault(trial_id, {m: [] for m in self._metrics})
        primary = histories[self._metrics[0]]
        epoch = result_epoch(result, fallback=len(primary) + 1)
        for metric in self._metrics:
            history = histories[metric]
            del history[epoch - 1 :]
            history.append(metric_value(result, metric))
        decision = self.decide_trial(trial_id, histories, result)
        if decision.stop:
            self._records[trial_id] = _LAST_RECORDS[trial_id] = self.make_record(histories, epoch, decision)
        return decision.stop

    def make_record(self, histories: Mapping[str, Sequence[float]], epoch: int, decision: Decision) -> StopRecord:
        """Describes a stop; the primary metric's value is the one that triggered it."""
        value = histories[self.metric][-1]
        return StopRecord(self.policy, self.metric, epoch, value, decision.reason)

    def decide(self, histories: Mapping[str, Sequence[float]], result: Mapping[str, Any]) -> Decision:
        """Applies the rule to this trial's histories. Implemented by each policy."""
        raise NotImplementedError

    def decide_trial(
        self, trial_id: str, histories: Mapping[str, Sequence[float]], result: Mapping[str, Any]
    ) -> Decision:
        """:meth:`decide` for ``trial_id``; a policy whose rule scans the whole history may resume its scan."""
        return self.decide(histories, result)

    def stop_all(self) -> bool:
        return False

    def stop_record(self, trial_id: str) -> StopRecord | None:
        """Why this stopper stopped ``trial_id``, or ``None`` if it did not."""
        return self._records.get(trial_id)

    def forget(self, trial_id: str) -> None:
        """Drops a finished trial's histories (its stop record stays), so memory does not grow with trials."""
        self._histories.pop(trial_id, None)

    def history(self, trial_id: str, metric: str | None = None) -> list[float]:
        """A copy of the values this stopper has seen for a trial (epoch 1 first)."""
        histories = self._histories.get(trial_id, {})
        return list(histories.get(metric or self._metrics[0], []))
