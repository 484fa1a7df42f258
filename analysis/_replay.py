"""Vectorised replay of stopping policies on recorded learning curves.

Every family is evaluated for all curves and all candidate values at once with NumPy
(curves x epochs x candidates); only patience, whose state depends on its own past,
loops over epochs, still vectorised over curves and candidates. The tests check the
stop epochs against the live rules (``tune_stop.stoppers``) on every curve.

Censoring: a curve that ended before its epoch budget (stopped by ASHA or by the
trial's own stopper) says nothing about epochs after its end. A candidate that has
not fired by then is *censored* on that curve: not evaluable, counted, excluded.
A curve that ran its whole budget and never fired is evaluated as trained to the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis._policies import Policy

__all__ = ["CurveSet", "PolicyReplay", "replay", "replay_policy", "stop_epochs"]


@dataclass(frozen=True)
class CurveSet:
    """Learning curves as padded matrices, one row per trial.

    Attributes:
        trial_ids, config_ids, folds: Per-trial identifiers.
        lengths: Recorded epochs per trial.
        budgets: Epoch budget (``max_epochs``) per trial.
        frame: The long DataFrame the matrices come from.
    """

    trial_ids: np.ndarray
    config_ids: np.ndarray
    folds: np.ndarray
    lengths: np.ndarray
    budgets: np.ndarray
    frame: pd.DataFrame

    @property
    def complete(self) -> np.ndarray:
        """Curves that ran their whole epoch budget (never censored)."""
        return np.asarray(self.lengths >= self.budgets)

    @property
    def num_epochs(self) -> int:
        return int(self.lengths.max()) if len(self.lengths) else 0

    @classmethod
    def from_frame(cls, curves: pd.DataFrame, max_epochs: int | None = None) -> CurveSet:
        """Builds the matrices from a long DataFrame (``trial_id``, ``epoch``, metrics).

        Args:
            curves: One row per (trial, epoch); ``config_id``, ``fold`` and
                ``config/max_epochs`` are used when present.
            max_epochs: The epoch budget of every trial, if the frame does not say.
        """
        frame = curves.sort_values(["trial_id", "epoch"], kind="stable").reset_index(drop=True)
        trial_ids, positions = np.unique(frame["trial_id"].astype(str).to_numpy(), return_inverse=True)
        first = frame.groupby(positions, sort=True).first()
        lengths = frame.groupby(positions, sort=True)["epoch"].max().to_numpy(dtype=int)
        if "config/max_epochs" in frame:
            budgets = pd.to_numeric(first["config/max_epochs"], errors="coerce").to_numpy(dtype=float)
            budgets = np.where(np.isfinite(budgets), budgets, lengths.max()).astype(int)
        else:
            budgets = np.full(len(trial_ids), max_epochs or lengths.max(), dtype=int)
        config_ids = first["config_id"].to_numpy() if "config_id" in first else trial_ids
        folds = first["fold"].to_numpy() if "fold" in first else np.zeros(len(trial_ids), dtype=int)
        frame = frame.assign(_row=positions)
        return cls(trial_ids, config_ids, folds, lengths, budgets, frame)

    def matrix(self, metric: str) -> np.ndarray:
        """``(n_curves, n_epochs)`` float matrix of ``metric``; NaN past each curve's end."""
        values = np.full((len(self.trial_ids), self.num_epochs), np.nan)
        epochs = self.frame["epoch"].to_numpy(dtype=int) - 1
        column = pd.to_numeric(self.frame[metric], errors="coerce").to_numpy(dtype=float)
        values[self.frame["_row"].to_numpy(), epochs] = column
        return values


def _valid(lengths: np.ndarray, num_epochs: int) -> np.ndarray:
    return np.arange(num_epochs)[None, :] < lengths[:, None]


def _first_reaching(score: np.ndarray, limits: np.ndarray, lengths: np.ndarray, *, strict: bool) -> np.ndarray:
    """First epoch (from 1) where ``score > limit`` (strict) or ``>=``; 0 when never.

    NaN in ``score`` never fires. The running maximum of the score is non-decreasing,
    so a limit is reached at epoch ``1 + #{epochs whose running maximum is below it}``.
    Ranking every running maximum among the sorted limits once turns that count, for
    all limits at once, into a per-curve histogram of ranks and its cumulative sum:
    O(curves x (epochs + candidates)) instead of O(curves x epochs x candidates).
    """
    running = np.fmax.accumulate(np.where(np.isnan(score), -np.inf, score), axis=1)
    n, _ = running.shape
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


