"""Actor reuse never kills an actor while it starts (Ray Tune would, with short trials)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from ray import tune

from tune_stop._actor_reuse import keep_starting_actors

pytestmark = pytest.mark.e2e

SLOW_START_S = 4.0  # a late actor's start-up, as when importing torch on a busy machine


class SlowSecondActor(tune.Trainable):
    """One-step trials; every actor but the first starts slowly."""

    def setup(self, config):
        try:
            os.close(os.open(Path(config["marker_dir"]) / "first", os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            time.sleep(SLOW_START_S)

    def step(self):
        return {"done": True}

    def reset_config(self, new_config):
        return True

    def save_checkpoint(self, checkpoint_dir):
        return {}

    def load_checkpoint(self, checkpoint):
        pass


def pids_of_a_search(tmp_path: Path, name: str) -> list[int]:
    marker_dir = tmp_path / name
    marker_dir.mkdir()
    tuner = tune.Tuner(
        tune.with_resources(SlowSecondActor, {"cpu": 0.5}),  # two at once on the test session's 1-CPU Ray
        param_space={"marker_dir": str(marker_dir), "i": tune.grid_search(list(range(8)))},
        tune_config=tune.TuneConfig(reuse_actors=True),
        run_config=tune.RunConfig(name=name, storage_path=str(tmp_path / "results"), verbose=0),
    )
    results = tuner.fit()
    assert not results.errors
    return [result.metrics["pid"] for result in results]


def test_a_starting_actor_is_not_killed_to_reuse_an_idle_one(ray_session, tmp_path):
    with keep_starting_actors():
        pids = pids_of_a_search(tmp_path, "kept")
    # Trial 2 waits for its own slow actor while the fast one runs the others: 2 workers.
    assert len(set(pids)) == 2
    # Ray Tune alone hands trial 2 the first actor and kills the starting one, and so on for
    # every new actor: all trials on one. When this fails, Ray no longer does that.
    assert len(set(pids_of_a_search(tmp_path, "plain"))) == 1
