"""Defenses that change how the classifier is trained: the losses of the lecture, as training-loop plug-ins.

Each loss has the signature of :func:`helpers.training.train_classifier`'s ``loss_fn(model, x, y)`` once
its options are bound with :func:`functools.partial`::

    attack = functools.partial(pgd, eps=0.2, alpha=0.05, steps=7, random_start=True)
    train_classifier(model, data, epochs=30, loss_fn=functools.partial(adversarial_training_loss,
                                                                      attack=attack, lam=1.0))

- :func:`adversarial_training_loss`: ``L(x, y) + lam * L(x_adv, y)`` (Goodfellow et al. 2015; with PGD,
  Madry et al. 2018);
- :func:`logit_pairing_loss`: ``L(x, y) + lam * ||f(x) - f(x_adv)||_2^2``, the lecture's form: the pairing
  term added to the *clean* loss (no cross-entropy on ``x_adv``; close in spirit to TRADES, Zhang et al.
  2019, which pairs the clean and adversarial softmax outputs with a KL divergence);
- :func:`adversarial_logit_pairing_loss`: Kannan, Kurakin and Goodfellow's adversarial logit pairing (ALP,
  2018) as published: the pairing term added to adversarial training's loss on a batch that mixes clean
  and adversarial images half and half, ``(L(x, y) + L(x_adv, y)) / 2 + lam * ||f(x) - f(x_adv)||_2^2``
  (Engstrom, Ilyas and Athalye, 2018, found ALP's ImageNet robustness much lower under a stronger attack);
- :func:`labelled_adversarial_examples`: a *fixed* set of correctly labelled adversarial examples, forged
  once against a given model, to add to the training data.

``x`` is a batch of images (N, C, H, W) in [0, 1], ``y`` int64 labels (N,); ``L`` is the mean
cross-entropy and ``f`` the logits (N, K). ``attack(model, x, y) -> x_adv`` is any attack of
:mod:`helpers.attacks` with its budget bound (eps, alpha, steps in [0, 1] pixel units). In both losses
``x_adv`` is forged anew at every call, against the weights the model has at that moment, and is treated
as a constant input: no parameter gradient flows through its construction (Madry et al.'s Danskin
argument: the gradient at the inner maximiser is the gradient of the max). Bad input raises ``ValueError``
(``TypeError`` for a wrong type) naming the parameter, before the attack runs.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .training import accuracy, cross_entropy_loss, train_classifier
from .validation import check_callable, check_images, check_int, check_labels, check_model, check_number

__all__ = [
    "accuracy",
    "adversarial_examples",
    "adversarial_logit_pairing_loss",
    "adversarial_training_loss",
    "cross_entropy_loss",
    "labelled_adversarial_examples",
    "logit_pairing_loss",
    "train_classifier",
]

Attack = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def _check_lam(lam: float) -> float:
    return check_number(lam, "lam", minimum=0.0)


def adversarial_examples(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: Attack) -> torch.Tensor:
    """``attack(model, x, y)``, checked and detached: (N, C, H, W) in [0, 1], a constant for autograd.

    The attacks of :mod:`helpers.attacks` run the model in eval mode and restore its mode (train mode
    inside a training step), and leave parameter gradients alone; the result is detached here too, so a
    home-made attack cannot leak parameter gradients into the loss either. ``x``: images (N, C, H, W) in
    [0, 1]; ``y``: int64 (N,).
    """
    check_model(model)
    check_images(x, channels=None)
    check_labels(y, len(x))
    check_callable(attack, "attack")
    x_adv = attack(model, x, y)
    if not isinstance(x_adv, torch.Tensor) or x_adv.shape != x.shape:
        raise ValueError(f"attack must return a tensor shaped like x {tuple(x.shape)}, got "
                         f"{getattr(x_adv, 'shape', type(x_adv).__name__)}")
    check_images(x_adv, name="x_adv", channels=None)
    return x_adv.detach()


def adversarial_training_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, attack: Attack,
                              lam: float = 1.0) -> torch.Tensor:
    """``L(x, y) + lam * L(x_adv, y)``, with ``x_adv = attack(model, x, y)`` forged now, at the current weights.

    ``lam`` >= 0 weighs the adversarial term (the lecture's lambda; Goodfellow et al. used an equal mix).
    Clean and adversarial images go through the model in one batch of 2N (same result as two forward
    passes for models without batch statistics; with batch norm they share the batch's statistics).
    Returns a scalar tensor with a graph to the parameters.
    """
    lam = _check_lam(lam)
    # BEGIN SOLUTION exercise=adversarial-training-loss points=2 hint="forge x_adv with adversarial_examples(...)"
    x_adv = adversarial_examples(model, x, y, attack)
    logits = model(torch.cat([x, x_adv]))
    clean, adversarial = logits[: len(x)], logits[len(x):]
    return F.cross_entropy(clean, y) + lam * F.cross_entropy(adversarial, y)
    # END SOLUTION


def logit_pairing_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, attack: Attack,
                       lam: float = 1.0) -> torch.Tensor:
    """``L(x, y) + lam * ||f(x) - f(x_adv)||_2^2``: clean cross-entropy plus adversarial logit pairing.

    The pairing term is the squared Euclidean distance between the logit vectors of each image and of
    its adversarial twin, averaged over the batch; gradients flow through both ``f(x)`` and ``f(x_adv)``
    (pulling the two together), never through the construction of ``x_adv``. Returns a scalar tensor.
    """
    lam = _check_lam(lam)
    # BEGIN SOLUTION exercise=logit-pairing-loss points=2 hint="forge x_adv with adversarial_examples(...)"
    x_adv = adversarial_examples(model, x, y, attack)
    logits = model(torch.cat([x, x_adv]))
    clean, adversarial = logits[: len(x)], logits[len(x):]
    return F.cross_entropy(clean, y) + lam * (clean - adversarial).pow(2).sum(dim=1).mean()
    # END SOLUTION


def adversarial_logit_pairing_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, attack: Attack,
                                   lam: float = 0.5) -> torch.Tensor:
    """Kannan et al.'s adversarial logit pairing: ``(L(x, y) + L(x_adv, y)) / 2 + lam * ||f(x) - f(x_adv)||_2^2``.

    The first term is adversarial training on a minibatch of clean and adversarial images in equal parts
    (the mean cross-entropy over the 2N images); the second, as in :func:`logit_pairing_loss`, the squared
    Euclidean distance between the logits of each image and of its twin, averaged over the batch. ``lam``
    >= 0. Kannan et al.'s code averages the squared difference over the K classes too
    (``tf.losses.mean_squared_error``), so their weight is K times this ``lam``: their 0.5 on ImageNet is
    ``lam = 0.5 / 1001`` here, and ``lam = 0.05`` for the 10 digits. ``x_adv = attack(model, x, y)`` is forged
    now and treated as a constant. Returns a scalar tensor with a graph to the parameters. Part of the ``logit-pairing-loss``
    exercise: the same parts as :func:`logit_pairing_loss`, with the mixed batch's cross-entropy.
    """
    lam = _check_lam(lam)
    # BEGIN SOLUTION exercise=logit-pairing-loss hint="as logit_pairing_loss, with the mean cross-entropy of the 2N images"
    x_adv = adversarial_examples(model, x, y, attack)
    logits = model(torch.cat([x, x_adv]))
    clean, adversarial = logits[: len(x)], logits[len(x):]
    mixed = F.cross_entropy(logits, torch.cat([y, y]))
    return mixed + lam * (clean - adversarial).pow(2).sum(dim=1).mean()
    # END SOLUTION


def labelled_adversarial_examples(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], *,
                                  attack: Attack, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed set of correctly labelled adversarial examples: ``(attack(model, x, y), y)`` for ``data = (x, y)``.

    Forged once, against ``model`` as it is now (typically a standard, undefended model), in batches of
    ``batch_size``; add them to the training data (``torch.cat``) to train a new model on them. Unlike
    adversarial training, the set does not follow the new model's weights: it teaches the new model the
    old model's blind spots, not its own. Returns images (N, C, H, W) in [0, 1] and the labels ``y``
    (a copy). ``model`` is left unchanged, in its previous mode.
    """
    check_model(model)
    x, y = data
    check_images(x, channels=None)
    check_labels(y, len(x))
    check_callable(attack, "attack")
    check_int(batch_size, "batch_size")
    parts = [adversarial_examples(model, xb, yb, attack) for xb, yb in zip(x.split(batch_size), y.split(batch_size))]
    return torch.cat(parts), y.clone()
