"""A plain supervised training loop with a progress bar, a returned history and exact resume."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import config
from .checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The standard loss ``L(x, y)``: mean cross-entropy of the model's logits."""
    return F.cross_entropy(model(x), y)


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
    x, y = data
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"data must be (x, y) of the same non-zero length, got {len(x)} and {len(y)}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int, got {epochs!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")

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


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> float:
    """Share of ``x`` that ``model`` classifies as ``y``, in eval mode (the model's mode is restored)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        correct = sum(
            (model(xb.to(device)).argmax(1).cpu() == yb).sum().item()
            for xb, yb in zip(x.split(batch_size), y.split(batch_size))
        )
    finally:
        model.train(was_training)
    return correct / len(x)
