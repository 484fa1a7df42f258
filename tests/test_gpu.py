"""The CUDA paths, where a GPU is present (skipped elsewhere; `benchmarks.gpu_check` times them)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch

from analysis import load_experiment
from benchmarks.gpu_check import DeviceReportingGAN
from search_spaces import load_space
from tune_stop.app.search import SearchOptions, run_search
from tune_stop.trainables import GANTrainable, PerceptronTrainable

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


class DeviceReportingMLP(PerceptronTrainable):
    def step(self) -> dict[str, Any]:
        return {**super().step(), "device": str(self.device)}


def test_gan_trials_share_the_gpu_and_a_crashed_one_resumes_on_it(ray_session, tmp_path):
    space = load_space("gan-digits").with_overrides(num_samples=1, max_epochs=4, scheduler="fifo")
    options = SearchOptions(
        storage_path=str(tmp_path), name="gan", verbose=0, gpus_per_trial=0.5, checkpoint_frequency=2, max_failures=1
    )
    faults = {"fail_at_epoch": 3, "fail_marker_dir": str(tmp_path / "markers")}
    summary = run_search(space, options, overrides=faults, trainable_cls=DeviceReportingGAN)
    assert summary.num_errors == 0
    assert list((tmp_path / "markers").iterdir()), "no trial reached the injected fault"
    curves = load_experiment(summary.experiment_path)
    assert set(curves["device"]) == {torch.cuda.get_device_name(0)}
    for _, curve in curves.groupby("trial_id"):
        assert list(curve["epoch"]) == [1, 2, 3, 4]  # restored from epoch 2 on the GPU, no gap
        assert curve["fid"].notna().all()

    # A checkpoint written on the GPU restores in a process without one (the driver's CPU).
    checkpoint = sorted(summary.experiment_path.glob("*/checkpoint_*"))[-1]
    config = json.loads((checkpoint.parent / "params.json").read_text())
    trainable = GANTrainable(config={**config, "sample_every": 0})
    try:
        assert trainable.device.type == "cpu"
        trainable.load_checkpoint(str(checkpoint))
        assert trainable.epoch == 4
        assert torch.isfinite(torch.tensor(trainable.train()["fid"]))
    finally:
        trainable.stop()


def test_mlp_trials_train_on_the_gpu(ray_session, tmp_path):
    space = load_space("mlp-digits").with_overrides(num_samples=1, max_epochs=3, scheduler="fifo")
    options = SearchOptions(storage_path=str(tmp_path), name="mlp", verbose=0, gpus_per_trial=0.25)
    summary = run_search(space, options, trainable_cls=DeviceReportingMLP)
    assert summary.num_errors == 0
    curves = load_experiment(summary.experiment_path)
    assert set(curves["device"]) == {"cuda"}
    assert curves["val_loss"].notna().all()


def test_a_checkpoint_written_on_the_cpu_with_amp_restores_on_the_gpu(ray_session, tmp_path):
    import ray

    config = {"amp": True, "sample_every": 0}
    on_cpu = GANTrainable(config=config)  # in the driver: the CPU, where the loss scaler is off
    try:
        assert on_cpu.device.type == "cpu"
        on_cpu.train()
        on_cpu.save_checkpoint(str(tmp_path))
    finally:
        on_cpu.stop()

    @ray.remote(num_gpus=1)
    def resume_on_the_gpu(folder: str) -> tuple[str, int, dict[str, Any]]:
        trainable = GANTrainable(config=config)
        try:
            trainable.load_checkpoint(folder)
            return trainable.device.type, trainable.epoch, trainable.train()
        finally:
            trainable.stop()

    device, restored_epoch, result = ray.get(resume_on_the_gpu.remote(str(tmp_path)))
    assert (device, restored_epoch, result["epoch"]) == ("cuda", 1, 2)
    assert torch.isfinite(torch.tensor(result["fid"]))
