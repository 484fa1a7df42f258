"""Ray Tune trainables that report per-epoch metrics for the stopping policies."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ray import tune

from tune_stop.trainables.gan import GAN_DEFAULTS, GAN_METRICS, GANTrainable, check_gan_config
from tune_stop.trainables.perceptron import (
    PERCEPTRON_DEFAULTS,
    PERCEPTRON_METRICS,
    PerceptronTrainable,
    check_perceptron_config,
)

__all__ = [
    "GAN_DEFAULTS",
    "GAN_METRICS",
    "PERCEPTRON_DEFAULTS",
    "PERCEPTRON_METRICS",
    "TRAINABLES",
    "GANTrainable",
    "PerceptronTrainable",
    "TrainableInfo",
]


@dataclass(frozen=True)
class TrainableInfo:
    """What the search needs to know about a trainable.

    Attributes:
        cls: The ``tune.Trainable`` subclass.
        defaults: Every config key with its default.
        metrics: The metrics each step reports.
        check: Validates a full config, raising ``ValueError`` naming the bad key.
    """

    cls: type[tune.Trainable]
    defaults: Mapping[str, Any]
    metrics: tuple[str, ...]
    check: Callable[[Mapping[str, Any]], None]


#: Trainables by the name used in search-space files.
TRAINABLES: dict[str, TrainableInfo] = {
    "perceptron": TrainableInfo(PerceptronTrainable, PERCEPTRON_DEFAULTS, PERCEPTRON_METRICS, check_perceptron_config),
    "gan": TrainableInfo(GANTrainable, GAN_DEFAULTS, GAN_METRICS, check_gan_config),
}
