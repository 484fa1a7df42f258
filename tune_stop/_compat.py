"""Every access to a private Ray Tune or pytorch-fid internal, in one place.

tune-stop relies on a few internals that the libraries do not promise to keep: ASHA's
rungs (to record, restore and plan around them, and to compute their cutoffs faster in
the replay), the result loggers' restore hook, the
JSON logger's open files, Tune's actor-reuse swap, pytorch-fid's Inception builder (to
load local weights instead of downloading) and the SciPy function its Fréchet distance
calls (the tests' reference). Each is reached only through this module, and
``tests/test_compat.py`` holds a canary test per internal. The Ray range they were
tested on is :data:`RAY_TESTED`, pinned in ``pyproject.toml``; another Ray version
gets one warning, the first time this module is imported.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np
import ray

if TYPE_CHECKING:
    import torch
    from ray.tune.experiment import Trial
    from ray.tune.schedulers import AsyncHyperBandScheduler
    from torch import nn

__all__ = [
    "RAY_TESTED",
    "KeepDriverCopy",
    "OneShotJsonResults",
    "asha_bracket_rungs",
    "asha_forget_trial",
    "asha_metric",
    "asha_milestones",
    "asha_replace_cutoffs",
    "asha_restore_rung_state",
    "asha_rung_state",
    "asha_time_attr",
    "fid_inception_v3_from_state",
    "median_metric",
    "median_restore_state",
    "median_spare",
    "median_state",
    "patched_reuse_cached_actor",
    "ray_version_tested",
]

#: The Ray versions (``>=`` first, ``<`` second) the canary tests pass on; ``pyproject.toml`` pins them.
RAY_TESTED = ("2.60", "2.61")


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for part in version.split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def ray_version_tested(version: str) -> bool:
    """Whether ``version`` lies in :data:`RAY_TESTED`."""
    low, high = (_version_tuple(v) for v in RAY_TESTED)
    return low <= _version_tuple(version) < high


if not ray_version_tested(ray.__version__):
    warnings.warn(
        f"tune-stop was tested with Ray >={RAY_TESTED[0]},<{RAY_TESTED[1]}, but Ray {ray.__version__} is installed: "
        "its private internals (ASHA's rungs, the loggers' restore hook, the JSON logger's open files, "
        "actor reuse) may have changed.",
        stacklevel=2,
    )


# -- ASHA (ray.tune.schedulers.AsyncHyperBandScheduler) --------------------------------


def asha_metric(scheduler: AsyncHyperBandScheduler) -> str | None:
    """The metric ASHA compares trials on."""
    return scheduler._metric


def asha_time_attr(scheduler: AsyncHyperBandScheduler) -> str:
    """The result key ASHA counts time in (``epoch`` for tune-stop's searches)."""
    return scheduler._time_attr


def asha_milestones(scheduler: AsyncHyperBandScheduler) -> frozenset[int]:
    """The epochs at which ASHA compares trials: every rung of every bracket (the first epoch at or past it)."""
    return frozenset(math.ceil(milestone) for bracket in scheduler._brackets for milestone, _ in bracket._rungs)


def asha_bracket_rungs(scheduler: AsyncHyperBandScheduler) -> list[list[int]]:
    """Per bracket, the epoch at which each of its rungs compares trials (the first at or past it), highest first."""
    return [[math.ceil(milestone) for milestone, _ in bracket._rungs] for bracket in scheduler._brackets]


def asha_replace_cutoffs(
    scheduler: AsyncHyperBandScheduler, cutoff: Callable[[dict[str, float], float], float | None]
) -> None:
    """Has every bracket of ``scheduler`` compute a rung's cutoff as ``cutoff(records, reduction_factor)``
    instead of Ray's ``_Bracket.cutoff`` (NumPy's ``nanpercentile`` of the records at ``(1 - 1/rf) * 100``)."""
    for bracket in scheduler._brackets:
        # An attribute on the bracket object shadows the class's method.
        bracket.cutoff = functools.partial(_bracket_cutoff, cutoff, bracket.rf)  # type: ignore[method-assign]


def _bracket_cutoff(
    cutoff: Callable[[dict[str, float], float], float | None], reduction_factor: float, recorded: dict[str, float]
) -> float | None:
    return cutoff(recorded, reduction_factor)


def asha_rung_state(scheduler: AsyncHyperBandScheduler) -> dict[str, Any]:
    """ASHA's rung records and trial assignments (``Tuner.restore`` loses them, ray#30838)."""
    return {"brackets": scheduler._brackets, "trial_info": scheduler._trial_info, "num_stopped": scheduler._num_stopped}


def median_metric(scheduler: Any) -> str | None:
    """The metric the median stopping rule compares (set by ``TuneConfig`` or the constructor)."""
    return scheduler._metric


def median_state(scheduler: Any) -> dict[str, Any]:
    """The median stopping rule's recorded results and stopped trials (``Tuner.restore`` loses them)."""
    return {"results": dict(scheduler._results), "stopped_trials": set(scheduler._stopped_trials)}


def median_spare(scheduler: Any, key: Any) -> None:
    """Forgets that the median rule stopped ``key`` (a trial that keeps running, e.g. an audit trial): Ray's
    class would fail an assertion on that trial's next result."""
    scheduler._stopped_trials.discard(key)


def median_restore_state(scheduler: Any, state: dict[str, Any]) -> None:
    """Puts back what :func:`median_state` returned."""
    scheduler._results.clear()
    scheduler._results.update(state["results"])
    scheduler._stopped_trials = set(state["stopped_trials"])


def asha_restore_rung_state(scheduler: AsyncHyperBandScheduler, state: dict[str, Any]) -> None:
    """Puts back what :func:`asha_rung_state` returned."""
    scheduler._brackets = state["brackets"]
    scheduler._trial_info = state["trial_info"]
    scheduler._num_stopped = state["num_stopped"]


def asha_forget_trial(scheduler: AsyncHyperBandScheduler, trial_id: str) -> None:
    """Drops a trial from ASHA's assignments without recording its result in a rung."""
    scheduler._trial_info.pop(trial_id, None)


# -- Result loggers (ray.tune.logger) ---------------------------------------------------


class KeepDriverCopy:
    """Mixin for Ray's CSV/JSON logger callbacks: restore a trial's file only when the driver has none.

    Ray Tune's loggers copy a restarted trial's file back from the storage path over the
    driver's own copy in their private ``_restore_from_remote`` hook.
    """

    def _restore_from_remote(self, file_name: str, trial: Trial) -> None:
        if trial.local_path is not None and Path(trial.local_path, file_name).is_file():
            return
        super()._restore_from_remote(file_name, trial)  # type: ignore[misc]


class OneShotJsonResults:
    """Mixin for Ray's ``JsonLoggerCallback``: each result is encoded by one ``json.dumps``.

    Ray's ``json.dump`` to the file encodes in Python, chunk by chunk (0.26 ms of the
    driver's 0.9 ms per result, profiled here); ``json.dumps`` with the same encoder runs
    json's C encoder and writes the same text. It reaches the callback's private open
    files, ``_trial_files``.
    """

    def log_trial_result(self, iteration: int, trial: Trial, result: dict[str, Any]) -> None:
        files: dict[Trial, TextIO] = self._trial_files  # type: ignore[attr-defined]
        if trial not in files:
            self.log_trial_start(trial)  # type: ignore[attr-defined]
        stream = files[trial]
        stream.write(_json_encoder().encode(result) + "\n")
        stream.flush()


@functools.cache
def _json_encoder() -> json.JSONEncoder:
    """Ray's encoder for results, as ``json.dumps(result, cls=SafeFallbackEncoder)`` builds it."""
    from ray.tune.utils.util import SafeFallbackEncoder

    return SafeFallbackEncoder()


# -- Actor reuse (ray.tune.execution.tune_controller.TuneController) --------------------


@contextmanager
def patched_reuse_cached_actor(
    skip: Callable[[Any, Any, Callable[[Any], bool]], bool],
) -> Iterator[bool]:
    """Within the block, Tune asks ``skip(trial, own_actor, is_started)`` before handing a trial an idle actor.

    Args:
        skip: Returns True to keep the trial's own actor (no swap). It gets the trial, its
            own actor (or None) and a function telling whether an actor has started.

    Yields:
        Whether the patch is in place (False on a Ray without this internal, or when
        the patch is already applied further up).
    """
    from ray.tune.execution.tune_controller import TuneController

    original = getattr(TuneController, "_maybe_reuse_cached_actor", None)
    if original is None or getattr(original, "tune_stop_patched", False):
        yield False
        return

    def maybe_reuse_cached_actor(controller: Any, trial: Any) -> bool:
        own_actor = getattr(controller, "_trial_to_actor", {}).get(trial)
        manager = getattr(controller, "_actor_manager", None)
        resetting = trial in getattr(controller, "_resetting_trials", ())
        if manager is not None and not resetting and skip(trial, own_actor, manager.is_actor_started):
            return False
        return bool(original(controller, trial))

    maybe_reuse_cached_actor.tune_stop_patched = True  # type: ignore[attr-defined]
    maybe_reuse_cached_actor.__wrapped__ = original  # type: ignore[attr-defined]
    TuneController._maybe_reuse_cached_actor = maybe_reuse_cached_actor  # type: ignore[method-assign,assignment]
    try:
        yield True
    finally:
        TuneController._maybe_reuse_cached_actor = original  # type: ignore[method-assign]


# -- pytorch-fid (pytorch_fid.inception) ------------------------------------------------


def _fid_network(fid_inception: Any, state: dict[str, torch.Tensor] | None) -> nn.Module:
    """pytorch-fid's ``fid_inception_v3()`` architecture, with local weights instead of a download."""
    inception = fid_inception._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    inception.Mixed_5b = fid_inception.FIDInceptionA(192, pool_features=32)
    inception.Mixed_5c = fid_inception.FIDInceptionA(256, pool_features=64)
    inception.Mixed_5d = fid_inception.FIDInceptionA(288, pool_features=64)
    inception.Mixed_6b = fid_inception.FIDInceptionC(768, channels_7x7=128)
    inception.Mixed_6c = fid_inception.FIDInceptionC(768, channels_7x7=160)
    inception.Mixed_6d = fid_inception.FIDInceptionC(768, channels_7x7=160)
    inception.Mixed_6e = fid_inception.FIDInceptionC(768, channels_7x7=192)
    inception.Mixed_7b = fid_inception.FIDInceptionE_1(1280)
    inception.Mixed_7c = fid_inception.FIDInceptionE_2(2048)
    if state is not None:
        inception.load_state_dict(state)
    return inception


def fid_inception_network(state: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """The FID Inception network (``fid_inception_v3``) with ``state`` loaded, built without a download."""
    import pytorch_fid.inception as fid_inception

    return _fid_network(fid_inception, state)


def fid_inception_v3_from_state(state: dict[str, torch.Tensor] | None, blocks: list[int]) -> nn.Module:
    """pytorch-fid's ``InceptionV3(blocks)``, its FID network built from ``state`` instead of a download.

    ``InceptionV3`` calls the module function ``fid_inception_v3()``, which downloads the
    weights; it is replaced for the duration of the call.
    """
    import pytorch_fid.inception as fid_inception

    original = fid_inception.fid_inception_v3
    fid_inception.fid_inception_v3 = lambda: _fid_network(fid_inception, state)
    try:
        return fid_inception.InceptionV3(blocks)
    finally:
        fid_inception.fid_inception_v3 = original


def pytorch_fid_frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """pytorch-fid's own Fréchet distance (the tests' and benchmarks' reference), on any SciPy.

    pytorch-fid 0.3.0 calls ``scipy.linalg.sqrtm(..., disp=False)`` through its module's
    ``linalg``, and SciPy 1.18 removed ``disp`` (a TypeError, seen on SciPy 1.18.1). There
    pytorch-fid's code runs unchanged with a ``sqrtm`` that takes ``disp`` and returns what
    it returned.

    Args:
        mu1, sigma1, mu2, sigma2: The two feature distributions' means and covariances.

    Returns:
        The squared Fréchet distance, as pytorch-fid computes it.
    """
    from pytorch_fid import fid_score
    from scipy import linalg

    if "disp" in inspect.signature(linalg.sqrtm).parameters:
        return float(fid_score.calculate_frechet_distance(mu1, sigma1, mu2, sigma2))

    def sqrtm(matrix: np.ndarray, disp: bool = True) -> Any:
        root = linalg.sqrtm(matrix)
        return root if disp else (root, None)

    original = fid_score.linalg
    fid_score.linalg = SimpleNamespace(sqrtm=sqrtm)
    try:
        return float(fid_score.calculate_frechet_distance(mu1, sigma1, mu2, sigma2))
    finally:
        fid_score.linalg = original
