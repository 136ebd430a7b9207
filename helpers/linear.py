"""The linear explanation of adversarial examples (Goodfellow et al. 2015), in numbers.

For a linear unit ``w^T x`` with ``w`` in R^n, the perturbation ``eta = eps * sign(w)`` changes each input by
only ``eps`` (its L-inf norm), yet moves the activation by ``w^T eta = eps * ||w||_1``: with weights of
average magnitude m that is ``eps * m * n``, growing linearly with the dimension n. An L2 step of the same
size, ``eps * w / ||w||_2``, moves it by ``eps * ||w||_2`` only, which grows like sqrt(n).

FGSM follows: for a loss with input gradient g, the first-order change of the loss under ``eta`` is
``g^T eta``, and over the L-inf ball ``||eta||_inf <= eps`` it is largest at ``eta = eps * sign(g)``, where it
equals ``eps * ||g||_1``.

Weights and gradients are finite, non-empty arrays; sizes ``eps`` finite numbers >= 0. Anything else raises
``ValueError`` (``TypeError`` for a wrong type) naming the parameter.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .validation import check_array, check_images, check_int, check_labels, check_model, check_number

__all__ = [
    "activation_change_by_dimension", "best_linf_step_versus_random", "fgsm_loss_change", "l2_perturbation",
    "sign_perturbation",
]


def sign_perturbation(w: np.ndarray, eps: float) -> np.ndarray:
    """``eps * sign(w)``: the L-inf perturbation of size ``eps`` that moves ``w^T x`` the most."""
    check_array(w, "w")
    check_number(eps, "eps", minimum=0.0)
    # BEGIN SOLUTION exercise=linear-perturbation points=1 hint="each input moves by eps"
    return eps * np.sign(np.asarray(w, dtype=np.float64))
    # END SOLUTION


def l2_perturbation(w: np.ndarray, eps: float) -> np.ndarray:
    """``eps * w / ||w||_2``: the L2 perturbation of size ``eps`` that moves ``w^T x`` the most (``w`` not 0)."""
    w = check_array(w, "w")
    check_number(eps, "eps", minimum=0.0)
    if not np.any(w):
        raise ValueError("w is all zeros: it has no direction to step along; pass non-zero weights")
    # BEGIN SOLUTION exercise=linear-perturbation hint="a step of L2 length eps along w"
    return eps * w / np.linalg.norm(w)
    # END SOLUTION


def activation_change_by_dimension(
    dims: Sequence[int], eps: float, *, seed: int = 0, weight_scale: float = 1.0
) -> dict[str, np.ndarray]:
    """Measure how far each perturbation of size ``eps`` moves ``w^T x``, for weights in R^n, n in ``dims``.

    Weights are drawn i.i.d. N(0, weight_scale^2) and inputs uniform in [0, 1]. Returns arrays over ``dims``:
    ``"linf_change"`` = ``w^T (x + eps sign(w)) - w^T x`` measured, ``"eps_l1"`` = ``eps ||w||_1`` (the formula),
    ``"l2_change"`` and ``"eps_l2"`` the same for the L2 step, and ``"pixel_change"`` = the largest change of
    any input (``eps`` for both). ``dims``: a non-empty sequence of ints >= 1; ``weight_scale`` > 0.
    """
    dims = [check_int(n, "every dimension in dims") for n in dims]
    if not dims:
        raise ValueError("dims is empty; give the dimensions to measure, e.g. [10, 100, 1000]")
    check_number(eps, "eps", minimum=0.0)
    check_int(seed, "seed", minimum=0)
    check_number(weight_scale, "weight_scale", positive=True)
    rng = np.random.default_rng(seed)
    rows = {key: [] for key in ("dims", "linf_change", "eps_l1", "l2_change", "eps_l2", "pixel_change")}
    for n in dims:
        w = rng.normal(0.0, weight_scale, size=int(n))
        x = rng.uniform(0.0, 1.0, size=int(n))
        eta_inf, eta_2 = sign_perturbation(w, eps), l2_perturbation(w, eps)
        rows["dims"].append(int(n))
        rows["linf_change"].append(w @ (x + eta_inf) - w @ x)
        rows["eps_l1"].append(eps * np.abs(w).sum())
        rows["l2_change"].append(w @ (x + eta_2) - w @ x)
        rows["eps_l2"].append(eps * np.linalg.norm(w))
        rows["pixel_change"].append(max(np.abs(eta_inf).max(), np.abs(eta_2).max()))
    return {key: np.asarray(value) for key, value in rows.items()}


def best_linf_step_versus_random(g: np.ndarray, eps: float, *, trials: int = 1000, seed: int = 0) -> dict[str, float]:
    """Compare ``g^T eta`` at FGSM's ``eta = eps sign(g)`` with random corners of the L-inf ball.

    Returns ``{"fgsm": eps * ||g||_1, "best_random": ..., "mean_random": ...}``: no random corner beats the sign
    of the gradient, and a random one gains nothing on average. ``trials``: an int >= 1.
    """
    g = check_array(g, "g").ravel()
    check_number(eps, "eps", minimum=0.0)
    check_int(trials, "trials")
    check_int(seed, "seed", minimum=0)
    rng = np.random.default_rng(seed)
    corners = eps * rng.choice([-1.0, 1.0], size=(trials, g.size))
    gains = corners @ g
    return {"fgsm": float(g @ sign_perturbation(g, eps)), "best_random": float(gains.max()),
            "mean_random": float(gains.mean())}


def fgsm_loss_change(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None, eps_list: Sequence[float]) -> dict[str, np.ndarray]:
    """How linear is the loss around ``x``? FGSM's actual loss increase against the linear prediction.

    ``g`` is the input gradient of the cross-entropy of ``y`` (default: the model's own predictions) at
    ``x`` (N, C, H, W) in [0, 1]. For each ``eps`` the FGSM step ``eta = clamp(x + eps sign(g), 0, 1) - x``
    is taken, and two numbers are returned, summed over the batch: ``"predicted"`` = ``g^T eta`` (the
    first-order change, ``eps * ||g||_1`` where nothing is clamped) and ``"actual"`` = ``L(x + eta) - L(x)``.
    ``y``: int64 (N,) or None; ``eps_list``: a non-empty sequence of numbers >= 0.
    """
    from .attacks import attack_objective, attacking
    from .gradients import autograd_grad

    check_model(model)
    check_images(x, channels=None)
    if y is not None:
        check_labels(y, len(x))
    for eps in eps_list:
        check_number(eps, "every eps in eps_list", minimum=0.0)
    if not len(eps_list):
        raise ValueError("eps_list is empty; give the budgets to measure, e.g. [1/255, 4/255]")
    rows = {"eps": [], "predicted": [], "actual": []}
    with attacking(model):
        if y is None:
            with torch.no_grad():
                y = model(x).argmax(dim=1)
        objective = attack_objective(model, y, targeted=False)
        g = autograd_grad(objective, x)
        with torch.no_grad():
            base = objective(x.unsqueeze(1)).sum().item()
            for eps in eps_list:
                step = (x + eps * g.sign()).clamp(0, 1) - x
                rows["eps"].append(eps)
                rows["predicted"].append((g * step).sum().item())
                rows["actual"].append(objective((x + step).unsqueeze(1)).sum().item() - base)
    return {key: np.asarray(value) for key, value in rows.items()}
