"""One place for the run configuration: fast mode, seeds and the device.

Fast mode shrinks iteration counts so that every notebook runs in seconds under CI. It is switched on by
the environment variable ``COURSE_FAST_MODE=1``, which the test configuration (``conftest.py``) sets for
``pytest``. Without it, the notebooks do the real thing (full mode).

Seeds: every random choice of the course goes through :func:`seed` (directly, or through
:func:`seed_everything`). ``COURSE_SEED=k`` (an int >= 0; default 0) runs the whole course under the k-th set
of seeds without editing a notebook; 0 gives the seeds the committed notebooks were run with. The number of
CPU threads torch uses follows ``OMP_NUM_THREADS`` (read by torch when it starts). ``python -m
helpers.margins`` uses both to check the notebooks' claims over seeds and thread counts.
"""

from __future__ import annotations

import os
import random
from typing import TypeVar

import numpy as np
import torch

FAST_MODE_VARIABLE = "COURSE_FAST_MODE"
SEED_VARIABLE = "COURSE_SEED"
DEFAULT_SEED = 0
# seed(n) under COURSE_SEED=k is n + SEED_STRIDE * k: the seeds of two runs never coincide as long as a
# notebook uses fewer than SEED_STRIDE of them.
SEED_STRIDE = 1000

__all__ = [
    "DEFAULT_SEED", "FAST_MODE_VARIABLE", "SEED_STRIDE", "SEED_VARIABLE", "course_seed", "device", "fast_mode", "pick",
    "seed", "seed_everything",
]

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
    """Return ``fast`` in fast mode and ``full`` otherwise, e.g. ``steps = pick(full=200, fast=5)``. Any two
    values are accepted, unchecked: they are returned as they are."""
    return fast if fast_mode() else full


def course_seed() -> int:
    """The run's seed set, from ``COURSE_SEED`` (an int >= 0; 0 when unset or empty).

    Raises ``ValueError`` for anything else, rather than silently running under the default seeds.
    """
    raw = os.environ.get(SEED_VARIABLE, "").strip()
    if raw == "":
        return 0
    if not raw.isdigit() or int(raw) >= 2**32 // SEED_STRIDE:
        raise ValueError(f"{SEED_VARIABLE}={raw!r} is not understood; set it to a whole number such as 0, 1 or 2 "
                         f"(below {2**32 // SEED_STRIDE:,}), or unset it for the default seeds")
    return int(raw)


def seed(n: int = DEFAULT_SEED) -> int:
    """The seed of a notebook's random choice number ``n``: ``n`` itself under the default ``COURSE_SEED=0``,
    and ``n + 1000 * COURSE_SEED`` otherwise. Pass it wherever a seed is wanted, e.g.
    ``horses_and_zebras(seed=config.seed(0))``, so that ``COURSE_SEED`` changes every random choice at once.
    """
    _check_seed(n, "seed")
    value = n + SEED_STRIDE * course_seed()
    if value >= 2**32:
        raise ValueError(f"seed {n} under {SEED_VARIABLE}={course_seed()} is {value}, beyond 2**32; use a smaller n")
    return value


def seed_everything(n: int = DEFAULT_SEED) -> torch.Generator:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and CUDA) with :func:`seed` ``(n)``:
    ``n`` itself unless ``COURSE_SEED`` asks for another set of seeds.

    Returns a ``torch.Generator`` seeded with the same value, for code that wants its own stream.
    """
    value = seed(n)
    random.seed(value)
    np.random.seed(value)
    torch.manual_seed(value)  # also seeds every CUDA device
    return torch.Generator().manual_seed(value)


def _check_seed(value: object, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**32:
        raise ValueError(f"{name} must be an int in [0, 2**32), got {value!r}")


def device() -> torch.device:
    """The device the course computes on: the first CUDA GPU when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
