"""Prechelt's criteria from "Early Stopping - But When?" (1998): GL, PQ and UP.

Epochs are numbered from 1 and a strip of length ``strip`` (Prechelt's k) ends at
every epoch that is a multiple of ``strip``. The criteria are defined on errors, so
the monitored metrics must be lower-is-better (a loss or an error rate).
"""

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
)
from tune_stop.stoppers._scores import as_matrix, reaches, relative_excess

#: GL and PQ fire when their quantity exceeds alpha; UP when its run reaches s strips.
GL_STRICT = PQ_STRICT = True
UP_STRICT = False


def _strip_ends(num_epochs: int, strip: int) -> np.ndarray:
    """Which epochs (from 1) end a strip."""
    return (np.arange(1, num_epochs + 1) % strip) == 0


def gl_scores(values: np.ndarray) -> np.ndarray:
    """GL(t) = 100 * (E_va(t) / E_opt(t) - 1) at every epoch.

    E_opt(t) is the lowest finite value so far. NaN where the value is not finite or no
    finite value has been seen; a zero E_opt gives 0 for a zero value, else inf.

    Args:
        values: ``(n_curves, n_epochs)`` validation errors.
    """
    finite = np.isfinite(values)
    optimum = np.minimum.accumulate(np.where(finite, values, np.inf), axis=1)
    gl = 100.0 * relative_excess(values, optimum)
    return np.where(finite & np.isfinite(optimum), gl, np.nan)


def training_progress_scores(train_values: np.ndarray, strip: int) -> np.ndarray:
    """P_k(t) = 1000 * (sum of the strip's E_tr / (k * min of the strip's E_tr) - 1) at every epoch.

    Computed as ``1000 * sum(E_tr - min) / (k * |min|)`` over the last ``strip`` epochs,
    summed in epoch order, so a stalled strip gives exactly 0 (``sum / k`` does not
    round back to the minimum). NaN where the strip is incomplete or holds a
    non-finite value; a zero minimum gives 0 for a flat strip, else inf.

    Args:
        train_values: ``(n_curves, n_epochs)`` training errors.
        strip: Strip length k.
    """
    n, num_epochs = train_values.shape
    progress = np.full((n, num_epochs), np.nan)
    if num_epochs < strip:
        return progress
    windows = num_epochs - strip + 1
    # Window j ends at epoch j + strip; position i of it is train_values[:, i + j].
    views = [train_values[:, i : i + windows] for i in range(strip)]
    complete = np.logical_and.reduce([np.isfinite(view) for view in views])
    minimum = np.minimum.reduce(views)
    excess = np.zeros((n, windows))
    with np.errstate(invalid="ignore", divide="ignore"):
        for view in views:
            excess += view - minimum
        value = 1000.0 * excess / (strip * np.abs(minimum))
    value = np.where(minimum == 0, np.where(excess == 0, 0.0, np.inf), value)
    progress[:, strip - 1 :] = np.where(complete, value, np.nan)
    return progress


def pq_scores(values: np.ndarray, train_values: np.ndarray, *, strip: int) -> np.ndarray:
    """PQ's quotient GL(t) / P_k(t) at strip ends, NaN elsewhere.

    A stalled training error (P_k(t) = 0) gives ``inf`` when GL(t) > 0 and ``0`` when
    GL(t) = 0. Non-finite values in either matrix give NaN.
    """
    gl = gl_scores(values)
    progress = training_progress_scores(train_values, strip)
    with np.errstate(divide="ignore", invalid="ignore"):
        quotient = np.where(progress == 0, np.where(gl > 0, np.inf, 0.0), gl / progress)
    quotient = np.where(np.isnan(gl) | np.isnan(progress), np.nan, quotient)
    quotient[:, ~_strip_ends(values.shape[1], strip)] = np.nan
    return quotient


