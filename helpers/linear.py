"""The linear explanation of adversarial examples (Goodfellow et al. 2015), in numbers.

For a linear unit ``w^T x`` with ``w`` in R^n, the perturbation ``eta = eps * sign(w)`` changes each input by
only ``eps`` (its L-inf norm), yet moves the activation by ``w^T eta = eps * ||w||_1``: with weights of
average magnitude m that is ``eps * m * n``, growing linearly with the dimension n. An L2 step of the same
size, ``eps * w / ||w||_2``, moves it by ``eps * ||w||_2`` only, which grows like sqrt(n).

FGSM follows: for a loss with input gradient g, the first-order change of the loss under ``eta`` is
``g^T eta``, and over the L-inf ball ``||eta||_inf <= eps`` it is largest at ``eta = eps * sign(g)``, where it
equals ``eps * ||g||_1``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def sign_perturbation(w: np.ndarray, eps: float) -> np.ndarray:
    """``eps * sign(w)``: the L-inf perturbation of size ``eps`` that moves ``w^T x`` the most."""
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps!r}")
    return eps * np.sign(np.asarray(w, dtype=np.float64))


def l2_perturbation(w: np.ndarray, eps: float) -> np.ndarray:
    """``eps * w / ||w||_2``: the L2 perturbation of size ``eps`` that moves ``w^T x`` the most."""
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps!r}")
    w = np.asarray(w, dtype=np.float64)
    return eps * w / np.linalg.norm(w)


def activation_change_by_dimension(
    dims: Sequence[int], eps: float, *, seed: int = 0, weight_scale: float = 1.0
) -> dict[str, np.ndarray]:
    """Measure how far each perturbation of size ``eps`` moves ``w^T x``, for weights in R^n, n in ``dims``.

    Weights are drawn i.i.d. N(0, weight_scale^2) and inputs uniform in [0, 1]. Returns arrays over ``dims``:
    ``"linf_change"`` = ``w^T (x + eps sign(w)) - w^T x`` measured, ``"eps_l1"`` = ``eps ||w||_1`` (the formula),
    ``"l2_change"`` and ``"eps_l2"`` the same for the L2 step, and ``"pixel_change"`` = the largest change of
    any input (``eps`` for both).
    """
    rng = np.random.default_rng(seed)
    rows = {key: [] for key in ("dims", "linf_change", "eps_l1", "l2_change", "eps_l2", "pixel_change")}
    for n in dims:
        if int(n) < 1:
            raise ValueError(f"dimensions must be >= 1, got {n!r}")
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
    of the gradient, and a random one gains nothing on average.
    """
    g = np.asarray(g, dtype=np.float64).ravel()
    rng = np.random.default_rng(seed)
    corners = eps * rng.choice([-1.0, 1.0], size=(trials, g.size))
    gains = corners @ g
    return {"fgsm": float(g @ sign_perturbation(g, eps)), "best_random": float(gains.max()),
            "mean_random": float(gains.mean())}
