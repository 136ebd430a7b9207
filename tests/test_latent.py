import math

import pytest
import torch
from torch import nn

from helpers.latent import (attribute_direction, concept_code, ink, latent_arithmetic, lerp, monotonicity, neighbours,
                            pick_exemplars, slerp, walk)


def test_lerp_is_evenly_spaced_from_end_to_end():
    z0, z1 = torch.randn(5), torch.randn(5)
    path = lerp(z0, z1, 4)
    assert path.shape == (4, 5) and torch.equal(path[0], z0) and torch.allclose(path[-1], z1)
    assert torch.allclose(path.diff(dim=0), ((z1 - z0) / 3).expand(3, 5), atol=1e-6)


def test_slerp_follows_the_great_circle_with_the_norm_interpolated():
    u0, u1 = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])
    path = slerp(u0, 3 * u1, 3)
    assert torch.allclose(path[0], u0) and torch.allclose(path[-1], 3 * u1, atol=1e-6)
    assert torch.allclose(path[1], 2 * torch.tensor([1.0, 1.0, 0.0]) / math.sqrt(2))  # 45 degrees, norm 2
    angles = [torch.atan2(p[1], p[0]).item() for p in slerp(u0, u1, 5)]
    assert angles == pytest.approx([0, math.pi / 8, math.pi / 4, 3 * math.pi / 8, math.pi / 2], abs=1e-6)


def test_slerp_keeps_gaussian_codes_typical_where_lerp_shrinks_them():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(64, generator=g), torch.randn(64, generator=g)
    assert lerp(z0, z1, 3)[1].norm() < 0.8 * min(z0.norm(), z1.norm())  # about sqrt(64 / 2)
    assert slerp(z0, z1, 3)[1].norm() == pytest.approx(((z0.norm() + z1.norm()) / 2).item(), rel=1e-5)


def test_slerp_of_parallel_codes_falls_back_to_lerp():
    z = torch.tensor([1.0, 2.0])
    assert torch.allclose(slerp(z, 2 * z, 3), lerp(z, 2 * z, 3))
    assert torch.isfinite(slerp(torch.zeros(2), z, 3)).all()


@pytest.mark.parametrize("interpolate", [lerp, slerp])
def test_interpolation_rejects_bad_arguments(interpolate):
    with pytest.raises(ValueError, match="steps"):
        interpolate(torch.zeros(3), torch.ones(3), 1)
    with pytest.raises(ValueError, match="same shape"):
        interpolate(torch.zeros(3), torch.ones(4), 5)


def test_ink_is_the_mean_pixel_value():
    images = torch.zeros(2, 1, 4, 4)
    images[1, :, :2] = 1
    assert ink(images).tolist() == [0.0, 0.5]
    with pytest.raises(ValueError):
        ink(images * 2)


def test_attribute_direction_points_to_the_attribute_and_groups_remove_confounders():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2000, 4, generator=g)
    group = (z[:, 1] > 0).long()  # the "digit" depends on coordinate 1 ...
    scores = z[:, 0] + 3 * group  # ... and the attribute on coordinate 0 and on the digit
    plain = attribute_direction(z, scores)
    within = attribute_direction(z, scores, groups=group)
    assert plain[1] > 0.5  # without groups the direction also changes the digit
    assert within[0] > 2 and within[1:].abs().max() < 0.15  # within groups, the attribute alone
    with pytest.raises(ValueError, match="fraction"):
        attribute_direction(z, scores, fraction=0.7)
    with pytest.raises(ValueError, match="scores"):
        attribute_direction(z, scores[:5])


class InkGenerator(nn.Module):
    """A stand-in generator whose images hold more ink the larger z[:, 0]."""

    latent_dim = 4

    def __init__(self):
        super().__init__()
        self.pattern = nn.Parameter(torch.linspace(-2, 2, 64).reshape(1, 1, 8, 8), requires_grad=False)

    def forward(self, z):
        return torch.sigmoid(self.pattern + z[:, :1, None, None] + 0.1 * z[:, 1:2, None, None] ** 2)


def test_walking_along_the_ink_direction_raises_the_ink_monotonically():
    G = InkGenerator()
    z = torch.randn(500, 4, generator=torch.Generator().manual_seed(1))
    direction = attribute_direction(z, ink(G(z)))
    alphas = torch.linspace(-1, 1, 5)
    images = walk(G, z[:20], direction, alphas)
    assert images.shape == (5, 20, 1, 8, 8)
    assert torch.allclose(images[2], G(z[:20]))  # alpha 0 is the code itself
    measured = monotonicity(ink(images.flatten(0, 1)).reshape(5, 20), alphas)
    assert measured == pytest.approx({"mean_spearman": 1.0, "example_spearman": 1.0, "rising_steps": 1.0,
                                      "monotone_examples": 1.0})
    backwards = monotonicity(ink(walk(G, z[:20], -direction, alphas).flatten(0, 1)).reshape(5, 20), alphas)
    assert backwards["mean_spearman"] == pytest.approx(-1.0) and backwards["rising_steps"] == 0.0


