"""GPU check for a GPU node: GAN trials packed two per GPU, with epoch and FID times.

Run on a node (or cluster) with a GPU: ``python -m benchmarks.gpu_check [--address auto]``.
It runs ``gan-digits`` and a 28x28 GAN on synthetic MNIST-shape data with
``gpus_per_trial=0.5`` and prints, per trial, the GPU it used and the median epoch and
FID times. On a machine without CUDA it says so and exits with code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from analysis import load_experiment
from benchmarks.gan_fid import _write_mnist_shape
from search_spaces import load_space
from tune_stop.app.search import SearchOptions, run_search
from tune_stop.trainables import GANTrainable


class DeviceReportingGAN(GANTrainable):
    """Adds the device each trial trained on to its results."""

    def step(self) -> dict[str, Any]:
        result = super().step()
        result["device"] = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu"
        result["cuda_visible_devices"] = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        return result


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__)
    parser.add_argument("--address", help="Ray cluster address (default: a local Ray)")
    parser.add_argument("--gpus-per-trial", type=float, default=0.5)
    parser.add_argument("--amp", action="store_true", help="mixed precision (float16 on CUDA)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a dry run: 1 configuration on 2 folds (FID's reference is the other), 2 epochs, less data, N = 500",
    )
    args = parser.parse_args()
    if args.gpus_per_trial > 0 and args.address is None and not torch.cuda.is_available():
        print(
            "gpu_check: no CUDA device on this machine; run it on a GPU node (--gpus-per-trial 0 is a CPU dry run)",
            file=sys.stderr,
        )
        return 2
    rows = []
    with tempfile.TemporaryDirectory() as work:
        root = Path(work) / "data"
        _write_mnist_shape(root, 1200 if args.quick else 6000)
        cases = [("gan-digits", {}), ("gan-mnist", {"data_root": str(root)})]
        for name, overrides in cases:
            space = load_space(name)
            space = dataclasses.replace(space, num_folds=2) if args.quick else space
            space = space.with_overrides(
                num_samples=1 if args.quick else 2,
                max_epochs=2 if args.quick else 5,
                scheduler="fifo",
                # A dry run shows the path runs: FID on fewer samples (the FID time is then no measurement).
                config={"fid_samples": 500} if args.quick else None,
            )
            options = SearchOptions(
                storage_path=str(Path(work) / "results"),
                name=name,
                gpus_per_trial=args.gpus_per_trial,
                address=args.address,
                verbose=0,
            )
            summary = run_search(
                space, options, overrides={**overrides, "amp": args.amp}, trainable_cls=DeviceReportingGAN
            )
            curves = load_experiment(summary.experiment_path)
            for trial_id, curve in curves.groupby("trial_id"):
                steady = curve[curve["epoch"] > 1] if len(curve) > 1 else curve  # skip warm-up when possible
                rows.append(
                    {
                        "space": name,
                        "trial": trial_id,
                        "device": curve["device"].iloc[-1],
                        "CUDA_VISIBLE_DEVICES": curve["cuda_visible_devices"].iloc[-1],
                        "epoch_s": statistics.median(steady["epoch_time_s"]),
                        "fid_s": statistics.median(steady["fid_time_s"]),
                        "fid_samples": int(curve["fid_samples"].iloc[-1]),
                    }
                )
    table = pd.DataFrame(rows)
    table["fid/epoch"] = table["fid_s"] / table["epoch_s"]
    print(f"gpus_per_trial={args.gpus_per_trial}, amp={args.amp}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
