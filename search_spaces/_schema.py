"""Search-space files: parsing, validation and per-configuration sampling.

A space file (YAML or TOML) has one schema::

    description: One line shown by `tune-stop spaces`.
    trainable: perceptron            # a registered trainable
    metric: val_loss                 # the scheduler's metric ...
    mode: min                        # ... and direction
    num_samples: 6                   # configurations to sample (grids repeat per sample)
    num_folds: 3                     # each configuration runs on every fold
    seed: 0                          # sampling seed; trial seeds are seed + config_id
    config:                          # trainable hyperparameters: values or samplers
      lr: {loguniform: [0.001, 0.1]} # choice, uniform, loguniform, randint, grid
    stoppers:                        # stopping policies, first match gives the reason
      - {policy: threshold, metric: val_loss, mode: min, threshold: {loguniform: [0.05, 0.5]}}
      - {policy: patience, metric: val_loss, patience: 5}
    scheduler: {name: asha, grace_period: 2, reduction_factor: 3}   # or {name: fifo}

A sampled ``threshold`` becomes the config key ``<metric>_threshold``, drawn once per
configuration and shared by its folds, and the stopper reads it per trial.
"""

from __future__ import annotations

import inspect
import itertools
import math
import numbers
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from ray.tune import Stopper

from search_spaces._files import read_file
from search_spaces._samplers import SAMPLERS, SpaceError, domain, is_sampler
from tune_stop.schedulers import SCHEDULER_SETTINGS, full_entry
from tune_stop.stoppers import FAMILIES, POLICIES, AnyStopper, AuditExempt, NonFiniteStopper
from tune_stop.trainables import TRAINABLES

__all__ = ["METRIC_RANGES", "POLICIES", "SAMPLERS", "SearchSpace", "SpaceError", "threshold_key"]

_SCHEDULERS = {name: tuple(settings) for name, settings in SCHEDULER_SETTINGS.items()}
_METRIC_ARGUMENTS = ("metric", "train_metric", "metrics")
_RESERVED_CONFIG = ("config_id", "fold", "num_folds")

