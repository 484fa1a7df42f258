"""Pieces shared by the trainables: device choice, config checking, RNG state."""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from ray import tune


def select_device() -> torch.device:
    """CUDA when Ray assigned this worker a GPU, else the CPU.

    Ray sets ``CUDA_VISIBLE_DEVICES`` to the assigned GPUs, so ``cuda`` is the first
    assigned one, never a GPU that belongs to another trial.
    """
    import ray

    if ray.is_initialized() and torch.cuda.is_available() and ray.get_gpu_ids():
        return torch.device("cuda")
    return torch.device("cpu")


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


class EpochTrainable(tune.Trainable):
    """One epoch per ``step()``; everything is (re)built from the config.

    Subclasses implement ``_build(config)`` (setting ``self.device``, ``self.rng`` and
    ``self.epoch``) and :meth:`stateful`. Checkpoints hold every stateful part, the epoch
    and the RNG state, so a restored trial continues exactly where it stopped;
    ``reset_config`` rebuilds in place, so Ray can reuse the actor (and its loaded data).
    """

    checkpoint_file: ClassVar[str] = "state.pt"
    device: torch.device
    rng: torch.Generator
    epoch: int

    def setup(self, config: dict[str, Any]) -> None:
        self._build(config)

    def _build(self, config: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def stateful(self) -> dict[str, Any]:
        """The parts with a ``state_dict`` (models, optimisers, scalers) by name."""
        raise NotImplementedError

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        state = {name: part.state_dict() for name, part in self.stateful().items()}
        state.update(epoch=self.epoch, rng=rng_state(self.rng))
        torch.save(state, os.path.join(checkpoint_dir, self.checkpoint_file))

    def load_checkpoint(self, checkpoint: str | dict[str, Any] | None) -> None:
        if not isinstance(checkpoint, str):
            raise TypeError(f"expected a checkpoint folder, but got {checkpoint!r}.")
        path = os.path.join(checkpoint, self.checkpoint_file)
        state = torch.load(path, map_location=self.device, weights_only=False)
        for name, part in self.stateful().items():
            part.load_state_dict(state[name])
        self.epoch = int(state["epoch"])
        set_rng_state(self.rng, state["rng"])

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        self._build(new_config)
        return True
