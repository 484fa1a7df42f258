"""The command line's words for the analysis' remedies: the flags that do what the library names."""

from __future__ import annotations

from analysis import AnalysisError, AnalysisWarning, Remedy

__all__ = ["cli_message"]

_FLAGS = {
    Remedy.NAME_METRIC: "give --metric",
    Remedy.NAME_TARGET: "Give --target to judge by another column.",
    Remedy.RECORD_WHOLE_CURVES: "Record them with tune-stop search SPACE --full-curves, or run the whole loop with "
    "--calibrate N.",
    Remedy.RECORD_WHOLE_CURVES_SHORT: "record them with tune-stop search --full-curves",
    Remedy.LOOSER_TOLERANCE: " (tune-stop recommend --tolerance)",
    Remedy.LOOSER_TOLERANCE_POINTS: " (tune-stop recommend --tolerance-points)",
    Remedy.RETRIED_TRIALS: "give --retried-trials",
}


def cli_message(notice: Warning | Exception | str) -> str:
    """The notice's message with the command line's flags for its remedy."""
    if isinstance(notice, AnalysisWarning | AnalysisError):
        return notice.fill(_FLAGS[notice.remedy])
    return str(notice)
