"""Adversarial attacks: FGSM, PGD (L-inf and L2, white box or black box), fooling images, transfer.

Conventions (as torchattacks and CleverHans): attacks are plain functions ``attack(model, x, y=None, *, ...)``
on images ``x`` in [0, 1], shape (N, C, H, W); they never modify their inputs; they return images in
[0, 1] and inside the eps-ball around ``x``; with ``y=None`` they attack the model's own predictions;
``eps=0`` returns ``x`` unchanged. The model runs in eval mode, its previous mode and its parameters'
``requires_grad`` flags are restored afterwards, gradients are taken with respect to the input only, and
every attack also works when called inside ``torch.no_grad()``.

The gradient is pluggable: ``grad_fn`` (see :mod:`helpers.gradients`) is backprop (white box), finite
differences or a query-efficient estimate (black box); the same attack loop runs on all of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .gradients import GradFn, autograd_grad
from .validation import check_images

NORMS = ("linf", "l2")
Attack = Callable[..., torch.Tensor]


# --------------------------------------------------------------------------------------------------
# Shared plumbing


@contextmanager
def attacking(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode, frozen parameters and gradients enabled for the duration; everything restored after."""
    was_training = model.training
    flags = [p.requires_grad for p in model.parameters()]
    model.eval()
    model.requires_grad_(False)
    try:
        with torch.enable_grad():
            yield model
    finally:
        for parameter, flag in zip(model.parameters(), flags):
            parameter.requires_grad_(flag)
        model.train(was_training)


def _check_eps(eps: float, name: str = "eps") -> float:
    if isinstance(eps, torch.Tensor):
        eps = float(eps)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {eps!r}")
    return float(eps)


def _labels(model: nn.Module, x: torch.Tensor, y: torch.Tensor | int | None, targeted: bool) -> torch.Tensor:
    """The labels to move away from (or, targeted, towards), as int64 (N,) on x's device."""
    if y is None:
        if targeted:
            raise ValueError("a targeted attack needs y, the target class of each image")
        with torch.no_grad():
            return model(x).argmax(dim=1)
    y = torch.as_tensor(y, device=x.device)
    if y.ndim == 0:
        y = y.expand(len(x))
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"y must have shape ({len(x)},) to match x of shape {tuple(x.shape)}, got {tuple(y.shape)}")
    if y.is_floating_point() or y.dtype == torch.bool:
        raise ValueError(f"y must hold integer class indices, got dtype {y.dtype}")
    return y.long()


