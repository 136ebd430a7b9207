"""Adversarial attacks: FGSM, PGD (L-inf and L2, white box or black box), fooling images, transfer.

Conventions (as torchattacks and CleverHans): attacks are plain functions ``attack(model, x, y=None, *, ...)``
on images ``x`` in [0, 1], shape (N, C, H, W); they never modify their inputs; they return images in
[0, 1] and inside the eps-ball around ``x``; with ``y=None`` they attack the model's own predictions;
``eps=0`` returns ``x`` unchanged. Images in float64 for a float32 model (or the reverse) are converted to
the model's dtype, and so is the result; bad input raises ``ValueError`` (``TypeError`` for a wrong type)
naming the parameter, before any work. The model runs in eval mode, its previous mode and its parameters'
``requires_grad`` flags are restored afterwards, gradients are taken with respect to the input only, and
every attack also works when called inside ``torch.no_grad()``.

The gradient is pluggable: ``grad_fn`` (see :mod:`helpers.gradients`) is backprop (white box), finite
differences or a query-efficient estimate (black box); the same attack loop runs on all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .gradients import GradFn, autograd_grad
from .validation import (
    call_model, check_callable, check_choice, check_images, check_int, check_labels, check_model, check_number,
    check_same_shape, check_tensor
)

__all__ = [
    "NORMS", "ascent_step", "attack_objective", "attacking", "fgsm", "fooling_image", "perturbation_size", "pgd",
    "project", "query_attack", "random_perturbation", "robust_accuracy", "success_rate", "targeted_with_proximity",
    "transfer_attack",
]

NORMS = ("linf", "l2")
Attack = Callable[..., torch.Tensor]


# --------------------------------------------------------------------------------------------------
# Shared plumbing


@contextmanager
def attacking(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode, frozen parameters and gradients enabled for the duration; everything restored after."""
    check_model(model)
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
    return check_number(eps, name, minimum=0.0)


def _as_model_input(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``x`` detached, in the dtype of the model's parameters (no copy when it already is)."""
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), x.dtype)
    return x.detach().to(dtype)


def _labels(model: nn.Module, x: torch.Tensor, y: torch.Tensor | int | None, targeted: bool, name: str = "y"
            ) -> torch.Tensor:
    """The labels to move away from (or, targeted, towards), as int64 (N,) on x's device: ``y`` (one int or
    0-d tensor stands for every image), or the model's predictions. Their range is checked at the first
    forward pass (:func:`attack_objective`), when the number of classes is known."""
    if y is None:
        if targeted:
            raise ValueError(f"a targeted attack needs {name}, the target class of each image")
        with torch.no_grad():
            return call_model(model, x).argmax(dim=1)
    return _expand_labels(y, len(x), name).to(x.device)


def _expand_labels(y: torch.Tensor | int, n: int, name: str = "y") -> torch.Tensor:
    """``y`` checked as n class indices (int64 (n,)); one int or a 0-d tensor stands for all n."""
    if isinstance(y, int) and not isinstance(y, bool):
        y = torch.tensor(y)
    if isinstance(y, torch.Tensor) and y.ndim == 0:
        y = y.expand(n)
    return check_labels(y, n, name=name)


