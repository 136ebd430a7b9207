"""Checkpoints that resume a run exactly: weights, optimisers, step counters and every RNG state.

Files are written atomically (to a temporary file, then renamed), so an interrupted save never leaves a
half-written checkpoint behind, and they load with ``torch.load(..., weights_only=True)``. A checkpoint can
also record a :func:`code_fingerprint` of the code it was trained with, so that fixing a bug (in a loss, a
layer) retrains rather than silently reloading what the buggy code trained (:func:`resume_state`).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
import random
import tempfile
import types
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["code_fingerprint", "load_checkpoint", "resume_state", "rng_state", "save_checkpoint", "set_rng_state"]

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


_SIMPLE = (type(None), bool, int, float, complex, str, bytes)


def _qualified_name(obj: object) -> str:
    """``module.qualname`` of a function or class: no address, no path, the same in every process."""
    module = getattr(obj, "__module__", None) or getattr(getattr(obj, "__objclass__", None), "__module__", "")
    return f"{module}.{getattr(obj, '__qualname__', getattr(obj, '__name__', type(obj).__qualname__))}"


def _is_code(obj: object) -> bool:
    return (isinstance(obj, (functools.partial, nn.Module, type, types.ModuleType))
            or inspect.isroutine(obj))


def _bound_value(value: object) -> str:
    """A partial's bound argument: its repr if simple, its code if code, else only its type's name."""
    if isinstance(value, _SIMPLE):
        return repr(value)
    if isinstance(value, (tuple, list)) and all(isinstance(v, _SIMPLE) for v in value):
        return repr(value)
    if _is_code(value):
        return _code_text(value)
    return f"<a {_qualified_name(type(value))}>"


def _code_text(obj: object) -> str:
    """What :func:`code_fingerprint` hashes for one object (assumed to pass ``_is_code``)."""
    if isinstance(obj, functools.partial):
        keywords = ", ".join(f"{k}={_bound_value(v)}" for k, v in sorted(obj.keywords.items()))
        arguments = ", ".join(_bound_value(v) for v in obj.args)
        return f"partial[{_code_text(obj.func)}]({arguments}; {keywords})"
    if isinstance(obj, nn.Module):
        obj = type(obj)
    try:
        return "source:\n" + inspect.getsource(obj)
    except (OSError, TypeError):  # a builtin, a C function, code typed at a prompt or in some notebooks
        return "name:" + (obj.__name__ if isinstance(obj, types.ModuleType) else _qualified_name(obj))


def code_fingerprint(*objects: object) -> str:
    """A short, stable digest of the source code of ``objects``: 16 hex digits of a SHA-256.

    Each object is a function (or method), a class (the source of the whole class statement, its methods
    included; not that of its base classes), a module (its whole file), an ``nn.Module`` instance (its class)
    or a ``functools.partial`` (its function, and its bound arguments: numbers, strings and None by value,
    code by its source, anything else by its type's name only). The digest depends only on the source text
    (from :func:`inspect.getsource`), never on memory addresses, file paths or line numbers, so it is the same
    in every process and on every machine with the same code, and changes when any character of any of the
    sources does, comments and docstrings included. It depends on the order of ``objects`` (pass them in a
    fixed order) and on repetitions. A decorated function counts by the source of the function it wraps
    (``__wrapped__``), decorator lines included. An object whose source is unavailable (a builtin or other C
    function, code typed at an interactive prompt, a class defined in a notebook) counts by its qualified
    name and module only: changing its code does not change the digest. ``code_fingerprint()`` of nothing
    is a fixed digest.

    Training loops save it in their checkpoints; :func:`resume_state` retrains when it has changed.
    ``TypeError`` for anything else (an instance, a number, a string).
    """
    digest = hashlib.sha256()
    for position, obj in enumerate(objects):
        if not _is_code(obj):
            raise TypeError(f"objects must be functions, classes, modules, nn.Module instances or functools.partial "
                            f"objects (the code a run depends on), got {type(obj).__name__} at position {position}; "
                            "pass the function or class itself, e.g. code_fingerprint(d_loss, type(model))")
        text = _code_text(obj).encode("utf-8")
        digest.update(f"{len(text)}:".encode("ascii") + text)
    return digest.hexdigest()[:16]


def resume_state(path: str | Path | None, settings: dict[str, Any], *,
                 code: str | None = None) -> dict[str, Any] | None:
    """The state a training loop resumes from: ``None`` when ``path`` is None or no file is there, else the
    checkpoint at ``path``, after checking that it was written with the same ``settings`` (the loop's
    hyperparameters, saved in the checkpoint under ``"settings"``). A different run's checkpoint raises a
    ``ValueError`` that shows both settings, rather than silently continuing another experiment.

    ``code``: optionally the :func:`code_fingerprint` of the code the run depends on, saved in the checkpoint
    under ``"code"``. If the checkpoint holds another one, or none, the code has changed since it was written
    (a bug fixed in a loss, say): rather than load what the old code trained, this prints one line saying so
    and returns ``None``, so that the loop trains from scratch and its next save replaces the file. (The
    settings are checked first: another run's checkpoint still raises.)
    """
    if not isinstance(settings, dict):
        raise TypeError(f"settings must be a dict of the run's hyperparameters, got {type(settings).__name__}")
    if code is not None and not isinstance(code, str):
        raise TypeError(f"code must be a code_fingerprint(...) string or None, got {type(code).__name__}")
    if path is None or not Path(path).is_file():
        return None
    state = load_checkpoint(path)
    if state.get("settings") != settings:
        raise ValueError(f"{path} was written with other settings ({state.get('settings')}, now {settings}); "
                         "use the same settings to resume, or delete the file to start afresh")
    if code is not None and state.get("code") != code:
        print(f"retraining: the code this checkpoint was trained with has changed since ({Path(path).name}); "
              "the old checkpoint is replaced")
        return None
    return state