def up_scores(values: np.ndarray, *, strip: int) -> np.ndarray:
    """UP's run of successive strips whose end value rose, at strip ends; NaN elsewhere.

    At strip end t the score is the largest s with E_va(t) > E_va(t - k) > ... >
    E_va(t - s*k), so UP_s fires when it reaches s (first possible at epoch
    (s + 1) * k). Comparisons with NaN are false: a NaN ends the run.
    """
    scores = np.full(values.shape, np.nan)
    ends = values[:, strip - 1 :: strip]
    with np.errstate(invalid="ignore"):
        rises = ends[:, 1:] > ends[:, :-1]
    counts = np.cumsum(rises, axis=1)
    runs: np.ndarray = counts - np.maximum.accumulate(np.where(rises, 0, counts), axis=1)
    scores[:, 2 * strip - 1 :: strip] = runs
    return scores


def generalization_loss(history: Sequence[float]) -> float:
    """GL(t) at the last epoch of ``history`` (see :func:`gl_scores`); NaN when not defined."""
    return float(gl_scores(as_matrix(history))[0, -1]) if len(history) else float("nan")


def training_progress(train_history: Sequence[float], strip: int) -> float:
    """P_k(t) over the last ``strip`` epochs of ``train_history`` (see :func:`training_progress_scores`)."""
    if len(train_history) < strip:
        return float("nan")
    return float(training_progress_scores(as_matrix(train_history[-strip:]), strip)[0, -1])


def gl_rule(history: Sequence[float], *, alpha: float) -> Decision:
    """GL_alpha: stop after the first epoch with GL(t) > alpha.

    NaN and inf never trigger GL (they are ignored when taking E_opt).
    """
    if len(history) == 0:
        return CONTINUE
    gl = gl_scores(as_matrix(history))[0, -1]
    # NaN never reaches: a non-finite epoch does not trigger GL.
    if not reaches(gl, alpha, strict=GL_STRICT):
        return CONTINUE
    return Decision(True, f"GL={gl:.4g} > alpha={alpha:g}")


def pq_rule(history: Sequence[float], train_history: Sequence[float], *, alpha: float, strip: int = 5) -> Decision:
    """PQ_alpha: at strip ends, stop when GL(t) / P_k(t) > alpha (see :func:`pq_scores`).

    A stalled training error (P_k(t) = 0) makes the quotient ``inf`` when GL(t) > 0 and
    ``0`` when GL(t) = 0. Non-finite values in either history never trigger PQ.

    Args:
        history: Validation errors, epoch 1 first.
        train_history: Training errors for the same epochs.
        alpha: The quotient threshold.
        strip: Strip length k.
    """
    epoch = len(history)
    # PQ is only evaluated at the end of a strip, with the training errors of its epochs.
    if epoch == 0 or epoch % strip != 0 or len(train_history) < epoch:
        return CONTINUE
    quotient = pq_scores(as_matrix(history), as_matrix(train_history[:epoch]), strip=strip)[0, -1]
    if not reaches(quotient, alpha, strict=PQ_STRICT):
        return CONTINUE
    return Decision(True, f"GL/P={quotient:.4g} > alpha={alpha:g} (GL={generalization_loss(history):.4g})")


def up_rule(history: Sequence[float], *, strips: int, strip: int = 5) -> Decision:
    """UP_s: stop when the error rose at the ends of ``strips`` successive strips.

    Stops after epoch t (a strip end) iff E_va(t) > E_va(t - k) > ... > E_va(t - s*k).
    The first comparison needs a strip end before it, so UP_s can fire from epoch
    (s + 1) * k on. Comparisons with NaN are false, so NaN never triggers UP.
    """
    if len(history) == 0:
        return CONTINUE
    run = up_scores(as_matrix(history), strip=strip)[0, -1]
    if not reaches(run, strips, strict=UP_STRICT):
        return CONTINUE
    return Decision(True, f"error rose over {_strips(strips)} of {strip} epochs")