def attack_objective(model: nn.Module, y: torch.Tensor, targeted: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    """The per-example objective the attack ascends, on queries (N, K, C, H, W) -> (N, K).

    Non-targeted: the cross-entropy of the true class (push it down). Targeted: minus the cross-entropy
    of the target class (pull the target up). ``y``: int64 (N,); at the first call the queries are checked
    against the model (``ValueError`` naming x) and ``y`` against its number of classes.
    """
    check_model(model)
    check_labels(y, None)
    checked = []

    def loss(queries: torch.Tensor) -> torch.Tensor:
        n, k = queries.shape[:2]
        flat = queries.reshape(n * k, *queries.shape[2:])
        if not checked:
            logits = call_model(model, flat)
            check_labels(y, n, logits.shape[1])
            checked.append(True)
        else:
            logits = model(flat)
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
    ``g``. Raises ``ValueError`` for an unknown norm, a negative ``alpha`` or a non-finite ``g``.
    """
    check_choice(norm, "norm", NORMS)
    check_number(alpha, "alpha", minimum=0.0)
    check_tensor(g, "g")
    # BEGIN SOLUTION exercise=fgsm-step points=2 hint="see the docstring; _per_example_norm(g) is the L2 norm"
    if norm == "linf":
        return alpha * g.sign()
    return alpha * g / _per_example_norm(g).clamp_min(1e-12)
    # END SOLUTION


def project(x_adv: torch.Tensor, x: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Project ``x_adv`` onto the ``norm``-ball of radius ``eps`` around ``x``, then clamp to [0, 1].

    Clamping after projecting keeps the point inside the ball: since ``x`` is in [0, 1], clamping only
    shrinks each coordinate of the perturbation. ``x_adv`` and ``x``: finite tensors of one shape (N, C, H, W).
    """
    check_choice(norm, "norm", NORMS)
    check_number(eps, "eps", minimum=0.0)
    check_same_shape(check_tensor(x_adv, "x_adv"), check_tensor(x, "x"), "x_adv and x")
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
    One forward and one backward pass. Returns a new tensor shaped like ``x``, in the model's dtype.
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
    Returns a new tensor shaped like ``x``, in the model's dtype (float64 images are converted for a float32
    model); ``x`` is not modified.
    """
    check_model(model)
    check_images(x, channels=None)
    eps = _check_eps(eps)
    alpha = _check_eps(alpha, "alpha")
    check_int(steps, "steps", minimum=0)
    check_choice(norm, "norm", NORMS)
    grad_fn = autograd_grad if grad_fn is None else check_callable(grad_fn, "grad_fn")
    x = _as_model_input(model, x)
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
    ``{"x_adv": (N, C, H, W), "queries": (N,) int64 spent on each image, "success": (N,) bool}``
    (``x_adv`` in the model's dtype, as for :func:`pgd`).
    """
    check_model(model)
    check_callable(grad_fn, "grad_fn")
    check_images(x, channels=None)
    eps, alpha = _check_eps(eps), _check_eps(alpha, "alpha")
    check_int(max_steps, "max_steps", minimum=0)
    check_choice(norm, "norm", NORMS)
    x = _as_model_input(model, x)
    with attacking(model):
        y = _labels(model, x, y, targeted)
        queries = torch.ones(len(x), dtype=torch.int64)  # the check of the clean image

        def fooled(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                hit = model(images).argmax(dim=1) == labels
            return (hit if targeted else ~hit).cpu()

        with torch.no_grad():
            check_labels(y, len(x), call_model(model, x[:1]).shape[1])
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
    check_model(model)
    if start is None:
        check_int(size, "size", maximum=4096)
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
    check_model(model)
    check_images(x, channels=None)
    return _optimise(model, x, target, steps=steps, lr=lr, lam=_check_eps(lam, "lam"),
                     confidence=confidence, progress=progress, description="targeted attack")


def _optimise(model, x, target, *, steps, lr, lam, confidence, progress, description):
    if len(x) != 1:
        raise ValueError(f"optimise one image at a time: x must be (1, C, H, W), got {tuple(x.shape)}")
    check_int(steps, "steps", minimum=0)
    check_number(lr, "lr", positive=True)
    if confidence is not None:
        check_number(confidence, "confidence", positive=True, maximum=1.0, hint="or None to run every step")
    original = _as_model_input(model, x)
    history: dict[str, list[float]] = {"loss": [], "target_probability": [], "l2": [], "linf": []}
    with attacking(model):
        target_tensor = _labels(model, original, target, targeted=True, name="target")
        image = original.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([image], lr=lr)
        bar = tqdm(range(steps), desc=description, disable=not progress, leave=False)
        for step in bar:
            logits = call_model(model, image) if step == 0 else model(image)
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
def _correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, name: str = "x") -> torch.Tensor:
    """(N,) bool on the CPU: does the model, in eval mode, classify each image as its label? ``y`` is
    checked against the model's number of classes."""
    was_training = model.training
    model.eval()
    try:
        logits = call_model(model, _as_model_input(model, x), name=name)
    finally:
        model.train(was_training)
    return logits.argmax(dim=1).cpu() == check_labels(y, len(x), logits.shape[1]).cpu()


@torch.no_grad()
def perturbation_size(x: torch.Tensor, x_adv: torch.Tensor) -> dict[str, torch.Tensor]:
    """The size of ``x_adv - x`` per image: ``{"linf": (N,), "l2": (N,)}`` in [0, 1] pixel units
    (multiply L-inf by 255 for grey levels). Both are images (N, C, H, W) in [0, 1] of one shape."""
    check_images(x, channels=None)
    check_images(x_adv, name="x_adv", channels=None)
    check_same_shape(x, x_adv, "x and x_adv")
    delta = (x_adv - x).flatten(1)
    return {"linf": delta.abs().max(dim=1).values, "l2": delta.norm(dim=1)}


@torch.no_grad()
def success_rate(model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor | int, *, targeted: bool = False) -> float:
    """Share of ``x_adv`` on which the attack succeeded: classified as the target ``y`` (targeted), or as
    anything but the original label ``y`` (non-targeted). ``y``: int64 (N,) class indices of the model, or
    one int for every image."""
    check_model(model)
    check_images(x_adv, name="x_adv", channels=None)
    hits = _correct(model, x_adv, _expand_labels(y, len(x_adv)), name="x_adv")
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
    check_model(source_model, "source_model")
    check_model(target_model, "target_model")
    check_callable(attack, "attack")
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
    a misclassified image does not raise the accuracy. ``eps_list`` must not be empty.
    """
    check_model(model)
    check_callable(attack, "attack")
    batches = [data] if isinstance(data, tuple) and data and isinstance(data[0], torch.Tensor) else list(data)
    if not batches or any(not isinstance(batch, tuple) or len(batch) != 2 for batch in batches):
        raise ValueError("data must be one batch (x, y) or a non-empty iterable of them (a DataLoader)")
    for x, y in batches:
        check_images(x, channels=None)
        check_labels(y, len(x))
    eps_list = [_check_eps(eps) for eps in eps_list]
    if not eps_list:
        raise ValueError("eps_list is empty; give the budgets to measure, e.g. [0, 2/255, 8/255]")
    results = {}
    for eps in eps_list:
        correct = total = 0
        for x, y in batches:
            clean = _correct(model, x, y)
            correct += int((clean & _correct(model, attack(model, x, y, eps=eps), y)).sum()) if eps else int(clean.sum())
            total += len(x)
        results[eps] = correct / total
    return results
