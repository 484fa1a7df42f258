"""The recommended policy in the forms a user runs: a ``stoppers.yaml``, Ray Tune code, Lightning/Keras arguments.

``stoppers.yaml`` holds the policy in the space-file ``stoppers:`` syntax with fixed
values, behind a non-finite guard, each line with a comment saying what it was
recommended for, and, when it was judged beside a replayed ASHA, that ``scheduler:``;
``tune-stop search SPACE --stoppers stoppers.yaml`` runs it (beside the file's scheduler,
else the space's), and :func:`tune_stop.stopping.load_stopping` gives it to a ``tune.Tuner``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import yaml

from analysis._configuration_choice import ConfigurationChoice
from analysis._format import as_given
from analysis._recommend import Analysis, Recommendation
from analysis._snapshot import unkept
from tune_stop.stoppers import POLICIES, early_stopping

__all__ = [
    "CONFIGURATION_FILE",
    "PREDICTED",
    "STOPPERS_FILE",
    "configuration_yaml",
    "guarded_metrics",
    "peer_arguments",
    "prediction_block",
    "stoppers_yaml",
    "tuner_code",
]

#: The file ``tune-stop recommend`` writes the recommended policy to, in its report folder.
STOPPERS_FILE = "stoppers.yaml"
#: The file ``tune-stop recommend`` writes the chosen stopping configuration to.
CONFIGURATION_FILE = "configuration.yaml"


def _flow(entry: dict[str, Any]) -> str:
    """One ``stoppers:`` entry as a YAML flow mapping (numbers as YAML 1.2 reads them)."""
    return yaml.safe_dump(entry, default_flow_style=True, sort_keys=False, width=1_000).strip()


def _percent(value: Any) -> str:
    value = float(value)
    # + 0.0 turns a negative zero (and what rounds to one) into 0.00%, not -0.00%.
    return "n/a" if not np.isfinite(value) else f"{round(100 * value, 2) + 0.0:.2f}%"


def _loss(analysis: Analysis, value: Any) -> str:
    """A regret in a comment: in percent to 2 decimals, or in the target's points where the tolerance was given so."""
    return as_given(analysis, value, _percent)


def _interval(row: dict[str, Any], name: str, analysis: Analysis | None = None) -> str:
    """``point [low, high]`` in percent, or, with ``analysis``, as a regret (:func:`_loss`)."""
    said = _percent if analysis is None else lambda value: _loss(analysis, value)
    return f"{said(row[name])} [{said(row[f'{name}_low'])}, {said(row[f'{name}_high'])}]"


def _prediction(analysis: Analysis, row: dict[str, Any]) -> str:
    """What the recommendation predicts for the next search, in a comment's words."""
    head = (
        f"predicted ({analysis.interval:.0%} intervals, a new search of {analysis.new_configs} "
        f"configuration{'' if analysis.new_configs == 1 else 's'})"
    )
    if np.isfinite(float(row["best_regret"])):
        return (
            f"{head}: best model {_interval(row, 'best_regret', analysis)} worse than full training, selected "
            f"model {_interval(row, 'selected_regret', analysis)}, compute used {_interval(row, 'compute_used')}"
        )
    return f"{head}: regret {_interval(row, 'regret', analysis)}, epochs saved {_interval(row, 'epochs_saved')}"


def _guard(recommendation: Recommendation, analysis: Analysis) -> dict[str, Any]:
    """A non-finite guard on every metric the policy reads and on the search's own metric."""
    arguments = recommendation.specs()[-1]
    metrics = [arguments["metric"], arguments.get("train_metric"), analysis.selected_by]
    return {"policy": "non_finite", "metrics": sorted({m for m in metrics if m})}


def judged_alone(analysis: Analysis, configuration: ConfigurationChoice | None) -> bool:
    """Whether the per-trial rule is the answer because the stopping configurations judged beside it found no
    scheduler that kept the models within the tolerance, and was itself judged with none: it then runs so, with
    no scheduler (FIFO), not beside the one the search ran."""
    return configuration is not None and not configuration.runs and analysis.asha is None


