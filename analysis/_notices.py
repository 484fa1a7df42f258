"""Warnings and errors of the analysis that name a remedy as a concept, never as a command-line flag.

A message is a template with one ``{remedy}`` slot. ``str()`` fills it with the library's
words (:data:`REMEDY_WORDS`); the command line fills it with its own flags
(``tune_stop.app._remedies``), so a Python user is never told to pass a flag.
"""

from __future__ import annotations

import enum

__all__ = ["REMEDY_WORDS", "AnalysisError", "AnalysisWarning", "Remedy"]


class Remedy(enum.Enum):
    """What the user can do about a notice."""

    NAME_METRIC = "name_metric"
    NAME_TARGET = "name_target"
    RECORD_WHOLE_CURVES = "record_whole_curves"
    RECORD_WHOLE_CURVES_SHORT = "record_whole_curves_short"
    LOOSER_TOLERANCE = "looser_tolerance"
    LOOSER_TOLERANCE_POINTS = "looser_tolerance_points"
    RETRIED_TRIALS = "retried_trials"


#: The library's words for each remedy.
REMEDY_WORDS = {
    Remedy.NAME_METRIC: "name the metrics to stop on",
    Remedy.NAME_TARGET: "Name a target to judge by another column.",
    Remedy.RECORD_WHOLE_CURVES: "Record whole curves: train every trial to its budget, FIFO and no stopper.",
    Remedy.RECORD_WHOLE_CURVES_SHORT: "record whole curves (every trial to its budget, FIFO and no stopper)",
    Remedy.LOOSER_TOLERANCE: " (a larger tolerance)",
    Remedy.LOOSER_TOLERANCE_POINTS: " (a larger tolerance_points)",
    Remedy.RETRIED_TRIALS: "read them with retried_trials=True",
}


class _Notice:
    """A template with a ``{remedy}`` slot and the remedy that fills it."""

    template: str
    remedy: Remedy

    def fill(self, words: str) -> str:
        """The message with ``words`` for the remedy (a replacement, so braces in names stay as they are)."""
        return self.template.replace("{remedy}", words)

    def __reduce__(self) -> tuple[type, tuple[str, Remedy]]:
        return type(self), (self.template, self.remedy)


class AnalysisWarning(_Notice, UserWarning):
    """A ``UserWarning`` whose remedy the caller may put in its own words."""

    def __init__(self, template: str, remedy: Remedy) -> None:
        self.template, self.remedy = template, remedy
        super().__init__(self.fill(REMEDY_WORDS[remedy]))


class AnalysisError(_Notice, ValueError):
    """A ``ValueError`` whose remedy the caller may put in its own words."""

    def __init__(self, template: str, remedy: Remedy) -> None:
        self.template, self.remedy = template, remedy
        super().__init__(self.fill(REMEDY_WORDS[remedy]))
