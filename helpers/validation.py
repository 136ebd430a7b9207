"""Checks on user input that fail early with a message naming the problem and the fix."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

# Tolerance for "inside [0, 1]": float arithmetic may land a hair outside after clamping elsewhere.
RANGE_TOLERANCE = 1e-6


def check_images(x: object, *, name: str = "x", channels: int | None = 3) -> torch.Tensor:
    """Check that ``x`` is a batch of images: a floating tensor (N, C, H, W), finite, inside [0, 1].

    ``channels`` is the required C, or None to accept any. Returns ``x`` itself (never a copy), so the
    check costs nothing but a reduction. Raises ``ValueError`` (``TypeError`` for a non-tensor).
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape (N, C, H, W), got {type(x).__name__}; "
            "use helpers.imagenet.preprocess(...) to turn a photo into one"
        )
    if x.ndim != 4:
        hint = " (a single image? add the batch dimension with x.unsqueeze(0))" if x.ndim == 3 else ""
        raise ValueError(f"{name} must have shape (N, C, H, W), got {tuple(x.shape)}{hint}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"{name} must have {channels} channels in dimension 1 (N, C, H, W), got shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise ValueError(
            f"{name} must be a floating tensor with values in [0, 1], got dtype {x.dtype}; "
            "for uint8 pixels divide by 255 (or use helpers.imagenet.preprocess)"
        )
    if x.numel() == 0:
        raise ValueError(f"{name} is empty: shape {tuple(x.shape)}")
    with torch.no_grad():
        values = x.detach()
        if not bool(torch.isfinite(values).all()):
            raise ValueError(f"{name} contains NaN or infinite values")
        low, high = torch.aminmax(values)
        if low < -RANGE_TOLERANCE or high > 1 + RANGE_TOLERANCE:
            raise ValueError(
                f"{name} must have values in [0, 1], got min {low.item():.4g} and max {high.item():.4g}; "
                "images are never normalized by the caller (the model does it), and uint8 pixels are "
                "divided by 255"
            )
    return x


def check_int(value: object, name: str, minimum: int = 1) -> int:
    """``value`` if it is an int (not a bool) >= ``minimum``; else a ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def sha256_of(path: str | Path) -> str:
    """The sha256 of a file, as 64 hex digits (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
