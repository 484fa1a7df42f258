"""GAN epoch time against FID time, and the Fréchet distance against pytorch-fid's ``sqrtm``.

Target (GAN issue): with the ``classifier`` extractor at the default N, FID takes under
20% of the epoch time. The 28x28 case trains on synthetic tensors of the MNIST shape,
written as real IDX files and loaded through torchvision.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from search_spaces import load_space
from tune_stop.trainables.gan import GAN_DEFAULTS, GANTrainable


def _write_mnist_shape(root: Path, count: int) -> None:
    import struct

    rng = np.random.default_rng(0)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)

    def idx(name: str, array: np.ndarray) -> None:
        header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
        (raw / name).write_bytes(header + array.astype(np.uint8).tobytes())

    idx("train-images-idx3-ubyte", rng.integers(0, 256, (count, 28, 28)))
    idx("train-labels-idx1-ubyte", np.arange(count) % 10)
    idx("t10k-images-idx3-ubyte", rng.integers(0, 256, (count // 6, 28, 28)))
    idx("t10k-labels-idx1-ubyte", np.arange(count // 6) % 10)


def _time_gan(config: dict, epochs: int) -> tuple[float, float]:
    trainable = GANTrainable(config={**config, "sample_every": 0})
    try:
        results = [trainable.train() for _ in range(epochs)]
    finally:
        trainable.stop()
    steady = results[1:]  # the first epoch includes warm-up
    return statistics.median(r["epoch_time_s"] for r in steady), statistics.median(r["fid_time_s"] for r in steady)


def _time_gan_on(config: dict, epochs: int) -> tuple[float, float, str]:
    """``_time_gan`` on a GPU where there is one (in a Ray task given it, as a trial is), else here.

    Returns:
        The median epoch and FID seconds, and the device: the GPU's name, or ``"CPU"``.
    """
    import torch

    if not torch.cuda.is_available():
        return (*_time_gan(config, epochs), "CPU")
    import ray

    temp_dir = tempfile.mkdtemp(prefix="ts-ray-")
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False, _temp_dir=temp_dir)
    try:
        on_gpu = ray.remote(num_gpus=1)(_time_gan)
        return (*ray.get(on_gpu.remote(config, epochs)), torch.cuda.get_device_name(0))
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _time_frechet(dim: int, repeats: int) -> tuple[float, float]:
    from tune_stop._compat import pytorch_fid_frechet_distance
    from tune_stop.metrics import feature_statistics, frechet_distance

    rng = np.random.default_rng(dim)
    a, b = rng.normal(size=(2 * dim, dim)), rng.normal(0.1, 1.0, size=(2 * dim, dim))
    stats = (*feature_statistics(a), *feature_statistics(b))
    timings = []
    for function in (frechet_distance, pytorch_fid_frechet_distance):
        started = time.perf_counter()
        for _ in range(repeats):
            function(*stats)
        timings.append((time.perf_counter() - started) / repeats)
    return timings[0], timings[1]


def run(quick: bool = False) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as cache:
        os.environ.setdefault("TUNE_STOP_CACHE", cache)
        epochs = 3 if quick else 5
        epoch_s, fid_s, device = _time_gan_on({}, epochs)
        n = GAN_DEFAULTS["fid_samples"]
        rows.append(
            {
                "benchmark": "GAN digits: FID / epoch",
                "size": f"8x8, N={n}, classifier, {device}",
                "seconds": fid_s,
                "baseline_s": epoch_s,
                "ratio": fid_s / epoch_s,
                "note": "target ratio < 0.2",
            }
        )
        # What gan-digits runs: N = 2,000, and each epoch also FID's SD from two halves and fid_test (as many
        # samples again, against the test split): on 8x8 digits a pass trains on 14 batches of 64 images, while
        # FID generates and classifies 4,000, so the space evaluates once every `passes` passes over the data.
        space = load_space("gan-digits").config
        space_n, passes = int(space["fid_samples"]), int(space.get("passes", 1))
        for each in sorted({1, passes}):
            epoch_s, fid_s, device = _time_gan_on({"fid_samples": space_n, "passes": each}, epochs)
            rows.append(
                {
                    "benchmark": "GAN digits: FID / epoch" + (" as gan-digits runs it" if each == passes else ""),
                    "size": f"8x8, N={space_n} (fid, fid_sd, fid_test), passes={each}, classifier, {device}",
                    "seconds": fid_s,
                    "baseline_s": epoch_s,
                    "ratio": fid_s / epoch_s,
                    "note": "target ratio < 0.2" if each == passes else "one evaluation per pass",
                }
            )
        root = Path(cache) / "data"
        _write_mnist_shape(root, 1200 if quick else 6000)
        config = {"dataset": "mnist", "data_root": str(root), "batch_size": 128}
        epoch_s, fid_s, device = _time_gan_on(config, epochs)
        rows.append(
            {
                "benchmark": "GAN 28x28: FID / epoch",
                "size": f"synthetic MNIST shape, N={n}, classifier, {device}",
                "seconds": fid_s,
                "baseline_s": epoch_s,
                "ratio": fid_s / epoch_s,
                "note": "target ratio < 0.2",
            }
        )
    for dim in (64, 256) if quick else (64, 2048):
        ours, reference = _time_frechet(dim, 3 if dim > 256 else 20)
        rows.append(
            {
                "benchmark": "Fréchet distance",
                "size": f"{dim} dimensions",
                "seconds": ours,
                "baseline_s": reference,
                "ratio": ours / reference,
                "note": "baseline: pytorch-fid (scipy sqrtm)",
            }
        )
    return rows


if __name__ == "__main__":
    import pandas as pd

    with pd.option_context("display.width", 250, "display.max_colwidth", 200):
        print(pd.DataFrame(run()).to_string(index=False))
