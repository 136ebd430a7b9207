"""Shared fixtures for the unit tests."""

from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def lite0():
    """EfficientNet-Lite0 on the CPU, loaded once for the session (tests must not modify it)."""
    from helpers.imagenet import load_classifier

    return load_classifier("efficientnet_lite0", device="cpu")


@pytest.fixture(scope="session")
def cat_batch():
    from helpers.data import cat_image
    from helpers.imagenet import preprocess

    return preprocess(cat_image())


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture
def root() -> Path:
    return ROOT
