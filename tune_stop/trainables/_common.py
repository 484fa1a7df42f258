"""Pieces shared by the trainables: device choice, config checking, RNG state."""

from __future__ import annotations

import copy
import os
import pickle
import random
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from ray import tune
from ray.tune import Stopper
from ray.tune.result import DONE, SHOULD_CHECKPOINT, TRAINING_ITERATION


def select_device() -> torch.device:
    """CUDA when Ray assigned this worker a GPU, else the CPU.

    Ray sets ``CUDA_VISIBLE_DEVICES`` to the assigned GPUs, so ``cuda`` is the first
    assigned one, never a GPU that belongs to another trial.
    """
    import ray

    if ray.is_initialized() and torch.cuda.is_available() and ray.get_gpu_ids():
        return torch.device("cuda")
    return torch.device("cpu")


def match_threads_to_cpus() -> None:
    """One torch thread per CPU that Ray assigned to this trial (at least one).

    Ray sets ``OMP_NUM_THREADS`` for a worker, but torch may have been imported (and
    sized its thread pool) before; more threads than CPUs oversubscribes the machine.
    """
    import ray

    if not ray.is_initialized():
        return
    try:
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 0.0)
    except AssertionError:  # not in a Ray worker (a trainable built in the driver)
        return
    if cpus > 0:
        torch.set_num_threads(max(1, int(cpus)))


class InjectedFault(RuntimeError):
    """The fault that the test-only ``fail_at_epoch`` config key asks for."""


def inject_fault(config: Mapping[str, Any], epoch: int, trial_id: str) -> None:
    """Test-only fault injection: raise once per trial at epoch ``fail_at_epoch``.

    The fault comes after the epoch has trained and before it is reported, like a crash
    mid-epoch. A marker file in ``fail_marker_dir`` (default: the temp folder) remembers
    that the trial has failed, so the retry from the last checkpoint runs through.
    """
    at = config.get("fail_at_epoch")
    if at is None or epoch != int(at):
        return
    marker = Path(config.get("fail_marker_dir") or tempfile.gettempdir()) / f"tune-stop-fault-{trial_id}-{epoch}"
    if marker.exists():
        return
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    raise InjectedFault(f"injected fault at epoch {epoch} of trial {trial_id} (config fail_at_epoch)")


