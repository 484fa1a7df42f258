"""A DCGAN as a Ray Tune class ``Trainable`` reporting FID and discriminator accuracy.

The generator and discriminator are sized from the dataset's image shape: 8x8x1
(``digits``), 28x28x1 (``mnist``, ``fashion-mnist``) and 32x32x3 (``cifar10``). The GAN
trains on the training folds; the held-out fold gives FID's reference statistics and
the real images of ``d_accuracy``.

What is evaluated (FID, the sample grids, the kept snapshot) is an exponential moving average of
the generator's weights (``ema_decay``), as GAN practice evaluates and ships (StyleGAN's
``G_ema``): the raw generator's quality swings from one epoch to the next with the
adversarial game, its average's does not.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import math
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tune_stop.data import load_dataset, split_dataset
from tune_stop.metrics import (
    FEATURE_EXTRACTORS,
    cache_dir,
    classifier_features,
    disk_cached,
    feature_statistics,
    frechet_distance,
    inception_features,
    load_classifier,
    load_inception,
)
from tune_stop.trainables._common import (
    EpochTrainable,
    inject_fault,
    merged_config,
    seed_everything,
    select_device,
)
from tune_stop.trainables._dcgan import Discriminator, Generator

#: Every config key of :class:`GANTrainable` with its default; ``{}`` works.
GAN_DEFAULTS: dict[str, Any] = {
    "dataset": "digits",
    "data_root": None,
    "download": False,
    "latent_dim": 32,
    "width": 32,
    "lr_g": 5e-4,
    "lr_d": 5e-4,
    "betas": [0.5, 0.999],
    "batch_size": 64,
    "d_steps": 1,
    "label_smoothing": 0.0,
    "ema_decay": 0.999,
    "seed": 0,
    "max_epochs": 20,
    "passes": 1,
    "num_folds": 3,
    "fold": 0,
    "split_seed": 0,
    "fid_features": "classifier",
    "fid_samples": 500,
    "fid_weights": None,
    "sample_every": 5,
    "amp": False,
    "fail_at_epoch": None,
    "fail_marker_dir": None,
}

#: The metrics one ``step()`` reports (``fid_features`` is a string, the rest floats).
GAN_METRICS = (
    "epoch",
    "d_loss",
    "g_loss",
    "d_accuracy",
    "d_real_mean",
    "d_fake_mean",
    "fid",
    "fid_sd",
    "fid_test",
    "fid_samples",
    "fid_features",
    "ema_decay",
    "passes",
    "epoch_time_s",
    "fid_time_s",
    "fold",
    "kept_epoch",
)

#: The trial folder's best snapshot: the generator with the lowest ``fid`` so far and its sample grid.
KEPT_FOLDER = "best"
KEPT_GENERATOR, KEPT_SAMPLES = "generator.pt", "samples.png"


def check_gan_config(config: Mapping[str, Any]) -> None:
    """Validates a full GAN config.

    Raises:
        ValueError: Naming the first bad key and its value.
    """
    for key in ("latent_dim", "width", "batch_size", "d_steps", "max_epochs", "passes", "fid_samples", "sample_every"):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "sample_every" else 1):
            raise ValueError(
                f"{key} must be an integer >= {0 if key == 'sample_every' else 1}, but got {key}={value!r}."
            )
    if config["fid_samples"] < 2:
        raise ValueError(f"fid_samples must be >= 2, but got fid_samples={config['fid_samples']!r}.")
    for key in ("lr_g", "lr_d"):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{key} must be a positive number, but got {key}={value!r}.")
    betas = config["betas"]
    if not isinstance(betas, (list, tuple)) or len(betas) != 2 or not all(0 <= float(b) < 1 for b in betas):
        raise ValueError(f"betas must be two numbers in [0, 1), but got betas={betas!r}.")
    smoothing = config["label_smoothing"]
    if not isinstance(smoothing, (int, float)) or not 0 <= smoothing < 0.5:
        raise ValueError(f"label_smoothing must be in [0, 0.5), but got label_smoothing={smoothing!r}.")
    decay = config["ema_decay"]
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 <= decay < 1:
        raise ValueError(f"ema_decay must be in [0, 1) (0: evaluate the raw generator), but got ema_decay={decay!r}.")
    if config["fid_features"] not in FEATURE_EXTRACTORS:
        raise ValueError(
            f"fid_features must be one of {list(FEATURE_EXTRACTORS)}, but got fid_features={config['fid_features']!r}."
        )
    if not isinstance(config["amp"], bool):
        raise ValueError(f"amp must be true or false, but got amp={config['amp']!r}.")
    if config["dataset"] in ("xor",):
        raise ValueError("dataset='xor' has no images; the GAN needs digits, mnist, fashion-mnist or cifar10.")
    if int(config["num_folds"]) < 2:
        raise ValueError(
            f"num_folds must be >= 2 (FID's reference is the held-out fold), but got {config['num_folds']!r}."
        )


_REFERENCE_STATS: dict[str, tuple[np.ndarray, np.ndarray]] = {}


class GANTrainable(EpochTrainable):
    """Trains a DCGAN one epoch per ``step()`` and reports :data:`GAN_METRICS`.

    An epoch is ``passes`` passes over the training folds and ends with one evaluation (FID and
    ``d_accuracy``): on a small dataset more passes per evaluation keep FID's share of the time
    down. Config keys and defaults are in :data:`GAN_DEFAULTS`. A sample grid is written to
    ``samples/epoch_NNNN.png`` in the trial folder every ``sample_every`` epochs (0: never).
    The best snapshot is kept, as a GAN user keeps it: whenever ``fid`` reaches a new low,
    the evaluated (averaged) generator's weights go to ``best/generator.pt`` in the trial folder with its sample
    grid beside it (``best/samples.png``), and each result's ``kept_epoch`` says which
    epoch the folder holds (0: none yet).
    Losses or FID that go NaN/inf are reported as they are: the search's non-finite
    guard stops the trial with reason ``non_finite``; nothing raises.
    """

    checkpoint_file = "gan.pt"

    def _build(self, config: Mapping[str, Any]) -> None:
        self.settings = s = merged_config(GAN_DEFAULTS, config)
        check_gan_config(s)
        self.device = select_device()
        self.rng = seed_everything(int(s["seed"]))
        self.dataset = load_dataset(s["dataset"], s["data_root"], download=bool(s["download"]))
        split = split_dataset(
            self.dataset, num_folds=int(s["num_folds"]), fold=int(s["fold"]), seed=int(s["split_seed"])
        )
        shape = self.dataset.input_shape
        self.train_images = (split.x_train * 2 - 1).to(self.device)  # (N, C, H, W) in [-1, 1]
        self.held_out = split.x_val  # (M, C, H, W) in [0, 1]
        self.netG = Generator(int(s["latent_dim"]), int(s["width"]), shape).to(self.device)
        self.netD = Discriminator(int(s["width"]), shape).to(self.device)
        betas = (float(s["betas"][0]), float(s["betas"][1]))
        self.optG = torch.optim.Adam(self.netG.parameters(), lr=float(s["lr_g"]), betas=betas)
        self.optD = torch.optim.Adam(self.netD.parameters(), lr=float(s["lr_d"]), betas=betas)
        # The evaluated generator: the raw one's weights averaged over its updates (itself where ema_decay is 0).
        self.netG_ema = copy.deepcopy(self.netG).eval() if float(s["ema_decay"]) > 0 else self.netG
        self.steps_per_pass = len(self.train_images) // int(s["batch_size"])
        self.fixed_noise = torch.randn(64, int(s["latent_dim"]), generator=self.rng).to(self.device)
        # FID's own latent noise, fixed for the whole run (common random numbers: from one epoch to the next FID
        # moves with the generator, not with a new draw), from a seed of its own so evaluating never moves the
        # training's random stream; the test FID (the independent judge) draws other noise.
        self.fid_noise = self._evaluation_noise(1)
        self.fid_test_noise = self._evaluation_noise(2)
        # Mixed precision: float16 with loss scaling on CUDA, bfloat16 on the CPU.
        self.amp = bool(s["amp"])
        self.amp_dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp and self.device.type == "cuda")
        self.epoch = 0
        self.kept: dict[str, Any] | None = None  # the kept generator's weights (on the CPU), epoch and fid
        self._extractor = self._feature_extractor()
        self.reference = self._reference_statistics(self.held_out, "val")
        self.test_reference = self._reference_statistics(split.x_test, "test")

    # -- FID --------------------------------------------------------------------------

    def _feature_extractor(self) -> Any:
        s = self.settings
        if s["fid_features"] == "inception":
            model = load_inception(s["fid_weights"], self.device)
            return lambda images: inception_features(model, images)
        classifier = load_classifier(
            s["dataset"], self.dataset.x_train, self.dataset.y_train, self.dataset.num_classes
        ).to(self.device)
        return lambda images: classifier_features(classifier, images)

    def _evaluation_noise(self, stream: int) -> torch.Tensor:
        """``fid_samples`` latent vectors of their own seeded stream (1: FID, 2: the test FID)."""
        s = self.settings
        generator = torch.Generator().manual_seed(int(s["seed"]) * 1_000_003 + stream)
        return torch.randn(int(s["fid_samples"]), int(s["latent_dim"]), generator=generator)

    def _reference_statistics(self, reals: torch.Tensor, part: str) -> tuple[np.ndarray, np.ndarray]:
        """Statistics of real images (``part``: the held-out fold ``val`` or the ``test`` split), once per
        (dataset, fold, extractor, N), cached on disk."""
        s = self.settings
        count = min(int(s["fid_samples"]), len(reals))
        weights = str(s["fid_weights"]) if s["fid_features"] == "inception" else ""
        key = f"{s['dataset']}|{s['num_folds']}|{s['fold']}|{s['split_seed']}|{s['fid_features']}|{weights}|{count}"
        key += "" if part == "val" else f"|{part}"
        if key in _REFERENCE_STATS:
            return _REFERENCE_STATS[key]

        def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
            with np.load(path) as stored:
                return stored["mu"], stored["sigma"]

        def save(stats: tuple[np.ndarray, np.ndarray], path: Path) -> None:
            np.savez(path, mu=stats[0], sigma=stats[1])

        stats = disk_cached(
            cache_dir() / "fid_reference" / f"{hashlib.sha1(key.encode()).hexdigest()[:20]}.npz",
            load,
            lambda: feature_statistics(self._extractor(reals[:count])),
            save,
        )
        _REFERENCE_STATS[key] = stats
        return stats

    @torch.no_grad()
    def _features(self, noise: torch.Tensor) -> np.ndarray | None:
        """Features of the images the generator makes from ``noise``; None where any is not finite."""
        with self._evaluating(self.netG_ema) as generator:
            samples = [(generator(z.to(self.device)) + 1) / 2 for z in noise.split(500)]
        images = torch.cat(samples).clamp_(0, 1)
        if not torch.isfinite(images).all():
            return None
        return np.asarray(self._extractor(images))

    def _fid(self) -> dict[str, float]:
        """``fid`` (the stopping metric, against the held-out fold), ``fid_sd`` (its standard deviation,
        estimated from two disjoint halves of the samples: half their difference), and ``fid_test`` (the
        independent judge: against the test split, with other noise)."""
        nan = {"fid": math.nan, "fid_sd": math.nan, "fid_test": math.nan}
        features = self._features(self.fid_noise)
        if features is None:
            return nan
        fid = frechet_distance(*feature_statistics(features), *self.reference)
        half = len(features) // 2
        halves = [
            frechet_distance(*feature_statistics(part), *self.reference) for part in (features[:half], features[half:])
        ]
        test = self._features(self.fid_test_noise)
        return {
            "fid": fid,
            "fid_sd": abs(halves[0] - halves[1]) / 2 if half >= 2 else math.nan,
            "fid_test": frechet_distance(*feature_statistics(test), *self.test_reference)
            if test is not None
            else math.nan,
        }

    # -- training -------------------------------------------------------------------------

    def train_epoch(self) -> dict[str, float]:
        """One epoch: ``passes`` passes over the training folds; returns their mean ``d_loss`` and ``g_loss``."""
        passes = int(self.settings["passes"])
        losses = [self._train_pass(self.epoch * passes + done) for done in range(passes)]
        return {key: sum(loss[key] for loss in losses) / passes for key in ("d_loss", "g_loss")}

    def _train_pass(self, before: int) -> dict[str, float]:
        """One pass over the training folds, after ``before`` passes; returns mean ``d_loss`` and ``g_loss``."""
        s = self.settings
        loss = nn.BCEWithLogitsLoss()
        real_label = 1.0 - float(s["label_smoothing"])  # one-sided label smoothing
        latent, batch_size = int(s["latent_dim"]), int(s["batch_size"])
        order = torch.randperm(len(self.train_images), generator=self.rng).to(self.device)
        d_total, g_total, batches = 0.0, 0.0, 0
        updates = before * self.steps_per_pass  # the generator's updates before this pass
        for start in range(0, len(order) - batch_size + 1, batch_size):
            real = self.train_images[order[start : start + batch_size]]
            # ---- update D: maximise log D(x) + log(1 - D(G(z))), fakes detached ----
            for _ in range(int(s["d_steps"])):
                z = torch.randn(batch_size, latent, generator=self.rng).to(self.device)
                with self._autocast():
                    fake = self.netG(z).detach()
                    d_loss = loss(self.netD(real), torch.full((batch_size,), real_label, device=self.device)) + loss(
                        self.netD(fake), torch.zeros(batch_size, device=self.device)
                    )
                self._descend(self.optD, d_loss)
            # ---- update G: maximise log D(G(z)) ----
            z = torch.randn(batch_size, latent, generator=self.rng).to(self.device)
            with self._autocast():
                g_loss = loss(self.netD(self.netG(z)), torch.ones(batch_size, device=self.device))
            self._descend(self.optG, g_loss)
            self._average_generator(updates + batches)
            d_total += d_loss.item()
            g_total += g_loss.item()
            batches += 1
        return {"d_loss": d_total / max(batches, 1), "g_loss": g_total / max(batches, 1)}

    @contextlib.contextmanager
    def _evaluating(self, generator: nn.Module) -> Iterator[nn.Module]:
        """``generator`` in eval mode; the raw generator (the evaluated one where ``ema_decay`` is 0) goes back to
        training after, the averaged one and copies stay in eval mode."""
        generator.eval()
        try:
            yield generator
        finally:
            if generator is self.netG:
                generator.train()

    @torch.no_grad()
    def _average_generator(self, updates: int) -> None:
        """Moves the evaluated generator towards the raw one after its ``updates + 1``-th update, with
        TensorFlow's ``ExponentialMovingAverage`` warm-up: the decay is ``min(ema_decay, (1 + n) / (10 + n))``,
        so early on the average follows the fast-changing weights and later averages over about the last ninth of
        the updates so far. Buffers (BatchNorm's running statistics) are copied."""
        if self.netG_ema is self.netG:
            return
        decay = min(float(self.settings["ema_decay"]), (1 + updates) / (10 + updates))
        for averaged, raw in zip(self.netG_ema.parameters(), self.netG.parameters(), strict=True):
            averaged.lerp_(raw, 1 - decay)
        for buffer, raw_buffer in zip(self.netG_ema.buffers(), self.netG.buffers(), strict=True):
            buffer.copy_(raw_buffer)

    def _autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp)

    def _descend(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()

    @torch.no_grad()
    def _discriminator_on_held_out(self) -> dict[str, float]:
        """Accuracy of D on held-out real images against as many fresh fakes."""
        self.netD.eval()
        self.netG.eval()
        real = (self.held_out * 2 - 1).to(self.device)
        z = torch.randn(len(real), int(self.settings["latent_dim"]), generator=self.rng).to(self.device)
        real_logits, fake_logits = self.netD(real), self.netD(self.netG(z))
        self.netD.train()
        self.netG.train()
        correct = (real_logits > 0).float().sum() + (fake_logits < 0).float().sum()
        return {
            "d_accuracy": float(correct) / (2 * len(real)),
            "d_real_mean": float(torch.sigmoid(real_logits).mean()),
            "d_fake_mean": float(torch.sigmoid(fake_logits).mean()),
        }

    def step(self) -> dict[str, Any]:
        started = time.perf_counter()
        losses = self.train_epoch()
        self.epoch += 1
        inject_fault(self.settings, self.epoch, self.trial_id)
        epoch_time = time.perf_counter() - started
        started = time.perf_counter()
        diverged = not all(math.isfinite(v) for v in losses.values())
        fid = {"fid": math.nan, "fid_sd": math.nan, "fid_test": math.nan} if diverged else self._fid()
        fid_time = time.perf_counter() - started
        every = int(self.settings["sample_every"])
        if every and self.epoch % every == 0 and not diverged:
            self._write_samples(Path(self.logdir) / "samples" / f"epoch_{self.epoch:04d}.png")
        if math.isfinite(fid["fid"]) and fid["fid"] < self.kept_fid:
            self._keep_snapshot(fid["fid"])
        return {
            "epoch": self.epoch,
            **losses,
            **self._discriminator_on_held_out(),
            **fid,
            "fid_samples": float(self.settings["fid_samples"]),
            "fid_features": str(self.settings["fid_features"]),
            "ema_decay": float(self.settings["ema_decay"]),
            "passes": float(self.settings["passes"]),
            "epoch_time_s": epoch_time,
            "fid_time_s": fid_time,
            "fold": float(self.settings["fold"]),
            "kept_epoch": float(self.kept_epoch),
            "done": self.epoch >= int(self.settings["max_epochs"]),
        }

    @property
    def kept_fid(self) -> float:
        """The kept snapshot's ``fid`` (inf where none is kept)."""
        return float(self.kept["fid"]) if self.kept is not None else math.inf

    @property
    def kept_epoch(self) -> int:
        """The kept snapshot's epoch (0 where none is kept)."""
        return int(self.kept["epoch"]) if self.kept is not None else 0

    def _keep_snapshot(self, fid: float) -> None:
        """Keeps this epoch's evaluated generator (a CPU copy, which checkpoints carry) and writes it to the trial
        folder."""
        weights = {name: tensor.detach().cpu().clone() for name, tensor in self.netG_ema.state_dict().items()}
        self.kept = {"netG": weights, "epoch": self.epoch, "fid": fid}
        self._write_kept(self.netG_ema)

    def _write_kept(self, generator: nn.Module | None) -> None:
        """``best/`` as :attr:`kept` says: the generator (whole, then renamed: a crash never leaves half a file)
        and the sample grid of ``generator`` (the kept one); no folder where nothing is kept (a restore to before
        the first snapshot)."""
        folder = Path(self.logdir) / KEPT_FOLDER
        if self.kept is None or generator is None:
            shutil.rmtree(folder, ignore_errors=True)
            return
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{KEPT_GENERATOR}.partial"
        torch.save(self.kept, partial)
        os.replace(partial, folder / KEPT_GENERATOR)
        self._write_samples(folder / KEPT_SAMPLES, generator)

    def extra_state(self) -> dict[str, Any]:
        averaged = self.netG_ema.state_dict() if self.netG_ema is not self.netG else None
        return {"kept": self.kept, "netG_ema": averaged}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        """Takes back the averaged generator (a checkpoint written before there was one: the raw generator's
        weights) and the kept snapshot, and rewrites ``best/`` from it: after a restore to an earlier epoch the
        folder may hold a snapshot of epochs that were never reported."""
        if self.netG_ema is not self.netG:
            self.netG_ema.load_state_dict(state.get("netG_ema") or self.netG.state_dict())
        self.kept = state.get("kept")
        generator = None
        if self.kept is not None:  # the networks hold the restored epoch: the kept one is a copy
            generator = copy.deepcopy(self.netG)
            generator.load_state_dict(self.kept["netG"])
        self._write_kept(generator)

    @torch.no_grad()
    def _write_samples(self, path: Path, generator: nn.Module | None = None) -> None:
        from torchvision.utils import save_image

        with self._evaluating(self.netG_ema if generator is None else generator) as evaluated:
            images = (evaluated(self.fixed_noise) + 1) / 2
        # Small images (8x8 digits) are blown up with whole pixels, so a person can see them.
        scale = max(1, 64 // images.shape[-1])
        images = images.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(images.clamp(0, 1), path, nrow=8, padding=2)

    # -- checkpoints and actor reuse ---------------------------------------------------

    def stateful(self) -> dict[str, Any]:
        return {"netG": self.netG, "netD": self.netD, "optG": self.optG, "optD": self.optD, "scaler": self.scaler}
