"""Runs a search space as a Ray Tune experiment, locally or on a Ray cluster."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pandas as pd
import ray
from ray import tune
from ray.tune.logger import TBXLoggerCallback
from ray.tune.schedulers import TrialScheduler

from search_spaces import SearchSpace
from tune_stop._actor_reuse import keep_starting_actors
from tune_stop._compat import asha_milestones
from tune_stop.cluster import check_shared_storage
from tune_stop.experiment import (
    PARAM_SPACE_FILE,
    REPORT_PLAN_FILE,
    ExperimentRecord,
    default_storage_path,
    is_uri,
    path_exists,
    read_bytes,
    read_record,
    read_stop_reasons,
    write_bytes,
    write_record,
)
from tune_stop.loggers import CSVLogger, JsonLogger
from tune_stop.progress import SearchProgress
from tune_stop.reasons import StopReasonsCallback
from tune_stop.schedulers import RecordingASHAScheduler, RecordingMedianStoppingRule, RecordingScheduler
from tune_stop.schedulers import build_scheduler as scheduler_of
from tune_stop.stoppers import AUDIT_KEY, mode_sign
from tune_stop.trainables import TRAINABLES
from tune_stop.trainables._common import EpochTrainable, ReportPlan

__all__ = [
    "ConfigLookup",
    "SearchOptions",
    "SearchSummary",
    "build_param_space",
    "build_scheduler",
    "build_tuner",
    "experiment_path",
    "init_ray",
    "planned_trainable",
    "report_plan",
    "resume_search",
    "run_search",
    "scheduler_milestones",
    "tune_environment",
]


@dataclass(frozen=True)
class SearchOptions:
    """How to run a search (everything that is not part of the space itself).

    Attributes:
        storage_path: Where experiment folders go; :func:`default_storage_path` if None.
        name: Experiment folder name; ``<space>-<timestamp>`` if None.
        cpus_per_trial, gpus_per_trial: Resources of one trial (fractions allowed).
        max_concurrent: Most trials at once; None lets Ray decide from the resources.
        checkpoint_frequency: Checkpoint every this many epochs (0: only at the end).
        address: Ray cluster address (``auto``, ``ray://host:port``); None starts Ray locally.
        num_cpus: CPUs of a locally started Ray; None uses all.
        verbose: Ray Tune's progress output level (0 silent, 1 status tables).
        progress: Print tune-stop's one-line progress on stderr (with ``verbose=0``).
        reuse_actors: Let a finished trial's actor run the next trial (keeps the data loaded).
        max_failures: Retries of a crashed trial, each from its last checkpoint.
        report_interval_s: A trial trains up to this long between round trips to the
            driver, with every stop, ASHA decision and checkpoint still at its exact
            epoch (see ``ReportPlan``); 0 sends every epoch on its own.
        tensorboard: Also write TensorBoard event files (costs driver time per result).
    """

    storage_path: str | None = None
    name: str | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent: int | None = None
    checkpoint_frequency: int = 5
    address: str | None = None
    num_cpus: int | None = None
    verbose: int = 1
    progress: bool = False
    reuse_actors: bool = True
    max_failures: int = 0
    report_interval_s: float = 0.5
    tensorboard: bool = False


@dataclass
class SearchSummary:
    """What a finished search produced.

    Attributes:
        experiment_path: The experiment folder (readable by ``tune.ExperimentAnalysis``).
        num_trials: Trials run.
        num_errors: Trials that failed.
        stop_reasons: One dict per trial, the rows of ``stop_reasons.csv``.
        best: The best epoch of any trial by the space's metric and mode (metrics and
            ``trial_id``, ``config_id``, ``fold``), or None when no trial reported.
        wall_time_s: Seconds spent in ``Tuner.fit``.
        space_name, num_folds, metric, mode: What the search was.
    """

    experiment_path: Path | str
    num_trials: int
    num_errors: int
    stop_reasons: list[dict[str, str]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    wall_time_s: float = 0.0
    space_name: str = ""
    num_folds: int = 1
    metric: str = ""
    mode: str = "min"

    def reason_counts(self) -> Counter[str]:
        """How many trials stopped for each reason."""
        return Counter(row["stop_reason"] for row in self.stop_reasons)


class ConfigLookup:
    """``tune.sample_from`` callable: one hyperparameter of the trial's ``config_id``.

    Configurations are drawn up front (see ``SearchSpace.sample_configs``) and the
    grid over ``config_id`` x ``fold`` looks them up, so every fold of a configuration
    gets exactly the same hyperparameters.
    """

    def __init__(self, table: Sequence[Mapping[str, Any]], key: str) -> None:
        self.table = [dict(row) for row in table]
        self.key = key

    def __call__(self, spec: Any) -> Any:
        config = spec.get("config", spec)
        return self.table[config["config_id"]][self.key]


def build_param_space(space: SearchSpace, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Ray Tune ``param_space``: a grid of ``config_id`` x ``fold``, values looked up.

    Args:
        space: The search space.
        overrides: Fixed values for every trial (e.g. ``data_root``).
    """
    table = [{**space.defaults, **config, **(overrides or {})} for config in space.sample_configs()]
    audited = set(space.audited_configs())
    if audited:
        for row in table:
            row[AUDIT_KEY] = row["config_id"] in audited
    # Keys left at None everywhere (test-only hooks such as fail_at_epoch) stay out of the trials'
    # configs, so users never see them; the trainables fill in their own defaults.
    keys = [
        key
        for key in table[0]
        if key not in ("config_id", "fold", "num_folds") and any(row[key] is not None for row in table)
    ]
    param_space: dict[str, Any] = {
        "config_id": tune.grid_search([row["config_id"] for row in table]),
        "fold": tune.grid_search(list(range(space.num_folds))),
        "num_folds": space.num_folds,
    }
    for key in keys:
        values = [row[key] for row in table]
        if all(value == values[0] for value in values):
            param_space[key] = values[0]
        else:
            param_space[key] = tune.sample_from(ConfigLookup(table, key))
    return param_space


