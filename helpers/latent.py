"""Walks in a generator's latent space: interpolation, attribute directions, and whether they do what they say.

Latent codes are float tensors (N, D) drawn from N(0, I); a path between two codes is (steps, D). An
attribute is a number per image (e.g. :func:`ink`, the stroke thickness proxy); an attribute direction is a
difference of mean codes (Radford et al. 2016's latent arithmetic), and :func:`monotonicity` measures
whether moving along it changes the attribute monotonically. Radford et al.'s figure of arithmetic with
*concepts* ("smiling woman" - "neutral woman" + "neutral man") is :func:`latent_arithmetic` on the mean
codes of a few exemplars each (:func:`concept_code`), chosen by a rule (:func:`pick_exemplars`), and shown
with small noise around the result (:func:`neighbours`). Every tensor must be finite, floating and of the
stated shape (``ValueError`` otherwise, ``TypeError`` for a non-tensor).
"""

from __future__ import annotations

import numpy as np
import scipy.stats
import torch
from torch import nn

from .gan import generate
from .validation import check_images, check_int, check_labels, check_model, check_number, check_tensor

__all__ = ["attribute_direction", "concept_code", "ink", "latent_arithmetic", "lerp", "monotonicity", "neighbours",
           "pick_exemplars", "slerp", "walk"]