def _relative_excess(value: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``(value - reference) / |reference|``; with a zero reference 0 (equal) or inf."""
    with np.errstate(divide="ignore", invalid="ignore"):
        excess = (value - reference) / np.abs(reference)
    return np.where(reference == 0, np.where(value == 0, 0.0, np.inf), excess)


def _generalization_loss(values: np.ndarray) -> np.ndarray:
    finite = np.isfinite(values)
    optimum = np.minimum.accumulate(np.where(finite, values, np.inf), axis=1)
    gl = 100.0 * _relative_excess(values, optimum)
    return np.where(finite & np.isfinite(optimum), gl, np.nan)


def _training_progress(train: np.ndarray, strip: int) -> np.ndarray:
    n, t = train.shape
    progress = np.full((n, t), np.nan)
    if t < strip:
        return progress
    windows = np.lib.stride_tricks.sliding_window_view(train, strip, axis=1)  # (n, t - strip + 1, strip)
    complete = np.isfinite(windows).all(axis=2)
    with np.errstate(invalid="ignore"):
        value = 1000.0 * _relative_excess(windows.mean(axis=2), windows.min(axis=2))
    progress[:, strip - 1 :] = np.where(complete, value, np.nan)
    return progress


def _strip_ends(num_epochs: int, strip: int) -> np.ndarray:
    return (np.arange(1, num_epochs + 1) % strip) == 0


def _patience(
    values: np.ndarray, lengths: np.ndarray, sign: float, patience: np.ndarray, min_delta: float, grace_period: int
) -> np.ndarray:
    n, t = values.shape
    k = len(patience)
    best = np.full((n, k), np.inf)
    wait = np.zeros((n, k), dtype=np.int64)
    stops = np.zeros((n, k), dtype=np.int64)
    signed = sign * values
    for epoch in range(grace_period, t):  # the rule ignores its grace period
        active = (epoch < lengths)[:, None] & (stops == 0)
        value = signed[:, epoch][:, None]
        wait += active
        with np.errstate(invalid="ignore"):
            improved = active & (value < best - min_delta)
        best = np.where(improved, value, best)
        wait = np.where(improved, 0, wait)
        fire = active & ~improved & (wait >= patience[None, :])
        stops = np.where(fire, epoch + 1, stops)
    return stops


def stop_epochs(policy: Policy, curves: CurveSet) -> np.ndarray:
    """``(n_curves, n_candidates)`` first stop epochs (from 1); 0 where the policy never fired."""
    values = curves.matrix(policy.metric)
    lengths = curves.lengths
    candidates = np.asarray(policy.candidates, dtype=float)
    sign = 1.0 if policy.mode == "min" else -1.0
    if policy.family == "threshold":
        score = np.where(np.isfinite(values), -sign * values, np.nan)
        score[:, : policy.grace_period] = np.nan  # the rule never fires in its grace period
        return _first_reaching(score, -sign * candidates, lengths, strict=False)
    if policy.family == "patience":
        return _patience(values, lengths, sign, candidates.astype(np.int64), policy.min_delta, policy.grace_period)
    if policy.family == "gl":
        return _first_reaching(_generalization_loss(values), candidates, lengths, strict=True)
    if policy.family == "pq":
        assert policy.train_metric is not None
        gl = _generalization_loss(values)
        progress = _training_progress(curves.matrix(policy.train_metric), policy.strip)
        with np.errstate(divide="ignore", invalid="ignore"):
            quotient = np.where(progress == 0, np.where(gl > 0, np.inf, 0.0), gl / progress)
        quotient = np.where(np.isnan(gl) | np.isnan(progress), np.nan, quotient)
        quotient[:, ~_strip_ends(values.shape[1], policy.strip)] = np.nan
        return _first_reaching(quotient, candidates, lengths, strict=True)
    # UP: run length of rises between successive strip ends.
    strip = policy.strip
    ends = values[:, strip - 1 :: strip]
    with np.errstate(invalid="ignore"):
        rises = ends[:, 1:] > ends[:, :-1]
    counts = np.cumsum(rises, axis=1)
    runs: np.ndarray = counts - np.maximum.accumulate(np.where(rises, 0, counts), axis=1)
    score = np.full(values.shape, np.nan)
    score[:, 2 * strip - 1 :: strip] = runs
    score[~_valid(lengths, values.shape[1])] = np.nan
    return _first_reaching(score, candidates, lengths, strict=False)


@dataclass(frozen=True)
class PolicyReplay:
    """Outcome of one policy's candidates on every curve (arrays are ``(n_curves, n_candidates)``).

    Attributes:
        policy: The replayed policy.
        stop_epoch: First stop epoch, 0 where it never fired.
        evaluable: Not censored and with a finite best target.
        epochs_used: Epochs trained under the policy (its stop epoch, else the curve's end).
        epochs_saved: ``1 - epochs_used / budget``.
        regret: Relative loss of target quality at the stop epoch against the curve's best.
        regret_vs_last: The same against the curve's last epoch (negative: stopping was better).
        metric_at_stop, target_at_stop: Values at the stop epoch.
        target_best, target_last: Per curve, ``(n_curves,)``.
    """

    policy: Policy
    stop_epoch: np.ndarray
    evaluable: np.ndarray
    epochs_used: np.ndarray
    epochs_saved: np.ndarray
    regret: np.ndarray
    regret_vs_last: np.ndarray
    metric_at_stop: np.ndarray
    target_at_stop: np.ndarray
    target_best: np.ndarray
    target_last: np.ndarray

    @property
    def triggered(self) -> np.ndarray:
        return self.stop_epoch > 0

    @property
    def censored(self) -> np.ndarray:
        return ~self.evaluable


def _relative_regret(at_stop: np.ndarray, reference: np.ndarray, target_sign: float) -> np.ndarray:
    """``sign * (at_stop - reference) / |reference|`` (absolute when the reference is 0); inf if non-finite."""
    difference = target_sign * (at_stop - reference)
    scale = np.where(reference == 0, 1.0, np.abs(reference))
    regret = difference / scale
    return np.where(np.isfinite(at_stop), regret, np.inf)


def replay_policy(policy: Policy, curves: CurveSet, target: str, target_mode: str) -> PolicyReplay:
    """Replays every candidate of ``policy`` on every curve, judged by ``target``."""
    stops = stop_epochs(policy, curves)
    target_values = curves.matrix(target)
    metric_values = curves.matrix(policy.metric)
    target_sign = 1.0 if target_mode == "min" else -1.0
    n = len(curves.trial_ids)
    rows = np.arange(n)[:, None]
    lengths = curves.lengths
    used = np.where(stops > 0, stops, lengths[:, None])
    finite_target = np.where(np.isfinite(target_values), target_sign * target_values, np.inf)
    has_target = np.isfinite(finite_target).any(axis=1)
    best = target_sign * np.where(has_target, finite_target.min(axis=1), np.nan)
    last = target_values[np.arange(n), lengths - 1]
    at_stop = target_values[rows, used - 1]
    evaluable = ((stops > 0) | curves.complete[:, None]) & np.asarray(has_target)[:, None]
    return PolicyReplay(
        policy=policy,
        stop_epoch=stops,
        evaluable=evaluable,
        epochs_used=used,
        epochs_saved=1.0 - used / curves.budgets[:, None],
        regret=_relative_regret(at_stop, best[:, None], target_sign),
        regret_vs_last=_relative_regret(at_stop, last[:, None], target_sign),
        metric_at_stop=metric_values[rows, used - 1],
        target_at_stop=at_stop,
        target_best=best,
        target_last=last,
    )


def replay(
    curves: pd.DataFrame | CurveSet,
    policies: Sequence[Policy],
    *,
    target: str,
    target_mode: str,
) -> pd.DataFrame:
    """Applies each policy's candidates to every curve.

    Args:
        curves: Long learning curves (see :func:`analysis.load_experiment`) or a CurveSet.
        policies: Policies with their candidate values.
        target: The quality judged at the stop epoch (e.g. ``test_accuracy``).
        target_mode: ``"min"`` or ``"max"`` for the target.

    Returns:
        One row per (policy, candidate, trial): ``policy``, ``family``, ``metric``,
        ``parameter``, ``value``, ``trial_id``, ``config_id``, ``fold``, ``stop_epoch``
        (NaN where censored), ``epochs_used``, ``triggered``, ``censored``,
        ``metric_at_stop``, ``target_at_stop``, ``target_best``, ``target_last``,
        ``regret``, ``regret_vs_last``, ``epochs_saved``. Censored rows keep their
        identifiers and have NaN outcomes.
    """
    curve_set = curves if isinstance(curves, CurveSet) else CurveSet.from_frame(curves)
    frames = []
    for policy in policies:
        result = replay_policy(policy, curve_set, target, target_mode)
        n, k = result.stop_epoch.shape
        censored = result.censored.ravel(order="F")

        def outcome(array: np.ndarray, censored: np.ndarray = censored) -> np.ndarray:
            flat = array.ravel(order="F").astype(float)
            return np.where(censored, np.nan, flat)

        frames.append(
            pd.DataFrame(
                {
                    "policy": policy.name,
                    "family": policy.family,
                    "metric": policy.metric,
                    "parameter": policy.parameter,
                    "value": np.repeat(np.asarray(policy.candidates, dtype=float), n),
                    "trial_id": np.tile(curve_set.trial_ids, k),
                    "config_id": np.tile(curve_set.config_ids, k),
                    "fold": np.tile(curve_set.folds, k),
                    "stop_epoch": outcome(np.where(result.triggered, result.stop_epoch, result.epochs_used)),
                    "epochs_used": outcome(result.epochs_used),
                    "triggered": result.triggered.ravel(order="F") & ~censored,
                    "censored": censored,
                    "metric_at_stop": outcome(result.metric_at_stop),
                    "target_at_stop": outcome(result.target_at_stop),
                    "target_best": np.tile(result.target_best, k),
                    "target_last": np.tile(result.target_last, k),
                    "regret": outcome(result.regret),
                    "regret_vs_last": outcome(result.regret_vs_last),
                    "epochs_saved": outcome(result.epochs_saved),
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
