"""A per-trial rule as Lightning's and Keras' ``EarlyStopping`` arguments, where they can express it.

Written once: the report's Lightning/Keras lines (``analysis._usage.peer_arguments``) and
:meth:`tune_stop.stopping.Stopping.lightning` / ``keras`` both call :func:`early_stopping`.
The arguments stop at the same epoch as tune-stop's stopper on finite curves
(``tests/test_peers.py`` and ``tests/test_stopping.py`` run the real callbacks), with the
differences each :class:`EarlyStopping` lists in ``notes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EarlyStopping", "early_stopping"]

#: Lightning's patience when only its threshold should stop (it has no "no patience" setting).
NEVER = 10**9


@dataclass(frozen=True)
class EarlyStopping:
    """The keyword arguments of Lightning's and Keras' ``EarlyStopping`` for one rule.

    Attributes:
        lightning: For ``pytorch_lightning.callbacks.EarlyStopping(**lightning)``; None where it has no such rule.
        keras: For ``keras.callbacks.EarlyStopping(**keras)``; None where it has no such rule.
        notes: Where they differ from tune-stop's stopper.
    """

    lightning: dict[str, Any] | None
    keras: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)


def early_stopping(entry: Mapping[str, Any]) -> EarlyStopping:
    """The ``EarlyStopping`` arguments of one ``stoppers:`` entry (``policy: patience`` or ``threshold``)."""
    family, metric, mode = entry["policy"], entry["metric"], entry.get("mode", "min")
    if family == "patience":
        common: dict[str, Any] = {"monitor": metric, "mode": mode, "patience": int(entry["patience"])}
        if entry.get("min_delta"):
            common["min_delta"] = float(entry["min_delta"])
        keras = dict(common)
        if entry.get("baseline") is not None:
            keras["baseline"] = float(entry["baseline"])
        if entry.get("grace_period"):
            keras["start_from_epoch"] = int(entry["grace_period"])
        notes = ["Keras has no non-finite check (every search puts one in front)"]
        if entry.get("grace_period"):
            notes.append("Lightning has no grace period: its patience counts from the first epoch")
        if entry.get("baseline") is not None:
            notes.append("Lightning has no baseline")
        return EarlyStopping({**common, "check_finite": True}, keras, notes)
    if family == "threshold":
        if entry.get("threshold") is None:
            return EarlyStopping(None, None, ["a threshold sampled per trial has no single value to give"])
        notes = ["Lightning stops only when the value passes the threshold strictly; tune-stop also stops on equality"]
        if entry.get("grace_period"):
            notes.append("Lightning has no grace period")
        lightning = {
            "monitor": metric,
            "mode": mode,
            "stopping_threshold": float(entry["threshold"]),
            "patience": NEVER,
        }
        return EarlyStopping(lightning, None, [*notes, "Keras has no threshold rule (its baseline is a patience rule)"])
    return EarlyStopping(None, None, [f"Lightning and Keras have no {str(family).upper()} rule (Prechelt's)"])