def stoppers_yaml(
    analysis: Analysis, recommendation: Recommendation, source: str, configuration: ConfigurationChoice | None = None
) -> str:
    """The text of ``stoppers.yaml``; ``configuration``: the stopping configurations judged, if any (where one is
    the answer, this file is the per-trial rule alone; where none is, the rule runs with no scheduler,
    :func:`judged_alone`)."""
    beside_configuration = configuration is not None and configuration.runs
    row = recommendation.row
    specs = [entry for entry in recommendation.specs() if entry["policy"] != "non_finite"]
    objective = {
        "search": "the least compute whose best and selected models stay within",
        "tolerance": "the most epochs saved whose mean per-curve regret stays within",
        "tradeoff": "the best trade-off of regret and epochs saved, not",
    }[analysis.objective]
    head = (
        f"# The per-trial rule alone, by tune-stop recommend from {source}, for a search that keeps its own "
        f"scheduler; the report's answer is {CONFIGURATION_FILE}"
        if beside_configuration
        else f"# Recommended by tune-stop recommend from {source}"
    )
    lines = [
        head,
        f"# objective {analysis.objective}: {objective} the {_loss(analysis, analysis.tolerance)} tolerance of "
        f"{analysis.target} ({analysis.target_mode})"
        + (f"; beside {analysis.asha.describe()}" if analysis.asha is not None else ""),
        f"# Run it: tune-stop search SPACE --stoppers {STOPPERS_FILE}",
        *(
            [
                "# the scheduler it was judged beside; it replaces the space's",
                f"scheduler: {_flow(analysis.asha.entry())}",
            ]
            if analysis.asha is not None
            else []
        ),
        *(
            [
                "# judged with no scheduler: none of the stopping configurations judged kept the models within the "
                "tolerance; it replaces the space's",
                "scheduler: {name: fifo}",
            ]
            if judged_alone(analysis, configuration)
            else []
        ),
        "stoppers:",
        "  # a NaN or inf stops the trial first (reason non_finite), before any scheduler sees it",
        f"  - {_flow(_guard(recommendation, analysis))}",
        f"  # {row['description']}; {_prediction(analysis, row)}",
        *(f"  - {_flow(entry)}" for entry in specs),
        "# What was predicted; tune-stop report compares it with a search's audit trials (--audit-fraction).",
        yaml.safe_dump(
            {"recommendation": prediction_block(analysis, recommendation, source)},
            sort_keys=False,
            default_flow_style=None,
            width=1_000,
        ),
    ]
    return "\n".join(lines)


#: The predicted figures a ``recommendation:`` block carries, each as ``[point, low, high]``.
PREDICTED = ("regret", "epochs_saved", "best_regret", "selected_regret", "compute_used")


def prediction_block(analysis: Analysis, recommendation: Recommendation, source: str) -> dict[str, Any]:
    """The policy and what was predicted for it, as plain data (``stoppers.yaml``'s ``recommendation:``)."""
    policy, row = recommendation.policy, recommendation.row
    return {
        "policy": {
            "family": policy.family,
            "metric": policy.metric,
            "mode": policy.mode,
            "value": float(recommendation.value),
            "train_metric": policy.train_metric,
            "settings": dict(policy.settings),
            "check_finite": policy.check_finite,
        },
        "source": source,
        # Judged at the best snapshot: the raw columns, and what the snapshot was kept by (the audit keeps it too).
        "target": unkept(analysis.target, analysis.kept_by),
        "target_mode": analysis.target_mode,
        "selection": [analysis.selected_by, analysis.selection[1]],
        **({"kept_by": list(analysis.kept_by)} if analysis.kept_by is not None else {}),
        "objective": analysis.objective,
        "tolerance": float(analysis.tolerance),
        # A tolerance in the target's points: every regret here is a loss in points over this one number.
        **(
            {
                "tolerance_points": float(analysis.tolerance_points or 0),
                "regret_scale": float(analysis.curves.regret_scale),
                # With --tolerance-sd: the metric whose SD sized it, and that SD (the points are a multiple of it).
                **(
                    {"estimator_sd": [analysis.estimator_sd[0], float(analysis.estimator_sd[1])]}
                    if analysis.estimator_sd is not None
                    else {}
                ),
            }
            if analysis.curves is not None and analysis.curves.regret_scale is not None
            else {}
        ),
        "interval": float(analysis.interval),
        "new_configs": int(analysis.new_configs),
        "observed_configs": int(analysis.split.n_configs) if analysis.split is not None else None,
        "asha": analysis.asha.describe() if analysis.asha is not None else None,
        "predicted": {
            name: [float(row[name]), float(row[f"{name}_low"]), float(row[f"{name}_high"])] for name in PREDICTED
        },
        "audit_predicted": _alone(analysis, recommendation),
    }


def _alone(analysis: Analysis, recommendation: Recommendation) -> dict[str, list[float]]:
    """What audit trials measure: the figures of the policy alone (ASHA never cuts an audit trial).

    Without ASHA in the analysis these are its predicted figures; beside ASHA, those of
    the same value in the analysis without it. Compute used stays the one beside ASHA:
    the other trials ran with it.
    """
    row = recommendation.row
    source = analysis.alone
    if source is not None:
        table = source.candidates
        match = table[
            (table["policy"] == row["policy"])
            & (table["metric"] == row["metric"])
            & np.isclose(table["value"].to_numpy(dtype=float), recommendation.value)
        ]
        if not match.empty:
            row = {
                **match.iloc[0].to_dict(),
                **{f"compute_used{e}": row[f"compute_used{e}"] for e in ("", "_low", "_high")},
            }
    return {name: [float(row[name]), float(row[f"{name}_low"]), float(row[f"{name}_high"])] for name in PREDICTED}


