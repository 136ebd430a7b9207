"""Sample photos, offline: they ship inside scikit-image.

Each photo function returns a fresh NumPy array (H, W, 3) of uint8, ready for
:func:`helpers.imagenet.preprocess`; :func:`photo_batch` gives them preprocessed, as one batch.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "PHOTOS", "astronaut_image", "camera_image", "cat_image", "coffee_image", "horse_silhouette", "photo_batch",
    "rocket_image", "sample_photos",
]


def _skimage(name: str) -> np.ndarray:
    import skimage.data

    return np.array(getattr(skimage.data, name)(), copy=True)


def cat_image() -> np.ndarray:
    """Chelsea the cat (300 x 451 x 3, uint8): the course's running example."""
    return _skimage("chelsea")


def coffee_image() -> np.ndarray:
    """A cup of espresso (400 x 600 x 3, uint8)."""
    return _skimage("coffee")


def astronaut_image() -> np.ndarray:
    """Astronaut Eileen Collins (512 x 512 x 3, uint8)."""
    return _skimage("astronaut")


def rocket_image() -> np.ndarray:
    """A rocket on its launch pad (427 x 640 x 3, uint8)."""
    return _skimage("rocket")


def camera_image() -> np.ndarray:
    """The cameraman (512 x 512, grayscale, repeated to 3 channels, uint8): a tripod to the network."""
    return np.repeat(_skimage("camera")[:, :, None], 3, axis=2)


def horse_silhouette() -> np.ndarray:
    """A horse silhouette (328 x 400, bool: True is background): raw material for horses <-> zebras."""
    return _skimage("horse")


PHOTOS = {
    "cat": cat_image, "coffee": coffee_image, "astronaut": astronaut_image, "rocket": rocket_image,
    "camera": camera_image,
}


def sample_photos() -> dict[str, np.ndarray]:
    """All sample photos by name: cat, coffee, astronaut, rocket, camera."""
    return {name: load() for name, load in PHOTOS.items()}


def photo_batch(size: int = 224, *, mirrored: bool = True) -> tuple[torch.Tensor, list[str]]:
    """The sample photos as one batch (N, 3, size, size) in [0, 1], with their names.

    With ``mirrored`` each photo also comes flipped left-right (named ``"cat (mirrored)"`` etc.): ten
    images from five photos, a handful to measure attacks on. ``size``: an int in [1, 4096].
    """
    from .imagenet import preprocess

    if not isinstance(mirrored, bool):
        raise TypeError(f"mirrored must be True or False, got {mirrored!r}")

    names, images = [], []
    for name, photo in sample_photos().items():
        x = preprocess(photo, size)
        names.append(name)
        images.append(x)
        if mirrored:
            names.append(f"{name} (mirrored)")
            images.append(x.flip(-1))
    return torch.cat(images), names
