"""What the tests expect of tune-stop's outputs, written out once (independent of the code)."""

#: The first columns of ``recommendations.csv``, in order, as the README documents them.
RECOMMENDATION_COLUMNS = [
    "policy",
    "metric",
    "mode",
    "parameter",
    "recommended",
    "cv_regret_mean",
    "cv_regret_std",
    "cv_epochs_saved_mean",
    "cv_epochs_saved_std",
    "trigger_rate",
    "n_curves",
    "n_censored",
    "n_folds",
]
