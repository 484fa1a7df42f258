"""Vectorised replay of stopping policies on recorded learning curves.

The replay runs the live stoppers themselves: each computes its per-epoch score for
all curves at once (:meth:`tune_stop.stoppers.HistoryStopper.scores`, the function
its live rule tests), and every candidate value is a limit on those scores, found for
all curves and candidates at once. A differential test pins the replay to the live
stoppers on thousands of random curves.

Censoring: a curve that ended before its epoch budget (stopped by ASHA or by the
trial's own stopper) says nothing about epochs after its end. A candidate that has
not fired by then is *censored* on that curve: not evaluable, counted, excluded.
A curve that ran its whole budget and never fired is evaluated as trained to the end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from ray.tune import Stopper

from analysis._defaults import default_target, infer_mode
from analysis._policies import Policy
from analysis._regret import relative_regret
from tune_stop.stoppers import (
    AnyStopper,
    HistoryStopper,
    NonFiniteStopper,
    first_reaching,
    first_reaching_per_curve,
    mode_sign,
)

__all__ = ["CurveSet", "PolicyReplay", "earliest_stops", "relative_regret", "replay", "replay_policy", "stop_epochs"]


def _check_epochs(frame: pd.DataFrame, trial_ids: np.ndarray, positions: np.ndarray, lengths: np.ndarray) -> None:
    """Every curve must hold epochs 1, 2, ..., n once each: live stoppers count epochs by position.

    Raises:
        ValueError: Naming the first trial whose epochs start below 1, repeat or skip one.
    """
    counts = np.bincount(positions, minlength=len(trial_ids))
    firsts = frame.groupby(positions, sort=True)["epoch"].min().to_numpy(dtype=int)
    broken = np.flatnonzero((firsts != 1) | (counts != lengths))
    if broken.size:
        row = int(broken[0])
        epochs = frame.loc[positions == row, "epoch"].to_numpy(dtype=int)
        shown = ", ".join(str(e) for e in epochs[:6]) + (", ..." if len(epochs) > 6 else "")
        raise ValueError(
            f"trial {trial_ids[row]} has the epochs {shown}: each curve must hold epochs 1, 2, 3, ... once each "
            f"({'1 curve does' if len(broken) == 1 else f'{len(broken)} curves do'} not), since a stopper counts the "
            "epochs it is shown."
        )


@dataclass(frozen=True)
class CurveSet:
    """Learning curves as padded matrices, one row per trial.

    Attributes:
        trial_ids, config_ids, folds: Per-trial identifiers.
        lengths: Recorded epochs per trial.
        budgets: Epoch budget (``max_epochs``) per trial.
        frame: The long DataFrame the matrices come from.
        regret_scale: None: every regret is relative to its own reference (the curve's or the
            search's best). A number: every regret is the loss in the target's own units divided by
            this one number (a tolerance in FID points, :attr:`AnalysisOptions.tolerance_points`).
    """

    trial_ids: np.ndarray
    config_ids: np.ndarray
    folds: np.ndarray
    lengths: np.ndarray
    budgets: np.ndarray
    frame: pd.DataFrame
    regret_scale: float | None = None

    @property
    def complete(self) -> np.ndarray:
        """Curves that ran their whole epoch budget (never censored)."""
        return np.asarray(self.lengths >= self.budgets)

    @property
    def cut_short(self) -> int:
        """How many curves ended before their epoch budget (by a scheduler, a stopper, or an error)."""
        return int((~self.complete).sum())

    @property
    def mostly_cut(self) -> bool:
        """Whether most curves were cut short: the rest are the curves a scheduler let run, not a sample."""
        return self.cut_short * 2 > len(self.trial_ids)

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
        # Distinct ids to text first: one string per trial, not per row (100,000 x 200 rows: 4 GB less).
        codes, distinct = pd.factorize(frame["trial_id"], use_na_sentinel=False)
        trial_ids, inverse = np.unique(np.asarray(distinct).astype(str), return_inverse=True)
        positions = inverse[codes]
        first = frame.groupby(positions, sort=True).first()
        lengths = frame.groupby(positions, sort=True)["epoch"].max().to_numpy(dtype=int)
        _check_epochs(frame, trial_ids, positions, lengths)
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

    def matrices(self, metrics: Sequence[str]) -> dict[str, np.ndarray]:
        """:meth:`matrix` of each of ``metrics``.

        Raises:
            ValueError: If a metric is not in the curves.
        """
        missing = [metric for metric in metrics if metric not in self.frame]
        if missing:
            reported = ", ".join(c for c in self.frame.columns if not c.startswith(("config/", "_")))
            raise ValueError(f"{', '.join(map(repr, missing))} not in the curves; they have: {reported}")
        return {metric: self.matrix(metric) for metric in metrics}

    def configs(self) -> dict[str, np.ndarray]:
        """Each trial's config value per key (the ``config/<key>`` columns), ``(n_curves,)`` arrays."""
        first = self.frame.groupby("_row", sort=True).first()
        return {
            column.removeprefix("config/"): first[column].to_numpy()
            for column in first.columns
            if column.startswith("config/")
        }


def _stopper_epochs(
    stopper: HistoryStopper, matrices: Mapping[str, np.ndarray], lengths: np.ndarray, limits: np.ndarray
) -> np.ndarray:
    """First epochs at which ``stopper`` fires with each limit: ``(n_curves, n_limits)``, 0 if never."""
    scores = stopper.scores(matrices)
    return first_reaching(scores, limits, lengths, strict=stopper.strict)


def _earliest(stops: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Element-wise earliest of two stop-epoch arrays where 0 means never."""
    never = np.iinfo(np.int64).max
    earliest = np.minimum(np.where(stops > 0, stops, never), np.where(other > 0, other, never))
    return np.where(earliest == never, 0, earliest)


def _policy_stops(policy: Policy, matrices: Mapping[str, np.ndarray], lengths: np.ndarray) -> np.ndarray:
    """:func:`stop_epochs` on ``(n_curves, n_epochs)`` matrices of the metrics the policy reads."""
    stoppers = [policy.stopper(value) for value in policy.candidates]
    # The fixed arguments make the scores, so one stopper computes them for every candidate.
    limits = np.array([stopper.limits(1, {})[0] for stopper in stoppers])
    stops = _stopper_epochs(stoppers[0], matrices, lengths, limits)
    if policy.check_finite:
        non_finite = _stopper_epochs(NonFiniteStopper(policy.metric), matrices, lengths, np.ones(1))
        stops = _earliest(stops, non_finite)
    return stops


def _reads(policy: Policy) -> tuple[str, ...]:
    """The metrics the policy's stoppers read (its own, a training metric, the non-finite guard's)."""
    return tuple(dict.fromkeys((*policy.stopper(policy.candidates[0]).metrics, policy.metric)))


def stop_epochs(policy: Policy, curves: CurveSet) -> np.ndarray:
    """``(n_curves, n_candidates)`` first stop epochs (from 1); 0 where the policy never fired.

    The live stopper of each candidate (:meth:`Policy.stopper`) gives its limit; they
    differ only in the tuned parameter, so the first computes the per-epoch scores once.
    """
    return _policy_stops(policy, curves.matrices(_reads(policy)), curves.lengths)


def earliest_stops(policy: Policy, num_epochs: int) -> np.ndarray:
    """``(n_candidates,)`` the earliest epoch at which each candidate can stop a curve of ``num_epochs``; 0: none.

    The candidates run, as the replay runs them, on extreme curves: one that gets worse
    every epoch from almost nothing while any other metric it reads stalls (the earliest
    stop of patience, GL, PQ and UP), one at the best value a float can take from the
    first epoch on (a threshold's earliest stop), and one that is NaN throughout (a
    diverging configuration, which a non-finite guard stops at once). The curves grow
    from 1,024 epochs, doubling while a candidate has not stopped one, up to ``num_epochs``.
    """
    sign = mode_sign(policy.mode)  # +1 where lower is better
    reads = _reads(policy)
    length = min(num_epochs, 1024)
    while True:
        epochs = np.arange(1, length + 1, dtype=float)
        extremes = np.stack(
            [
                sign * np.where(epochs == 1, np.finfo(float).tiny, epochs),  # worse every epoch
                np.full(length, -sign * np.finfo(float).max),  # at its best throughout
                np.full(length, np.nan),  # diverged
            ]
        )
        matrices = {name: extremes if name == policy.metric else np.ones_like(extremes) for name in reads}
        with np.errstate(over="ignore"):  # GL of the first "worse" epoch is about 1e308 times its first
            stops = _policy_stops(policy, matrices, np.full(len(extremes), length))
        never = np.iinfo(np.int64).max
        earliest = np.where(stops > 0, stops, never).min(axis=0)
        if (earliest < never).all() or length >= num_epochs:
            return np.where(earliest == never, 0, earliest)
        length = min(num_epochs, 2 * length)


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


def _target_best(target_values: np.ndarray, target_sign: float) -> tuple[np.ndarray, np.ndarray]:
    """Each curve's best finite target value (NaN where it has none), and whether it has one."""
    finite_target = np.where(np.isfinite(target_values), target_sign * target_values, np.inf)
    has_target = np.asarray(np.isfinite(finite_target).any(axis=1))
    return target_sign * np.where(has_target, finite_target.min(axis=1), np.nan), has_target


def replay_policy(
    policy: Policy, curves: CurveSet, target: str, target_mode: str, *, stops: np.ndarray | None = None
) -> PolicyReplay:
    """Replays every candidate of ``policy`` on every curve, judged by ``target``.

    ``stops``: the stop epochs to judge instead of the policy's own (:func:`stop_epochs`),
    e.g. where ASHA beside the policy ends each trial (:func:`analysis._asha.simulate_asha`).
    """
    stops = stop_epochs(policy, curves) if stops is None else stops
    target_values = curves.matrix(target)
    metric_values = curves.matrix(policy.metric)
    target_sign = mode_sign(target_mode)
    n = len(curves.trial_ids)
    rows = np.arange(n)[:, None]
    lengths = curves.lengths
    used = np.where(stops > 0, stops, lengths[:, None])
    best, has_target = _target_best(target_values, target_sign)
    last = target_values[np.arange(n), lengths - 1]
    at_stop = target_values[rows, used - 1]
    evaluable = ((stops > 0) | curves.complete[:, None]) & has_target[:, None]
    return PolicyReplay(
        policy=policy,
        stop_epoch=stops,
        evaluable=evaluable,
        epochs_used=used,
        epochs_saved=1.0 - used / curves.budgets[:, None],
        regret=relative_regret(at_stop, best[:, None], target_sign, curves.regret_scale),
        regret_vs_last=relative_regret(at_stop, last[:, None], target_sign, curves.regret_scale),
        metric_at_stop=metric_values[rows, used - 1],
        target_at_stop=at_stop,
        target_best=best,
        target_last=last,
    )


def replay(
    curves: pd.DataFrame | CurveSet,
    policies: Sequence[Policy] | Sequence[Stopper],
    *,
    target: str | None = None,
    target_mode: str | None = None,
) -> pd.DataFrame:
    """Applies policies (with all their candidates) or live stoppers to every curve.

    Args:
        curves: Long learning curves (see :func:`analysis.load_experiment`) or a CurveSet.
        policies: :class:`Policy` objects with their candidate values, or live stoppers
            (any tune-stop stopper or :class:`~tune_stop.stoppers.AnyStopper`; a
            ``ThresholdStopper`` with ``threshold_key`` reads each trial's threshold
            from the curves' ``config/<key>`` column), not both.
        target: The quality judged at the stop epoch; default ``test_accuracy``, else
            ``fid``, else the first policy's metric.
        target_mode: ``"min"`` or ``"max"`` for the target; inferred from its name by default.

    Returns:
        For policies, one row per (policy, candidate, trial): ``policy``, ``family``,
        ``metric``, ``parameter``, ``value``, ``trial_id``, ``config_id``, ``fold``,
        ``stop_epoch`` (NaN where censored), ``epochs_used``, ``triggered``,
        ``censored``, ``metric_at_stop``, ``target_at_stop``, ``target_best``,
        ``target_last``, ``regret``, ``regret_vs_last``, ``epochs_saved``. Censored
        rows keep their identifiers and have NaN outcomes.

        For stoppers, one row per (stopper, trial): ``stopper`` (its position in the
        list), ``trial_id``, ``config_id``, ``fold``, ``stop_epoch`` (NaN where it never
        fired on the recorded curve), ``reason`` (the policy that fired, as in
        ``stop_reasons.csv``; ``""`` where none did), ``epochs_used``, ``censored``
        (never fired on a curve cut short), ``target_at_stop``, ``target_best`` and
        ``regret`` (NaN where censored).

    Raises:
        ValueError: For a mixed list, a stopper the replay cannot run (named with its
            position), or a metric, target or config key missing from the curves.
    """
    curve_set = curves if isinstance(curves, CurveSet) else CurveSet.from_frame(curves)
    if not policies:
        return pd.DataFrame()
    if all(isinstance(p, Stopper) for p in policies):
        first = policies[0]
        metric, mode = getattr(first, "metric", None), getattr(first, "mode", None)
        target, target_mode = _target(curve_set, target, target_mode, metric, mode)
        return _replay_stoppers(curve_set, list(policies), target, target_mode)  # type: ignore[arg-type]
    if not all(isinstance(p, Policy) for p in policies):
        raise ValueError("replay takes either Policy objects or live stoppers, not a mix of both.")
    first_policy: Policy = policies[0]  # type: ignore[assignment]
    target, target_mode = _target(curve_set, target, target_mode, first_policy.metric, first_policy.mode)
    return _replay_policies(curve_set, list(policies), target, target_mode)  # type: ignore[arg-type]


def _target(
    curves: CurveSet, target: str | None, target_mode: str | None, metric: str | None, mode: str | None
) -> tuple[str, str]:
    """The target and its direction: as given, else as :func:`analysis.analyse` defaults them."""
    if target is None:
        found = default_target(list(curves.frame.columns))
        if found is not None:
            target, inferred = found
        elif metric is not None:
            target, inferred = metric, mode or infer_mode(metric)
        else:
            raise ValueError("no target: give target= (none of test_accuracy, fid is in the curves).")
        target_mode = target_mode or inferred
    if target not in curves.frame:
        raise ValueError(f"target {target!r} is not in the curves.")
    return target, target_mode or infer_mode(target)


def _stopper_stops(
    stopper: Stopper, curves: CurveSet, configs: dict[str, np.ndarray], where: str
) -> tuple[np.ndarray, np.ndarray]:
    """``(stop epochs, reasons)`` of one live stopper on every curve; epoch 0 and reason "" where it never fired."""
    n = len(curves.trial_ids)
    if isinstance(stopper, AnyStopper):
        # Every child sees every epoch; the earliest fires, and among those the first in order names it.
        stops = np.zeros(n, dtype=np.int64)
        reasons = np.full(n, "", dtype=object)
        for index, child in enumerate(stopper.stoppers):
            child_stops, child_reasons = _stopper_stops(child, curves, configs, f"{where}.stoppers[{index}]")
            earlier = (child_stops > 0) & ((stops == 0) | (child_stops < stops))
            stops = np.where(earlier, child_stops, stops)
            reasons = np.where(earlier, child_reasons, reasons)
        return stops, reasons
    if not isinstance(stopper, HistoryStopper):
        raise ValueError(
            f"{where}: {type(stopper).__name__} is not a tune-stop stopper, so it cannot be replayed "
            "(replayable: the stoppers of tune_stop.stoppers and AnyStopper of them)."
        )
    if not _replays_its_own_decision(type(stopper)):
        raise ValueError(
            f"{where}: {type(stopper).__name__} overrides how it decides but not its scores, so the replay "
            "cannot know its rule (define scores in the same class)."
        )
    try:
        scores = stopper.scores(curves.matrices(stopper.metrics))
        limits = stopper.limits(n, configs)
    except NotImplementedError as error:
        raise ValueError(f"{where}: {error}") from None
    except ValueError as error:
        raise ValueError(f"{where} ({stopper!r}): {error}") from None
    stops = first_reaching_per_curve(scores, limits, curves.lengths, strict=stopper.strict)
    return stops, np.where(stops > 0, stopper.policy, "").astype(object)


def _replays_its_own_decision(cls: type[HistoryStopper]) -> bool:
    """Whether ``scores`` is defined at or below the class that defines how ``cls`` decides."""
    mro = cls.__mro__

    def owner(*names: str) -> int:
        return min(mro.index(k) for k in mro if any(name in vars(k) for name in names))

    return owner("scores") <= owner("decide", "decide_trial")


def _replay_stoppers(curves: CurveSet, stoppers: list[Stopper], target: str, target_mode: str) -> pd.DataFrame:
    configs = curves.configs()
    target_values = curves.matrix(target)
    target_sign = mode_sign(target_mode)
    n = len(curves.trial_ids)
    best, has_target = _target_best(target_values, target_sign)
    frames = []
    for index, stopper in enumerate(stoppers):
        stops, reasons = _stopper_stops(stopper, curves, configs, f"stoppers[{index}]")
        used = np.where(stops > 0, stops, curves.lengths)
        censored = (stops == 0) & ~curves.complete
        at_stop = target_values[np.arange(n), used - 1]
        regret = relative_regret(at_stop, best, target_sign, curves.regret_scale)
        frames.append(
            pd.DataFrame(
                {
                    "stopper": index,
                    "trial_id": curves.trial_ids,
                    "config_id": curves.config_ids,
                    "fold": curves.folds,
                    "stop_epoch": np.where(stops > 0, stops, np.nan),
                    "reason": reasons,
                    "epochs_used": used,
                    "censored": censored,
                    "target_at_stop": np.where(censored, np.nan, at_stop),
                    "target_best": best,
                    "regret": np.where(censored | ~has_target, np.nan, regret),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _replay_policies(curve_set: CurveSet, policies: list[Policy], target: str, target_mode: str) -> pd.DataFrame:
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
    return pd.concat(frames, ignore_index=True)
