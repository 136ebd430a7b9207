import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers.attacks import pgd, query_attack, success_rate
from helpers.gradients import NES, FiniteDifference, autograd_grad


def smooth_problem(dtype=torch.float64):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.Tanh(), nn.Linear(12, 3)).to(dtype)
    x = 0.1 + 0.8 * torch.rand(3, 1, 4, 4, dtype=dtype)  # away from the border of [0, 1]
    y = torch.tensor([0, 1, 2])

    def loss_fn(queries):
        n, k = queries.shape[:2]
        return F.cross_entropy(model(queries.flatten(0, 1)), y.repeat_interleave(k), reduction="none").view(n, k)

    return model, x, y, loss_fn


def test_finite_differences_match_autograd_to_1e_3_relative():
    _, x, _, loss_fn = smooth_problem()
    exact = autograd_grad(loss_fn, x)
    estimator = FiniteDifference(h=1e-5, batch_size=10)
    estimate = estimator(loss_fn, x)
    assert ((estimate - exact).norm() / exact.norm()).item() < 1e-3
    assert estimator.queries == 2 * x[0].numel() * len(x)  # two queries per dimension and image


def test_finite_differences_at_the_border_divide_by_the_step_taken():
    def loss_fn(queries):  # L(x) = sum of squares: gradient 2x
        return queries.pow(2).flatten(2).sum(-1)

    x = torch.tensor([[[[0.0, 1.0, 0.5]]]], dtype=torch.float64)
    estimate = FiniteDifference(h=1e-3)(loss_fn, x)
    assert torch.allclose(estimate, torch.tensor([[[[0.001, 1.999, 1.0]]]], dtype=torch.float64), atol=1e-9)


def test_nes_points_along_the_gradient_and_counts_its_queries():
    _, x, _, loss_fn = smooth_problem()
    exact = autograd_grad(loss_fn, x)
    estimator = NES(samples=400, sigma=1e-3, seed=0)
    estimate = estimator(loss_fn, x)
    cosine = F.cosine_similarity(estimate.flatten(1), exact.flatten(1))
    assert (cosine > 0.8).all(), cosine
    assert estimator.queries == 2 * 400 * len(x)
    again = NES(samples=400, sigma=1e-3, seed=0)(loss_fn, x)
    assert torch.equal(estimate, again)


def test_black_box_pgd_fools_the_model_with_only_queries():
    model, x, y, _ = smooth_problem(torch.float32)
    x = x.float()
    y = model(x).argmax(1)
    estimator = NES(samples=20, sigma=1e-3)
    x_adv = pgd(model, x, y, eps=0.5, alpha=0.05, steps=30, grad_fn=estimator)
    assert success_rate(model, x_adv, y) == 1.0
    assert estimator.queries == 30 * 2 * 20 * len(x)


def test_estimators_reject_bad_settings():
    with pytest.raises(ValueError, match="h"):
        FiniteDifference(h=0)
    with pytest.raises(ValueError, match="samples"):
        NES(samples=0)
    with pytest.raises(ValueError, match="sigma"):
        NES(sigma=-1.0)


def test_query_attack_stops_on_each_image_once_fooled_and_counts_queries():
    model, x, y, _ = smooth_problem(torch.float32)
    x = x.float()
    y = model(x).argmax(1)
    estimator = NES(samples=10, sigma=1e-3)
    result = query_attack(model, x, y, grad_fn=estimator, eps=0.5, alpha=0.05, max_steps=40)
    assert result["success"].all()
    assert success_rate(model, result["x_adv"], y) == 1.0
    assert (result["x_adv"] - x).abs().max() <= 0.5 + 1e-6
    # every step costs 2 * samples queries plus one check; the clean check costs one
    assert ((result["queries"] - 1) % 21 == 0).all()
    assert result["queries"].sum() == estimator.queries + (estimator.queries // 20) + len(x)


def test_a_model_without_input_gradient_gets_a_clear_error_and_a_black_box_still_works():
    torch.manual_seed(0)
    quantised = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))

    class Binarise(nn.Module):
        def forward(self, x):
            return quantised((x > 0.5).float())

    model, x = Binarise(), torch.rand(4, 1, 4, 4)
    with pytest.raises(ValueError, match="no gradient with respect to its input"):
        pgd(model, x, eps=0.3, alpha=0.1, steps=2)
    x_adv = pgd(model, x, eps=0.3, alpha=0.1, steps=2, grad_fn=NES(samples=5, sigma=0.2))
    assert (x_adv - x).abs().max() <= 0.3 + 1e-6
