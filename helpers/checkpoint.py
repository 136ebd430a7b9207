"""Checkpoints that resume a run exactly: weights, optimisers, step counters and every RNG state.

Files are written atomically (to a temporary file, then renamed), so an interrupted save never leaves a
half-written checkpoint behind, and they load with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["load_checkpoint", "resume_state", "rng_state", "save_checkpoint", "set_rng_state"]

_RNG_KEYS = ("python", "numpy", "torch", "cuda")


def rng_state() -> dict[str, Any]:
    """The state of Python's, NumPy's and torch's global generators (CPU and CUDA), as tensors and lists."""
    version, internal, gauss = random.getstate()
    name, keys, position, has_gauss, cached = np.random.get_state()
    return {
        "python": [version, list(internal), gauss],
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured; ``ValueError`` for anything else."""
    if not isinstance(state, dict) or any(key not in state for key in _RNG_KEYS):
        raise ValueError(f"state must be what rng_state() returned, a dict with keys {_RNG_KEYS}, got "
                         f"{sorted(state) if isinstance(state, dict) else type(state).__name__}")
    try:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
        name, keys, position, has_gauss, cached = state["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached))
        torch.set_rng_state(state["torch"])
    except (TypeError, ValueError, AttributeError, RuntimeError) as exc:
        raise ValueError(f"state is not what rng_state() returned ({type(exc).__name__}: {exc})") from exc
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (a dict of tensors, state dicts, numbers, strings, lists) to ``path`` atomically."""
    if not isinstance(path, (str, Path)) or not str(path):
        raise TypeError(f"path must be a file path (str or Path), got {path!r}")
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict (e.g. {{'model': model.state_dict(), 'step': 3}}), "
                        f"got {type(state).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(state, file)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``, onto the CPU).

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for one that is not a checkpoint
    (unreadable, or a torch file that does not hold a dict).
    """
    if not isinstance(path, (str, Path)) or not str(path):
        raise TypeError(f"path must be a file path (str or Path), got {path!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path} is not a readable checkpoint ({exc}); delete it to start afresh") from exc
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a checkpoint (a dict written by "
                         "save_checkpoint); delete it to start afresh")
    return state


def resume_state(path: str | Path | None, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The state a training loop resumes from: ``None`` when ``path`` is None or no file is there, else the
    checkpoint at ``path``, after checking that it was written with the same ``settings`` (the loop's
    hyperparameters, saved in the checkpoint under ``"settings"``). A different run's checkpoint raises a
    ``ValueError`` that shows both settings, rather than silently continuing another experiment.
    """
    if not isinstance(settings, dict):
        raise TypeError(f"settings must be a dict of the run's hyperparameters, got {type(settings).__name__}")
    if path is None or not Path(path).is_file():
        return None
    state = load_checkpoint(path)
    if state.get("settings") != settings:
        raise ValueError(f"{path} was written with other settings ({state.get('settings')}, now {settings}); "
                         "use the same settings to resume, or delete the file to start afresh")
    return state