# The values a reported metric can take; a threshold outside them could never be reached.
_UNIT = (0.0, 1.0)
_NON_NEGATIVE = (0.0, math.inf)
METRIC_RANGES: dict[str, tuple[float, float]] = {
    **{
        name: _UNIT
        for name in ("train_accuracy", "val_accuracy", "test_accuracy", "d_accuracy", "d_real_mean", "d_fake_mean")
    },
    **{name: _NON_NEGATIVE for name in ("train_loss", "val_loss", "test_loss", "d_loss", "g_loss", "fid")},
}


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space.

    Attributes:
        name: The built-in name or the file's stem.
        source: Where it was read from (shown in error messages).
        description: One line for ``tune-stop spaces``.
        trainable: Registered trainable name (see ``tune_stop.trainables.TRAINABLES``).
        metric, mode: The scheduler's metric and direction.
        num_samples: Configurations to sample (each grid point once per sample).
        num_folds: Folds each configuration runs on.
        seed: Sampling seed.
        config: Hyperparameters: fixed values or ``{sampler: args}``.
        stoppers: Policy specs, ``{"policy": name, **arguments}``.
        scheduler: ``{"name": "asha" | "median" | "fifo", **arguments}``.
        replayed_stoppers: The specs whose fixed arguments ``tune-stop recommend``
            replays (see :meth:`replay_settings`); ``None``: ``stoppers``. Set by
            :meth:`full_curves`, which removes the stoppers but not what they were.
        replayed_scheduler: The scheduler ``tune-stop recommend --asha`` replays; ``None``:
            ``scheduler``. Set by :meth:`full_curves`, which runs FIFO instead.
        stoppers_source: The file the stoppers came from (:meth:`with_stoppers`), or None.
        prediction: The ``recommendation:`` block of that file (what ``tune-stop recommend``
            predicted for the policy), or None.
        audit_fraction: Share of the configurations whose trials train to their budget
            while the stoppers only record (:meth:`audited_configs`).
    """

    name: str
    source: str
    description: str
    trainable: str
    metric: str
    mode: str
    num_samples: int
    num_folds: int
    seed: int
    config: dict[str, Any]
    stoppers: list[dict[str, Any]] = field(default_factory=list)
    scheduler: dict[str, Any] = field(default_factory=lambda: {"name": "fifo"})
    replayed_stoppers: list[dict[str, Any]] | None = None
    replayed_scheduler: dict[str, Any] | None = None
    stoppers_source: str | None = None
    prediction: dict[str, Any] | None = None
    audit_fraction: float = 0.0

    # -- derived views -------------------------------------------------------------

    @property
    def defaults(self) -> dict[str, Any]:
        """The trainable's default config."""
        return dict(TRAINABLES[self.trainable].defaults)

    @property
    def reported_metrics(self) -> tuple[str, ...]:
        """The metrics the trainable reports every epoch."""
        return tuple(TRAINABLES[self.trainable].metrics)

    @property
    def max_epochs(self) -> int:
        """The epoch budget of every trial (a fixed value, never sampled)."""
        return int(self.config.get("max_epochs", self.defaults["max_epochs"]))

    def with_overrides(
        self,
        *,
        num_samples: int | None = None,
        max_epochs: int | None = None,
        scheduler: str | None = None,
        seed: int | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> SearchSpace:
        """A copy with command-line overrides applied and validated again."""
        new_config = dict(self.config)
        if config:
            new_config.update(config)
        if max_epochs is not None:
            new_config["max_epochs"] = max_epochs
        new_scheduler = dict(self.scheduler)
        if scheduler is not None and scheduler != new_scheduler.get("name"):
            new_scheduler = {"name": scheduler}
        if max_epochs is not None and "max_t" in new_scheduler:
            new_scheduler["max_t"] = max_epochs
        grace = new_scheduler.get("grace_period")
        if (
            max_epochs is not None
            and new_scheduler.get("name") in ("asha", "median")
            and isinstance(grace, int)
            and grace > max_epochs
        ):
            warnings.warn(
                f"scheduler.grace_period {grace} exceeds the {max_epochs} epochs asked for: lowered to {max_epochs}",
                stacklevel=2,
            )
            new_scheduler["grace_period"] = max_epochs
        space = replace(
            self,
            num_samples=self.num_samples if num_samples is None else num_samples,
            seed=self.seed if seed is None else seed,
            config=new_config,
            scheduler=new_scheduler,
        )
        space.validate()
        return space

    # -- validation ----------------------------------------------------------------

    def validate(self) -> None:
        """Checks every field; raises :class:`SpaceError` naming the first problem."""
        src = self.source
        if self.trainable not in TRAINABLES:
            raise SpaceError(src, "trainable", f"{self.trainable!r} is not one of {sorted(TRAINABLES)}")
        metrics = self.reported_metrics
        if self.metric not in metrics:
            raise SpaceError(src, "metric", self._unreported(self.metric))
        if self.mode not in ("min", "max"):
            raise SpaceError(src, "mode", f"{self.mode!r} is not 'min' or 'max'")
        for key, minimum in (("num_samples", 1), ("num_folds", 1)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise SpaceError(src, key, f"must be an integer >= {minimum}, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise SpaceError(src, "seed", f"must be an integer >= 0, got {self.seed!r}")
        self._check_config()
        max_epochs = self.config.get("max_epochs", self.defaults["max_epochs"])
        if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
            raise SpaceError(src, "config.max_epochs", f"must be an integer >= 1, got {max_epochs!r}")
        if not isinstance(self.stoppers, list):
            raise SpaceError(src, "stoppers", f"must be a list of policies, got {self.stoppers!r}")
        for index, spec in enumerate(self.stoppers):
            self._build_stopper(index, spec)
        self._check_scheduler()
        for config in self.trial_configs():
            try:
                TRAINABLES[self.trainable].check(config)
            except (TypeError, ValueError) as error:
                raise SpaceError(src, f"config (config_id {config['config_id']})", str(error)) from None

    def _check_config(self) -> None:
        """Every ``config`` key is the trainable's, and every sampler is well formed."""
        src = self.source
        allowed = sorted(set(self.defaults) - set(_RESERVED_CONFIG))
        for key, value in self.config.items():
            if key in _RESERVED_CONFIG:
                raise SpaceError(src, f"config.{key}", "is set by tune-stop (use num_folds at the top level)")
            if key not in self.defaults:
                raise SpaceError(
                    src, f"config.{key}", f"unknown key for {self.trainable}; allowed: {', '.join(allowed)}"
                )
            if isinstance(value, Mapping) and len(value) == 1 and not is_sampler(value):
                kind = next(iter(value))
                raise SpaceError(src, f"config.{key}", f"unknown sampler {kind!r}; allowed: {', '.join(SAMPLERS)}")
            if is_sampler(value):
                if key == "max_epochs":
                    raise SpaceError(src, "config.max_epochs", "must be a fixed integer, not sampled")
                if "grid" in value:
                    if not isinstance(value["grid"], list) or not value["grid"]:
                        raise SpaceError(src, f"config.{key}", f"grid needs a non-empty list, got {value['grid']!r}")
                else:
                    domain(src, f"config.{key}", value)

    def _check_threshold_range(self, key: str, metric: Any, threshold: Any) -> None:
        """A threshold (or a sampler's bounds) must lie in the metric's range, or it never fires."""
        if metric not in METRIC_RANGES or threshold is None:
            return
        if is_sampler(threshold):
            args = next(iter(threshold.values()))
            values = args if isinstance(args, list) else []
        else:
            values = [threshold]
        low, high = METRIC_RANGES[metric]
        for value in values:
            if (
                isinstance(value, numbers.Real)
                and not isinstance(value, bool)
                and math.isfinite(value)
                and not low <= float(value) <= high
            ):
                raise SpaceError(
                    self.source, f"{key}.threshold", f"{value!r} is outside the range of {metric} [{low:g}, {high:g}]"
                )

    def _unreported(self, metric: Any) -> str:
        return f"{metric!r} is not reported by {self.trainable}; it reports {', '.join(self.reported_metrics)}"

    def _check_scheduler(self) -> None:
        src, spec = self.source, self.scheduler
        if not isinstance(spec, Mapping) or spec.get("name") not in _SCHEDULERS:
            raise SpaceError(src, "scheduler", f"name must be one of {sorted(_SCHEDULERS)}, got {spec!r}")
        allowed = _SCHEDULERS[spec["name"]]
        for key, value in spec.items():
            if key == "name":
                continue
            if key not in allowed:
                raise SpaceError(
                    src,
                    f"scheduler.{key}",
                    f"unknown for {spec['name']}; allowed: {', '.join(allowed) or 'nothing'}",
                )
            minimum = 1.0 + 1e-9 if key == "reduction_factor" else 1
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < minimum:
                raise SpaceError(
                    src,
                    f"scheduler.{key}",
                    f"must be a number {'> 1' if key == 'reduction_factor' else '>= 1'}, got {value!r}",
                )
        max_t = spec.get("max_t", self.max_epochs)
        if spec.get("grace_period", 1) > max_t:
            raise SpaceError(src, "scheduler.grace_period", f"{spec['grace_period']} exceeds max_t={max_t}")

    def _build_stopper(self, index: int, spec: Any, config: Mapping[str, Any] | None = None) -> Stopper:
        """Builds stopper ``index``; threshold samplers become per-trial config keys."""
        src, key = self.source, f"stoppers[{index}]"
        if not isinstance(spec, Mapping) or spec.get("policy") not in POLICIES:
            got = spec.get("policy") if isinstance(spec, Mapping) else spec
            raise SpaceError(src, f"{key}.policy", f"{got!r} is not one of {sorted(POLICIES)}")
        cls = POLICIES[spec["policy"]]
        arguments = {k: v for k, v in spec.items() if k != "policy"}
        parameters = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        for name in arguments:
            if name not in parameters:
                raise SpaceError(
                    src,
                    f"{key}.{name}",
                    f"unknown argument of {spec['policy']}; allowed: {', '.join(parameters)}",
                )
        for name in _METRIC_ARGUMENTS:
            names = arguments.get(name)
            for metric in [names] if isinstance(names, str) else names or []:
                if metric not in self.reported_metrics:
                    raise SpaceError(src, f"{key}.{name}", self._unreported(metric))
        threshold = arguments.get("threshold")
        self._check_threshold_range(key, arguments.get("metric"), threshold)
        if is_sampler(threshold):
            if "grid" in threshold:
                raise SpaceError(src, f"{key}.threshold", "grid is not supported for thresholds; use choice")
            domain(src, f"{key}.threshold", threshold)
            arguments["threshold_key"] = threshold_key(arguments.get("metric", ""))
            del arguments["threshold"]
        try:
            return cls(**arguments)
        except (TypeError, ValueError) as error:
            raise SpaceError(src, key, str(error)) from None

    # -- what a search needs ---------------------------------------------------------

    def build_stopper(self) -> AnyStopper:
        """All policies of the space, behind a non-finite guard on every monitored metric.

        The guard comes first so that a NaN or inf stops the trial with reason
        ``non_finite`` before any scheduler sees the value.
        """
        stoppers = [self._build_stopper(i, spec) for i, spec in enumerate(self.stoppers)]
        if not any(isinstance(s, NonFiniteStopper) for s in stoppers):
            stoppers.insert(0, NonFiniteStopper(self._guarded_metrics()))
        if self.audit_fraction > 0:
            # Audit trials train to their budget; a NaN still stops them.
            stoppers = [s if isinstance(s, NonFiniteStopper) else AuditExempt(s) for s in stoppers]
        return AnyStopper(*stoppers)

    def _guarded_metrics(self) -> list[str]:
        """The scheduler's metric and every metric a stopper watches."""
        guarded = {self.metric}
        for spec in self.stoppers:
            for name in _METRIC_ARGUMENTS:
                value = spec.get(name)
                guarded.update([value] if isinstance(value, str) else value or [])
        guarded.discard("epoch")
        return sorted(guarded)

    def with_stoppers(self, path: str | Path) -> SearchSpace:
        """A copy whose stoppers are those of a file's ``stoppers:`` list, validated as a space's.

        The file is a ``stoppers.yaml`` written by ``tune-stop recommend`` or any YAML/TOML
        file with a ``stoppers:`` list. A ``scheduler:`` entry in it (``asha``, ``median`` or
        ``fifo`` with its settings) replaces the space's scheduler, so the file runs the
        whole stopping configuration it was judged as; a space file's other keys are ignored.

        Raises:
            SpaceError: Naming the file, the key and what is wrong.
        """
        path = Path(path)
        if not path.is_file():
            raise SpaceError(str(path), "", "no such file")
        data = read_file(path)
        if "stoppers" not in data:
            raise SpaceError(str(path), "stoppers", "is required: the list of stopping policies to run")
        prediction = data.get("recommendation")
        if prediction is not None and not isinstance(prediction, dict):
            raise SpaceError(str(path), "recommendation", f"must be a mapping, got {type(prediction).__name__}")
        scheduler = data.get("scheduler", self.scheduler)
        if _same_scheduler_but_max_t(scheduler, self.scheduler):
            # A stoppers.yaml judged beside the space's ASHA: that ASHA, with the space's max_t. Another
            # scheduler (a configuration.yaml's) was judged with max_t at the epoch budget, and runs so.
            scheduler = {**scheduler, "max_t": self.scheduler["max_t"]}
        replaced = replace(
            self,
            stoppers=data["stoppers"],
            scheduler=scheduler,
            source=str(path),
            stoppers_source=str(path),
            prediction=prediction,
        )
        replaced.validate()
        return replace(replaced, source=self.source)

    def with_audit(self, fraction: float) -> SearchSpace:
        """A copy in which ``fraction`` of the configurations (at least one) are audit trials.

        Raises:
            SpaceError: If ``fraction`` is not in [0, 1).
        """
        if not 0.0 <= fraction < 1.0:
            raise SpaceError(self.source, "audit_fraction", f"must be in [0, 1), got {fraction!r}")
        return replace(self, audit_fraction=float(fraction))

    def audited_configs(self) -> list[int]:
        """The ``config_id``s whose trials are audit trials: a seeded draw of ``audit_fraction`` of them."""
        if self.audit_fraction <= 0:
            return []
        count = len(self.sample_configs())
        chosen = max(1, round(self.audit_fraction * count))
        return sorted(int(c) for c in np.random.default_rng([self.seed, 2]).choice(count, chosen, replace=False))

    def full_curves(self) -> SearchSpace:
        """A copy that trains every trial to its epoch budget, to record whole curves.

        FIFO, and no stopper but the non-finite guard (the space's own, or one on every
        metric its stoppers watch), so ``tune-stop recommend`` sees no censored curve.
        The hyperparameters sampled are the same (thresholds have their own random
        stream), and :meth:`replay_settings` still gives the removed stoppers' settings.
        """
        guards = [spec for spec in self.stoppers if spec.get("policy") == "non_finite"]
        space = replace(
            self,
            stoppers=guards or [{"policy": "non_finite", "metrics": self._guarded_metrics()}],
            scheduler={"name": "fifo"},
            replayed_stoppers=self.stoppers if self.replayed_stoppers is None else self.replayed_stoppers,
            replayed_scheduler=self.scheduler if self.replayed_scheduler is None else self.replayed_scheduler,
        )
        space.validate()
        return space

    def stopped_metrics(self) -> list[tuple[str, str]]:
        """``(metric, mode)`` of every tunable policy the space stops on (those removed for full curves too)."""
        pairs: list[tuple[str, str]] = []
        for spec in self.stoppers if self.replayed_stoppers is None else self.replayed_stoppers:
            family = FAMILIES.get(spec.get("policy", ""))
            if family is None or not isinstance(spec.get("metric"), str):
                continue
            pair = (spec["metric"], "min" if family.errors_only else str(spec.get("mode", "min")))
            if pair not in pairs:
                pairs.append(pair)
        return pairs

    def replay_settings(self) -> dict[str, dict[str, dict[str, Any]]]:
        """The stoppers' fixed arguments that ``tune-stop recommend`` replays them with.

        ``{family: {metric: {argument: value}}}`` for each family's ``settings`` in
        :data:`tune_stop.stoppers.FAMILIES` that the space sets (threshold's
        ``grace_period``; patience's ``min_delta``, ``grace_period`` and ``baseline``;
        PQ's ``strip`` and ``train_metric``; UP's ``strip``), so that the recommendation
        is made for the stopper as it runs.
        """
        settings: dict[str, dict[str, dict[str, Any]]] = {}
        for spec in self.stoppers if self.replayed_stoppers is None else self.replayed_stoppers:
            family = FAMILIES.get(spec.get("policy", ""))
            names = family.settings if family is not None else ()
            fixed = {name: spec[name] for name in names if name in spec and not is_sampler(spec[name])}
            if fixed:
                settings.setdefault(spec["policy"], {}).setdefault(spec["metric"], fixed)
        return settings

    def sample_configs(self) -> list[dict[str, Any]]:
        """The configurations of the search, before the fold expansion.

        Each of ``num_samples`` samples expands the grid parameters and draws every
        other sampler (including per-trial thresholds) from a generator seeded with
        ``seed``, so the same space and seed always give the same configurations.
        Each dict has ``config_id`` (its index) and ``seed`` (``seed + config_id``
        unless the space fixes it).
        """
        rng = np.random.default_rng(self.seed)
        # Thresholds come from their own stream, so a space with its threshold policies
        # removed (e.g. a FIFO full-training baseline) samples the same hyperparameters.
        threshold_rng = np.random.default_rng([self.seed, 1])
        values = dict(self.config)
        threshold_keys = set()
        for spec in self.stoppers:
            threshold = spec.get("threshold")
            if is_sampler(threshold):
                values[threshold_key(spec["metric"])] = threshold
                threshold_keys.add(threshold_key(spec["metric"]))
        grid_keys = [k for k, v in values.items() if is_sampler(v) and "grid" in v]
        grids = [values[k]["grid"] for k in grid_keys]
        configs: list[dict[str, Any]] = []
        for _ in range(self.num_samples):
            for point in itertools.product(*grids):
                config: dict[str, Any] = {"config_id": len(configs)}
                for key, value in values.items():
                    if key in grid_keys:
                        config[key] = point[grid_keys.index(key)]
                    elif is_sampler(value):
                        stream = threshold_rng if key in threshold_keys else rng
                        sampled = domain(self.source, key, value).sample(random_state=stream)
                        config[key] = sampled.item() if isinstance(sampled, np.generic) else sampled
                    else:
                        config[key] = value
                config.setdefault("seed", self.seed + config["config_id"])
                configs.append(config)
        return configs

    def trial_configs(self) -> list[dict[str, Any]]:
        """Every trial's full config: each sampled configuration on every fold."""
        return [
            {**self.defaults, **config, "num_folds": self.num_folds, "fold": fold}
            for config in self.sample_configs()
            for fold in range(self.num_folds)
        ]


def threshold_key(metric: str) -> str:
    """The config key that holds a per-trial threshold on ``metric``."""
    return f"{metric}_threshold"


def _same_scheduler_but_max_t(entry: Any, space: Mapping[str, Any]) -> bool:
    """Whether ``entry`` (a stoppers file's scheduler) is the space's ASHA with its ``max_t`` left out."""
    if not isinstance(entry, Mapping) or "max_t" in entry or "max_t" not in space or entry.get("name") != "asha":
        return False
    try:
        return full_entry(entry) == full_entry({key: value for key, value in space.items() if key != "max_t"})
    except ValueError:  # a bad entry: validate() names it
        return False
