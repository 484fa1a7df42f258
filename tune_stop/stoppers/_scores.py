"""The one decision every policy makes: has this epoch's score reached the limit?

Each family computes a per-epoch *score* over a ``(curves, epochs)`` matrix (the
threshold's signed value, patience's epochs without improvement, GL, PQ's quotient,
UP's run of rising strips) with NaN where it cannot fire. A stopper fires at the first
epoch whose score reaches its limit: ``score > limit`` (strict) or ``score >= limit``.

The live rules ask :func:`reaches` about the last epoch of a one-row matrix; the replay
asks :func:`first_reaching` for all curves and candidate limits at once. The two forms
of the same comparison live side by side here and a differential test pins them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["as_matrix", "first_reaching", "first_reaching_per_curve", "reaches", "relative_excess"]


def as_matrix(history: Sequence[float] | np.ndarray) -> np.ndarray:
    """One history (epoch 1 first) as a ``(1, epochs)`` float matrix."""
    return np.asarray(history, dtype=float).reshape(1, -1)


def reaches(score: float, limit: float, *, strict: bool) -> bool:
    """Whether one score reaches ``limit`` (NaN never does)."""
    if math.isnan(score):
        return False
    return score > limit if strict else score >= limit


def relative_excess(value: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``(value - reference) / |reference|``; with a zero reference 0 (equal values) or inf."""
    with np.errstate(divide="ignore", invalid="ignore"):
        excess = (value - reference) / np.abs(reference)
    return np.where(reference == 0, np.where(value == 0, 0.0, np.inf), excess)


def _running_max(scores: np.ndarray) -> np.ndarray:
    # A NaN epoch never fires, so it never raises the running maximum.
    return np.fmax.accumulate(np.where(np.isnan(scores), -np.inf, scores), axis=1)


def first_reaching(scores: np.ndarray, limits: np.ndarray, lengths: np.ndarray, *, strict: bool) -> np.ndarray:
    """First epoch (from 1) whose score reaches each limit, per curve; 0 where none does.

    The running maximum of the score is non-decreasing, so a limit is reached at epoch
    ``1 + #{epochs whose running maximum is below it}``. Ranking every running maximum
    among the sorted limits once turns that count, for all limits at once, into a
    per-curve histogram of ranks and its cumulative sum: O(curves x (epochs +
    candidates)) instead of O(curves x epochs x candidates).

    Args:
        scores: ``(n_curves, n_epochs)`` per-epoch scores, NaN where the rule cannot fire.
        limits: ``(n_candidates,)`` limits, one per candidate value.
        lengths: ``(n_curves,)`` recorded epochs per curve; epochs past them never fire.
        strict: Reaching means ``score > limit`` (else ``>=``).

    Returns:
        ``(n_curves, n_candidates)`` int64 stop epochs, 0 where the rule never fired.
    """
    running = _running_max(scores)
    n = running.shape[0]
    limits = np.asarray(limits, dtype=float)
    k = len(limits)
    order = np.argsort(limits, kind="stable")
    # rank = how many (sorted) limits this epoch has reached.
    ranks = np.searchsorted(limits[order], running, side="left" if strict else "right")
    histogram = np.bincount((np.arange(n)[:, None] * (k + 1) + ranks).ravel(), minlength=n * (k + 1))
    # Epochs that have not yet reached sorted limit j: those with rank <= j.
    not_reached = np.cumsum(histogram.reshape(n, k + 1), axis=1)[:, :k]
    counts = np.empty((n, k), dtype=np.int64)
    counts[:, order] = not_reached
    return np.where(counts < lengths[:, None], counts + 1, 0)


def first_reaching_per_curve(
    scores: np.ndarray, limits: np.ndarray, lengths: np.ndarray, *, strict: bool
) -> np.ndarray:
    """Like :func:`first_reaching`, with one limit per curve (e.g. each trial's own threshold).

    Returns:
        ``(n_curves,)`` int64 stop epochs, 0 where the rule never fired.
    """
    running = _running_max(scores)
    limits = np.asarray(limits, dtype=float)[:, None]
    reached = running > limits if strict else running >= limits
    counts = (~reached).sum(axis=1)
    return np.where(counts < lengths, counts + 1, 0).astype(np.int64)
