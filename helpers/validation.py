"""Checks on user input that fail early with a message naming the parameter, the problem and the fix.

Every check returns what it checked (the same object, or a plain number), never a copy of a tensor, so a
check costs at most a reduction. A non-tensor, a non-model or a non-callable raises ``TypeError``; anything
else wrong (dtype, shape, range, NaN) raises ``ValueError``.
"""

from __future__ import annotations

import hashlib
import math
import numbers
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = [
    "RANGE_TOLERANCE", "call_model", "check_array", "check_callable", "check_choice", "check_finite", "check_images",
    "check_int", "check_labels", "check_logits", "check_model", "check_number", "check_probability",
    "check_same_shape", "check_tensor", "sha256_of",
]

# Tolerance for "inside [0, 1]": float arithmetic may land a hair outside after clamping elsewhere.
RANGE_TOLERANCE = 1e-6


def _shape(x: torch.Tensor) -> tuple[int, ...]:
    return tuple(x.shape)


def _extremes(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(min, max) of a non-empty floating tensor in one pass; both NaN if it holds a NaN."""
    with torch.no_grad():
        return torch.aminmax(x.detach())


def check_finite(x: torch.Tensor, name: str) -> torch.Tensor:
    """Raise ``ValueError`` if the tensor ``x`` holds a NaN or an infinity (one min/max pass); returns ``x``."""
    if x.is_floating_point() and x.numel():
        low, high = _extremes(x)
        finite = bool(torch.isfinite(low) & torch.isfinite(high))
    else:
        finite = not x.is_complex() or bool(torch.isfinite(x.detach()).all())
    if not finite:
        raise ValueError(f"{name} contains NaN or infinite values; check what produced it (a diverged "
                         "training run, a division by zero) and pass finite numbers")
    return x


def check_tensor(x: object, name: str, *, ndim: int | None = None, shape: str = "", floating: bool = True,
                 finite: bool = True) -> torch.Tensor:
    """Check that ``x`` is a non-empty torch tensor with ``ndim`` dimensions (``shape`` describes them, e.g.
    ``"(N, D)"``), of a floating dtype if ``floating``, without NaN or infinity if ``finite``. Returns ``x``."""
    described = f" {shape}" if shape else ""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor{described}, got {type(x).__name__}; "
                        "convert it with torch.as_tensor(...)")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions{described}, got shape {_shape(x)}")
    if floating and not x.is_floating_point():
        raise ValueError(f"{name} must be a floating tensor, got dtype {x.dtype}; convert it with .float()")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty: shape {_shape(x)}; pass at least one element")
    return check_finite(x, name) if finite else x


def check_array(values: object, name: str, *, ndim: int | None = None) -> np.ndarray:
    """``values`` (a tensor, an array or nested lists of numbers) as a float64 NumPy array: non-empty, finite,
    with ``ndim`` dimensions if given. A copy only where a conversion needs one."""
    try:
        array = values.detach().cpu().double().numpy() if isinstance(values, torch.Tensor) \
            else np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array or tensor of numbers, got {type(values).__name__} ({exc})") from exc
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty: shape {array.shape}; pass at least one number")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def check_logits(logits: object, name: str = "logits") -> torch.Tensor:
    """Check that ``logits`` is a non-empty floating tensor (N, classes) without NaN or +inf, each row with a
    finite maximum (-inf, a probability of 0, is allowed). Returns ``logits`` itself."""
    check_tensor(logits, name, ndim=2, shape="(N, classes)", finite=False)
    with torch.no_grad():
        values = logits.detach()
        if bool(values.isnan().any()) or not bool(torch.isfinite(values.max(dim=1).values).all()):
            raise ValueError(f"{name} must be finite numbers (-inf is allowed beside a finite value), got NaN, +inf "
                             "or a row of -inf; check the model that produced them")
    return logits


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
        raise ValueError(f"{name} must have shape (N, C, H, W), got {_shape(x)}{hint}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"{name} must have {channels} channels in dimension 1 (N, C, H, W), got shape {_shape(x)}"
        )
    if not x.is_floating_point():
        raise ValueError(
            f"{name} must be a floating tensor with values in [0, 1], got dtype {x.dtype}; "
            "for uint8 pixels divide by 255 (or use helpers.imagenet.preprocess)"
        )
    if x.numel() == 0:
        raise ValueError(f"{name} is empty: shape {_shape(x)}; pass at least one image")
    low, high = _extremes(x)
    if not bool(torch.isfinite(low) & torch.isfinite(high)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if low < -RANGE_TOLERANCE or high > 1 + RANGE_TOLERANCE:
        raise ValueError(
            f"{name} must have values in [0, 1], got min {low.item():.4g} and max {high.item():.4g}; "
            "images are never normalized by the caller (the model does it), and uint8 pixels are "
            "divided by 255"
        )
    return x


def check_int(value: object, name: str, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as an int if it is an integer (Python's or NumPy's, not a bool) in [``minimum``, ``maximum``];
    else a ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an int <= {maximum:,}, got {value!r}")
    return int(value)


def check_number(value: object, name: str, *, minimum: float | None = None, maximum: float | None = None,
                 positive: bool = False, hint: str = "") -> float:
    """``value`` as a float if it is a finite real number (a 0-d tensor too, not a bool), >= ``minimum``,
    <= ``maximum`` and, with ``positive``, > 0; else a ``ValueError`` naming ``name`` (``hint``: the fix)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.dtype == torch.bool:
        value = value.item()
    parts = ([f">= {minimum:g}"] if minimum is not None else []) + (["> 0"] if positive else []) \
        + ([f"<= {maximum:g}"] if maximum is not None else [])
    wanted = " ".join(["a finite number", " and ".join(parts)]).strip()
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or (minimum is not None and value < minimum) or (maximum is not None and value > maximum) \
            or (positive and not value > 0):
        raise ValueError(f"{name} must be {wanted}, got {value!r}" + (f"; {hint}" if hint else ""))
    return float(value)


def check_probability(value: object, name: str) -> float:
    """``value`` as a float if it is a number in [0, 1]; else a ``ValueError`` naming ``name``."""
    return check_number(value, name, minimum=0.0, maximum=1.0)


def check_choice(value: object, name: str, choices: Sequence[object]) -> object:
    """``value`` if it is one of ``choices``; else a ``ValueError`` listing them."""
    if not any(value == choice and type(value) is type(choice) for choice in choices):
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def check_model(model: object, name: str = "model") -> nn.Module:
    """``model`` if it is a ``torch.nn.Module``; else a ``TypeError`` naming ``name``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module (a network, e.g. from helpers.imagenet.load_classifier), "
                        f"got {type(model).__name__}")
    return model


def check_callable(function: object, name: str) -> object:
    """``function`` if it can be called; else a ``TypeError`` naming ``name``."""
    if not callable(function):
        raise TypeError(f"{name} must be a function, got {type(function).__name__} {function!r}")
    return function


def check_same_shape(a: torch.Tensor, b: torch.Tensor, names: str) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` (named together as ``names``, e.g. ``"x and x_adv"``) have
    one shape: no broadcasting between a pair that must match element for element."""
    if a.shape != b.shape:
        raise ValueError(f"{names} must have the same shape, got {_shape(a)} and {_shape(b)}; "
                         "pair them element for element (no broadcasting)")


def check_labels(y: object, n: int | None, num_classes: int | None = None, *, name: str = "y") -> torch.Tensor:
    """``y`` as an int64 tensor (N,) of class indices, one per example of a batch of ``n`` (None: any N),
    each in [0, ``num_classes``) when that is given. Raises ``TypeError`` for a non-tensor, ``ValueError`` for
    the wrong dtype, length or range. No copy unless the dtype changes (int32 -> int64)."""
    wanted = f"({n},)" if n is not None else "(N,)"
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of int64 class indices, shape {wanted}, got "
                        f"{type(y).__name__}; use torch.tensor(...)")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer class indices, got dtype {y.dtype}; use y.long() for whole "
                         "numbers, y.argmax(1) for scores")
    if y.ndim != 1 or (n is not None and len(y) != n):
        raise ValueError(f"{name} must have shape {wanted}, one class index per example, got {_shape(y)}")
    if num_classes is not None and len(y):
        low, high = torch.aminmax(y)
        if low < 0 or high >= num_classes:
            raise ValueError(f"{name} must hold class indices in [0, {num_classes}) (the model has {num_classes} "
                             f"classes), got min {int(low)} and max {int(high)}")
    return y.long()


def call_model(model: nn.Module, x: torch.Tensor, *, name: str = "x") -> torch.Tensor:
    """``model(x)``, with a mismatch between ``x`` and the model (channels, size, dtype: torch's
    ``RuntimeError``) reported as a ``ValueError`` naming ``name`` and what the model said."""
    try:
        return model(x)
    except torch.OutOfMemoryError:
        raise
    except RuntimeError as exc:
        raise ValueError(f"the model cannot take {name} of shape {_shape(x)} and dtype {x.dtype} ({exc}); pass "
                         "images of the channels, size and dtype the model was built for") from exc


def sha256_of(path: str | Path) -> str:
    """The sha256 of a file, as 64 hex digits (read in 1 MiB blocks). ``FileNotFoundError`` if it is missing."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"path {str(path)!r} is not a file; check the path (sha256_of hashes one file)")
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
