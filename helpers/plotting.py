"""Show images and what a network thinks they are. Plotting only: the numbers come from other modules.

Everything is checked before a figure is made: bad input raises ``ValueError`` (``TypeError`` for a wrong
type) naming the parameter, and leaves no half-drawn figure behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch

from .validation import check_images, check_int, check_same_shape, check_tensor

__all__ = [
    "amplify", "plot_topk", "show_adversarial", "show_grid", "show_image", "show_images", "show_predictions",
    "to_display",
]

Prediction = Sequence[tuple[str, float]]  # one image's top-k (label, probability), as helpers.imagenet.predict


def to_display(image: Any) -> np.ndarray:
    """An image as a NumPy array that ``imshow`` shows faithfully: (H, W, 3) float in [0, 1], or (H, W).

    Accepts a tensor (1, C, H, W), (C, H, W) or (H, W) in [0, 1], or a NumPy array (H, W) / (H, W, C)
    (uint8, bool or float in [0, 1]). Raises ``ValueError`` for anything else.
    """
    if isinstance(image, torch.Tensor):
        array = image.detach().to("cpu", torch.float32)
        if array.ndim == 4:
            if array.shape[0] != 1:
                raise ValueError(f"to_display shows one image; got a batch of shape {tuple(array.shape)}")
            array = array[0]
        if array.ndim == 3:
            if array.shape[0] not in (1, 3):
                raise ValueError(f"a tensor image must be (C, H, W) with C in 1, 3; got {tuple(array.shape)}")
            array = array.permute(1, 2, 0)
        array = array.numpy()
    else:
        array = np.asarray(image)
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
            raise TypeError(f"image must be a tensor or an array of numbers, got {type(image).__name__} of dtype "
                            f"{array.dtype}")
        if array.dtype == np.uint8:
            array = array / 255.0
        elif array.dtype == np.bool_:
            array = array.astype(np.float32)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)) or 0 in array.shape:
        raise ValueError(f"cannot show an image of shape {array.shape}; give (H, W), (H, W, 3) or a tensor (C, H, W)")
    if not np.isfinite(array).all() or array.min() < -1e-6 or array.max() > 1 + 1e-6:
        raise ValueError("image values must be finite and in [0, 1]")
    return np.clip(array, 0.0, 1.0)


def show_image(image: Any, title: str | None = None, ax: plt.Axes | None = None) -> plt.Axes:
    """Show one image without axes ticks; returns the axes."""
    array = to_display(image)
    _check_ax(ax)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(array, cmap="gray" if array.ndim == 2 else None, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def show_images(images: Any, titles: Sequence[str] | None = None, ncols: int = 4) -> plt.Figure:
    """Show a batch (a tensor (N, C, H, W) or a list of images) in a grid; returns the figure."""
    items = _items(images)
    if not items:
        raise ValueError("no images to show")
    if titles is not None and len(titles) != len(items):
        raise ValueError(f"{len(titles)} titles for {len(items)} images")
    check_int(ncols, "ncols")
    for item in items:
        to_display(item)
    ncols = max(1, min(ncols, len(items)))
    nrows = -(-len(items) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3 * ncols, 3 * nrows), squeeze=False)
    for index, ax in enumerate(axes.flat):
        if index < len(items):
            show_image(items[index], titles[index] if titles else None, ax=ax)
        else:
            ax.set_axis_off()
    fig.tight_layout()
    return fig


def show_grid(images: torch.Tensor, title: str | None = None, nrow: int = 16, ax: plt.Axes | None = None) -> plt.Axes:
    """Many small images (N, C, H, W) in [0, 1] as one picture, ``nrow`` per row, one pixel of white between
    them (e.g. a GAN's digits). A new figure sized to the grid unless ``ax`` is given."""
    from torchvision.utils import make_grid

    check_images(images, name="images", channels=None)
    check_int(nrow, "nrow")
    _check_ax(ax)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.55 * nrow, 0.55 * -(-len(images) // nrow) + 0.5))
    return show_image(make_grid(images, nrow=nrow, padding=1, pad_value=1), title=title, ax=ax)


def plot_topk(prediction: Prediction, ax: plt.Axes | None = None, title: str | None = None) -> plt.Axes:
    """A horizontal bar chart of one image's top-k (label, probability), the most probable on top; every
    probability in [0, 1]."""
    _check_prediction(prediction)
    _check_ax(ax)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 0.5 + 0.4 * len(prediction)))
    labels = [label for label, _ in prediction][::-1]
    probabilities = [probability for _, probability in prediction][::-1]
    bars = ax.barh(range(len(labels)), probabilities, color="tab:blue")
    bars[-1].set_color("tab:orange")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability")
    for y, p in enumerate(probabilities):
        ax.text(min(p + 0.02, 0.85), y, f"{p:.2f}", va="center", fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def show_predictions(images: Any, predictions: Sequence[Prediction], titles: Sequence[str] | None = None) -> plt.Figure:
    """One row per image: the image, and beside it the bar chart of its top-k predictions.

    ``predictions`` is what :func:`helpers.imagenet.predict` returns for ``images``.
    """
    items = _items(images)
    if not items or len(items) != len(predictions):
        raise ValueError(f"{len(predictions)} predictions for {len(items)} images; give one per image")
    if titles is not None and len(titles) != len(items):
        raise ValueError(f"{len(titles)} titles for {len(items)} images")
    for item, prediction in zip(items, predictions):
        to_display(item)
        _check_prediction(prediction)
    fig, axes = plt.subplots(len(items), 2, figsize=(7.5, 2.6 * len(items)), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1.3]})
    for row, (image, prediction) in enumerate(zip(items, predictions)):
        show_image(image, titles[row] if titles else None, ax=axes[row, 0])
        plot_topk(prediction, ax=axes[row, 1])
    fig.tight_layout()
    return fig


