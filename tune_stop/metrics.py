"""Fréchet Inception Distance: features -> statistics -> distance, kept apart.

Two feature extractors:

- ``classifier`` (the embedded default, offline): a small CNN trained once per dataset on
  its training split and cached on disk (a file lock makes concurrent trials train it
  once); its penultimate layer gives the features.
- ``inception``: pytorch-fid's ``InceptionV3`` (2048-d pool features) with the official
  FID weights, from a local file or the torch hub cache; never downloaded at run time.

FID depends on the sample count N, so N is fixed per search and recorded with every
result; compare FID values only at equal N and extractor.
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tune_stop._cache import cache_dir, disk_cached
from tune_stop._compat import fid_inception_v3_from_state

__all__ = [
    "FEATURE_EXTRACTORS",
    "InceptionWeightsError",
    "cache_dir",
    "classifier_features",
    "disk_cached",
    "feature_statistics",
    "frechet_distance",
    "inception_features",
    "inception_weights_path",
]


FEATURE_EXTRACTORS = ("classifier", "inception")
FID_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"


class InceptionWeightsError(FileNotFoundError):
    """The Inception FID weights are neither given nor in the torch hub cache."""


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between two Gaussians N(mu1, sigma1) and N(mu2, sigma2).

    ``|mu1 - mu2|^2 + Tr(sigma1) + Tr(sigma2) - 2 Tr((sigma1 sigma2)^(1/2))``, with the
    trace of the matrix square root computed exactly from symmetric eigen-decompositions:
    ``Tr((s1 s2)^(1/2)) = sum sqrt(eig(s1^(1/2) s2 s1^(1/2)))``, which is faster and more
    stable than ``scipy.linalg.sqrtm`` (pytorch-fid's reference) for large dimensions.

    Returns:
        The distance (``>= 0`` up to rounding); NaN if any input is not finite.
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"shapes differ: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}.")
    if not all(np.isfinite(a).all() for a in (mu1, mu2, sigma1, sigma2)):
        return math.nan
    values, vectors = np.linalg.eigh((sigma1 + sigma1.T) / 2)
    root1 = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    inner = root1 @ sigma2 @ root1
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt)


def feature_statistics(features: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (rows are samples) of a feature matrix, in float64."""
    array = features.detach().cpu().double().numpy() if isinstance(features, torch.Tensor) else features
    array = np.asarray(array, dtype=np.float64)
    return array.mean(axis=0), np.cov(array, rowvar=False)


# -- the classifier extractor ---------------------------------------------------------


class FeatureClassifier(nn.Module):
    """A small CNN whose penultimate layer (128-d) is the FID feature space."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1, stride=2),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1, stride=2),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),  # (N, 256)
            nn.Linear(256, 128),
            nn.ReLU(),
        )
        self.head = nn.Linear(128, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _train_classifier(
    images: torch.Tensor, labels: torch.Tensor, num_classes: int, epochs: int, seed: int
) -> FeatureClassifier:
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = FeatureClassifier(images.shape[1], num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=generator)
        for start in range(0, len(images), 128):
            batch = order[start : start + 128]
            loss = nn.functional.cross_entropy(model(images[batch] * 2 - 1), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return model.eval()


_CLASSIFIERS: dict[str, FeatureClassifier] = {}


def load_classifier(
    dataset: str, images: torch.Tensor, labels: torch.Tensor, num_classes: int, *, epochs: int = 5, seed: int = 0
) -> FeatureClassifier:
    """The dataset's feature classifier: from this process, the disk cache, or trained now.

    Trained on ``images`` (the dataset's training split, in ``[0, 1]``) once per dataset
    and node; a file lock makes trials that start together wait for one training run.
    """
    key = f"{dataset}-{tuple(images.shape[1:])}-{len(images)}-{epochs}-{seed}"
    if key in _CLASSIFIERS:
        return _CLASSIFIERS[key]

    def load(path: Path) -> FeatureClassifier:
        model = FeatureClassifier(images.shape[1], num_classes)
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model

    model = disk_cached(
        cache_dir() / "classifiers" / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}-{dataset}.pt",
        load,
        lambda: _train_classifier(images, labels, num_classes, epochs, seed),
        lambda model, path: torch.save(model.state_dict(), path),
    )
    _CLASSIFIERS[key] = model.eval()
    return _CLASSIFIERS[key]


@torch.no_grad()
def classifier_features(model: FeatureClassifier, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Penultimate-layer features of images in ``[0, 1]``."""
    device = next(model.parameters()).device
    parts = [model.features(images[i : i + batch_size].to(device) * 2 - 1) for i in range(0, len(images), batch_size)]
    return torch.cat(parts).cpu()


# -- the inception extractor ----------------------------------------------------------


def inception_weights_path(weights: str | os.PathLike[str] | None = None) -> Path:
    """The FID Inception weights: the given file, else the torch hub cache.

    Raises:
        InceptionWeightsError: If neither exists, naming the file and where to put it.
    """
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise InceptionWeightsError(f"Inception weights file {path} does not exist (fid_weights / --fid-weights)")
        return path
    cached = Path(torch.hub.get_dir()) / "checkpoints" / FID_WEIGHTS_FILE
    if cached.is_file():
        return cached
    raise InceptionWeightsError(
        f"FID Inception weights not found: put {FID_WEIGHTS_FILE} (from pytorch-fid's releases) at {cached}, "
        "or give its path as fid_weights (--fid-weights); they are never downloaded at run time"
    )


_INCEPTIONS: dict[str, nn.Module] = {}


def load_inception(weights: str | os.PathLike[str] | None = None, device: torch.device | None = None) -> nn.Module:
    """pytorch-fid's ``InceptionV3`` (2048-d pool block) with weights from a local file.

    The file may hold the FID Inception network's state dict (as released by
    pytorch-fid, the torch hub cache's file) or a pytorch-fid ``InceptionV3`` module's.

    Raises:
        InceptionWeightsError: If no weights file is found.
    """
    from pytorch_fid.inception import InceptionV3

    path = inception_weights_path(weights)
    key = f"{path.resolve()}:{device}"
    if key in _INCEPTIONS:
        return _INCEPTIONS[key]
    state = torch.load(path, map_location="cpu", weights_only=True)
    wrapped = any(k.startswith("blocks.") for k in state)
    model = fid_inception_v3_from_state(None if wrapped else state, [InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
    if wrapped:
        model.load_state_dict(state)
    model = model.eval().to(device or torch.device("cpu"))
    _INCEPTIONS[key] = model
    return model


@torch.no_grad()
def inception_features(model: nn.Module, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """2048-d pool features of images in ``[0, 1]`` (grey images are repeated to 3 channels)."""
    device = next(model.parameters()).device
    parts = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].to(device)
        if batch.shape[1] == 1:
            batch = batch.repeat(1, 3, 1, 1)
        parts.append(model(batch)[0].flatten(1).cpu())
    return torch.cat(parts)