def build_scheduler(space: SearchSpace) -> TrialScheduler:
    """ASHA or the median stopping rule on ``epoch`` (recording their stops), or FIFO, as the space says."""
    return scheduler_of(space.scheduler, space.max_epochs)


def scheduler_milestones(scheduler: TrialScheduler, max_epochs: int) -> frozenset[int]:
    """The epochs at which the scheduler compares trials: ASHA's rungs (as Ray computes them), every epoch
    from the median rule's grace period on (up to ``max_epochs``); none for FIFO."""
    if isinstance(scheduler, RecordingMedianStoppingRule):
        return frozenset(range(max(1, scheduler.grace_period), max_epochs + 1))
    if not isinstance(scheduler, RecordingASHAScheduler):
        return frozenset()
    return asha_milestones(scheduler)


def report_plan(space: SearchSpace, options: SearchOptions) -> ReportPlan | None:
    """How trials of this search batch their epochs; None when every epoch goes on its own."""
    if options.report_interval_s <= 0:
        return None
    return ReportPlan(
        stopper=space.build_stopper(),
        milestones=scheduler_milestones(build_scheduler(space), space.max_epochs),
        checkpoint_frequency=options.checkpoint_frequency,
        interval_s=options.report_interval_s,
    )


def planned_trainable(cls: type[tune.Trainable], plan: ReportPlan | None) -> type[tune.Trainable]:
    """``cls`` with the report plan attached (unchanged when there is no plan or it is not an EpochTrainable)."""
    if plan is None or not issubclass(cls, EpochTrainable):
        return cls
    return type(cls.__name__, (cls,), {"report_plan": plan, "__doc__": cls.__doc__})


@contextmanager
def tune_environment() -> Iterator[None]:
    """Ray Tune's own switches, for a ``Tuner.fit`` of :func:`build_tuner`'s tuner.

    Lets Tune take several results per call (trials with a :class:`ReportPlan` decide how
    many), keeps Tune to the loggers the tuner was given, and keeps its actor reuse from
    killing actors while they start (:func:`keep_starting_actors`). Without it the same search
    runs correctly, one round trip per epoch and with TensorBoard files.
    """
    wanted = {"TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1", "TUNE_RESULT_BUFFER_LENGTH": "1000"}
    saved = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    try:
        with keep_starting_actors():
            yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def experiment_path(space: SearchSpace, options: SearchOptions) -> Path | str:
    """The folder the search writes, ``<storage_path>/<name>``: a local Path or a URI string."""
    name = options.name or f"{space.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if is_uri(options.storage_path):
        return f"{str(options.storage_path).rstrip('/')}/{name}"
    storage = Path(options.storage_path).expanduser().resolve() if options.storage_path else default_storage_path()
    return storage / name


