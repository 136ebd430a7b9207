"""The linear explanation of adversarial examples (Goodfellow et al. 2015), in numbers.

For a linear unit ``w^T x`` with ``w`` in R^n, the perturbation ``eta = eps * sign(w)`` changes each input by
only ``eps`` (its L-inf norm), yet moves the activation by ``w^T eta = eps * ||w||_1``: with weights of
average magnitude m that is ``eps * m * n``, growing linearly with the dimension n. An L2 step of the same
size, ``eps * w / ||w||_2``, moves it by ``eps * ||w||_2`` only, which grows like sqrt(n).

FGSM follows: for a loss with input gradient g, the first-order change of the loss under ``eta`` is
``g^T eta``, and over the L-inf ball ``||eta||_inf <= eps`` it is largest at ``eta = eps * sign(g)``, where it
equals ``eps * ||g||_1``.

How linear is a trained network where it counts? :func:`logit_linearity_along_fgsm` compares the logits along
the FGSM step with their first-order (linear) prediction, and :func:`linear_regime_share` counts the hidden
units whose activation function is in its linear regime. :class:`SaturatingTanh` is a tanh unit of slope 1 at
zero that saturates at a chosen level, to compare networks that differ only in how much their units saturate.

Weights and gradients are finite, non-empty arrays; sizes ``eps`` finite numbers >= 0. Anything else raises
``ValueError`` (``TypeError`` for a wrong type) naming the parameter.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .attacks import attack_objective, attacking, fgsm
from .gradients import autograd_grad
from .validation import (call_model, check_array, check_images, check_int, check_labels, check_model, check_number,
                         check_tensor)

__all__ = [
    "SaturatingTanh", "activation_change_by_dimension", "best_linf_step_versus_random", "fgsm_loss_change",
    "l2_perturbation", "linear_regime_share", "logit_linearity_along_fgsm", "sign_perturbation",
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


class SaturatingTanh(nn.Module):
    """``tanh(saturation * a) / saturation``, elementwise: slope 1 at ``a = 0``, outputs in
    ``(-1/saturation, 1/saturation)``.

    ``saturation = 1`` is the plain tanh; a larger value keeps the slope near zero (so the gain of an
    unsaturated unit is unchanged) but makes the unit saturate sooner: its slope falls below 1/2 once
    ``|a| > 0.88 / saturation``. ``saturation``: a number > 0. Input: a finite float tensor of any shape.
    """

    def __init__(self, saturation: float = 1.0):
        super().__init__()
        self.saturation = check_number(saturation, "saturation", positive=True)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        check_tensor(a, "a")
        return torch.tanh(self.saturation * a) / self.saturation

    def extra_repr(self) -> str:
        return f"saturation={self.saturation:g}"


# The activation modules linear_regime_share understands, with the largest slope of each.
_MAX_SLOPE = {nn.ReLU: 1.0, nn.Tanh: 1.0, nn.Sigmoid: 0.25, SaturatingTanh: 1.0}


def linear_regime_share(model: nn.Module, x: torch.Tensor, *, threshold: float = 0.5) -> dict[str, object]:
    """The share of hidden units in their linear regime on the inputs ``x``.

    A unit (one output of an ``nn.ReLU``, ``nn.Tanh``, ``nn.Sigmoid`` or :class:`SaturatingTanh` module of
    ``model``) is in its **linear regime** on an input when the local slope of its activation function is at
    least ``threshold`` times that function's largest slope. For a ReLU that means active (slope 1; an inactive
    unit has slope 0 and passes nothing on); for a tanh, ``|a| < 0.88`` at the default threshold 1/2, where
    ``tanh'(a) = 1 - tanh(a)^2 > 1/2``; a saturated unit barely responds to its input. ``x``: (N, C, H, W) in
    [0, 1]; ``threshold`` in (0, 1]. Returns ``{"share": float in [0, 1], over every unit and input,
    "per_layer": [float per activation module, in the order they run]}``. Raises ``ValueError`` when the
    model has none of these modules. The model runs in eval mode (its mode is restored); nothing is trained.
    """
    check_model(model)
    check_images(x, channels=None)
    threshold = check_number(threshold, "threshold", positive=True, maximum=1.0)
    units = [m for m in model.modules() if type(m) in _MAX_SLOPE]
    if not units:
        names = ", ".join(cls.__name__ for cls in _MAX_SLOPE)
        raise ValueError(f"model has no activation module this function understands ({names}); a functional "
                         "call such as torch.relu inside forward cannot be seen: use the module instead")
    inputs: list[tuple[nn.Module, torch.Tensor]] = []
    hooks = [m.register_forward_hook(lambda module, args, _: inputs.append((module, args[0].detach())))
             for m in units]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            call_model(model, x)
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    per_layer, linear, total = [], 0, 0
    for module, a in inputs:
        a = a.clone().requires_grad_(True)
        with torch.enable_grad():
            (slope,) = torch.autograd.grad(module(a).sum(), a)  # elementwise: the local slope of every unit
        in_regime = slope >= threshold * _MAX_SLOPE[type(module)]
        per_layer.append(in_regime.float().mean().item())
        linear, total = linear + int(in_regime.sum()), total + in_regime.numel()
    return {"share": linear / total, "per_layer": per_layer}


def logit_linearity_along_fgsm(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor | None, eps: float, *, points: int = 11
) -> dict[str, object]:
    """How well does the network's linearisation predict its logits along the FGSM step?

    The FGSM image ``x_adv = fgsm(model, x, y, eps=eps)`` (:func:`helpers.attacks.fgsm`) defines the step
    ``d = x_adv - x``; the straight path ``x + t d``, ``t`` in [0, 1], stays inside [0, 1] and the eps-ball.
    Along it, the logits ``z(t)`` are compared with their first-order prediction ``z(0) + t J d`` (``J`` the
    Jacobian of the logits at ``x``, applied to ``d`` by differentiating twice). For a linear model the
    two coincide; a ReLU network is linear up to the units that switch on or off along the way; saturating
    units bend it.

    ``x``: (N, C, H, W) in [0, 1]; ``y``: int64 (N,), or None for the model's own predictions; ``eps`` >= 0;
    ``points``: the number of values of ``t`` (>= 2, from 0 to 1). Returns

    - ``"t"``: (points,); ``"logits"`` and ``"predicted"``: (points, N, K), actual and first-order logits;
    - ``"relative_error"``: (N,) numbers >= 0, ``||z(1) - z(0) - J d|| / ||z(1) - z(0)||`` (L2 over the
      classes; 0 where the logits do not move): the share of the logits' change that the linearisation gets
      wrong at the FGSM image;
    - ``"predicted_flip"`` and ``"flipped"``: (N,) bool, whether the first-order and the actual logits at
      ``t = 1`` rank another class than ``y`` first.

    The model runs in eval mode (restored after); ``x`` is not modified.
    """
    check_model(model)
    check_images(x, channels=None)
    eps = check_number(eps, "eps", minimum=0.0)
    points = check_int(points, "points", minimum=2)
    x_adv = fgsm(model, x, y, eps=eps)  # checks y; labels default to the model's predictions
    x = x.detach().to(x_adv.dtype)
    step = x_adv - x
    t = torch.linspace(0.0, 1.0, points, dtype=x.dtype)
    with attacking(model):
        with torch.no_grad():
            z0 = model(x)
            y = z0.argmax(dim=1) if y is None else check_labels(y, len(x), z0.shape[1])
            logits = torch.stack([model(x + float(ti) * step) for ti in t])
        # J d by the double-backward trick: u -> J^T u is linear in u, and its derivative along d is J d
        x_grad = x.clone().requires_grad_(True)
        z = model(x_grad)
        u = torch.zeros_like(z, requires_grad=True)
        (vjp,) = torch.autograd.grad(z, x_grad, grad_outputs=u, create_graph=True)
        (slope,) = torch.autograd.grad(vjp, u, grad_outputs=step)  # J d, (N, K)
    predicted = z0 + t.view(-1, 1, 1) * slope
    change = (logits[-1] - z0).norm(dim=1)
    miss = (logits[-1] - predicted[-1]).norm(dim=1)
    relative_error = torch.where(change > 0, miss / change.clamp_min(1e-12), miss)
    return {
        "t": t.numpy(), "logits": logits.numpy(), "predicted": predicted.numpy(),
        "relative_error": relative_error.numpy(),
        "predicted_flip": (predicted[-1].argmax(dim=1) != y).numpy(),
        "flipped": (logits[-1].argmax(dim=1) != y).numpy(),
    }
