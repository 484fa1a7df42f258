"""Analysis of finished tune-stop experiments.

``load_experiment`` reads an experiment folder into tidy learning curves; ``replay``
applies stopping policies to them with the live rules' semantics; ``recommend``
chooses each policy's parameter by K-fold cross-validation over the data folds.
"""

from analysis._ceiling import SavingsCeiling, savings_ceiling
from analysis._load import ExperimentError, load_curves, load_experiment, load_stop_reasons
from analysis._policies import (
    FAMILIES,
    SETTINGS,
    Policy,
    baseline_policies,
    candidate_policies,
    threshold_candidates,
)
from analysis._recommend import (
    OBJECTIVES,
    RECOMMENDATION_COLUMNS,
    Analysis,
    analyse,
    default_metrics,
    default_target,
    infer_mode,
    recommend,
)
from analysis._replay import CurveSet, PolicyReplay, replay, replay_policy, stop_epochs
from analysis._report import markdown_report, write_report

__all__ = [
    "FAMILIES",
    "OBJECTIVES",
    "RECOMMENDATION_COLUMNS",
    "SETTINGS",
    "Analysis",
    "CurveSet",
    "ExperimentError",
    "Policy",
    "PolicyReplay",
    "SavingsCeiling",
    "analyse",
    "baseline_policies",
    "candidate_policies",
    "default_metrics",
    "default_target",
    "infer_mode",
    "load_curves",
    "load_experiment",
    "load_stop_reasons",
    "markdown_report",
    "recommend",
    "replay",
    "replay_policy",
    "savings_ceiling",
    "stop_epochs",
    "threshold_candidates",
    "write_report",
]