def merged_config(defaults: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults overridden by ``config``; keys the trainable does not use are kept."""
    merged = dict(defaults)
    merged.update(config)
    return merged


def seed_everything(seed: int) -> torch.Generator:
    """Seeds Python, NumPy and torch, and returns a dedicated torch generator."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def rng_state(generator: torch.Generator) -> dict[str, Any]:
    """Everything needed to continue the random streams exactly after a restore."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "generator": generator.get_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(generator: torch.Generator, state: Mapping[str, Any]) -> None:
    """Restores what :func:`rng_state` saved."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    generator.set_state(state["generator"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass(frozen=True)
class ReportPlan:
    """How a trial batches its epochs into one round trip to the Tune driver.

    A round trip costs milliseconds, as much as a whole epoch of a small model. So a
    trial trains epochs back to back for up to ``interval_s`` seconds and returns them
    together (Tune's ``train_buffered``), while every decision stays exactly where it
    would be one epoch at a time:

    - the trial applies ``stopper`` (a copy of the search's own rules) after each epoch,
      so it never trains past the epoch at which the driver will stop it;
    - a batch ends after each scheduler ``milestones`` epoch, where ASHA decides;
    - an epoch that needs a checkpoint (the last, a stop, a milestone, every
      ``checkpoint_frequency``-th) is returned on its own, so Tune saves exactly that
      state before anything else runs.

    Attributes:
        stopper: The search's stopping rules (a fresh copy is used per trial).
        milestones: Epochs at which the scheduler decides (ASHA rungs).
        checkpoint_frequency: Checkpoint every this many epochs (0: only the last epoch).
        interval_s: Longest time to train before returning results (0: one epoch per call).
    """

    stopper: Stopper | None = None
    milestones: frozenset[int] = field(default_factory=frozenset)
    checkpoint_frequency: int = 0
    interval_s: float = 0.5

    def checkpoint_due(self, epoch: int) -> bool:
        """Whether ``epoch`` gets a checkpoint whatever the stopping rules say."""
        every = self.checkpoint_frequency
        return epoch in self.milestones or (every > 0 and epoch % every == 0)


class EpochTrainable(tune.Trainable):
    """One epoch per ``step()``; everything is (re)built from the config.

    Subclasses implement ``_build(config)`` (setting ``self.device``, ``self.rng`` and
    ``self.epoch``) and :meth:`stateful`. Checkpoints hold every stateful part, the epoch
    and the RNG state, so a restored trial continues exactly where it stopped;
    ``reset_config`` rebuilds in place, so Ray can reuse the actor (and its loaded data).

    With a :class:`ReportPlan` in ``report_plan`` (``tune_stop.app.search`` sets one), the
    trial returns several epochs per call to ``train_buffered``; see the plan.
    """

    checkpoint_file: ClassVar[str] = "state.pt"
    report_plan: ClassVar[ReportPlan | None] = None
    device: torch.device
    rng: torch.Generator
    epoch: int

    def setup(self, config: dict[str, Any]) -> None:
        match_threads_to_cpus()
        self._build(config)
        self._start_plan()

    def _start_plan(self) -> None:
        plan = self.report_plan
        self._local_stopper = copy.deepcopy(plan.stopper) if plan is not None and plan.stopper else None
        self._held_back: dict[str, Any] | None = None

    def train(self) -> dict[str, Any]:
        """One epoch; with a report plan, marks the epochs that need a checkpoint."""
        result = super().train()
        plan = self.report_plan
        if plan is not None:
            stop = bool(result.get(DONE)) or (
                self._local_stopper is not None and self._local_stopper(self.trial_id, result)
            )
            if stop or plan.checkpoint_due(int(result[TRAINING_ITERATION])):
                result[SHOULD_CHECKPOINT] = True
        return result

    def train_buffered(self, *tune_limits: Any) -> list[dict[str, Any]]:
        """Trains epochs back to back and returns their results (see :class:`ReportPlan`).

        Tune's own limits are ignored: the plan decides. (Ray 2.60's controller passes them
        in the wrong order, ``(length, time)`` for ``(time, length)``, which makes its own
        ``train_buffered`` return after every epoch.)
        """
        plan = self.report_plan
        if plan is None:
            return super().train_buffered(*tune_limits)
        if self._held_back is not None:
            result, self._held_back = self._held_back, None
            return [result]
        results: list[dict[str, Any]] = []
        deadline = time.monotonic() + plan.interval_s
        while True:
            result = self.train()
            if result.get(SHOULD_CHECKPOINT):
                # Alone in its own call, so Tune saves this very state: after a list that ends with
                # it, Ray 2.60 runs the earlier results' CONTINUE at once, and the trial trains an
                # epoch past the stop before saving (tried: checkpoints held epoch k + 1).
                if results:
                    self._held_back = result
                    return results
                return [result]
            results.append(result)
            # Milestones need no check here: each one is due a checkpoint, so it ends a batch above.
            if time.monotonic() >= deadline:
                return results

    def _build(self, config: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def stateful(self) -> dict[str, Any]:
        """The parts with a ``state_dict`` (models, optimisers, scalers) by name."""
        raise NotImplementedError

    def extra_state(self) -> dict[str, Any]:
        """What a checkpoint keeps beside the parts' state, epoch and RNG (nothing unless a trainable says)."""
        return {}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        """Takes back what :meth:`extra_state` gave."""

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        state = {name: part.state_dict() for name, part in self.stateful().items()}
        state.update(epoch=self.epoch, rng=rng_state(self.rng), extra=self.extra_state())
        if self._local_stopper is not None:
            state["local_stopper"] = pickle.dumps(self._local_stopper)
        torch.save(state, os.path.join(checkpoint_dir, self.checkpoint_file))

    def load_checkpoint(self, checkpoint: str | dict[str, Any] | None) -> None:
        if not isinstance(checkpoint, str):
            raise TypeError(f"expected a checkpoint folder, but got {checkpoint!r}.")
        path = os.path.join(checkpoint, self.checkpoint_file)
        # On the CPU: the RNG states must stay CPU tensors, and load_state_dict copies each
        # tensor to its part's device (a checkpoint written on a GPU restores on either).
        state = torch.load(path, map_location="cpu", weights_only=False)
        for name, part in self.stateful().items():
            if isinstance(part, torch.amp.GradScaler) and not state[name]:
                continue  # a disabled scaler's (mixed precision off, or on the CPU): the new one starts fresh
            part.load_state_dict(state[name])
        self.epoch = int(state["epoch"])
        set_rng_state(self.rng, state["rng"])
        self.load_extra_state(state.get("extra", {}))
        # The stopping rules' histories up to this epoch, so the trial keeps agreeing with the driver.
        self._held_back = None
        if "local_stopper" in state and self._local_stopper is not None:
            self._local_stopper = pickle.loads(state["local_stopper"])

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        self._build(new_config)
        self._start_plan()
        return True
