"""Shared fixtures for the unit tests."""

import time
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
_STARTED = pytest.StashKey[float]()
_TABLE_COUNTS: list[str] = []  # what tests/test_bad_input.py records, shown at the end of the run


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


def pytest_sessionstart(session):
    session.config.stash[_STARTED] = time.time()


def pytest_runtest_logreport(report):
    """Keep the counts of the bad-input table (they travel with the report from an xdist worker)."""
    if report.when == "call":
        _TABLE_COUNTS.extend(value for name, value in report.user_properties if name == "bad-input table")


def pytest_terminal_summary(terminalreporter, config):
    """Show the bad-input table's counts; say where the browser test left its screenshots (of this run)."""
    for line in _TABLE_COUNTS:
        terminalreporter.write_line(line)
    folder = ROOT / "build" / "browser-test"
    started = config.stash.get(_STARTED, 0.0)
    shots = sorted(p for p in folder.glob("*.png") if p.stat().st_mtime >= started) if folder.is_dir() else []
    if shots:
        terminalreporter.write_line(f"browser-test screenshots: {folder} ({', '.join(p.name for p in shots)})")
