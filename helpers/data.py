"""Sample photos, offline: they ship inside scikit-image.

Each function returns a fresh NumPy array (H, W, 3) of uint8, ready for :func:`helpers.imagenet.preprocess`.
"""

from __future__ import annotations

import numpy as np


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


def horse_silhouette() -> np.ndarray:
    """A horse silhouette (328 x 400, bool: True is background): raw material for horses <-> zebras."""
    return _skimage("horse")


PHOTOS = {"cat": cat_image, "coffee": coffee_image, "astronaut": astronaut_image, "rocket": rocket_image}


def sample_photos() -> dict[str, np.ndarray]:
    """All sample photos by name: ``{"cat": ..., "coffee": ..., "astronaut": ..., "rocket": ...}``."""
    return {name: load() for name, load in PHOTOS.items()}
