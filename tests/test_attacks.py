import functools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from helpers.attacks import (
    fgsm,
    fooling_image,
    perturbation_size,
    pgd,
    random_perturbation,
    robust_accuracy,
    success_rate,
    targeted_with_proximity,
    transfer_attack,
)

SHAPE = (1, 6, 6)  # (C, H, W) of the toy images


def toy_model(seed: int = 0, dtype=torch.float32, activation=nn.ReLU) -> nn.Module:
    """A small random MLP on 1x6x6 images with 5 classes."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(36, 32), activation(), nn.Linear(32, 5)).to(dtype)


def toy_images(n: int, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    return torch.rand(n, *SHAPE, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def run(attack_name, model, x, y=None, **kwargs):
    if attack_name == "fgsm":
        return fgsm(model, x, y, eps=kwargs["eps"], targeted=kwargs.get("targeted", False))
    return pgd(model, x, y, **kwargs)


attack_settings = st.fixed_dictionaries({
    "seed": st.integers(0, 2**16),
    "n": st.integers(1, 5),
    "eps": st.floats(0.0, 0.5),
    "alpha": st.floats(0.001, 0.3),
    "steps": st.integers(1, 4),
    "norm": st.sampled_from(["linf", "l2"]),
    "targeted": st.booleans(),
    "random_start": st.booleans(),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(attack_settings)
def test_pgd_stays_in_0_1_and_in_the_eps_ball_and_leaves_inputs_alone(s):
    model = toy_model(s["seed"] % 3)
    x = toy_images(s["n"], s["seed"])
    y = torch.randint(0, 5, (s["n"],), generator=torch.Generator().manual_seed(s["seed"]))
    x_before, y_before = x.clone(), y.clone()
    x_adv = pgd(model, x, y, eps=s["eps"], alpha=s["alpha"], steps=s["steps"], norm=s["norm"],
                targeted=s["targeted"], random_start=s["random_start"],
                generator=torch.Generator().manual_seed(s["seed"]))
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    delta = (x_adv - x).flatten(1)
    size = delta.abs().max(dim=1).values if s["norm"] == "linf" else delta.norm(dim=1)
    assert (size <= s["eps"] + 1e-6).all()
    assert torch.equal(x, x_before) and torch.equal(y, y_before)
    assert not x_adv.requires_grad


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), eps=st.floats(0.0, 0.4), targeted=st.booleans())
def test_fgsm_stays_in_0_1_and_in_the_eps_ball(seed, eps, targeted):
    model, x = toy_model(), toy_images(3, seed)
    x_adv = fgsm(model, x, torch.tensor([0, 1, 2]) if targeted else None, eps=eps, targeted=targeted)
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert (x_adv - x).abs().max() <= eps + 1e-6


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_eps_zero_returns_x(attack):
    model, x = toy_model(), toy_images(4)
    x_adv = run(attack, model, x, eps=0.0, alpha=0.1, steps=3)
    assert torch.equal(x_adv, x) and x_adv is not x


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_model_mode_and_requires_grad_flags_are_restored(attack):
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 16), nn.BatchNorm1d(16), nn.Dropout(0.5), nn.Linear(16, 5))
    model.train()
    model[1].weight.requires_grad_(False)  # a mix of flags
    flags = [p.requires_grad for p in model.parameters()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    run(attack, model, toy_images(4), eps=0.1, alpha=0.05, steps=2)
    assert model.training and all(m.training for m in model.modules())
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters()), "gradients must be taken w.r.t. the input only"
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), f"{key} changed: the attack ran in train mode"


def test_attacks_run_in_eval_mode():
    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.net, self.modes = toy_model(), []

        def forward(self, x):
            self.modes.append(self.training)
            return self.net(x)

    spy = Spy().train()
    pgd(spy, toy_images(2), eps=0.1, alpha=0.05, steps=3)
    assert spy.modes and not any(spy.modes)


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_attacks_work_inside_no_grad(attack):
    model, x = toy_model(), toy_images(4)
    expected = run(attack, model, x, eps=0.1, alpha=0.05, steps=3)
    with torch.no_grad():
        inside = run(attack, model, x, eps=0.1, alpha=0.05, steps=3)
    assert torch.equal(inside, expected) and not torch.equal(inside, x)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_batch_consistency(norm):
    model, x = toy_model(dtype=torch.float64), toy_images(6, dtype=torch.float64)
    batched = pgd(model, x, eps=0.2, alpha=0.05, steps=5, norm=norm)
    for i in range(len(x)):
        alone = pgd(model, x[i : i + 1], eps=0.2, alpha=0.05, steps=5, norm=norm)
        assert torch.allclose(batched[i : i + 1], alone, atol=1e-9), i


def test_default_labels_are_the_models_own_predictions():
    model, x = toy_model(), toy_images(8)
    predicted = model(x).argmax(1)
    assert torch.equal(pgd(model, x, eps=0.1, alpha=0.02, steps=3),
                       pgd(model, x, predicted, eps=0.1, alpha=0.02, steps=3))


def test_fgsm_step_on_a_linear_model_moves_the_loss_by_eps_times_the_l1_norm_of_the_gradient():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 5)).double()
    x = 0.25 + 0.5 * toy_images(4, dtype=torch.float64)  # in [0.25, 0.75]: no clamping at eps 0.2
    y = torch.tensor([0, 1, 2, 3])
    eps = 0.2
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(xg), y, reduction="sum"), xg)
    eta = fgsm(model, x, y, eps=eps) - x
    assert torch.allclose((g * eta).flatten(1).sum(1), eps * g.flatten(1).abs().sum(1), rtol=1e-10)
    assert torch.allclose(eta.abs(), torch.full_like(eta, eps))


def test_pgd_l2_step_follows_the_normalised_gradient():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 5)).double()
    x, y = 0.25 + 0.5 * toy_images(2, dtype=torch.float64), torch.tensor([0, 1])
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(xg), y, reduction="sum"), xg)
    step = pgd(model, x, y, eps=1.0, alpha=0.1, steps=1, norm="l2") - x
    expected = 0.1 * g / g.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    assert torch.allclose(step, expected, atol=1e-12)


def test_targeted_pgd_reaches_the_target_and_untargeted_pgd_leaves_the_label():
    model, x = toy_model(3), toy_images(10, seed=3)
    target = torch.full((10,), 4)
    x_adv = pgd(model, x, target, eps=1.0, alpha=0.05, steps=100, targeted=True)
    assert success_rate(model, x_adv, target, targeted=True) == 1.0
    y = model(x).argmax(1)
    assert success_rate(model, pgd(model, x, eps=1.0, alpha=0.05, steps=100), y) == 1.0


def test_pgd_is_at_least_as_strong_as_fgsm_at_the_same_budget():
    model, x = toy_model(4), toy_images(64, seed=4)
    y = model(x).argmax(1)
    fgsm_success = success_rate(model, fgsm(model, x, eps=0.1), y)
    pgd_success = success_rate(model, pgd(model, x, eps=0.1, alpha=0.02, steps=20), y)
    assert pgd_success >= fgsm_success and pgd_success > 0


def test_random_start_is_repeatable_with_a_generator_and_differs_without_one():
    model, x = toy_model(), toy_images(3)
    kwargs = dict(eps=0.1, alpha=0.01, steps=1, random_start=True)
    first = pgd(model, x, **kwargs, generator=torch.Generator().manual_seed(7))
    again = pgd(model, x, **kwargs, generator=torch.Generator().manual_seed(7))
    other = pgd(model, x, **kwargs, generator=torch.Generator().manual_seed(8))
    assert torch.equal(first, again) and not torch.equal(first, other)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"eps": -0.1}, "eps"),
        ({"eps": float("nan")}, "eps"),
        ({"alpha": -1.0}, "alpha"),
        ({"steps": -1}, "steps"),
        ({"steps": 1.5}, "steps"),
        ({"norm": "l1"}, "norm"),
        ({"x": toy_images(2) + 1}, r"\[0, 1\]"),
        ({"x": toy_images(2)[0]}, "N, C, H, W"),
        ({"y": torch.tensor([0, 1, 2])}, "shape"),
        ({"y": torch.tensor([0.0, 1.0])}, "integer"),
        ({"y": torch.tensor([0, 7])}, "class indices"),
        ({"y": None, "targeted": True}, "target"),
    ],
)
def test_bad_input_raises_a_clear_value_error(change, message):
    kwargs = {"x": toy_images(2), "y": torch.tensor([0, 1]), "eps": 0.1, "alpha": 0.05, "steps": 2, "norm": "linf"}
    kwargs.update(change)
    x, y = kwargs.pop("x"), kwargs.pop("y")
    with pytest.raises(ValueError, match=message):
        pgd(toy_model(), x, y, **kwargs)


def test_fgsm_rejects_a_negative_eps():
    with pytest.raises(ValueError, match="eps"):
        fgsm(toy_model(), toy_images(1), eps=-1 / 255)


def test_fooling_image_reaches_the_target_from_noise():
    model = toy_model(5)
    with torch.no_grad():
        model[-1].weight.mul_(20)  # confident enough that some image in [0, 1] reaches 0.9
    image, history = fooling_image(model, 3, steps=300, lr=0.05, size=6, confidence=0.9, progress=False,
                                   start=toy_images(1, seed=5))
    assert history["target_probability"][-1] >= 0.9
    assert model(image).argmax(1).item() == 3
    assert image.min() >= 0 and image.max() <= 1


def test_targeted_with_proximity_trades_distance_for_confidence():
    model, x = toy_model(6), toy_images(1, seed=6)
    before = x.clone()
    far, far_history = targeted_with_proximity(model, x, 2, lam=0.0, steps=200, lr=0.02, progress=False)
    near, near_history = targeted_with_proximity(model, x, 2, lam=1.0, steps=200, lr=0.02, progress=False)
    assert torch.equal(x, before)
    assert len(near_history["loss"]) == 200 and set(near_history) == {"loss", "target_probability", "l2", "linf"}
    assert (near - x).norm() < (far - x).norm()
    assert far_history["target_probability"][-1] > far_history["target_probability"][0]
    assert near_history["l2"][-1] == pytest.approx((near - x).norm().item(), rel=0.1)


def test_optimisation_attacks_reject_bad_arguments():
    model = toy_model()
    with pytest.raises(ValueError, match="lr"):
        fooling_image(model, 1, steps=3, lr=0.0, size=6, progress=False)
    with pytest.raises(ValueError, match="one image"):
        targeted_with_proximity(model, toy_images(2), 1, lam=0.1, steps=2, progress=False)
    with pytest.raises(ValueError, match="lam"):
        targeted_with_proximity(model, toy_images(1), 1, lam=-1.0, steps=2, progress=False)
    with pytest.raises(ValueError, match="class indices"):
        fooling_image(model, 9, steps=2, lr=0.1, start=toy_images(1), progress=False)


def test_transfer_attack_measures_both_models():
    source, other = toy_model(0), toy_model(1)
    x = toy_images(32, seed=9)
    attack = functools.partial(pgd, eps=0.3, alpha=0.05, steps=20)
    same = transfer_attack(source, source, x, attack=attack)
    assert same["source_success"] == same["target_success"] == 1.0
    result = transfer_attack(source, other, x, attack=attack)
    assert set(result) == {"x_adv", "source_success", "target_success"}
    assert result["source_success"] == 1.0 and 0.0 <= result["target_success"] <= 1.0
    assert (result["x_adv"] - x).abs().max() <= 0.3 + 1e-6


def test_robust_accuracy_starts_at_clean_accuracy_and_falls_with_eps():
    model, x = toy_model(7), toy_images(50, seed=7)
    y = model(x).argmax(1)
    y[:5] = (y[:5] + 1) % 5  # five wrong labels: clean accuracy 0.9

    def attack(m, xb, yb, eps):
        return pgd(m, xb, yb, eps=eps, alpha=eps / 4, steps=10)

    curve = robust_accuracy(model, attack, (x, y), [0.0, 0.05, 0.3])
    assert curve[0.0] == pytest.approx(0.9)
    assert curve[0.0] >= curve[0.05] >= curve[0.3]
    batches = [(x[:25], y[:25]), (x[25:], y[25:])]
    assert robust_accuracy(model, attack, batches, [0.0, 0.3]) == {0.0: curve[0.0], 0.3: curve[0.3]}


def test_robust_accuracy_does_not_credit_an_attack_that_fixes_a_clean_error():
    model, x = toy_model(7), toy_images(20, seed=7)
    y = (model(x).argmax(1) + 1) % 5  # every label wrong

    def identity_attack(m, xb, yb, eps):  # "fixes" nothing, but pretend the attack lands on the label
        return xb

    assert robust_accuracy(model, identity_attack, (x, y), [0.1]) == {0.1: 0.0}

    def helpful(m, xb, yb, eps):
        return pgd(m, xb, yb, eps=1.0, alpha=0.05, steps=50, targeted=True)  # drives x to its label

    assert robust_accuracy(model, helpful, (x, y), [0.1]) == {0.1: 0.0}


def test_the_cat_becomes_an_iguana_within_two_levels_of_grey(lite0, cat_batch):
    from helpers.imagenet import IGUANA, predict

    x_adv = pgd(lite0, cat_batch, IGUANA, eps=2 / 255, alpha=0.5 / 255, steps=10, targeted=True)
    assert predict(lite0, x_adv, k=1)[0][0][0] == "common iguana"
    assert (x_adv - cat_batch).abs().max() <= 2 / 255 + 1e-6


def test_perturbation_size_per_image():
    x = torch.zeros(2, 1, 2, 2)
    x_adv = x.clone()
    x_adv[0, 0, 0, 0], x_adv[1] = 0.3, 0.1
    size = perturbation_size(x, x_adv)
    assert torch.allclose(size["linf"], torch.tensor([0.3, 0.1]))
    assert torch.allclose(size["l2"], torch.tensor([0.3, 0.2]))
    with pytest.raises(ValueError, match="same shape"):
        perturbation_size(x, x_adv[:1])


def test_random_perturbation_is_a_random_corner_of_the_ball():
    x = torch.full((2, 1, 4, 4), 0.5)
    noisy = random_perturbation(x, 0.1, generator=torch.Generator().manual_seed(0))
    assert torch.allclose((noisy - x).abs(), torch.full_like(x, 0.1))
    assert 0 < (noisy > x).float().mean() < 1
    assert random_perturbation(torch.ones(1, 1, 2, 2), 0.3).max() <= 1
