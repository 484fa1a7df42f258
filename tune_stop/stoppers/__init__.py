"""Stopping policies for Ray Tune, each a pure rule plus a ``ray.tune.Stopper``.

The rules (``*_rule``) take a plain history of floats, epoch 1 first, and return a
:class:`Decision`; the stoppers keep one history per trial and ask the rule. The
offline replay in :mod:`analysis` uses the same rules.
"""

from tune_stop.stoppers._any import AnyStopper
from tune_stop.stoppers._base import (
    Decision,
    HistoryStopper,
    StopRecord,
    first_stop,
    last_stop_record,
    mode_sign,
)
from tune_stop.stoppers._guards import (
    MaxEpochStopper,
    NonFiniteStopper,
    max_epoch_rule,
    non_finite_rule,
)
from tune_stop.stoppers._patience import PatienceStopper, patience_rule
from tune_stop.stoppers._prechelt import (
    GLStopper,
    PQStopper,
    UPStopper,
    generalization_loss,
    gl_rule,
    pq_rule,
    training_progress,
    up_rule,
)
from tune_stop.stoppers._threshold import ThresholdStopper, threshold_rule

__all__ = [
    "AnyStopper",
    "Decision",
    "GLStopper",
    "HistoryStopper",
    "MaxEpochStopper",
    "NonFiniteStopper",
    "PQStopper",
    "PatienceStopper",
    "StopRecord",
    "ThresholdStopper",
    "UPStopper",
    "first_stop",
    "generalization_loss",
    "gl_rule",
    "last_stop_record",
    "max_epoch_rule",
    "mode_sign",
    "non_finite_rule",
    "patience_rule",
    "pq_rule",
    "threshold_rule",
    "training_progress",
    "up_rule",
]
