"""scikit-learn's 8x8 handwritten digits (offline) and a small CNN that classifies them.

1,797 images of the digits 0-9, 8x8 pixels with 17 grey levels. Here they are float tensors in [0, 1],
shape (N, 1, S, S), optionally upscaled (S = 16 suits a DCGAN), with a fixed stratified train/test split.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .validation import check_images, check_int, check_number

__all__ = ["SPLITS", "DigitsCNN", "DigitsMLP", "load_digits", "load_mnist"]

SPLITS = ("train", "test", "all")


@lru_cache(maxsize=8)
def _split_indices(test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    labels = sklearn_digits().target
    train, test = train_test_split(
        np.arange(len(labels)), test_size=test_fraction, random_state=seed, stratify=labels
    )
    return np.sort(train), np.sort(test)


def load_digits(
    split: str = "train", *, size: int = 8, test_fraction: float = 0.25, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The digits as ``(images, labels)``: float32 (N, 1, size, size) in [0, 1] and int64 (N,) in 0..9.

    ``split``: "train" (75% by default), "test" or "all"; the split is stratified by class and fixed by
    ``seed``. ``size`` > 8 upscales bilinearly (e.g. 16 for a DCGAN). Offline: the data ship with
    scikit-learn.
    """
    from sklearn.datasets import load_digits as sklearn_digits

    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an int >= 8 (pixels; the digits are 8x8), got {size!r}")
    if not 0 < check_number(test_fraction, "test_fraction") < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    check_int(seed, "seed", minimum=0)
    bunch = sklearn_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0)[:, None]
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    if split != "all":
        train, test = _split_indices(test_fraction, seed)
        index = torch.from_numpy(train if split == "train" else test)
        images, labels = images[index], labels[index]
    if size != 8:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    return images.contiguous(), labels


def load_mnist(root: str, split: str = "train", *, size: int = 16, download: bool = False
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST (LeCun et al. 1998) through torchvision, optional: ``(images, labels)`` as float32
    (N, 1, size, size) in [0, 1] and int64 (N,), resized from 28x28 with antialiasing (``size=16`` matches
    the course's DCGAN; ``size=28`` keeps the originals).

    ``root`` holds ``MNIST/raw/`` (the four idx files, as torchvision lays them out). ``download=True`` fetches
    them (60,000 + 10,000 digits, about 12 MB), with torchvision's md5 check of each archive; nothing here
    needs it: :func:`load_digits` is the offline default. ``split``: "train" or "test".
    """
    from torchvision.datasets import MNIST

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test' (MNIST's own split), got {split!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an int >= 8 (pixels), got {size!r}")
    try:
        dataset = MNIST(root, train=split == "train", download=download)
    except RuntimeError as error:
        raise FileNotFoundError(
            f"MNIST is not in {root}/MNIST/raw/ ({error}); pass download=True with a connection, or use the "
            "offline default load_digits(size=16)") from error
    images = dataset.data[:, None].float().div(255)
    if size != images.shape[-1]:
        images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True,
                               align_corners=False).clamp(0, 1)
    return images.contiguous(), dataset.targets.long()


class DigitsCNN(nn.Module):
    """A small CNN for (N, 1, S, S) digits in [0, 1] (S >= 8) -> logits (N, 10).

    Two 3x3 convolutions with ReLU, a max-pool, an adaptive average pool to 4x4, then a 128-unit ReLU
    layer (:meth:`features`, used for Frechet distances and detectors) and the 10-way linear output.
    Other input raises ``ValueError``.
    """

    def __init__(self, channels: int = 32, hidden: int = 128):
        super().__init__()
        check_int(channels, "channels")
        check_int(hidden, "hidden")
        self.body = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            nn.Linear(2 * channels * 16, hidden), nn.ReLU(),
        )
        self.head = nn.Linear(hidden, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate ReLU activations, (N, hidden), non-negative."""
        check_images(x, name="digits", channels=1)
        if min(x.shape[2:]) < 8:
            raise ValueError(f"digits must be at least 8x8 pixels, got shape {tuple(x.shape)}; "
                             "load them with load_digits(size=...)")
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class DigitsMLP(nn.Module):
    """A fully connected network for (N, 1, S, S) digits in [0, 1] -> logits (N, 10): a second, different
    architecture (e.g. the substitute model of a transfer attack)."""

    def __init__(self, size: int = 8, hidden: int = 256):
        super().__init__()
        self.size = check_int(size, "size")
        check_int(hidden, "hidden")
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(size * size, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, name="digits", channels=1)
        if x.shape[-2:] != (self.size, self.size):
            raise ValueError(f"this MLP takes {self.size}x{self.size} digits, got shape {tuple(x.shape)}")
        return self.net(x)
