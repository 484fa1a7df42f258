"""Ray's ASHA replayed on recorded whole curves, alone or beside a stopping policy.

The replay drives the scheduler the live searches run (:class:`tune_stop.schedulers.
RecordingASHAScheduler`, Ray's ``AsyncHyperBandScheduler`` that never records a NaN)
with the recorded results, in the order Ray Tune delivers them, so its rungs, cutoffs
and decisions are Ray's own; where each epoch takes one unit of time, a second form
replays one rung at a time (:func:`_rung_by_rung`), pinned to the first by a
differential test. ASHA is asynchronous: what a trial is compared with depends
on which trials reached the rung before it. Trials start in a stated order on a given
number of workers; each epoch takes one unit of time, or its recorded seconds.

As in Ray Tune, at each result the stopper is asked first: if it stops the trial, the
scheduler only hears that the trial completed (and records the result in a rung it has
reached); otherwise the scheduler decides.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import math
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
from ray.tune.schedulers import TrialScheduler

from tune_stop._compat import asha_bracket_rungs, asha_milestones, asha_replace_cutoffs
from tune_stop.schedulers import RecordingASHAScheduler, full_entry

__all__ = ["AshaSpec", "arrivals", "simulate_asha", "sorted_cutoff"]


@dataclass(frozen=True)
class AshaSpec:
    """The ASHA a search runs (``time_attr="epoch"``, one bracket, as tune-stop's searches build it).

    Attributes:
        metric, mode: What ASHA compares trials on.
        grace_period: Epochs before the first rung.
        reduction_factor: Rungs at ``grace_period * reduction_factor**k``; a trial below
            the ``1 - 1/reduction_factor`` quantile of its rung's records is cut.
        max_t: Epoch budget; default the curves' budget.
        workers: Trials run at once.
    """

    metric: str
    mode: str
    grace_period: int = 1
    reduction_factor: float = 3.0
    max_t: int | None = None
    workers: int = 1

    def __post_init__(self) -> None:
        if self.mode not in ("min", "max"):
            raise ValueError(f"ASHA's mode must be 'min' or 'max', but got mode={self.mode!r}.")
        for name, value, least in (
            ("grace_period", self.grace_period, 1),
            ("workers", self.workers, 1),
            ("max_t", self.max_t if self.max_t is not None else 1, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"ASHA's {name} must be an integer >= {least}, but got {name}={value!r}.")
        if not self.reduction_factor > 1:
            raise ValueError(f"ASHA's reduction_factor must be > 1, but got {self.reduction_factor!r}.")

    @classmethod
    def from_scheduler(cls, scheduler: Mapping[str, Any], metric: str, mode: str, workers: int = 1) -> AshaSpec:
        """The ASHA of a space's ``scheduler:`` entry (``{"name": "asha", "grace_period": ...}``).

        The one place that turns a space's or a record's scheduler entry into an ASHA to replay.

        Raises:
            ValueError: If the entry is not an ASHA or holds values ASHA cannot take.
        """
        if scheduler.get("name") != "asha":
            raise ValueError(f"the scheduler {dict(scheduler)} is not ASHA")
        scheduler = full_entry(scheduler)  # the defaults of the live search's scheduler
        try:
            return cls(
                metric,
                mode,
                grace_period=int(scheduler.get("grace_period", 1)),
                reduction_factor=float(scheduler.get("reduction_factor", 3)),
                max_t=int(scheduler["max_t"]) if "max_t" in scheduler else None,
                workers=workers,
            )
        except TypeError as error:
            raise ValueError(str(error)) from None

    def scheduler(self, budget: int) -> RecordingASHAScheduler:
        """A fresh scheduler, as :func:`tune_stop.app.search.build_scheduler` makes it."""
        max_t = self.max_t or budget
        return RecordingASHAScheduler(
            time_attr="epoch",
            metric=self.metric,
            mode=self.mode,
            max_t=max_t,
            grace_period=min(self.grace_period, max_t),
            reduction_factor=float(self.reduction_factor),
        )

    def entry(self) -> dict[str, Any]:
        """The ``scheduler:`` entry that runs this ASHA (as a space or ``stoppers.yaml`` writes it)."""
        # No max_t: the search that runs it trains to its own epoch budget.
        return {"name": "asha", "grace_period": self.grace_period, "reduction_factor": float(self.reduction_factor)}

    def describe(self) -> str:
        return (
            f"ASHA on {self.metric} ({self.mode}), grace period {self.grace_period}, reduction factor "
            f"{self.reduction_factor:g}, {self.workers} worker{'s' if self.workers != 1 else ''}"
        )


def sorted_cutoff(recorded: dict[str, float], reduction_factor: float) -> float | None:
    """A rung's cutoff as Ray's ASHA computes it, from the records sorted rather than through NumPy.

    Ray's ``_Bracket.cutoff`` is ``np.nanpercentile(records, (1 - 1/rf) * 100)``: NumPy's
    linear interpolation between the two records around the ``(n - 1) * q`` position,
    written here step for step (the same floating-point operations, so the same number to
    the last bit: ``tests/test_asha_replay.py`` compares them on random records). The
    replay asks ASHA about 10^5 times per choice of a configuration; NumPy's call costs
    20-65x this one on rungs of 90-10 records (measured here: 71 us against 1.1-3.3 us).
    Records that are not all finite go to NumPy.
    """
    if not recorded:
        return None
    values = sorted(recorded.values())
    if not math.isfinite(sum(values)):  # a NaN or inf among them (or a sum past the float range)
        return float(np.nanpercentile(values, (1 - 1 / reduction_factor) * 100))
    return _percentile_of_sorted(values, reduction_factor)


def _percentile_of_sorted(values: list[float], reduction_factor: float) -> float:
    """NumPy's linear percentile at ``(1 - 1/reduction_factor) * 100`` of finite ``values``, sorted, not empty."""
    virtual = (len(values) - 1) * (((1 - 1 / reduction_factor) * 100) / 100.0)
    if virtual >= len(values) - 1:
        return values[-1]
    below = math.floor(virtual)
    gamma = virtual - below
    low, high = values[below], values[below + 1]
    difference = high - low
    return high - difference * (1 - gamma) if gamma >= 0.5 else low + difference * gamma


def arrivals(
    lengths: np.ndarray,
    order: np.ndarray,
    workers: int,
    seconds: np.ndarray | None,
    after: Callable[[int, int], int] | None = None,
) -> Generator[tuple[int, int], bool | None, None]:
    """Yields ``(trial, epoch)`` in the order the results arrive; the caller sends back whether the trial ends.

    Trials start in ``order`` as workers free up; a trial's epoch ``e`` arrives when its
    epochs so far have taken their time (ties: the trial that started first).
    ``after(trial, epoch)``: the next epoch of that trial the caller needs to see (default
    ``epoch + 1``); the epochs in between pass unseen (the caller would only have continued)
    and take their time, so what is yielded arrives in the same order as without it.
    """
    duration = np.ones((len(lengths), int(lengths.max()) if len(lengths) else 0)) if seconds is None else seconds
    waiting = list(order[::-1])
    running: list[tuple[float, int, int, int]] = []  # (arrival time, start rank, trial, epoch)
    rank = 0

    def arrival(now: float, trial: int, start: int, stop: int) -> float:
        for epoch in range(start, stop):  # added one epoch at a time, as a result-by-result run adds them
            now += float(duration[trial, epoch])
        return now

    def start(trial: int, now: float) -> None:
        nonlocal rank
        first = min(after(trial, 0), int(lengths[trial])) if after is not None else 1
        heapq.heappush(running, (arrival(now, trial, 0, first), rank, trial, first))
        rank += 1

    for _ in range(min(workers, len(waiting))):
        start(waiting.pop(), 0.0)
    while running:
        now, started, trial, epoch = heapq.heappop(running)
        ended = yield trial, epoch
        if ended or epoch >= lengths[trial]:
            if waiting:
                start(waiting.pop(), now)
        else:
            following = min(after(trial, epoch), int(lengths[trial])) if after is not None else epoch + 1
            heapq.heappush(running, (arrival(now, trial, epoch, following), started, trial, following))


def simulate_asha(
    spec: AshaSpec,
    values: np.ndarray,
    lengths: np.ndarray,
    budget: int,
    policy_stops: np.ndarray,
    *,
    order: np.ndarray | None = None,
    seconds: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Where each trial ends with ASHA beside each candidate of a policy.

    Args:
        spec: The ASHA.
        values: ``(n_curves, n_epochs)`` ASHA's metric (NaN past each curve's end).
        lengths: ``(n_curves,)`` recorded epochs (whole curves: the budget).
        budget: The epoch budget (ASHA's ``max_t`` by default).
        policy_stops: ``(n_curves, n_candidates)`` the policy's stop epoch per candidate,
            0 where it never fires (all 0: ASHA alone).
        order: The order trials start in (default: as given).
        seconds: ``(n_curves, n_epochs)`` time per epoch (default: one unit each).

    Returns:
        ``(stops, by_asha)``: the epoch each trial ends at (0 where it ran its whole
        curve), and whether ASHA (not the policy) ended it, each ``(n_curves, n_candidates)``.

    With one unit of time per epoch, every trial in ``order``, one bracket whose rungs fall
    on distinct epochs and a finite metric wherever a trial reaches a rung or ``max_t``,
    :func:`_rung_by_rung` replays it (its second form, about 9x faster on 66 searches of 45
    curves here); otherwise Ray's scheduler is asked result by result.
    """
    order = np.arange(len(policy_stops)) if order is None else np.asarray(order)
    if seconds is None and len(order) == len(policy_stops):  # every trial starts: the rungs' replay
        rungs = _rung_by_rung_epochs(spec, budget, values, lengths)
        if rungs is not None:
            return _rung_by_rung(spec, rungs, values, lengths, policy_stops, order, spec.max_t or budget)
    return _result_by_result(spec, values, lengths, budget, policy_stops, order, seconds)


def _result_by_result(
    spec: AshaSpec,
    values: np.ndarray,
    lengths: np.ndarray,
    budget: int,
    policy_stops: np.ndarray,
    order: np.ndarray,
    seconds: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`simulate_asha` by Ray's own scheduler, asked with each result that can change its answer."""
    n_curves, n_candidates = policy_stops.shape
    stops = np.zeros((n_curves, n_candidates), dtype=np.int64)
    by_asha = np.zeros((n_curves, n_candidates), dtype=bool)
    # The scheduler reads only a trial's ``trial_id``.
    trials: list[Any] = [SimpleNamespace(trial_id=f"t{i}") for i in range(n_curves)]
    for candidate in range(n_candidates):
        scheduler = spec.scheduler(budget)
        asha_replace_cutoffs(scheduler, sorted_cutoff)
        milestones = asha_milestones(scheduler)
        max_t = spec.max_t or budget
        # Epochs at which the scheduler's answer is not known to be "continue": a rung, the budget,
        # or any epoch after a rung the trial passed with a NaN (it may record there later).
        unsure = np.zeros(n_curves, dtype=bool)
        global_rng = np.random.get_state()  # Ray draws each trial's bracket from NumPy's global generator
        for trial in trials:
            scheduler.on_trial_add(None, trial)  # type: ignore[arg-type]  # no controller is needed
        np.random.set_state(global_rng)
        rungs = np.array(sorted(milestones | {max_t}), dtype=np.int64)
        own = policy_stops[:, candidate]

        def after(
            trial: int, epoch: int, own: np.ndarray = own, unsure: np.ndarray = unsure, rungs: np.ndarray = rungs
        ) -> int:
            """The next epoch at which something can happen: a rung, the budget, the policy's stop."""
            if unsure[trial]:
                return epoch + 1
            following = int(rungs[np.searchsorted(rungs, epoch, side="right")]) if epoch < rungs[-1] else epoch + 1
            stop = int(own[trial])
            return min(following, stop) if stop > epoch else following

        events = arrivals(lengths, order, spec.workers, seconds, after)
        ended = None
        while True:
            try:
                trial_index, epoch = events.send(ended)
            except StopIteration:
                break
            trial = trials[trial_index]
            result = {"epoch": epoch, spec.metric: float(values[trial_index, epoch - 1])}
            last = epoch >= lengths[trial_index]
            if policy_stops[trial_index, candidate] == epoch or last:
                scheduler.on_trial_complete(None, trial, result)
                stops[trial_index, candidate] = epoch if not last or policy_stops[trial_index, candidate] else 0
                ended = True
                continue
            if epoch in milestones or epoch >= max_t or unsure[trial_index]:
                if epoch in milestones and not np.isfinite(result[spec.metric]):
                    unsure[trial_index] = True
                if scheduler.on_trial_result(None, trial, result) == TrialScheduler.STOP:
                    scheduler.on_trial_complete(None, trial, result)
                    stops[trial_index, candidate], by_asha[trial_index, candidate] = epoch, True
                    ended = True
                    continue
            ended = False
    return stops, by_asha


def _rung_by_rung_epochs(spec: AshaSpec, budget: int, values: np.ndarray, lengths: np.ndarray) -> list[int] | None:
    """The epochs at which ASHA decides, lowest first, where :func:`_rung_by_rung` replays it exactly; else None.

    That takes one bracket, rungs at distinct epochs, and a finite metric wherever a
    trial reaches a rung or ``max_t`` (a NaN there is never recorded: the trial is
    compared, or stopped at ``max_t``, at a later epoch).
    """
    rungs = _single_bracket_rungs(spec.grace_period, float(spec.reduction_factor), spec.max_t or budget)
    if rungs is None:
        return None
    max_t = spec.max_t or budget
    reached = [epoch for epoch in [*rungs, max_t] if epoch <= values.shape[1]]
    if reached:
        at_rungs = values[:, np.asarray(reached) - 1]
        if not np.isfinite(at_rungs[np.asarray(reached)[None, :] <= lengths[:, None]]).all():
            return None
    return list(rungs)


@functools.lru_cache(maxsize=256)
def _single_bracket_rungs(grace_period: int, reduction_factor: float, max_t: int) -> tuple[int, ...] | None:
    """The epochs below ``max_t`` at which the scheduler decides, lowest first; None unless it has one bracket
    with its rungs on distinct epochs. Read once per setting off the scheduler the live search builds."""
    spec = AshaSpec("m", "min", grace_period=grace_period, reduction_factor=reduction_factor, max_t=max_t)
    brackets = asha_bracket_rungs(spec.scheduler(max_t))
    if len(brackets) != 1 or len(set(brackets[0])) != len(brackets[0]):
        return None
    return tuple(sorted(epoch for epoch in brackets[0] if epoch < max_t))


def _rung_by_rung(
    spec: AshaSpec,
    rungs: list[int],
    values: np.ndarray,
    lengths: np.ndarray,
    policy_stops: np.ndarray,
    order: np.ndarray,
    max_t: int,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`simulate_asha`'s second form, for epochs of one unit of time: one rung at a time.

    Each epoch taking one unit, a trial that started earlier reaches every rung earlier
    (ties: the one that started first, as :func:`arrivals` orders them), so at each rung
    the trials arrive in the order they started, whatever the number of workers; and a
    rung's records are the results of every trial that reached it, cut or not. So each
    rung is replayed on its own, lowest first, in start order: a trial is cut where its
    result is below the cutoff of the records before it (``1 - 1/reduction_factor``
    quantile, :func:`sorted_cutoff`'s arithmetic), and a trial that ends at a rung (its
    policy fires there, or its curve ends) only adds its record, as Ray's
    ``on_trial_complete`` does. From ``max_t`` on, ASHA stops every trial. Pinned to the
    result-by-result replay by ``tests/test_asha_replay.py`` on a thousand random curve
    sets, and through :func:`simulate_asha` on a thousand more against Ray's class asked
    at every result.
    """
    n_curves, n_candidates = policy_stops.shape
    sign = 1.0 if spec.mode == "max" else -1.0  # Ray's metric_op: higher is better in the rungs
    rewards = (sign * values[order]).tolist()
    ranked_lengths = lengths[order]
    stops = np.zeros((n_curves, n_candidates), dtype=np.int64)
    by_asha = np.zeros((n_curves, n_candidates), dtype=bool)
    for candidate in range(n_candidates):
        own = policy_stops[order, candidate]
        # Where each trial ends without ASHA's rungs: its policy's stop, its curve's end, or max_t.
        end = np.where((own > 0) & (own <= ranked_lengths), own, ranked_lengths)
        cut = np.zeros(n_curves, dtype=np.int64)  # the rung that cut it (0: none)
        for rung in rungs:
            reaching = np.flatnonzero((end >= rung) & (cut == 0))
            recorded: list[float] = []
            for rank, ends_here in zip(reaching.tolist(), (end[reaching] == rung).tolist(), strict=True):
                reward = rewards[rank][rung - 1]
                if not ends_here and recorded and reward < _percentile_of_sorted(recorded, spec.reduction_factor):
                    cut[rank] = rung
                bisect.insort(recorded, reward)
        at_max_t = (cut == 0) & (end > max_t)
        ended = np.where(cut > 0, cut, np.where(at_max_t, max_t, end))
        whole = (cut == 0) & ~at_max_t & (end == ranked_lengths) & (own == 0)
        stops[order, candidate] = np.where(whole, 0, ended)
        by_asha[order, candidate] = (cut > 0) | at_max_t
    return stops, by_asha
