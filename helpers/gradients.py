"""Gradients of an attack's objective with respect to the input: white box and black box.

Every estimator has the signature ``grad_fn(loss_fn, x) -> g``:

- ``x``: the current images (N, C, H, W) in [0, 1];
- ``loss_fn(queries)``: takes query images (N, K, C, H, W) -- K queries around each of the N images --
  and returns the per-query objective (N, K) (the attack ascends it);
- ``g``: the gradient (or its estimate) of each image's objective, shaped like ``x``.

:func:`autograd_grad` backpropagates (white box: the attacker has the weights). :class:`FiniteDifference`
and :class:`NES` only query the model's outputs (black box) and count their queries in ``.queries``
(one query = one image through the model). Query points are clamped to [0, 1], since the model accepts
nothing else; at the border the difference quotient divides by the step actually taken. Bad input (a
non-callable ``loss_fn``, a non-finite ``x``, a bad setting) raises ``TypeError`` / ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .validation import check_callable, check_images, check_int, check_number, check_tensor

__all__ = ["FiniteDifference", "NES", "autograd_grad"]

LossFn = Callable[[torch.Tensor], torch.Tensor]
GradFn = Callable[[LossFn, torch.Tensor], torch.Tensor]


def autograd_grad(loss_fn: LossFn, x: torch.Tensor) -> torch.Tensor:
    """The exact gradient by backpropagation (white box): one forward and one backward pass per image.
    ``x``: a finite tensor (N, ...); returns a tensor shaped like it."""
    check_callable(loss_fn, "loss_fn")
    check_tensor(x, "x")
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = loss_fn(x.unsqueeze(1)).sum()
        (grad,) = torch.autograd.grad(loss, x, allow_unused=True) if loss.requires_grad else (None,)
    if grad is None:
        raise ValueError(
            "the model's output has no gradient with respect to its input (a non-differentiable layer, "
            "or gradient masking): backprop cannot attack it; use a black-box grad_fn such as NES"
        )
    return grad


class FiniteDifference:
    """The numerical gradient by central differences: 2 queries per input dimension and image.

    ``g_j = (L(x + h e_j) - L(x - h e_j)) / (2h)`` for every pixel j; queries are sent ``batch_size`` at a
    time per image. Exact up to O(h^2) and rounding, and hopeless for large inputs: a 224x224 RGB image
    needs 301,056 queries per step. ``h`` is in [0, 1] pixel units.
    """

    def __init__(self, h: float = 1e-3, batch_size: int = 256):
        if not check_number(h, "h", positive=True) < 0.5:
            raise ValueError(f"h must be in (0, 0.5), got {h!r}")
        check_int(batch_size, "batch_size", minimum=2)
        self.h, self.batch_size, self.queries = h, batch_size, 0

    def __call__(self, loss_fn: LossFn, x: torch.Tensor) -> torch.Tensor:
        """The gradient estimate for images ``x`` (N, C, H, W) in [0, 1], shaped like ``x``."""
        check_callable(loss_fn, "loss_fn")
        check_images(x, channels=None)
        x = x.detach()
        n, dims = len(x), x[0].numel()
        flat = x.reshape(n, 1, dims)
        grad = torch.empty(n, dims, dtype=x.dtype, device=x.device)
        per_chunk = max(1, self.batch_size // 2)
        with torch.no_grad():
            for start in range(0, dims, per_chunk):
                index = torch.arange(start, min(start + per_chunk, dims), device=x.device)
                basis = torch.zeros(len(index), dims, dtype=x.dtype, device=x.device)
                basis[torch.arange(len(index)), index] = self.h
                # BEGIN SOLUTION exercise=finite-difference points=2 hint="query x +- h e_j, j in index"
                plus = (flat + basis).clamp(0, 1)  # (N, k, D)
                minus = (flat - basis).clamp(0, 1)
                queries = torch.cat([plus, minus], dim=1).reshape(n, 2 * len(index), *x.shape[1:])
                losses = loss_fn(queries)
                self.queries += queries.shape[0] * queries.shape[1]
                taken = (plus - minus)[:, torch.arange(len(index)), index]  # 2h, less at the border
                grad[:, index] = (losses[:, : len(index)] - losses[:, len(index):]) / taken
                # END SOLUTION
        return grad.view_as(x)


class NES:
    """A query-efficient gradient estimate: natural evolution strategies with antithetic sampling.

    ``g = 1 / (2 sigma K) * sum_k (L(x + sigma u_k) - L(x - sigma u_k)) u_k`` with ``u_k ~ N(0, I)``
    (Ilyas et al. 2018): ``2 * samples`` queries per image, whatever the input's size. ``sigma`` is in
    [0, 1] pixel units. ``seed`` makes the estimate repeatable.
    """

    def __init__(self, samples: int = 50, sigma: float = 1e-3, seed: int = 0, batch_size: int = 100):
        check_int(samples, "samples")
        check_number(sigma, "sigma", positive=True, maximum=0.5)
        check_int(seed, "seed", minimum=0)
        check_int(batch_size, "batch_size")
        self.samples, self.sigma, self.batch_size, self.queries = samples, sigma, batch_size, 0
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, loss_fn: LossFn, x: torch.Tensor) -> torch.Tensor:
        """The gradient estimate for images ``x`` (N, C, H, W) in [0, 1], shaped like ``x``."""
        check_callable(loss_fn, "loss_fn")
        check_images(x, channels=None)
        x = x.detach()
        grad = torch.zeros_like(x)
        per_chunk = max(1, self.batch_size // 2)
        with torch.no_grad():
            for start in range(0, self.samples, per_chunk):
                k = min(per_chunk, self.samples - start)
                # BEGIN SOLUTION exercise=nes points=2 hint="k directions u from self.generator; query x +- sigma u"
                u = torch.randn(len(x), k, *x.shape[1:], generator=self.generator, dtype=x.dtype).to(x.device)
                base = x.unsqueeze(1)
                queries = torch.cat([(base + self.sigma * u).clamp(0, 1), (base - self.sigma * u).clamp(0, 1)], dim=1)
                losses = loss_fn(queries)
                self.queries += queries.shape[0] * queries.shape[1]
                difference = losses[:, :k] - losses[:, k:]  # (N, k)
                grad += (difference.view(len(x), k, *([1] * (x.ndim - 1))) * u).sum(dim=1)
                # END SOLUTION
        # BEGIN SOLUTION exercise=nes hint="scale the sum (see the docstring)"
        return grad / (2 * self.sigma * self.samples)
        # END SOLUTION