def amplify(delta: torch.Tensor) -> torch.Tensor:
    """A perturbation made visible: ``0.5 + delta / (2 max|delta|)``, in [0, 1] (grey is zero). ``delta``: a
    finite float tensor (e.g. ``x_adv - x``)."""
    check_tensor(delta, "delta")
    scale = delta.detach().abs().max().clamp_min(1e-12)
    return 0.5 + delta.detach() / (2 * scale)


def show_adversarial(x: torch.Tensor, x_adv: torch.Tensor, titles: Sequence[str] = ("original", "adversarial")) -> plt.Figure:
    """Side by side: the image, the adversarial image and the perturbation, amplified to be visible.

    ``x``, ``x_adv``: one image each, (1, C, H, W) or (C, H, W), in [0, 1], of one shape; two ``titles``.
    """
    to_display(x)
    to_display(x_adv)
    check_same_shape(x, x_adv, "x and x_adv")
    if isinstance(titles, str) or len(titles) != 2:
        raise ValueError(f"titles must be two strings (original, adversarial), got {titles!r}")
    delta = x_adv - x
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
    show_image(x, titles[0], ax=axes[0])
    show_image(x_adv, titles[1], ax=axes[1])
    linf = delta.abs().max().item()
    show_image(amplify(delta), f"perturbation x {0.5 / max(linf, 1e-12):.0f}\n(L-inf {255 * linf:.1f}/255)", ax=axes[2])
    fig.tight_layout()
    return fig


def _items(images: Any) -> list:
    """A batch (N, C, H, W) or a list of images, as a list of images."""
    if isinstance(images, torch.Tensor) and images.ndim:
        return list(images.unbind(0))
    if isinstance(images, (str, bytes, torch.Tensor)) or not hasattr(images, "__iter__"):
        raise TypeError(f"images must be a tensor (N, C, H, W) or a list of images, got {type(images).__name__}")
    return list(images)


def _check_ax(ax: object) -> None:
    if ax is not None and not isinstance(ax, plt.Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")


def _check_prediction(prediction: Prediction) -> None:
    """A non-empty sequence of (label, probability in [0, 1]) pairs, as :func:`helpers.imagenet.predict` gives."""
    try:
        pairs = [(str(label), float(p)) for label, p in prediction]
    except (TypeError, ValueError) as exc:
        raise TypeError(f"prediction must be a list of (label, probability) pairs, got {prediction!r}") from exc
    if not pairs or not all(0 <= p <= 1 for _, p in pairs):
        raise ValueError(f"prediction must be a non-empty list of (label, probability in [0, 1]) pairs, got "
                         f"{prediction!r}; pass one image's predict(...) row")
