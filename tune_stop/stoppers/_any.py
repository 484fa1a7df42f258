"""Combination of policies: a trial stops when any of them fires."""

from __future__ import annotations

from typing import Any

from ray.tune import Stopper

from tune_stop.stoppers._base import _LAST_RECORDS, StopRecord, result_epoch


class AnyStopper(Stopper):
    """Stops a trial as soon as any of the given stoppers fires.

    Unlike Ray's ``CombinedStopper``, every stopper sees every result (no
    short-circuit), so stateful policies keep complete histories. The first stopper,
    in the order given, that fires supplies the stop reason.

    Args:
        *stoppers: Ray Tune ``Stopper`` instances.

    Raises:
        TypeError: If an argument is not a ``ray.tune.Stopper``.
        ValueError: If no stopper is given.
    """

    policy = "any"

    def __init__(self, *stoppers: Stopper) -> None:
        if not stoppers:
            raise ValueError("AnyStopper needs at least one stopper, but got none.")
        for index, stopper in enumerate(stoppers):
            if not isinstance(stopper, Stopper):
                raise TypeError(f"stoppers[{index}] must be a ray.tune.Stopper, but got {stopper!r}.")
        self.stoppers = tuple(stoppers)
        self._records: dict[str, StopRecord] = {}

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        fired = [stopper for stopper in self.stoppers if stopper(trial_id, result)]
        if not fired:
            return False
        first = fired[0]
        record = first.stop_record(trial_id) if hasattr(first, "stop_record") else None
        if record is None:
            epoch = result_epoch(result, fallback=0)
            record = StopRecord(type(first).__name__, "", epoch, float("nan"), repr(first))
        # The combination's choice (the first stopper in order) overrides the children's records.
        self._records[trial_id] = _LAST_RECORDS[trial_id] = record
        return True

    def stop_all(self) -> bool:
        return any(stopper.stop_all() for stopper in self.stoppers)

    def stop_record(self, trial_id: str) -> StopRecord | None:
        """Why the first firing stopper stopped ``trial_id``, or ``None``."""
        return self._records.get(trial_id)

    def forget(self, trial_id: str) -> None:
        """Drops a finished trial's histories (its stop record stays)."""
        for stopper in self.stoppers:
            forget = getattr(stopper, "forget", None)
            if callable(forget):
                forget(trial_id)

    def __repr__(self) -> str:
        return f"AnyStopper({', '.join(repr(s) for s in self.stoppers)})"