class GLStopper(HistoryStopper):
    """Prechelt's GL_alpha: stop when the generalization loss exceeds ``alpha`` percent.

    Args:
        metric: A lower-is-better validation metric, e.g. ``"val_loss"``.
        alpha: GL threshold in percent (``>= 0``; Prechelt suggests 1 to 5).
    """

    policy = "gl"
    parameter = "alpha"
    strict = GL_STRICT

    def __init__(self, metric: str, alpha: float = 5.0) -> None:
        check_metric_name("metric", metric)
        check_number("alpha", alpha, minimum=0)
        super().__init__([metric])
        self.alpha = float(alpha)

    def decide(self, histories: Mapping[str, Sequence[float]], result: Mapping[str, Any]) -> Decision:
        return gl_rule(histories[self.metric], alpha=self.alpha)

    def scores(self, matrices: Mapping[str, np.ndarray]) -> np.ndarray:
        return gl_scores(matrices[self.metric])

    def describe(self) -> str:
        return f"stop when {self.metric} is more than {self.alpha:g}% above its best (Prechelt GL)"

    def __repr__(self) -> str:
        return f"GLStopper(metric={self.metric!r}, alpha={self.alpha})"


class PQStopper(HistoryStopper):
    """Prechelt's PQ_alpha: generalization loss over training progress, at strip ends.

    Args:
        metric: A lower-is-better validation metric, e.g. ``"val_loss"``.
        train_metric: The matching training metric, e.g. ``"train_loss"``.
        alpha: Quotient threshold (``>= 0``; Prechelt suggests 0.5 to 3).
        strip: Strip length k (integer ``>= 1``; Prechelt uses 5).
    """

    policy = "pq"
    parameter = "alpha"
    strict = PQ_STRICT

    def __init__(self, metric: str, train_metric: str, alpha: float = 0.75, strip: int = 5) -> None:
        check_metric_name("metric", metric)
        check_metric_name("train_metric", train_metric)
        check_number("alpha", alpha, minimum=0)
        check_number("strip", strip, integer=True, minimum=1)
        super().__init__([metric, train_metric])
        self.train_metric = train_metric
        self.alpha = float(alpha)
        self.strip = int(strip)

    def decide(self, histories: Mapping[str, Sequence[float]], result: Mapping[str, Any]) -> Decision:
        return pq_rule(histories[self.metric], histories[self.train_metric], alpha=self.alpha, strip=self.strip)

    def scores(self, matrices: Mapping[str, np.ndarray]) -> np.ndarray:
        return pq_scores(matrices[self.metric], matrices[self.train_metric], strip=self.strip)

    def describe(self) -> str:
        return (
            f"stop when GL of {self.metric} over the progress of {self.train_metric} exceeds {self.alpha:g} "
            f"at the end of a strip of {self.strip} epochs (Prechelt PQ)"
        )

    def __repr__(self) -> str:
        return (
            f"PQStopper(metric={self.metric!r}, train_metric={self.train_metric!r}, "
            f"alpha={self.alpha}, strip={self.strip})"
        )


class UPStopper(HistoryStopper):
    """Prechelt's UP_s: stop when the error rose in ``strips`` successive strips.

    Args:
        metric: A lower-is-better validation metric, e.g. ``"val_loss"``.
        strips: Successive rising strips s (integer ``>= 1``; Prechelt uses 2 to 4).
        strip: Strip length k (integer ``>= 1``; Prechelt uses 5).
    """

    policy = "up"
    parameter = "strips"
    strict = UP_STRICT

    def __init__(self, metric: str, strips: int = 3, strip: int = 5) -> None:
        check_metric_name("metric", metric)
        check_number("strips", strips, integer=True, minimum=1)
        check_number("strip", strip, integer=True, minimum=1)
        super().__init__([metric])
        self.strips = int(strips)
        self.strip = int(strip)

    def decide(self, histories: Mapping[str, Sequence[float]], result: Mapping[str, Any]) -> Decision:
        return up_rule(histories[self.metric], strips=self.strips, strip=self.strip)

    def scores(self, matrices: Mapping[str, np.ndarray]) -> np.ndarray:
        return up_scores(matrices[self.metric], strip=self.strip)

    def describe(self) -> str:
        return f"stop when {self.metric} rose over {_strips(self.strips)} of {self.strip} epochs (Prechelt UP)"

    def __repr__(self) -> str:
        return f"UPStopper(metric={self.metric!r}, strips={self.strips}, strip={self.strip})"


def _strips(count: int) -> str:
    """``1 strip``, ``3 successive strips``."""
    return "1 strip" if count == 1 else f"{count} successive strips"
