"""``tune-stop recommend``'s whole stopping configurations: judged, printed and written."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tune_stop.app._shared import UsageError

if TYPE_CHECKING:
    from analysis import Analysis, ConfigurationChoice
    from tune_stop.experiment import ExperimentRecord

__all__ = ["NOT_JUDGED", "configuration_summary", "judged_or_none", "write_configurations"]

#: How a line saying why no stopping configuration was judged begins.
NOT_JUDGED = "Stopping configurations (ASHA, the median rule): not judged"


def judged_or_none(
    analysis: Analysis, record: ExperimentRecord | None, workers: int, *, insisted: bool
) -> ConfigurationChoice | None:
    """The stopping configurations judged on the analysis' curves, beside the experiment's own scheduler.

    Where they cannot be judged: with ``insisted`` (``--configurations`` given) an error,
    otherwise one line saying why, and None.

    Raises:
        UsageError: Where they cannot be judged and ``insisted``, saying why.
    """
    from analysis import judge_configurations

    scheduler = record.replayed_scheduler if record is not None else None
    try:
        return judge_configurations(analysis, workers=workers, scheduler=scheduler)
    except ValueError as error:
        if insisted:
            raise UsageError(f"--configurations: {error}") from None
        print(f"{NOT_JUDGED}: {error}.")
        return None


def write_configurations(choice: ConfigurationChoice | None, analysis: Analysis, out: Path, source: str) -> Path | None:
    """Writes ``configurations.csv`` and, when one to run was chosen, ``configuration.yaml`` (its path is returned).

    Without one (none chosen, or the choice is to train everything: the answer then says
    no stopping file is written) an older ``configuration.yaml`` there is removed, and without a
    choice (none judged) an older ``configurations.csv`` too: they must not pass for this run's.

    Raises:
        UsageError: If ``out`` cannot be written.
    """
    from analysis._table import with_points
    from analysis._usage import CONFIGURATION_FILE, configuration_yaml

    target, listed = out / CONFIGURATION_FILE, out / "configurations.csv"
    try:
        out.mkdir(parents=True, exist_ok=True)
        if choice is None:
            listed.unlink(missing_ok=True)
        else:
            table = choice.table.copy()
            table["scheduler"] = table["scheduler"].map(str)
            regrets = [name for name in table.columns if str(name).startswith(("best_regret", "selected_regret"))]
            with_points(table, regrets, analysis.points_scale).to_csv(listed, index=False)
        if choice is None or not choice.runs:  # none chosen, or train everything: no stopping file, as it says
            target.unlink(missing_ok=True)
            return None
        target.write_text(configuration_yaml(choice, analysis, source))
    except OSError as error:
        raise UsageError(f"--out {out}: cannot write the configurations ({error.strerror or error})") from None
    return target


def _peer_figures(choice: ConfigurationChoice) -> list[str]:
    """The peers' predicted compute and risk, in words: Ray's defaults and the space's scheduler."""
    return [
        f"{name} {row['compute_used']:.1%} (lost > tolerance in {row['exceeded']:.0%})" for name, row in choice.peers()
    ]


def configuration_summary(choice: ConfigurationChoice, out: Path, tolerance: str, space: str = "SPACE") -> str:
    """The choice in one paragraph: the answer, its compute and risk, the peers beside it, the command
    (for ``space``, the search's own where it is known; ``tolerance``: in words, as the user gave it)."""
    from analysis._usage import CONFIGURATION_FILE

    head = (
        f"Stopping configurations: {len(choice.configs)} judged on {choice.searches} simulated searches "
        f"({choice.searched})"
    )
    if choice.answer is None or choice.chosen is None:
        return f"{head}: none kept the models within the tolerance in {1 - choice.risk:.0%} of them."
    chosen = choice.table.iloc[choice.chosen]
    return (
        f"{head}: {choice.answer.describe()} uses {chosen['compute_used']:.1%} of full training; "
        f"risk {choice.stated_risk:.0%} that the next search's best or selected model loses more than the "
        f"{tolerance} tolerance (its share of these searches). Beside it: "
        + "; ".join(_peer_figures(choice))
        + f". Run it: tune-stop search {space} --stoppers {out / CONFIGURATION_FILE}"
    )
