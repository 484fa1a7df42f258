"""What the tests expect of tune-stop's outputs, written out once (independent of the code)."""

#: The first columns of ``recommendations.csv``, in order, as the README documents them.
RECOMMENDATION_COLUMNS = [
    "policy",
    "metric",
    "mode",
    "parameter",
    "recommended",
    "regret",
    "regret_low",
    "regret_high",
    "epochs_saved",
    "epochs_saved_low",
    "epochs_saved_high",
    "interval",
    "new_configs",
    "regret_vs_full",
    "trigger_rate",
    "cv_regret_mean",
    "cv_epochs_saved_mean",
    "cv_within_tolerance",
    "cv_unit",
    "cv_groups",
]
