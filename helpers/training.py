"""A plain supervised training loop with a progress bar, a returned history and exact resume.

``x`` is a finite float tensor (N, ...) (images (N, C, H, W) in the course), ``y`` int64 class indices (N,)
of the model's classes. Bad input raises ``ValueError`` (``TypeError`` for a wrong type) naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import config
from .checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .validation import call_model, check_callable, check_int, check_labels, check_model, check_number, check_tensor

__all__ = ["accuracy", "cross_entropy_loss", "train_classifier"]

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The standard loss ``L(x, y)``: mean cross-entropy of the model's logits (N, classes) for ``x``, ``y``."""
    check_model(model)
    check_tensor(x, "x")
    logits = call_model(model, x)
    return F.cross_entropy(logits, check_labels(y, len(x), logits.shape[1]))


def train_classifier(
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    *,
    epochs: int,
    loss_fn: LossFn = cross_entropy_loss,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int | None = None,
    checkpoint: str | Path | None = None,
    progress: bool = True,
) -> dict[str, list[float]]:
    """Train ``model`` in place with Adam on ``data = (x, y)``, shuffled each epoch.

    ``loss_fn(model, x_batch, y_batch)`` returns the scalar to minimise (default: cross-entropy); an
    adversarial-training loss plugs in here. ``seed`` fixes the shuffling (default: :func:`helpers.config.seed`,
    so ``COURSE_SEED`` changes it). ``checkpoint``: a file written after every epoch; if it
    exists when training starts, training resumes from it exactly (weights, optimiser, epoch, RNG state).
    Returns the history: ``{"loss": [mean loss per epoch], "accuracy": [training accuracy per epoch]}``
    (accuracy on clean inputs, measured during the epoch in train mode). Leaves the model in eval mode.
    """
    check_model(model)
    x, y = _check_data(data)
    check_int(epochs, "epochs", minimum=0)
    check_callable(loss_fn, "loss_fn")
    check_number(lr, "lr", positive=True)
    check_int(batch_size, "batch_size")
    if seed is not None:
        check_int(seed, "seed", minimum=0)

    device = next(model.parameters()).device
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(config.seed() if seed is None else seed)
    history: dict[str, list[float]] = {"loss": [], "accuracy": []}
    start = 0
    if checkpoint is not None and Path(checkpoint).is_file():
        state = load_checkpoint(checkpoint)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        set_rng_state(state["rng"])
        history, start = state["history"], state["epoch"]

    bar = tqdm(range(start, epochs), desc="training", disable=not progress, initial=start, total=epochs)
    for epoch in bar:
        model.train()
        total_loss, correct = 0.0, 0
        for index in torch.randperm(len(x), generator=generator).split(batch_size):
            xb, yb = x[index].to(device), y[index].to(device)
            loss = loss_fn(model, xb, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(index)
            with torch.no_grad():
                correct += (model(xb).argmax(1) == yb).sum().item()
        history["loss"].append(total_loss / len(x))
        history["accuracy"].append(correct / len(x))
        bar.set_postfix(loss=f"{history['loss'][-1]:.3f}", accuracy=f"{history['accuracy'][-1]:.3f}")
        if checkpoint is not None:
            save_checkpoint(checkpoint, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch + 1,
                "generator": generator.get_state(), "rng": rng_state(), "history": history,
            })
    model.eval()
    return history


def _check_data(data: object, names: tuple[str, str] = ("x (data[0])", "y (data[1])")
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """``data = (x, y)`` checked: x a finite float tensor (N, ...), y int64 (N,); returned as they are."""
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"data must be a pair (x, y) of tensors, got {type(data).__name__}")
    x, y = data
    check_tensor(x, names[0])
    check_labels(y, len(x), name=names[1])
    return x, y


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> float:
    """Share of ``x`` that ``model`` classifies as ``y``, in eval mode (the model's mode is restored)."""
    check_model(model)
    x, y = _check_data((x, y), ("x", "y"))
    check_int(batch_size, "batch_size")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        correct = 0
        for index, (xb, yb) in enumerate(zip(x.split(batch_size), y.split(batch_size))):
            logits = call_model(model, xb.to(device)) if index == 0 else model(xb.to(device))
            if index == 0:
                check_labels(y, len(x), logits.shape[1])
            correct += (logits.argmax(1).cpu() == yb).sum().item()
    finally:
        model.train(was_training)
    return correct / len(x)
