"""Analysis of finished tune-stop experiments: learning curves and stop reasons."""

from analysis._load import ExperimentError, load_experiment, load_stop_reasons

__all__ = ["ExperimentError", "load_experiment", "load_stop_reasons"]
