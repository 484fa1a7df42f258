"""Runs a search space as a Ray Tune experiment, locally or on a Ray cluster."""

from __future__ import annotations

import csv
import io
import logging
import os
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import ray
from ray import tune
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from search_spaces import SearchSpace
from tune_stop.cluster import check_shared_storage
from tune_stop.reasons import STOP_REASONS_FILE, StopReasonsCallback
from tune_stop.schedulers import RecordingASHAScheduler
from tune_stop.trainables import TRAINABLES

__all__ = [
    "ConfigLookup",
    "SearchOptions",
    "SearchSummary",
    "build_param_space",
    "build_scheduler",
    "build_tuner",
    "default_storage_path",
    "experiment_path",
    "init_ray",
    "is_uri",
    "path_exists",
    "read_stop_reasons",
    "run_search",
]

logger = logging.getLogger(__name__)


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
        reuse_actors: Let a finished trial's actor run the next trial (keeps the data loaded).
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
    reuse_actors: bool = True


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
    """

    experiment_path: Path | str
    num_trials: int
    num_errors: int
    stop_reasons: list[dict[str, str]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    wall_time_s: float = 0.0

    def reason_counts(self) -> Counter[str]:
        """How many trials stopped for each reason."""
        return Counter(row["stop_reason"] for row in self.stop_reasons)


def default_storage_path() -> Path:
    """Ray's own default: ``~/ray_results``."""
    return Path.home() / "ray_results"


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
    keys = [key for key in table[0] if key not in ("config_id", "fold", "num_folds")]
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
    """ASHA on ``epoch`` (recording its stops) or FIFO, as the space says."""
    spec = dict(space.scheduler)
    if spec.pop("name") == "fifo":
        return FIFOScheduler()
    return RecordingASHAScheduler(
        time_attr="epoch",
        max_t=int(spec.get("max_t", space.max_epochs)),
        grace_period=int(spec.get("grace_period", 1)),
        reduction_factor=float(spec.get("reduction_factor", 3)),
    )


def is_uri(path: str | os.PathLike[str] | None) -> bool:
    """Whether a storage path is a URI (``s3://``, ``gs://``, ``file://``) rather than a local path."""
    return path is not None and "://" in str(path)


def experiment_path(space: SearchSpace, options: SearchOptions) -> Path | str:
    """The folder the search writes, ``<storage_path>/<name>``: a local Path or a URI string."""
    name = options.name or f"{space.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if is_uri(options.storage_path):
        return f"{str(options.storage_path).rstrip('/')}/{name}"
    storage = Path(options.storage_path).expanduser().resolve() if options.storage_path else default_storage_path()
    return storage / name


def _open_uri(uri: str, name: str) -> Any:
    """A pyarrow input stream for ``<uri>/<name>``, or None if there is no such file."""
    import pyarrow.fs

    filesystem, root = pyarrow.fs.FileSystem.from_uri(uri)
    target = f"{root.rstrip('/')}/{name}"
    if filesystem.get_file_info(target).type != pyarrow.fs.FileType.File:
        return None
    return filesystem.open_input_stream(target)


def path_exists(path: Path | str) -> bool:
    """Whether an experiment folder (local or URI) already exists."""
    if not is_uri(path):
        return Path(path).exists()
    import pyarrow.fs

    filesystem, root = pyarrow.fs.FileSystem.from_uri(str(path))
    return filesystem.get_file_info(root).type != pyarrow.fs.FileType.NotFound


def build_tuner(
    space: SearchSpace,
    options: SearchOptions,
    overrides: Mapping[str, Any] | None = None,
    trainable_cls: type[tune.Trainable] | None = None,
) -> tuple[tune.Tuner, Path | str]:
    """A ``tune.Tuner`` for the space, and the experiment folder it will write.

    The stopper is the space's policies behind a non-finite guard, the scheduler
    ASHA on ``epoch`` (or FIFO), and a callback writes ``stop_reasons.csv``.
    ``trainable_cls`` replaces the space's trainable class (e.g. your subclass of it).
    """
    info = TRAINABLES[space.trainable]
    stopper = space.build_stopper()
    scheduler = build_scheduler(space)
    path = experiment_path(space, options)
    name, storage = (
        (path.rsplit("/", 1)[1], path.rsplit("/", 1)[0]) if isinstance(path, str) else (path.name, path.parent)
    )
    trainable = tune.with_resources(
        trainable_cls or info.cls, {"cpu": options.cpus_per_trial, "gpu": options.gpus_per_trial}
    )
    tuner = tune.Tuner(
        trainable,
        param_space=build_param_space(space, overrides),
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
            callbacks=[
                StopReasonsCallback(stopper, scheduler if isinstance(scheduler, RecordingASHAScheduler) else None)
            ],
            checkpoint_config=tune.CheckpointConfig(
                checkpoint_frequency=options.checkpoint_frequency,
                checkpoint_at_end=True,
            ),
            # Trial artifacts (GAN sample grids) go to the storage path too.
            sync_config=tune.SyncConfig(sync_artifacts=True),
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


def read_stop_reasons(experiment_path: Path | str) -> list[dict[str, str]]:
    """The rows of an experiment's ``stop_reasons.csv`` (empty if it has none); local or URI."""
    if is_uri(experiment_path):
        stream = _open_uri(str(experiment_path), STOP_REASONS_FILE)
        if stream is None:
            return []
        with stream:
            return list(csv.DictReader(io.StringIO(stream.read().decode())))
    path = Path(experiment_path) / STOP_REASONS_FILE
    if not path.is_file():
        return []
    with path.open(newline="") as stream:
        return list(csv.DictReader(stream))


def _plain(value: Any) -> Any:
    """A pandas/NumPy scalar as the Python value it holds."""
    return value.item() if hasattr(value, "item") else value


def _best_epoch(results: tune.ResultGrid, metric: str, mode: str) -> dict[str, Any] | None:
    best: dict[str, Any] | None = None
    sign = 1.0 if mode == "min" else -1.0
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
    tuner, _ = build_tuner(space, options, overrides, trainable_cls)
    started = time.perf_counter()
    results = tuner.fit()
    wall_time = time.perf_counter() - started
    # Ray reports a URI without its scheme; keep the one the user gave.
    path = path if is_uri(given_storage) else Path(results.experiment_path)
    return SearchSummary(
        experiment_path=path,
        num_trials=len(results),
        num_errors=len(results.errors),
        stop_reasons=read_stop_reasons(path),
        best=_best_epoch(results, space.metric, space.mode),
        wall_time_s=wall_time,
    )