def build_tuner(
    space: SearchSpace,
    options: SearchOptions,
    overrides: Mapping[str, Any] | None = None,
    trainable_cls: type[tune.Trainable] | None = None,
    param_space: dict[str, Any] | None = None,
) -> tuple[tune.Tuner, Path | str]:
    """A ``tune.Tuner`` for the space, and the experiment folder it will write.

    The stopper is the space's policies behind a non-finite guard, the scheduler
    ASHA or the median rule on ``epoch`` (or FIFO), and a callback writes ``stop_reasons.csv``.
    ``trainable_cls`` replaces the space's trainable class (e.g. your subclass of it);
    ``param_space`` is :func:`build_param_space`'s result, if already built.
    """
    info = TRAINABLES[space.trainable]
    stopper = space.build_stopper()
    scheduler = build_scheduler(space)
    base_cls = trainable_cls or info.cls
    cls = planned_trainable(base_cls, report_plan(space, options))
    planned = cls is not base_cls
    path = experiment_path(space, options)
    name, storage = (
        (path.rsplit("/", 1)[1], path.rsplit("/", 1)[0]) if isinstance(path, str) else (path.name, path.parent)
    )
    trainable = tune.with_resources(cls, {"cpu": options.cpus_per_trial, "gpu": options.gpus_per_trial})
    loggers: list[tune.Callback] = [CSVLogger(), JsonLogger()]
    if options.tensorboard:
        loggers.append(TBXLoggerCallback())
    reasons = StopReasonsCallback(
        stopper, scheduler if isinstance(scheduler, RecordingScheduler) else None, metric=space.metric
    )
    if options.progress:
        trials = len(space.sample_configs()) * space.num_folds
        loggers.append(SearchProgress(space.metric, space.mode, trials, reasons.reason_counts))
    tuner = tune.Tuner(
        trainable,
        param_space=param_space if param_space is not None else build_param_space(space, overrides),
        tune_config=tune.TuneConfig(
            metric=space.metric,
            mode=space.mode,
            scheduler=scheduler,
            num_samples=1,
            max_concurrent_trials=options.max_concurrent,
            reuse_actors=options.reuse_actors,
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=str(storage),
            stop=stopper,
            callbacks=[reasons, *loggers],
            checkpoint_config=tune.CheckpointConfig(
                checkpoint_frequency=options.checkpoint_frequency,
                # A planned trial asks for its last checkpoint itself: Tune turns buffering off otherwise.
                checkpoint_at_end=not planned,
            ),
            # Trial artifacts (GAN sample grids) go to the storage path too.
            sync_config=tune.SyncConfig(sync_artifacts=True),
            failure_config=tune.FailureConfig(max_failures=options.max_failures),
            verbose=options.verbose,
        ),
    )
    return tuner, path


def init_ray(options: SearchOptions) -> None:
    """Connects to ``options.address`` (or ``RAY_ADDRESS``), else starts Ray locally."""
    if ray.is_initialized():
        return
    if options.address:
        ray.init(address=options.address, log_to_driver=False)
    else:
        ray.init(num_cpus=options.num_cpus, include_dashboard=False, log_to_driver=False)


def _plain(value: Any) -> Any:
    """A pandas/NumPy scalar as the Python value it holds."""
    return value.item() if hasattr(value, "item") else value


def _best_epoch(results: tune.ResultGrid, metric: str, mode: str) -> dict[str, Any] | None:
    best: dict[str, Any] | None = None
    sign = mode_sign(mode)
    for index in range(len(results)):
        result = results[index]
        frame = result.metrics_dataframe
        if frame is None or frame.empty or metric not in frame:
            continue
        values = sign * pd.to_numeric(frame[metric], errors="coerce").to_numpy(dtype=float)
        values[~np.isfinite(values)] = np.nan
        if np.isnan(values).all():
            continue
        row = frame.iloc[int(np.nanargmin(values))]
        if best is None or sign * row[metric] < sign * best[metric]:
            best = {key: _plain(row[key]) for key in frame.columns if not key.startswith("config/")}
            best["config_id"] = result.config.get("config_id") if result.config else None
            best["trial_path"] = result.path
            if "kept_epoch" in frame:  # what the trial's best/ folder holds: the snapshot it kept last
                best["kept_epoch"] = _plain(frame["kept_epoch"].iloc[-1])
    return best


