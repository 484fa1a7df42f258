"""Stopping policies for Ray Tune: per-epoch scores, pure rules and ``ray.tune.Stopper``s.

Each family's decision is written once, as a per-epoch score over a ``(curves,
epochs)`` matrix (``*_scores``). The rules (``*_rule``) take a plain history of floats,
epoch 1 first, and test the score of its last epoch; the stoppers keep one history
per trial and ask the rule. The offline replay in :mod:`analysis` asks the same
stoppers for the same scores on all curves at once (:meth:`HistoryStopper.scores`).
:data:`FAMILIES` is the one list of tunable families.
"""

from tune_stop.stoppers._any import AnyStopper
from tune_stop.stoppers._audit import AUDIT_KEY, AuditExempt, is_audit
from tune_stop.stoppers._base import (
    Decision,
    HistoryStopper,
    StopRecord,
    first_stop,
    last_stop_record,
    mode_sign,
)
from tune_stop.stoppers._frameworks import EarlyStopping, early_stopping
from tune_stop.stoppers._guards import (
    MaxEpochStopper,
    NonFiniteStopper,
    max_epoch_rule,
    non_finite_rule,
)
from tune_stop.stoppers._patience import PatienceStopper, patience_rule, patience_scores
from tune_stop.stoppers._prechelt import (
    GLStopper,
    PQStopper,
    UPStopper,
    generalization_loss,
    gl_rule,
    gl_scores,
    pq_rule,
    pq_scores,
    training_progress,
    training_progress_scores,
    up_rule,
    up_scores,
)
from tune_stop.stoppers._registry import FAMILIES, POLICIES, Family
from tune_stop.stoppers._scores import first_reaching, first_reaching_per_curve, reaches
from tune_stop.stoppers._threshold import ThresholdStopper, threshold_limit, threshold_rule, threshold_scores

__all__ = [
    "AUDIT_KEY",
    "FAMILIES",
    "POLICIES",
    "AnyStopper",
    "AuditExempt",
    "Decision",
    "EarlyStopping",
    "Family",
    "GLStopper",
    "HistoryStopper",
    "MaxEpochStopper",
    "NonFiniteStopper",
    "PQStopper",
    "PatienceStopper",
    "StopRecord",
    "ThresholdStopper",
    "UPStopper",
    "early_stopping",
    "first_reaching",
    "first_reaching_per_curve",
    "first_stop",
    "generalization_loss",
    "gl_rule",
    "gl_scores",
    "is_audit",
    "last_stop_record",
    "max_epoch_rule",
    "mode_sign",
    "non_finite_rule",
    "patience_rule",
    "patience_scores",
    "pq_rule",
    "pq_scores",
    "reaches",
    "threshold_limit",
    "threshold_rule",
    "threshold_scores",
    "training_progress",
    "training_progress_scores",
    "up_rule",
    "up_scores",
]