def _check_pair(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> None:
    check_tensor(z0, "z0")
    check_tensor(z1, "z1")
    if z0.ndim != 1 or z0.shape != z1.shape:
        raise ValueError(f"z0 and z1 must be latent codes of the same shape (D,), got {tuple(z0.shape)} and {tuple(z1.shape)}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an int >= 2 (the path includes both ends), got {steps!r}")


def lerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """The straight line from ``z0`` to ``z1`` (each (D,)): ``steps`` codes (steps, D), both ends included."""
    _check_pair(z0, z1, steps)
    t = torch.linspace(0, 1, steps, dtype=z0.dtype)[:, None]
    return (1 - t) * z0 + t * z1


def slerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016 for GANs): ``steps`` codes (steps, D) along the
    great circle from ``z0`` to ``z1``, with the norm interpolated linearly.

    In high dimension, N(0, I) codes have norm close to sqrt(D); the midpoint of a straight line is shorter
    (about sqrt(D/2) for two independent codes), a region the generator never saw in training, while the
    spherical path keeps typical norms. Falls back to :func:`lerp` for (anti-)parallel codes.
    """
    _check_pair(z0, z1, steps)
    # BEGIN SOLUTION exercise=slerp points=2 hint="the angle omega between the unit codes; sin((1-t) omega) u0 + sin(t omega) u1, over sin(omega); norms linearly"
    n0, n1 = z0.norm(), z1.norm()
    if n0 == 0 or n1 == 0:
        return lerp(z0, z1, steps)
    u0, u1 = z0 / n0, z1 / n1
    omega = torch.arccos((u0 @ u1).clamp(-1, 1))
    if torch.sin(omega).abs() < 1e-6:
        return lerp(z0, z1, steps)
    t = torch.linspace(0.0, 1.0, steps, dtype=z0.dtype).unsqueeze(1)
    direction = (torch.sin((1 - t) * omega) * u0 + torch.sin(t * omega) * u1) / torch.sin(omega)
    return direction * ((1 - t) * n0 + t * n1)
    # END SOLUTION


def ink(images: torch.Tensor) -> torch.Tensor:
    """Mean pixel value (N,) in [0, 1] of images (N, C, H, W) in [0, 1]: how much of the image is ink.

    For one digit drawn thicker or thinner, more ink means thicker strokes: the stroke-thickness attribute.
    """
    check_images(images, name="images", channels=None)
    return images.mean(dim=(1, 2, 3))


def attribute_direction(z: torch.Tensor, scores: torch.Tensor, *, fraction: float = 0.25,
                        groups: torch.Tensor | None = None) -> torch.Tensor:
    """Mean code of the highest-scoring ``fraction`` of ``z`` (N, D) minus that of the lowest: (D,).

    ``scores`` (N,) is the attribute of each code's image (e.g. :func:`ink` for thick minus thin). With
    ``groups`` (N,) (e.g. the digit the classifier sees), the top and bottom are taken within each group and
    the group differences averaged, so the direction changes the attribute rather than the digit.
    """
    check_tensor(z, "z")
    check_tensor(scores, "scores")
    if z.ndim != 2 or scores.shape != (len(z),):
        raise ValueError(f"z must be (N, D) and scores (N,), got {tuple(z.shape)} and {tuple(scores.shape)}")
    if not 0 < check_number(fraction, "fraction") <= 0.5:
        raise ValueError(f"fraction must be in (0, 0.5] (top and bottom shares of the codes), got {fraction!r}")
    groups = torch.zeros(len(z), dtype=torch.long) if groups is None else check_labels(groups, len(z), name="groups")
    # BEGIN SOLUTION exercise=attribute-direction points=2 hint="per group: mean code of the top fraction by score minus that of the bottom; average over groups"
    differences = []
    for group in groups.unique():
        members = (groups == group).nonzero().flatten()
        k = int(fraction * len(members))
        if k == 0:
            continue
        order = members[scores[members].argsort()]
        differences.append(z[order[-k:]].mean(0) - z[order[:k]].mean(0))
    if not differences:
        raise ValueError(f"too few codes: no group has 1/fraction = {1 / fraction:.0f} members")
    return torch.stack(differences).mean(0)
    # END SOLUTION


def walk(generator: nn.Module, z: torch.Tensor, direction: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
    """Images of ``z + alpha * direction`` for each alpha: (len(alphas), N, C, S, S) in [0, 1], from codes
    ``z`` (N, D), a direction (D,) and ``alphas`` (A,) (multiples of the direction)."""
    check_model(generator, "generator")
    check_tensor(z, "z")
    check_tensor(direction, "direction")
    check_tensor(alphas, "alphas", ndim=1, shape="(A,)")
    if z.ndim != 2 or direction.shape != (z.shape[1],):
        raise ValueError(f"z must be (N, D) and direction (D,), got {tuple(z.shape)} and {tuple(direction.shape)}")
    codes = z[None] + alphas.to(z.dtype)[:, None, None] * direction
    images = generate(generator, codes.flatten(0, 1))
    return images.unflatten(0, codes.shape[:2])


def monotonicity(values: torch.Tensor, alphas: torch.Tensor) -> dict[str, float]:
    """How monotonically an attribute follows a walk: ``values`` (A, N), the attribute of N codes at A steps
    ``alphas`` (A,), increasing.

    Returns ``mean_spearman``, the Spearman rank correlation between alpha and the mean attribute (1: the
    mean rises at every step); ``example_spearman``, the mean over examples of their own rank correlation;
    ``rising_steps``, the share of (example, step) pairs where the attribute rises; ``monotone_examples``, the
    share of examples whose attribute rises at every step.
    """
    check_tensor(values, "values")
    check_tensor(alphas, "alphas")
    if values.ndim != 2 or alphas.shape != (len(values),) or len(values) < 2:
        raise ValueError(f"values must be (A, N) with A = len(alphas) >= 2, got {tuple(values.shape)} and {tuple(alphas.shape)}")
    if not bool((alphas.diff() > 0).all()):
        raise ValueError("alphas must be strictly increasing")
    v = values.detach().double().cpu().numpy()
    a = alphas.detach().double().cpu().numpy()
    rising = np.diff(v, axis=0) > 0
    per_example = [scipy.stats.spearmanr(a, column).statistic for column in v.T]
    return {
        "mean_spearman": float(scipy.stats.spearmanr(a, v.mean(1)).statistic),
        "example_spearman": float(np.nanmean(per_example)),
        "rising_steps": float(rising.mean()),
        "monotone_examples": float(rising.all(axis=0).mean()),
    }


def pick_exemplars(scores: torch.Tensor, eligible: torch.Tensor, k: int, *, largest: bool = True) -> torch.Tensor:
    """Indices (k,) (int64) of the ``k`` eligible codes with the largest scores (``largest=False``: the
    smallest), the most extreme first: a rule that picks a concept's exemplars, e.g. the three thickest of
    the codes that the classifier confidently calls a 7.

    ``scores`` (N,): the attribute of each code's image (e.g. :func:`ink`); ``eligible`` (N,) bool: which
    codes may be picked. Ties keep the lower index first. ``ValueError`` if fewer than ``k`` are eligible.
    """
    check_tensor(scores, "scores", ndim=1, shape="(N,)")
    if not isinstance(eligible, torch.Tensor) or eligible.dtype != torch.bool or eligible.shape != scores.shape:
        got = f"dtype {eligible.dtype}, shape {tuple(eligible.shape)}" if isinstance(eligible, torch.Tensor) \
            else type(eligible).__name__
        raise ValueError(f"eligible must be a bool tensor (N,) with N = len(scores) = {len(scores)}, got {got}; "
                         "build it with a comparison, e.g. (labels == 7) & (confidence >= 0.9)")
    check_int(k, "k")
    if not isinstance(largest, bool):
        raise TypeError(f"largest must be True or False, got {largest!r}")
    candidates = eligible.nonzero().flatten()
    if len(candidates) < k:
        raise ValueError(f"only {len(candidates)} eligible codes, fewer than k = {k}: sample more codes or "
                         "relax the rule that makes them eligible")
    order = scores[candidates].argsort(descending=largest, stable=True)
    return candidates[order[:k]]


def concept_code(codes: torch.Tensor) -> torch.Tensor:
    """The code (D,) of a concept: the mean of its exemplars' codes (K, D), K >= 1.

    Radford et al. (2016) averaged three exemplars per concept: one code's image varies in more than the
    concept (pose, style), and the average keeps what the exemplars share. The mean of K independent N(0, I)
    codes is shorter than a typical code (norm about sqrt(D / K)).
    """
    check_tensor(codes, "codes", ndim=2, shape="(K, D)")
    return codes.mean(dim=0)


def latent_arithmetic(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Concept A - concept B + concept C: ``concept_code(a) - concept_code(b) + concept_code(c)``, (D,), from
    the exemplar codes of each, (K_a, D), (K_b, D) and (K_c, D) (the K may differ, D may not).

    With A and B the same kind of thing differing in one attribute ("thick 7", "thin 7"), A - B is that
    attribute, and the result is C with it ("thin 1" -> "thick 1"): Radford et al. 2016, Fig. 7.
    """
    for name, codes in (("a", a), ("b", b), ("c", c)):
        check_tensor(codes, name, ndim=2, shape="(K, D)")
    if not a.shape[1] == b.shape[1] == c.shape[1]:
        raise ValueError(f"a, b and c must hold codes of the same length D, got {tuple(a.shape)}, {tuple(b.shape)} "
                         f"and {tuple(c.shape)}")
    return concept_code(a) - concept_code(b) + concept_code(c)


def neighbours(code: torch.Tensor, n: int, scale: float, seed: int) -> torch.Tensor:
    """``n`` codes (n, D) near ``code`` (D,): the code plus N(0, scale^2 I) noise, except the middle one
    (index n // 2), which is the code itself, so that a 3 x 3 grid of their images shows the code's own image
    in the centre (as Radford et al. 2016, Fig. 7, with their uniform noise of +-0.25). ``scale`` >= 0 is in
    the units of the code (N(0, I) codes: a scale of 0.25 moves each coordinate by a quarter of its spread);
    ``seed`` (an int >= 0) fixes the noise. ``code`` is not modified.
    """
    check_tensor(code, "code", ndim=1, shape="(D,)")
    check_int(n, "n")
    scale = check_number(scale, "scale", minimum=0.0)
    check_int(seed, "seed", minimum=0)
    noise = torch.randn(n, len(code), generator=torch.Generator().manual_seed(seed), dtype=code.dtype)
    noise[n // 2] = 0
    return code + scale * noise