def run_search(
    space: SearchSpace,
    options: SearchOptions,
    overrides: Mapping[str, Any] | None = None,
    trainable_cls: type[tune.Trainable] | None = None,
) -> SearchSummary:
    """Runs the search to the end and summarises it.

    Raises:
        FileExistsError: If the experiment folder already exists (nothing is overwritten).
        StorageError: If the cluster has several nodes and the storage path is not shared.
    """
    path = experiment_path(space, options)
    if path_exists(path):
        raise FileExistsError(f"experiment folder {path} already exists; choose another --name")
    given_storage = options.storage_path
    options = replace(options, name=str(path).rstrip("/").rsplit("/", 1)[1])
    init_ray(options)
    check_shared_storage(given_storage)
    param_space = build_param_space(space, overrides)
    tuner, _ = build_tuner(space, options, overrides, trainable_cls, param_space)
    record = ExperimentRecord(
        space=space.name,
        trainable=space.trainable,
        metric=space.metric,
        mode=space.mode,
        num_folds=space.num_folds,
        seed=space.seed,
        replay_settings=space.replay_settings(),
        stopped_metrics=space.stopped_metrics(),
        replayed_scheduler=space.replayed_scheduler or space.scheduler,
        stoppers_from=space.stoppers_source,
        stoppers=space.stoppers,
        prediction=space.prediction,
        audit_fraction=space.audit_fraction,
        audited_configs=space.audited_configs(),
        cpus_per_trial=options.cpus_per_trial,
        gpus_per_trial=options.gpus_per_trial,
    )
    write_record(path, record)
    # Tuner.restore needs the param space again: Ray stores sample_from functions as placeholders.
    write_bytes(path, PARAM_SPACE_FILE, cloudpickle.dumps(param_space))
    write_bytes(path, REPORT_PLAN_FILE, cloudpickle.dumps(report_plan(space, options)))
    return _fit(tuner, str(path) if is_uri(given_storage) else None, record)


def _fit(tuner: tune.Tuner, uri: str | None, record: ExperimentRecord) -> SearchSummary:
    started = time.perf_counter()
    with tune_environment():
        results = tuner.fit()
    wall_time = time.perf_counter() - started
    # Ray reports a URI without its scheme; keep the one the user gave.
    path: Path | str = uri if uri is not None else Path(results.experiment_path)
    return SearchSummary(
        experiment_path=path,
        num_trials=len(results),
        num_errors=len(results.errors),
        stop_reasons=read_stop_reasons(path),
        best=_best_epoch(results, record.metric, record.mode),
        wall_time_s=wall_time,
        space_name=record.space,
        num_folds=record.num_folds,
        metric=record.metric,
        mode=record.mode,
    )


def resume_search(path: Path | str, options: SearchOptions) -> SearchSummary:
    """Finishes an interrupted search with ``Tuner.restore``.

    Finished trials are not run again; unfinished and errored ones continue from their
    last checkpoints. The stoppers' histories and ASHA's rungs come back with the
    stop-reasons callback's saved state, so decisions match an uninterrupted run.

    Raises:
        FileNotFoundError, ValueError: If ``path`` is not a tune-stop experiment.
    """
    record = read_record(path)
    if not tune.Tuner.can_restore(str(path)):
        raise ValueError(f"{path} has no Ray Tune experiment state to resume from")
    init_ray(options)
    info = TRAINABLES[record.trainable]
    resources = {"cpu": record.cpus_per_trial, "gpu": record.gpus_per_trial}
    pickled = read_bytes(path, PARAM_SPACE_FILE)
    if pickled is None:
        raise FileNotFoundError(f"{path} lacks {PARAM_SPACE_FILE}, which resuming needs")
    # Older experiments have no plan file: their trials report every epoch on its own.
    plan_bytes = read_bytes(path, REPORT_PLAN_FILE)
    plan = cloudpickle.loads(plan_bytes) if plan_bytes is not None else None
    tuner = tune.Tuner.restore(
        str(path),
        trainable=tune.with_resources(planned_trainable(info.cls, plan), resources),
        param_space=cloudpickle.loads(pickled),
        resume_unfinished=True,
        resume_errored=True,
    )
    return _fit(tuner, str(path) if is_uri(path) else None, record)
