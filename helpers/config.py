"""One place for the run configuration: fast mode, seeds and the device.

Fast mode shrinks iteration counts so that every notebook runs in seconds under CI. It is switched on by
the environment variable ``COURSE_FAST_MODE=1``, which the test configuration (``conftest.py``) sets for
``pytest``. Without it, the notebooks do the real thing (full mode).
"""

from __future__ import annotations

import os
import random
from typing import TypeVar

import numpy as np
import torch

FAST_MODE_VARIABLE = "COURSE_FAST_MODE"
DEFAULT_SEED = 0

_T = TypeVar("_T")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def fast_mode() -> bool:
    """True when ``COURSE_FAST_MODE`` is set to 1/true/yes/on (read at each call, so it can be toggled).

    Raises ``ValueError`` for a value that is neither true nor false, rather than guessing.
    """
    raw = os.environ.get(FAST_MODE_VARIABLE, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(
        f"{FAST_MODE_VARIABLE}={raw!r} is not understood; set it to 1 (fast mode) or 0 (full mode)"
    )


def pick(full: _T, fast: _T) -> _T:
    """Return ``fast`` in fast mode and ``full`` otherwise, e.g. ``steps = pick(full=200, fast=5)``."""
    return fast if fast_mode() else full


def seed_everything(seed: int = DEFAULT_SEED) -> torch.Generator:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and CUDA).

    Returns a ``torch.Generator`` seeded with the same value, for code that wants its own stream.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an int in [0, 2**32), got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


def device() -> torch.device:
    """The device the course computes on: the first CUDA GPU when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
