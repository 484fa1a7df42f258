"""What every command shares: the usage error and exit codes, printed warnings, checks at the boundary."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from tune_stop.experiment import ExperimentRecord

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "EXIT_TRIALS_FAILED",
    "EXIT_USAGE",
    "UsageError",
    "check_writable_folder",
    "load_curves_or_exit",
    "output_settings_restored",
    "read_record_or_none",
    "warnings_printed",
]

EXIT_OK, EXIT_TRIALS_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


class UsageError(Exception):
    """Bad input: printed as one line, exit code 2."""


def tolerance_note(tolerance: float) -> str | None:
    """A note where ``--tolerance`` was probably meant in percent (5 for 5%), or None."""
    if tolerance >= 1:
        return f"--tolerance {tolerance:g} allows a regret of {tolerance:.0%}: it is a share (0.02 is 2%)"
    return None


def check_writable_folder(folder: Path, flag: str) -> None:
    """Refuses, in one line, a folder that cannot be created or written (checked before any work).

    Raises:
        UsageError: If ``folder`` is a file, lies under a file, or its nearest existing
            folder is not writable.
    """
    try:
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"{flag} {folder} is a file, not a folder")
        existing = folder
        while not existing.exists():
            existing = existing.parent
    except OSError as error:  # e.g. a parent folder that cannot be searched
        raise UsageError(f"{flag} {folder} cannot be reached: {error.strerror or error}") from None
    if not existing.is_dir():
        raise UsageError(f"{flag} {folder} cannot be created: {existing} is a file")
    try:  # a real write, since permissions say nothing of read-only file systems (or to root)
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise UsageError(
            f"{flag} {folder} cannot be written: creating a file in {existing} failed ({error.strerror or error})"
        ) from None


def load_curves_or_exit(source: str, *, retried_trials: bool = False) -> pd.DataFrame:
    """The curves, with what loading noticed (damaged rows, disagreeing stop reasons) printed as warnings."""
    from analysis import ExperimentError
    from analysis import load_curves as load
    from tune_stop.app._remedies import cli_message

    with warnings_printed("warning"):
        try:
            return load(source, retried_trials=retried_trials)
        except ExperimentError as error:
            raise UsageError(cli_message(error)) from None


def read_record_or_none(source: Path | str) -> ExperimentRecord | None:
    """The experiment's record; None for a CSV of curves or an experiment without tune-stop (or a damaged record)."""
    from tune_stop.experiment import read_record

    try:
        return read_record(source)
    except FileNotFoundError:  # a CSV of curves, or an experiment written without tune-stop
        return None
    except (OSError, ValueError) as error:
        print(f"tune-stop: warning: {error}; the experiment's stopper settings are not used", file=sys.stderr)
        return None


@contextlib.contextmanager
def warnings_printed(label: str) -> Iterator[None]:
    """Prints the ``UserWarning``s of a block that ends normally as ``tune-stop: <label>: ...`` lines.

    A library warning that names a remedy (:class:`analysis.AnalysisWarning`) gets the
    command line's words for it.
    """
    from tune_stop.app._remedies import cli_message

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        yield
    # Each notice once: an analysis beside ASHA runs the same analysis without it, which warns again.
    messages = dict.fromkeys(cli_message(w.message) for w in caught if issubclass(w.category, UserWarning))
    for message in messages:
        print(f"tune-stop: {label}: {message}", file=sys.stderr)


@contextlib.contextmanager
def output_settings_restored() -> Iterator[None]:
    """Puts back what a search's output settings change (Ray's output engine and log levels) when a command ends."""
    saved_env = os.environ.get("RAY_AIR_NEW_OUTPUT")
    loggers = [logging.getLogger(name) for name in ("ray.tune", "ray.train")]
    saved_levels = [logger.level for logger in loggers]
    try:
        yield
    finally:
        if saved_env is None:
            os.environ.pop("RAY_AIR_NEW_OUTPUT", None)
        else:
            os.environ["RAY_AIR_NEW_OUTPUT"] = saved_env
        for logger, level in zip(loggers, saved_levels, strict=True):
            logger.setLevel(level)
