"""The DCGAN's two networks, sized from the dataset's image shape: 8x8x1, 28x28x1 and 32x32x3."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Discriminator", "Generator"]


# (H, W) -> (starting size, upsampling layers)
_GEOMETRY = {(8, 8): (2, 2), (28, 28): (7, 2), (32, 32): (4, 3)}


def _geometry(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) != 3 or tuple(shape[1:]) not in _GEOMETRY:
        raise ValueError(f"the DCGAN supports 8x8, 28x28 and 32x32 images, but got shape={tuple(shape)}.")
    return _GEOMETRY[tuple(shape[1:])]  # type: ignore[index]


class Generator(nn.Module):
    """z -> linear -> (ch, s, s) -> [transposed conv, batch norm, ReLU]* -> tanh image."""

    def __init__(self, latent_dim: int, width: int, shape: tuple[int, ...]) -> None:
        super().__init__()
        start, ups = _geometry(shape)
        channels = width * 2 ** (ups - 1)
        self.start, self.channels = start, channels
        self.project = nn.Sequential(
            nn.Linear(latent_dim, channels * start * start, bias=False),
            nn.BatchNorm1d(channels * start * start),
            nn.ReLU(True),
        )
        layers: list[nn.Module] = []
        for _ in range(ups - 1):
            layers += [
                nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=False),  # doubles H and W
                nn.BatchNorm2d(channels // 2),
                nn.ReLU(True),
            ]
            channels //= 2
        layers += [nn.ConvTranspose2d(channels, shape[0], 4, 2, 1), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.project(z).view(-1, self.channels, self.start, self.start)  # (N, ch, s, s)
        return self.body(x)  # (N, C, H, W) in [-1, 1]


class Discriminator(nn.Module):
    """image -> [conv, (batch norm), LeakyReLU]* -> linear logit."""

    def __init__(self, width: int, shape: tuple[int, ...]) -> None:
        super().__init__()
        start, ups = _geometry(shape)
        layers: list[nn.Module] = [nn.Conv2d(shape[0], width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        channels = width
        for _ in range(ups - 1):
            layers += [
                nn.Conv2d(channels, channels * 2, 4, 2, 1, bias=False),  # halves H and W
                nn.BatchNorm2d(channels * 2),
                nn.LeakyReLU(0.2, True),
            ]
            channels *= 2
        layers += [nn.Flatten(), nn.Linear(channels * start * start, 1)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).squeeze(1)  # (N,) logits
