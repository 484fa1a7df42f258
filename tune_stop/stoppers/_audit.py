"""Audit trials: a stopper that runs on every trial but lets audit trials train to their budget."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ray.tune import Stopper

from tune_stop.stoppers._base import StopRecord

__all__ = ["AUDIT_KEY", "AuditExempt", "is_audit"]

#: The config key that marks a trial as an audit trial.
AUDIT_KEY = "audit"


def is_audit(config: Mapping[str, Any] | None) -> bool:
    """Whether a trial's config marks it as an audit trial."""
    return bool(config and config.get(AUDIT_KEY))


class AuditExempt(Stopper):
    """Runs ``stopper`` on every result but never stops an audit trial (``config["audit"]``).

    An audit trial trains to its budget while the policy keeps its history, so that where
    the policy would have stopped it, and what that would have cost, is measured on a
    whole curve in the very search the policy runs in (``tune-stop report``).

    Args:
        stopper: The policy to exempt audit trials from.
    """

    def __init__(self, stopper: Stopper) -> None:
        if not isinstance(stopper, Stopper):
            raise TypeError(f"stopper must be a ray.tune.Stopper, but got {stopper!r}.")
        self.stopper = stopper
        self.policy = getattr(stopper, "policy", type(stopper).__name__)
        self._first: dict[str, StopRecord | None] = {}

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        fired = bool(self.stopper(trial_id, result))
        if fired and trial_id not in self._first:
            record = getattr(self.stopper, "stop_record", None)
            self._first[trial_id] = record(trial_id) if callable(record) else None
        return fired and not is_audit(result.get("config"))

    def stop_all(self) -> bool:
        return self.stopper.stop_all()

    def stop_record(self, trial_id: str) -> StopRecord | None:
        """Where the policy first fired on ``trial_id`` (for an audit trial: where it would have stopped)."""
        return self._first.get(trial_id)

    def forget(self, trial_id: str) -> None:
        """Drops a finished trial's history (its first firing stays recorded)."""
        forget = getattr(self.stopper, "forget", None)
        if callable(forget):
            forget(trial_id)

    def __repr__(self) -> str:
        return f"AuditExempt({self.stopper!r})"
