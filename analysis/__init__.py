"""Analysis of finished tune-stop experiments.

``load_experiment`` reads an experiment folder into tidy learning curves; ``replay``
runs stopping policies (or the live stoppers themselves) on them, through the live
stoppers' own per-epoch scores; ``recommend`` chooses each policy's parameter for the
next search, with prediction intervals from resampled configurations and a grouped
cross-validation that holds out whole configurations, judging each policy also by the
search it leaves (best and selected models, compute) and, optionally, beside Ray's ASHA
replayed on the curves (``simulate_asha``).
"""

from analysis._answer import answer_lines, as_given, plain, tolerance_in_points
from analysis._asha import AshaSpec, simulate_asha
from analysis._audit import AUDIT_COLUMNS, audit_table
from analysis._ceiling import SavingsCeiling, savings_ceiling
from analysis._choice import Choice
from analysis._configuration_choice import ConfigurationChoice, choose_configuration, judge_configurations
from analysis._configurations import SearchCurves, StoppingConfig, configuration_grid, search_outcome
from analysis._defaults import (
    DEFAULT_INTERVAL,
    DEFAULT_PENALTY,
    DEFAULT_TOLERANCE,
    default_metrics,
    default_target,
    infer_mode,
)
from analysis._inputs import holds_no_number
from analysis._intervals import predicted_means
from analysis._load import ExperimentError, RepeatedEpochsError, load_curves, load_experiment, load_stop_reasons
from analysis._median import MedianSpec, simulate_median
from analysis._notices import AnalysisError, AnalysisWarning, Remedy
from analysis._options import OBJECTIVES, AnalysisOptions
from analysis._policies import Policy, baseline_policies, candidate_policies, threshold_candidates
from analysis._recommend import RECOMMENDATION_COLUMNS, Analysis, Recommendation, analyse, recommend
from analysis._replay import CurveSet, PolicyReplay, replay, replay_policy, stop_epochs
from analysis._report import markdown_report, write_report
from analysis._split import Split, make_split, search_splits
from analysis._table import configuration_note, person_table
from analysis._words import CHOICES, readable_recommendations

__all__ = [
    "AUDIT_COLUMNS",
    "CHOICES",
    "DEFAULT_INTERVAL",
    "DEFAULT_PENALTY",
    "DEFAULT_TOLERANCE",
    "OBJECTIVES",
    "RECOMMENDATION_COLUMNS",
    "Analysis",
    "AnalysisError",
    "AnalysisOptions",
    "AnalysisWarning",
    "AshaSpec",
    "Choice",
    "ConfigurationChoice",
    "CurveSet",
    "ExperimentError",
    "MedianSpec",
    "Policy",
    "PolicyReplay",
    "Recommendation",
    "Remedy",
    "RepeatedEpochsError",
    "SavingsCeiling",
    "SearchCurves",
    "Split",
    "StoppingConfig",
    "analyse",
    "answer_lines",
    "as_given",
    "audit_table",
    "baseline_policies",
    "candidate_policies",
    "choose_configuration",
    "configuration_grid",
    "configuration_note",
    "default_metrics",
    "default_target",
    "holds_no_number",
    "infer_mode",
    "judge_configurations",
    "load_curves",
    "load_experiment",
    "load_stop_reasons",
    "make_split",
    "markdown_report",
    "person_table",
    "plain",
    "predicted_means",
    "readable_recommendations",
    "recommend",
    "replay",
    "replay_policy",
    "savings_ceiling",
    "search_outcome",
    "search_splits",
    "simulate_asha",
    "simulate_median",
    "stop_epochs",
    "threshold_candidates",
    "tolerance_in_points",
    "write_report",
]