def attack_objective(model: nn.Module, y: torch.Tensor, targeted: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    """The per-example objective the attack ascends, on queries (N, K, C, H, W) -> (N, K).

    Non-targeted: the cross-entropy of the true class (push it down). Targeted: minus the cross-entropy
    of the target class (pull the target up).
    """

    checked = []

    def loss(queries: torch.Tensor) -> torch.Tensor:
        n, k = queries.shape[:2]
        logits = model(queries.reshape(n * k, *queries.shape[2:]))
        if not checked:
            if int(y.min()) < 0 or int(y.max()) >= logits.shape[1]:
                raise ValueError(f"labels must be class indices in [0, {logits.shape[1]}), got {y.tolist()}")
            checked.append(True)
        per_example = F.cross_entropy(logits, y.repeat_interleave(k), reduction="none").view(n, k)
        return -per_example if targeted else per_example

    return loss


def _per_example_norm(t: torch.Tensor) -> torch.Tensor:
    """L2 norm of each example, shaped (N, 1, 1, 1) for broadcasting."""
    return t.flatten(1).norm(dim=1).view(-1, *([1] * (t.ndim - 1)))


def ascent_step(g: torch.Tensor, alpha: float, norm: str) -> torch.Tensor:
    """The step of size ``alpha`` that raises the objective most to first order, for gradients ``g`` (N, C, H, W).

    L-inf: every pixel moves by ``alpha`` in the direction of its gradient's sign (FGSM's step). L2: the
    whole image moves by ``alpha`` along ``g``, scaled to L2 norm ``alpha`` per image. Returns a tensor like
    ``g``.
    """
    # BEGIN SOLUTION exercise=fgsm-step points=2 hint="see the docstring; _per_example_norm(g) is the L2 norm"
    if norm == "linf":
        return alpha * g.sign()
    return alpha * g / _per_example_norm(g).clamp_min(1e-12)
    # END SOLUTION


def project(x_adv: torch.Tensor, x: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Project ``x_adv`` onto the ``norm``-ball of radius ``eps`` around ``x``, then clamp to [0, 1].

    Clamping after projecting keeps the point inside the ball: since ``x`` is in [0, 1], clamping only
    shrinks each coordinate of the perturbation.
    """
    # BEGIN SOLUTION exercise=projection points=2 hint="clip x_adv - x to the eps-ball, then the image to [0, 1]"
    delta = x_adv - x
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    else:
        delta = delta * (eps / _per_example_norm(delta).clamp_min(1e-12)).clamp(max=1.0)
    return (x + delta).clamp(0.0, 1.0)
    # END SOLUTION


def _random_start(x: torch.Tensor, eps: float, norm: str, generator: torch.Generator | None) -> torch.Tensor:
    """A uniformly random point of the eps-ball around x (then clamped to [0, 1])."""
    shape, device = x.shape, x.device
    if norm == "linf":
        delta = (torch.rand(shape, generator=generator, dtype=x.dtype) * 2 - 1) * eps
    else:
        direction = torch.randn(shape, generator=generator, dtype=x.dtype)
        direction = direction / _per_example_norm(direction).clamp_min(1e-12)
        dims = x[0].numel()
        radius = torch.rand(len(x), generator=generator, dtype=x.dtype) ** (1.0 / dims) * eps
        delta = direction * radius.view(-1, *([1] * (x.ndim - 1)))
    return (x + delta.to(device)).clamp(0.0, 1.0)


# --------------------------------------------------------------------------------------------------
# FGSM and PGD


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor | int | None = None, *, eps: float,
         targeted: bool = False) -> torch.Tensor:
    """The fast gradient sign method (Goodfellow et al. 2015): ``clamp(x + eps * sign(grad_x L), 0, 1)``.

    ``eps`` is the L-inf budget in [0, 1] pixel units (e.g. 8/255). Non-targeted: ascends the loss of
    ``y`` (default: the model's prediction). Targeted: descends the loss of the target ``y``.
    One forward and one backward pass. Returns a new tensor like ``x``.
    """
    eps = _check_eps(eps)
    return pgd(model, x, y, eps=eps, alpha=eps if eps > 0 else 1.0, steps=1, targeted=targeted)


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | int | None = None,
    *,
    eps: float,
    alpha: float,
    steps: int,
    norm: str = "linf",
    targeted: bool = False,
    random_start: bool = False,
    grad_fn: GradFn | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Projected gradient descent (Madry et al. 2018); with ``random_start=False`` it is BIM / I-FGSM.

    Each of ``steps`` iterations: a step of size ``alpha`` (``alpha * sign(g)`` for L-inf, ``alpha * g /
    ||g||_2`` for L2), projection onto the ``norm``-ball of radius ``eps`` around ``x``, clamp to [0, 1].
    ``eps`` and ``alpha`` are in [0, 1] pixel units. ``grad_fn(loss_fn, x) -> g`` supplies the gradient
    (default :func:`helpers.gradients.autograd_grad`, white box; a black-box estimator from
    :mod:`helpers.gradients` works the same). ``generator`` seeds the random start.
    Returns a new tensor like ``x``; ``x`` is not modified.
    """
    check_images(x, channels=None)
    eps = _check_eps(eps)
    alpha = _check_eps(alpha, "alpha")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    grad_fn = autograd_grad if grad_fn is None else grad_fn
    x = x.detach()
    with attacking(model):
        y = _labels(model, x, y, targeted)
        if eps == 0 or steps == 0:
            return x.clone()
        loss = attack_objective(model, y, targeted)
        x_adv = _random_start(x, eps, norm, generator) if random_start else x.clone()
        for _ in range(steps):
            g = grad_fn(loss, x_adv)
            x_adv = project(x_adv + ascent_step(g, alpha, norm), x, eps, norm)
    return x_adv


def query_attack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | int | None = None,
    *,
    grad_fn: GradFn,
    eps: float,
    alpha: float,
    max_steps: int,
    norm: str = "linf",
    targeted: bool = False,
) -> dict[str, torch.Tensor]:
    """A black-box attack that stops on each image as soon as it succeeds, counting its queries.

    The same steps as :func:`pgd` driven by ``grad_fn`` (e.g. :class:`helpers.gradients.NES`), but each
    step only for the images not yet fooled, and one more query per image to check it. Returns
    ``{"x_adv": (N, C, H, W), "queries": (N,) int64 spent on each image, "success": (N,) bool}``.
    """
    check_images(x, channels=None)
    eps, alpha = _check_eps(eps), _check_eps(alpha, "alpha")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 0:
        raise ValueError(f"max_steps must be an int >= 0, got {max_steps!r}")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    x = x.detach()
    with attacking(model):
        y = _labels(model, x, y, targeted)
        queries = torch.ones(len(x), dtype=torch.int64)  # the check of the clean image

        def fooled(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                hit = model(images).argmax(dim=1) == labels
            return (hit if targeted else ~hit).cpu()

        success = fooled(x, y)
        x_adv = x.clone()
        for _ in range(max_steps):
            active = (~success).nonzero().flatten()
            if len(active) == 0 or eps == 0:
                break
            before = getattr(grad_fn, "queries", 0)
            xa, xo, ya = x_adv[active], x[active], y[active]
            g = grad_fn(attack_objective(model, ya, targeted), xa)
            spent = (getattr(grad_fn, "queries", 0) - before) // len(active) if hasattr(grad_fn, "queries") else 1
            x_adv[active] = project(xa + ascent_step(g, alpha, norm), xo, eps, norm)
            queries[active] += spent + 1
            success[active] = fooled(x_adv[active], ya)
    return {"x_adv": x_adv, "queries": queries, "success": success}


def random_perturbation(x: torch.Tensor, eps: float, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """The baseline an attack must beat: ``clamp(x + eps * s, 0, 1)`` with random signs ``s`` (a random
    corner of the L-inf ball, as large as FGSM's step but blind to the gradient)."""
    check_images(x, channels=None)
    eps = _check_eps(eps)
    signs = torch.randint(0, 2, x.shape, generator=generator).to(x.device, x.dtype) * 2 - 1
    return (x.detach() + eps * signs).clamp(0.0, 1.0)


# --------------------------------------------------------------------------------------------------
# Optimisation attacks: fooling images and targeted attacks that stay close


def fooling_image(
    model: nn.Module,
    target: int,
    *,
    steps: int,
    lr: float,
    start: torch.Tensor | None = None,
    size: int = 224,
    confidence: float | None = 0.99,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> tuple[torch.Tensor, dict[str, list[float]]]:
    """Optimise an image until the network calls it ``target`` ("not an iguana, but classified as one").

    Starts from ``start`` (1, 3, H, W) in [0, 1] (not modified) or from uniform noise of ``size`` x
    ``size``; minimises the cross-entropy of ``target`` with Adam (learning rate ``lr``, in pixel units),
    clamping to [0, 1] after every step, for at most ``steps`` steps, stopping early once the target's
    probability reaches ``confidence`` (None: never). Returns the image (1, 3, H, W) and a history with
    ``"target_probability"`` and ``"loss"`` per step.
    """
    if start is None:
        start = torch.rand(1, 3, size, size, generator=generator)
    check_images(start, name="start", channels=None)
    return _optimise(model, start, target, steps=steps, lr=lr, lam=0.0, confidence=confidence,
                     progress=progress, description="fooling image")


def targeted_with_proximity(
    model: nn.Module,
    x: torch.Tensor,
    target: int,
    *,
    lam: float,
    steps: int,
    lr: float = 0.01,
    confidence: float | None = None,
    progress: bool = True,
) -> tuple[torch.Tensor, dict[str, list[float]]]:
    """Minimise ``L(f(x'), target) + lam * ||x' - x||_2^2`` over ``x'`` in [0, 1] (the lecture's cat -> iguana).

    ``x``: (1, C, H, W) in [0, 1]; ``lam`` >= 0 weighs closeness to ``x`` (squared L2 over all pixels);
    Adam with learning rate ``lr`` (pixel units), clamped to [0, 1] after each step, ``steps`` steps (or
    until the target's probability reaches ``confidence``). Returns ``x'`` and a history per step:
    ``"loss"``, ``"target_probability"``, ``"l2"`` and ``"linf"`` (distances to ``x``).
    """
    check_images(x, channels=None)
    return _optimise(model, x, target, steps=steps, lr=lr, lam=_check_eps(lam, "lam"),
                     confidence=confidence, progress=progress, description="targeted attack")


def _optimise(model, x, target, *, steps, lr, lam, confidence, progress, description):
    if len(x) != 1:
        raise ValueError(f"optimise one image at a time: x must be (1, C, H, W), got {tuple(x.shape)}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    if confidence is not None and not 0 < confidence <= 1:
        raise ValueError(f"confidence must be in (0, 1] or None, got {confidence!r}")
    original = x.detach()
    history: dict[str, list[float]] = {"loss": [], "target_probability": [], "l2": [], "linf": []}
    with attacking(model):
        target_tensor = _labels(model, original, target, targeted=True)
        image = original.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([image], lr=lr)
        bar = tqdm(range(steps), desc=description, disable=not progress, leave=False)
        for step in bar:
            logits = model(image)
            if step == 0 and not 0 <= int(target_tensor[0]) < logits.shape[1]:
                raise ValueError(f"target must be one of the class indices [0, {logits.shape[1]}), got {target}")
            # BEGIN SOLUTION exercise=fooling-objective points=2 hint="minimise it to make the net say target"
            loss = F.cross_entropy(logits, target_tensor)
            # END SOLUTION
            if lam > 0:
                # BEGIN SOLUTION exercise=proximity-term points=1 hint="add lam * squared L2 distance to original"
                loss = loss + lam * (image - original).pow(2).sum()
                # END SOLUTION
            probability = logits.softmax(dim=1)[0, target_tensor[0]].item()
            difference = (image.detach() - original).flatten()
            history["loss"].append(loss.item())
            history["target_probability"].append(probability)
            history["l2"].append(difference.norm().item())
            history["linf"].append(difference.abs().max().item())
            bar.set_postfix(p_target=f"{probability:.3f}")
            if confidence is not None and probability >= confidence:
                break
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                image.clamp_(0.0, 1.0)
    return image.detach(), history


# --------------------------------------------------------------------------------------------------
# Measuring attacks


@torch.no_grad()
def _correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(N,) bool on the CPU: does the model, in eval mode, classify each image as its label?"""
    was_training = model.training
    model.eval()
    try:
        return model(x).argmax(dim=1).cpu() == torch.as_tensor(y).cpu()
    finally:
        model.train(was_training)


@torch.no_grad()
def perturbation_size(x: torch.Tensor, x_adv: torch.Tensor) -> dict[str, torch.Tensor]:
    """The size of ``x_adv - x`` per image: ``{"linf": (N,), "l2": (N,)}`` in [0, 1] pixel units
    (multiply L-inf by 255 for grey levels)."""
    if x.shape != x_adv.shape:
        raise ValueError(f"x and x_adv must have the same shape, got {tuple(x.shape)} and {tuple(x_adv.shape)}")
    delta = (x_adv - x).flatten(1)
    return {"linf": delta.abs().max(dim=1).values, "l2": delta.norm(dim=1)}


@torch.no_grad()
def success_rate(model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor, *, targeted: bool = False) -> float:
    """Share of ``x_adv`` on which the attack succeeded: classified as the target ``y`` (targeted), or as
    anything but the original label ``y`` (non-targeted)."""
    check_images(x_adv, name="x_adv", channels=None)
    hits = _correct(model, x_adv, torch.as_tensor(y).expand(len(x_adv)))
    return (hits if targeted else ~hits).float().mean().item()


def transfer_attack(
    source_model: nn.Module,
    target_model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    *,
    attack: Attack,
    targeted: bool = False,
) -> dict[str, object]:
    """Craft adversarial examples on ``source_model`` (white box) and try them on ``target_model``.

    ``attack(model, x, y, targeted=...)`` is any attack here with its budget bound, e.g.
    ``functools.partial(pgd, eps=8/255, alpha=2/255, steps=10)``. With ``y=None`` each model's own clean
    predictions are the labels to move away from. Returns ``{"x_adv", "source_success", "target_success"}``
    (success rates as in :func:`success_rate`).
    """
    check_images(x, channels=None)
    with torch.no_grad():
        y_source = _labels(source_model, x, y, targeted)
        y_target = y_source if (y is not None or targeted) else _labels(target_model, x, None, False)
    x_adv = attack(source_model, x, y_source, targeted=targeted)
    return {
        "x_adv": x_adv,
        "source_success": success_rate(source_model, x_adv, y_source, targeted=targeted),
        "target_success": success_rate(target_model, x_adv, y_target, targeted=targeted),
    }


def robust_accuracy(
    model: nn.Module,
    attack: Attack,
    data: tuple[torch.Tensor, torch.Tensor] | Iterable[tuple[torch.Tensor, torch.Tensor]],
    eps_list: Iterable[float],
) -> dict[float, float]:
    """Accuracy under attack at each budget: ``{eps: accuracy}``, for accuracy-vs-eps curves.

    ``attack(model, x, y, eps=eps)`` returns adversarial images (e.g. ``lambda m, x, y, eps: pgd(m, x, y,
    eps=eps, alpha=eps / 4, steps=10)``); ``data`` is one batch ``(x, y)`` or an iterable of batches
    (a DataLoader). ``eps = 0`` gives the clean accuracy. An image counts as correct only if it is
    classified correctly both clean and attacked (as RobustBench counts), so an attack that happens to fix
    a misclassified image does not raise the accuracy.
    """
    batches = [data] if isinstance(data, tuple) and isinstance(data[0], torch.Tensor) else list(data)
    results = {}
    for eps in eps_list:
        eps = _check_eps(eps)
        correct = total = 0
        for x, y in batches:
            clean = _correct(model, x, y)
            correct += int((clean & _correct(model, attack(model, x, y, eps=eps), y)).sum()) if eps else int(clean.sum())
            total += len(x)
        results[eps] = correct / total
    return results