def tuner_code(analysis: Analysis, recommendation: Recommendation) -> str:
    """Python that runs the policy in a user's own ``tune.Tuner``."""
    entries = [_guard(recommendation, analysis), *(e for e in recommendation.specs() if e["policy"] != "non_finite")]
    classes = [POLICIES[entry["policy"]].__name__ for entry in entries]
    built = []
    for name, entry in zip(classes, entries, strict=True):
        arguments = ", ".join(f"{key}={value!r}" for key, value in entry.items() if key != "policy")
        built.append(f"    {name}({arguments}),")
    return "\n".join(
        [
            "from ray import tune",
            f"from tune_stop.stoppers import AnyStopper, {', '.join(sorted(set(classes)))}",
            "",
            "stopper = AnyStopper(",
            *built,
            ")",
            "tuner = tune.Tuner(trainable, param_space=..., run_config=tune.RunConfig(stop=stopper))",
        ]
    )


def _call(arguments: Mapping[str, Any]) -> str:
    return ", ".join(f'{k}="{v}"' if isinstance(v, str) else f"{k}={v!r}" for k, v in arguments.items())


def peer_arguments(recommendation: Recommendation) -> list[str]:
    """The same rule as Lightning's and Keras' ``EarlyStopping`` arguments, where they have it
    (:func:`tune_stop.stoppers.early_stopping`, which ``load_stopping(...).lightning()`` also gives)."""
    entry = recommendation.specs()[-1]
    arguments = early_stopping(entry)
    if arguments.lightning is None and arguments.keras is None:
        return [f"{'; '.join(arguments.notes)}: run it with tune-stop's stopper."]
    lines = []
    for name, call, given in (
        ("Lightning", "EarlyStopping", arguments.lightning),
        ("Keras", "keras.callbacks.EarlyStopping", arguments.keras),
    ):
        notes = [note for note in arguments.notes if note.startswith(name)]
        if given is None:
            lines.append(f"{name}: {notes[0] if notes else 'no such rule'}.")
            continue
        lines.append(f"{name}: `{call}({_call(given)})`" + (f" ({'; '.join(notes)})" if notes else ""))
    return lines


def guarded_metrics(choice: ConfigurationChoice, analysis: Analysis) -> list[str]:
    """The metrics a chosen configuration's non-finite guard watches: the search's own and its rule's."""
    policy = choice.answer.policy if choice.answer is not None else None
    return [analysis.selected_by, *([policy.metric] if policy is not None else [])]


def configuration_yaml(choice: ConfigurationChoice, analysis: Analysis, source: str) -> str:
    """The text of ``configuration.yaml``: the chosen configuration's scheduler and stoppers, behind a guard.

    ``tune-stop search SPACE --stoppers configuration.yaml`` runs it (its ``scheduler:``
    replaces the space's). The non-finite guard watches :func:`guarded_metrics`; the comments give regrets as
    the analysis' tolerance was given (:func:`_loss`).
    """
    metrics = guarded_metrics(choice, analysis)
    config, chosen = choice.answer, choice.chosen
    if config is None or chosen is None:
        raise ValueError("no configuration was chosen")
    row = choice.table.iloc[chosen]
    scheduler = {key: (float(v) if isinstance(v, float) else v) for key, v in config.scheduler.items()}
    return "\n".join(
        [
            f"# Chosen by tune-stop recommend (stopping configurations) from {source}",
            f"# {config.describe()}: the least compute whose best or selected model lost more than the "
            f"{_loss(analysis, choice.tolerance)} tolerance in at most {choice.risk:.0%} of {choice.searches} "
            f"simulated searches ({choice.searched})",
            f"# there: lost more than the tolerance in {_percent(row['exceeded'])} of them; on the {choice.draws} "
            f"searches of {choice.new_configs} configurations: compute used {_percent(row['compute_used'])} of "
            f"full training, best model worst {_loss(analysis, row['best_regret_max'])}, selected model worst "
            f"{_loss(analysis, row['selected_regret_max'])}",
            *(
                [
                    "# a check, not the stated risk: a simpler choice (the least compute that never lost more), "
                    f"chosen on {choice.held_out_searched}, lost more in {_percent(choice.held_out_exceeded)} of "
                    "those runs; smaller searches lose more often"
                ]
                if choice.held_out_splits
                else []
            ),
            f"# stated risk for the next search: {_percent(choice.stated_risk)} (its share above; how it holds on "
            "independent searches: docs/configurations.md)",
            f"# Run it: tune-stop search SPACE --stoppers {CONFIGURATION_FILE}",
            f"# or in a tune.Tuner: tune_stop.stopping.load_stopping({CONFIGURATION_FILE!r}, max_epochs=...)",
            f"scheduler: {_flow(scheduler)}",
            "stoppers:",
            f"  - {_flow({'policy': 'non_finite', 'metrics': sorted(set(metrics))})}",
            *(f"  - {_flow(entry)}" for entry in config.stopper_specs()),
            "",
        ]
    )
