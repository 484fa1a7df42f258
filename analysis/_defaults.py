"""What the analysis assumes when the user does not say: metrics, targets and directions."""

from __future__ import annotations

from collections.abc import Sequence

from tune_stop.defaults import DEFAULT_INTERVAL, DEFAULT_PENALTY, DEFAULT_TOLERANCE

__all__ = [
    "DEFAULT_INTERVAL",
    "DEFAULT_PENALTY",
    "DEFAULT_TOLERANCE",
    "TRAIN_METRICS",
    "default_metrics",
    "default_target",
    "infer_mode",
]

_DEFAULT_METRICS = (("val_loss", "min"), ("val_accuracy", "max"), ("fid", "min"))
#: A GAN's ``fid_test`` (against the test split, with noise of its own) judges independently of the ``fid`` that
#: stops it; curves recorded before it existed have ``fid`` alone.
_DEFAULT_TARGETS = (("test_accuracy", "max"), ("fid_test", "min"), ("fid", "min"))

#: The training metric that goes with a validation metric (Prechelt's PQ reads both).
TRAIN_METRICS = {"val_loss": "train_loss"}


def infer_mode(metric: str) -> str:
    """``"max"`` for accuracies, ``"min"`` for everything else (losses, errors, FID)."""
    return "max" if "acc" in metric.lower() else "min"


def default_metrics(columns: Sequence[str]) -> list[tuple[str, str]]:
    """The validation metrics present among ``columns``, with their modes."""
    return [(metric, mode) for metric, mode in _DEFAULT_METRICS if metric in columns]


def default_target(columns: Sequence[str]) -> tuple[str, str] | None:
    """The held-out quality to judge stops by: ``test_accuracy``, else ``fid_test``, else ``fid``."""
    return next(((t, m) for t, m in _DEFAULT_TARGETS if t in columns), None)
