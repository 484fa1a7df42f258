"""Patience policy: the semantics of Keras and Lightning ``EarlyStopping``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from tune_stop._count import counted
from tune_stop.stoppers._base import (
    CONTINUE,
    Decision,
    HistoryStopper,
    check_metric_name,
    check_number,
    mode_sign,
)
from tune_stop.stoppers._scores import as_matrix, reaches

#: A rule with patience p fires once the wait reaches p.
PATIENCE_STRICT = False


class PatienceState(NamedTuple):
    """Where a patience scan stands after some epochs: per curve, the signed best and the wait."""

    best: np.ndarray
    wait: np.ndarray


def patience_scan(
    values: np.ndarray,
    *,
    mode: str,
    min_delta: float,
    grace_period: int,
    baseline: float | None,
    state: PatienceState | None = None,
    first_epoch: int = 1,
) -> tuple[np.ndarray, PatienceState]:
    """Epochs without improvement at every non-improving epoch, epoch by epoch.

    The replay scans whole curves at once; a live stopper resumes from the ``state``
    of the epochs it has already seen, one new epoch at a time. Both run this loop.

    Args:
        values: ``(n_curves, n_epochs)`` values of the metric, starting at ``first_epoch``.
        mode, min_delta, grace_period, baseline: As in :func:`patience_scores`.
        state: The state after epoch ``first_epoch - 1`` (none: before epoch 1).
        first_epoch: The epoch (from 1) of ``values[:, 0]``.

    Returns:
        ``(scores, state)``: ``(n_curves, n_epochs)`` scores (NaN at improving epochs and
        in the grace period) and the state after the last epoch.
    """
    sign = mode_sign(mode)
    signed = sign * values
    n, num_epochs = signed.shape
    scores = np.full((n, num_epochs), np.nan)
    best, wait = state if state is not None else PatienceState(np.full(n, np.inf), np.zeros(n))
    reference = np.inf if baseline is None else sign * baseline
    for column in range(max(grace_period - first_epoch + 1, 0), num_epochs):
        value = signed[:, column]
        # Keras' and Lightning's comparison, ``value + min_delta < best``; NaN never improves.
        with np.errstate(invalid="ignore"):
            improved = value + min_delta < best
            beats_baseline = value + min_delta < reference
        best = np.where(improved, value, best)
        # Only an epoch that beats both the best and the baseline restarts the wait.
        wait = np.where(improved & beats_baseline, 0.0, wait + 1.0)
        scores[:, column] = np.where(improved, np.nan, wait)
    return scores, PatienceState(best, wait)


def _patience_decision(wait: float, best: float, *, mode: str, patience: int) -> Decision:
    """The rule's decision from the last epoch's score (``wait``) and the best value so far."""
    # Nothing judged yet, the last epoch improved, or still within patience.
    if not reaches(wait, patience, strict=PATIENCE_STRICT):
        return CONTINUE
    shown_best = "none" if best == np.inf else f"{mode_sign(mode) * best:.6g}"
    return Decision(True, f"no improvement for {counted(int(wait), 'epoch')} (best {shown_best})")


def patience_scores(
    values: np.ndarray,
    *,
    mode: str,
    min_delta: float = 0.0,
    grace_period: int = 0,
    baseline: float | None = None,
) -> np.ndarray:
    """The patience family's score: epochs without improvement, at each epoch that did not improve.

    An epoch improves when ``sign * value + min_delta < best`` (the comparison of Keras
    and Lightning ``EarlyStopping``; ties do not improve) and then scores NaN: an
    improving epoch never stops. The count restarts at an improving epoch that also
    beats ``baseline`` (as Keras), and the first ``grace_period`` epochs are not judged
    (Keras' ``start_from_epoch``). A rule with ``patience`` p fires when the score
    reaches p. NaN counts as an epoch without improvement.

    Args:
        values: ``(n_curves, n_epochs)`` values of the metric.
        mode: ``"min"`` or ``"max"``.
        min_delta: Smallest change that counts as an improvement.
        grace_period: Leading epochs to ignore.
        baseline: A value the metric must beat for the count to restart.
    """
    return patience_scan(values, mode=mode, min_delta=min_delta, grace_period=grace_period, baseline=baseline)[0]


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
    (``value + min_delta < best`` for ``"min"``, as Keras and Lightning; ties do not
    improve). As in Keras ``EarlyStopping(start_from_epoch=grace_period,
    baseline=...)``: the first ``grace_period`` epochs are ignored; with a ``baseline``
    the wait is reset only by an epoch that also beats the baseline, so a run that
    never beats it stops after ``patience`` epochs. An improving epoch never stops. NaN
    counts as an epoch without improvement (pair with :func:`non_finite_rule` to stop
    at once). See :func:`patience_scores`.

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
    if len(history) == 0:
        return CONTINUE
    scores, state = patience_scan(
        as_matrix(history), mode=mode, min_delta=min_delta, grace_period=grace_period, baseline=baseline
    )
    return _patience_decision(scores[0, -1], state.best[0], mode=mode, patience=patience)


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
    parameter = "patience"
    strict = PATIENCE_STRICT

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
        # Per trial: how many epochs the scan state covers, and the state after them.
        self._scans: dict[str, tuple[int, PatienceState]] = {}

    def decide_trial(
        self, trial_id: str, histories: Mapping[str, Sequence[float]], result: Mapping[str, Any]
    ) -> Decision:
        """:meth:`decide`, resuming the trial's scan from the epochs already seen (one step per epoch)."""
        history = histories[self.metric]
        covered = self._scans.get(trial_id)
        resume = covered is not None and covered[0] == len(history) - 1
        # A new trial, or a retried one whose later epochs were replaced, is scanned from epoch 1.
        scores, state = patience_scan(
            as_matrix(history[-1:] if resume else history),
            mode=self.mode,
            min_delta=self.min_delta,
            grace_period=self.grace_period,
            baseline=self.baseline,
            state=covered[1] if covered is not None and resume else None,
            first_epoch=len(history) if resume else 1,
        )
        self._scans[trial_id] = (len(history), state)
        return _patience_decision(scores[0, -1], state.best[0], mode=self.mode, patience=self.patience)

    def forget(self, trial_id: str) -> None:
        super().forget(trial_id)
        self._scans.pop(trial_id, None)

    def decide(self, histories: Mapping[str, Sequence[float]], result: Mapping[str, Any]) -> Decision:
        return patience_rule(
            histories[self.metric],
            mode=self.mode,
            patience=self.patience,
            min_delta=self.min_delta,
            grace_period=self.grace_period,
            baseline=self.baseline,
        )

    def scores(self, matrices: Mapping[str, np.ndarray]) -> np.ndarray:
        return patience_scores(
            matrices[self.metric],
            mode=self.mode,
            min_delta=self.min_delta,
            grace_period=self.grace_period,
            baseline=self.baseline,
        )

    def describe(self) -> str:
        # Keras' count: patience 0 and 1 both stop at the first epoch that does not improve.
        text = (
            f"stop after {self.patience} epochs without improvement of {self.metric}"
            if self.patience > 1
            else f"stop at the first epoch without improvement of {self.metric}"
        )
        if self.min_delta:
            text += f" by more than {self.min_delta:g}"
        if self.baseline is not None:
            text += f" (an epoch must also beat {self.baseline:g})"
        if self.grace_period:
            text += f", from epoch {self.grace_period + 1} on"
        return text

    def __repr__(self) -> str:
        return (
            f"PatienceStopper(metric={self.metric!r}, mode={self.mode!r}, "
            f"patience={self.patience}, min_delta={self.min_delta}, "
            f"grace_period={self.grace_period}, baseline={self.baseline!r})"
        )
