"""Prechelt's criteria from "Early Stopping - But When?" (1998): GL, PQ and UP.

Epochs are numbered from 1 and a strip of length ``strip`` (Prechelt's k) ends at
every epoch that is a multiple of ``strip``. The criteria are defined on errors, so
the monitored metrics must be lower-is-better (a loss or an error rate).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from tune_stop.stoppers._base import (
    CONTINUE,
    Decision,
    HistoryStopper,
    check_metric_name,
    check_number,
)


def _relative_excess(value: float, reference: float) -> float:
    """``value / reference - 1``, generalised to ``(value - reference) / |reference|``.

    With a zero reference the excess is ``0`` for a zero value and ``inf`` otherwise.
    """
    if reference == 0.0:
        return 0.0 if value == 0.0 else math.inf
    return (value - reference) / abs(reference)


def generalization_loss(history: Sequence[float]) -> float:
    """GL(t) = 100 * (E_va(t) / E_opt(t) - 1) at the last epoch of ``history``.

    E_opt(t) is the lowest finite value so far. Returns NaN when the last value is not
    finite or no finite value has been seen.
    """
    current = history[-1]
    finite = [v for v in history if math.isfinite(v)]
    if not math.isfinite(current) or not finite:
        return math.nan
    return 100.0 * _relative_excess(current, min(finite))


def training_progress(train_history: Sequence[float], strip: int) -> float:
    """P_k(t) = 1000 * (sum of the strip's E_tr / (k * min of the strip's E_tr) - 1).

    Computed over the last ``strip`` epochs of ``train_history``; NaN when the strip is
    incomplete or holds a non-finite value.
    """
    window = list(train_history[-strip:])
    if len(window) < strip or not all(math.isfinite(v) for v in window):
        return math.nan
    return 1000.0 * _relative_excess(sum(window) / strip, min(window))


def gl_rule(history: Sequence[float], *, alpha: float) -> Decision:
    """GL_alpha: stop after the first epoch with GL(t) > alpha.

    NaN and inf never trigger GL (they are ignored when taking E_opt).
    """
    if not history:
        return CONTINUE
    gl = generalization_loss(history)
    # NaN compares false: a non-finite epoch does not trigger GL.
    if not gl > alpha:
        return CONTINUE
    return Decision(True, f"GL={gl:.4g} > alpha={alpha:g}")


def pq_rule(history: Sequence[float], train_history: Sequence[float], *, alpha: float, strip: int = 5) -> Decision:
    """PQ_alpha: at strip ends, stop when GL(t) / P_k(t) > alpha.

    A stalled training error (P_k(t) = 0) makes the quotient ``inf`` when GL(t) > 0 and
    ``0`` when GL(t) = 0. Non-finite values in either history never trigger PQ.

    Args:
        history: Validation errors, epoch 1 first.
        train_history: Training errors for the same epochs.
        alpha: The quotient threshold.
        strip: Strip length k.
    """
    epoch = len(history)
    # PQ is only evaluated at the end of a strip.
    if epoch == 0 or epoch % strip != 0 or len(train_history) < epoch:
        return CONTINUE
    gl = generalization_loss(history)
    progress = training_progress(train_history[:epoch], strip)
    if math.isnan(gl) or math.isnan(progress):
        return CONTINUE
    quotient = (math.inf if gl > 0 else 0.0) if progress == 0 else gl / progress
    if not quotient > alpha:
        return CONTINUE
    return Decision(True, f"GL/P={quotient:.4g} > alpha={alpha:g} (GL={gl:.4g}, P={progress:.4g})")


def up_rule(history: Sequence[float], *, strips: int, strip: int = 5) -> Decision:
    """UP_s: stop when the error rose at the ends of ``strips`` successive strips.

    Stops after epoch t (a strip end) iff E_va(t) > E_va(t - k) > ... > E_va(t - s*k).
    The first comparison needs a strip end before it, so UP_s can fire from epoch
    (s + 1) * k on. Comparisons with NaN are false, so NaN never triggers UP.
    """
    epoch = len(history)
    # UP is only evaluated at strip ends with s earlier strip ends to compare against.
    if epoch == 0 or epoch % strip != 0 or epoch < (strips + 1) * strip:
        return CONTINUE
    for i in range(strips):
        later, earlier = history[epoch - 1 - i * strip], history[epoch - 1 - (i + 1) * strip]
        if not later > earlier:
            return CONTINUE
    return Decision(True, f"error rose over {strips} successive strips of {strip} epochs")


class GLStopper(HistoryStopper):
    """Prechelt's GL_alpha: stop when the generalization loss exceeds ``alpha`` percent.

    Args:
        metric: A lower-is-better validation metric, e.g. ``"val_loss"``.
        alpha: GL threshold in percent (``>= 0``; Prechelt suggests 1 to 5).
    """

    policy = "gl"

    def __init__(self, metric: str, alpha: float = 5.0) -> None:
        check_metric_name("metric", metric)
        check_number("alpha", alpha, minimum=0)
        super().__init__([metric])
        self.alpha = float(alpha)

    def decide(self, histories: Mapping[str, Sequence[float]], result: Mapping[str, Any]) -> Decision:
        return gl_rule(histories[self.metric], alpha=self.alpha)

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

    def __init__(self, metric: str, strips: int = 3, strip: int = 5) -> None:
        check_metric_name("metric", metric)
        check_number("strips", strips, integer=True, minimum=1)
        check_number("strip", strip, integer=True, minimum=1)
        super().__init__([metric])
        self.strips = int(strips)
        self.strip = int(strip)

    def decide(self, histories: Mapping[str, Sequence[float]], result: Mapping[str, Any]) -> Decision:
        return up_rule(histories[self.metric], strips=self.strips, strip=self.strip)

    def __repr__(self) -> str:
        return f"UPStopper(metric={self.metric!r}, strips={self.strips}, strip={self.strip})"
