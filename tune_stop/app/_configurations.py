"""``tune-stop recommend --configurations``: whole stopping configurations judged, printed and written."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tune_stop.app._shared import UsageError

if TYPE_CHECKING:
    from analysis import Analysis, ConfigurationChoice
    from tune_stop.experiment import ExperimentRecord

__all__ = ["configuration_summary", "report_configurations", "write_configurations"]

#: Peers printed beside the chosen configuration: Ray's ASHA at its defaults, and its median rule.
_PEERS = (
    ({"name": "asha", "grace_period": 1, "reduction_factor": 4.0}, "Ray's default ASHA (grace 1, rf 4)"),
    ({"name": "median", "grace_period": 3, "min_samples_required": 3}, "the median rule (grace 3)"),
)


def report_configurations(
    analysis: Analysis, record: ExperimentRecord | None, out: Path, source: str, workers: int
) -> ConfigurationChoice:
    """Judges the stopping configurations, writes ``configurations.csv`` and ``configuration.yaml``, prints them."""
    from analysis import judge_configurations

    scheduler = record.replayed_scheduler if record is not None else None
    try:
        choice = judge_configurations(analysis, workers=workers, scheduler=scheduler)
    except ValueError as error:
        raise UsageError(f"--configurations: {error}") from None
    write_configurations(choice, analysis, out, source)
    print(configuration_summary(choice, scheduler, out))
    return choice


def write_configurations(choice: ConfigurationChoice, analysis: Analysis, out: Path, source: str) -> Path | None:
    """Writes ``configurations.csv`` and, when one was chosen, ``configuration.yaml`` (its path is returned).

    Without an answer an older ``configuration.yaml`` there is removed: it must not pass for this one.

    Raises:
        UsageError: If ``out`` cannot be written.
    """
    from analysis._usage import CONFIGURATION_FILE, configuration_yaml

    table = choice.table.copy()
    table["scheduler"] = table["scheduler"].map(str)
    target = out / CONFIGURATION_FILE
    try:
        table.to_csv(out / "configurations.csv", index=False)
        if choice.answer is None:
            if target.exists():
                target.unlink()
            return None
        policy = choice.answer.policy
        metrics = [analysis.selection[0], *([policy.metric] if policy is not None else [])]
        target.write_text(configuration_yaml(choice, metrics, source))
    except OSError as error:
        raise UsageError(f"--out {out}: cannot write the configurations ({error.strerror or error})") from None
    return target


def _peer_figures(choice: ConfigurationChoice, scheduler: Mapping[str, Any] | None) -> list[str]:
    """The peers' predicted compute and risk, in words: Ray's defaults and, if given, the space's scheduler."""
    from analysis import StoppingConfig

    peers = []
    for entry, name in (*_PEERS, *([(dict(scheduler), "the space's scheduler")] if scheduler else [])):
        row = choice.row(StoppingConfig(entry))
        if row is not None:
            peers.append(f"{name} {row['compute_used']:.1%} (lost > tolerance in {row['exceeded']:.0%})")
    return peers


def configuration_summary(choice: ConfigurationChoice, scheduler: Mapping[str, Any] | None, out: Path) -> str:
    """The choice in one paragraph: the answer, its compute and risk, the peers beside it, the command."""
    from analysis._usage import CONFIGURATION_FILE

    head = (
        f"Stopping configurations: {len(choice.configs)} judged on {choice.searches} simulated searches "
        f"({choice.searched})"
    )
    if choice.answer is None or choice.chosen is None:
        return f"{head}: none kept the models within the tolerance in {1 - choice.risk:.0%} of them."
    chosen = choice.table.iloc[choice.chosen]
    held = (
        f"; check: chosen on quarters of one half of the configurations, run on the other half, a choice lost "
        f"more in {choice.held_out_exceeded:.0%}"
        if choice.held_out_splits
        else ""
    )
    return (
        f"{head}: {choice.answer.describe()} uses {chosen['compute_used']:.1%} of full training; "
        f"risk {choice.stated_risk:.0%} that the next search's best or selected model loses more than the "
        f"{choice.tolerance:.1%} tolerance (its share of these searches{held}). Beside it: "
        + "; ".join(_peer_figures(choice, scheduler))
        + f". Run it: tune-stop search SPACE --stoppers {out / CONFIGURATION_FILE}"
    )