def test_monotonicity_of_noise_is_about_zero_and_bad_arguments_raise():
    values = torch.randn(10, 400, generator=torch.Generator().manual_seed(2))
    measured = monotonicity(values, torch.arange(10.0))
    assert abs(measured["example_spearman"]) < 0.05 and measured["monotone_examples"] < 0.01
    assert 0.4 < measured["rising_steps"] < 0.6
    with pytest.raises(ValueError, match="increasing"):
        monotonicity(values, torch.arange(10.0).flip(0))
    with pytest.raises(ValueError, match="values"):
        monotonicity(values[:, 0], torch.arange(10.0))


def test_pick_exemplars_takes_the_extremes_of_the_eligible_codes():
    scores = torch.tensor([0.5, 0.9, 0.1, 0.8, 0.2, 0.95])
    eligible = torch.tensor([True, True, True, True, True, False])  # the largest score is not eligible
    assert pick_exemplars(scores, eligible, 2).tolist() == [1, 3]
    assert pick_exemplars(scores, eligible, 2, largest=False).tolist() == [2, 4]
    assert pick_exemplars(torch.zeros(4), torch.ones(4, dtype=torch.bool), 3).tolist() == [0, 1, 2]  # ties: in order
    with pytest.raises(ValueError, match="only 1 eligible"):
        pick_exemplars(scores, torch.tensor([False] * 5 + [True]), 2)
    with pytest.raises(ValueError, match="eligible must be a bool"):
        pick_exemplars(scores, eligible.float(), 2)


def test_concept_arithmetic_is_the_difference_of_mean_codes():
    a = torch.tensor([[1.0, 0.0], [3.0, 0.0]])  # "thick": mean (2, 0)
    b = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])  # "thin": mean (0, 0), a different count
    c = torch.tensor([[0.0, 5.0]])  # another concept
    assert concept_code(a).tolist() == [2.0, 0.0]
    assert latent_arithmetic(a, b, c).tolist() == [2.0, 5.0]
    assert torch.allclose(latent_arithmetic(a, a, c), concept_code(c))  # A - A + C = C
    assert a.tolist() == [[1.0, 0.0], [3.0, 0.0]]  # the inputs are not modified
    with pytest.raises(ValueError, match="same length D"):
        latent_arithmetic(a, b, torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"codes must have 2 dimensions"):
        concept_code(torch.zeros(3))


def test_arithmetic_moves_the_attribute_of_another_concept():
    # The stand-in generator: ink grows with z[:, 0]; "the digit" is the sign of z[:, 1]
    G = InkGenerator()
    g = torch.Generator().manual_seed(3)
    z = torch.randn(400, 4, generator=g)
    amount = ink(G(z))
    upper, lower = (z[:, 1] - 1).abs() < 0.2, (z[:, 1] + 1).abs() < 0.2  # two "digits"
    thick_a = z[pick_exemplars(amount, upper, 3)]
    thin_a = z[pick_exemplars(amount, upper, 3, largest=False)]
    thin_c = z[pick_exemplars(amount, lower, 3, largest=False)]
    result = latent_arithmetic(thick_a, thin_a, thin_c)
    assert (result[1] + 1).abs() < 0.5  # still the other "digit"
    assert ink(G(result[None])) > ink(G(thin_c)).max()  # thicker than any of C's exemplars


def test_neighbours_put_the_code_in_the_middle_and_noise_of_the_given_scale_around_it():
    code = torch.tensor([1.0, -2.0, 0.5, 0.0])
    near = neighbours(code, 9, 0.25, seed=0)
    assert near.shape == (9, 4) and torch.equal(near[4], code)
    assert torch.equal(near, neighbours(code, 9, 0.25, seed=0))  # the seed fixes the noise
    spread = (neighbours(code, 4001, 0.25, seed=1) - code).std()
    assert spread == pytest.approx(0.25, rel=0.05)
    assert torch.equal(neighbours(code, 3, 0.0, seed=0), code.expand(3, 4))
    assert code.tolist() == [1.0, -2.0, 0.5, 0.0]
    with pytest.raises(ValueError, match="scale must be"):
        neighbours(code, 9, -0.1, seed=0)
