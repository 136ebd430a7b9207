import functools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers.attacks import fgsm, pgd
from helpers.defenses import (
    accuracy,
    adversarial_logit_pairing_loss,
    adversarial_training_loss,
    labelled_adversarial_examples,
    logit_pairing_loss,
    train_classifier,
)
from helpers.digits import DigitsMLP, load_digits

LOSSES = [adversarial_training_loss, logit_pairing_loss, adversarial_logit_pairing_loss]
ATTACK = functools.partial(pgd, eps=0.2, alpha=0.05, steps=3)  # deterministic: no random start


def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(36, 16), nn.Tanh(), nn.Linear(16, 4)).double()


def tiny_batch(n: int = 6, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 6, 6, generator=generator, dtype=torch.float64)
    y = torch.randint(0, 4, (n,), generator=generator)
    return x, y


def formula(loss, model, x, y, x_adv, lam):
    """The lecture's formulas, written out per example with x_adv a given constant."""
    clean = torch.stack([F.cross_entropy(model(x[i : i + 1]), y[i : i + 1]) for i in range(len(x))]).mean()
    adversarial = torch.stack([F.cross_entropy(model(x_adv[i : i + 1]), y[i : i + 1]) for i in range(len(x))]).mean()
    if loss is adversarial_training_loss:
        return clean + lam * adversarial
    pairs = torch.stack([((model(x[i : i + 1]) - model(x_adv[i : i + 1])) ** 2).sum() for i in range(len(x))])
    if loss is adversarial_logit_pairing_loss:  # Kannan et al.: a half-clean, half-adversarial batch, plus pairing
        return (clean + adversarial) / 2 + lam * pairs.mean()
    return clean + lam * pairs.mean()  # the lecture's form: the pairing added to the clean loss


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("lam", [0.0, 0.5, 2.0])
def test_each_loss_equals_its_formula_on_a_fixed_tiny_model(loss, lam):
    model, (x, y) = tiny_model(), tiny_batch()
    x_adv = ATTACK(model, x, y)
    assert not torch.equal(x_adv, x)
    value = loss(model, x, y, attack=ATTACK, lam=lam)
    assert value.ndim == 0
    assert torch.allclose(value, formula(loss, model, x, y, x_adv, lam), atol=1e-12)


@pytest.mark.parametrize("loss", LOSSES)
def test_the_gradient_treats_x_adv_as_a_constant_even_for_an_attack_that_leaks_a_graph(loss):
    model, (x, y) = tiny_model(), tiny_batch()

    def leaky_attack(model, x, y):
        # a home-made attack whose output depends on the parameters through autograd
        return (x + 0.1 * torch.tanh(model(x).sum())).clamp(0, 1)

    with torch.no_grad():
        x_adv = leaky_attack(model, x, y)
    expected = torch.autograd.grad(formula(loss, model, x, y, x_adv, 1.0), list(model.parameters()))
    got = torch.autograd.grad(loss(model, x, y, attack=leaky_attack, lam=1.0), list(model.parameters()))
    for g, e in zip(got, expected):
        assert torch.allclose(g, e, atol=1e-12)


@pytest.mark.parametrize("loss", LOSSES)
def test_forging_x_adv_leaves_parameter_gradients_and_the_model_mode_alone(loss):
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 16), nn.Dropout(0.5), nn.Linear(16, 4)).double().train()
    x, y = tiny_batch()
    modes = []

    def spy(model, x, y):
        modes.append(model.training)
        out = ATTACK(model, x, y)
        assert all(p.grad is None for p in model.parameters())
        return out

    value = loss(model, x, y, attack=lambda m, xb, yb: spy(m, xb, yb), lam=1.0)
    assert all(p.grad is None for p in model.parameters()), "only backward() may write gradients"
    assert model.training and value.requires_grad
    value.backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("loss", LOSSES)
def test_x_adv_is_forged_anew_at_every_call_against_the_current_weights(loss):
    model, (x, y) = tiny_model(), tiny_batch()
    seen = []

    def recording_attack(model, x, y):
        x_adv = ATTACK(model, x, y)
        seen.append((model[1].weight.detach().clone(), x_adv))
        return x_adv

    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(2):
        optimizer.zero_grad()
        loss(model, x, y, attack=recording_attack, lam=1.0).backward()
        optimizer.step()
    assert len(seen) == 2
    (w0, x_adv0), (w1, x_adv1) = seen
    assert not torch.equal(w0, w1)
    assert not torch.equal(x_adv0, x_adv1), "the second step reused the first step's adversarial examples"


def test_the_second_x_adv_is_the_attack_on_the_updated_model():
    model, (x, y) = tiny_model(), tiny_batch()
    calls = []
    attack = lambda m, xb, yb: calls.append(ATTACK(m, xb, yb)) or calls[-1]  # noqa: E731
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    adversarial_training_loss(model, x, y, attack=attack).backward()
    optimizer.step()
    adversarial_training_loss(model, x, y, attack=attack)
    assert torch.equal(calls[1], ATTACK(model, x, y))


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("lam", [-1.0, float("nan"), float("inf"), True])
def test_bad_lambda_raises(loss, lam):
    model, (x, y) = tiny_model(), tiny_batch()
    with pytest.raises(ValueError, match="lam"):
        loss(model, x, y, attack=ATTACK, lam=lam)


def test_an_attack_returning_the_wrong_shape_is_caught():
    model, (x, y) = tiny_model(), tiny_batch()
    with pytest.raises(ValueError, match="shaped like x"):
        adversarial_training_loss(model, x, y, attack=lambda m, xb, yb: xb[:2])


def test_labelled_adversarial_examples_are_the_attack_batch_by_batch_with_the_true_labels():
    model, (x, y) = tiny_model(), tiny_batch(10)
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x_adv, labels = labelled_adversarial_examples(model, (x, y), attack=ATTACK, batch_size=3)
    assert torch.equal(labels, y) and labels is not y
    assert torch.allclose(x_adv, ATTACK(model, x, y), atol=1e-12)
    assert (x_adv - x).abs().max() <= 0.2 + 1e-9 and x_adv.min() >= 0 and x_adv.max() <= 1
    assert model.training and all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    with pytest.raises(ValueError):
        labelled_adversarial_examples(model, (x, y[:5]), attack=ATTACK)


def test_adversarial_training_makes_a_digits_mlp_more_robust_than_standard_training():
    x, y = load_digits("train")
    x_test, y_test = load_digits("test")
    attack = functools.partial(fgsm, eps=0.2)
    results = {}
    for name, loss_fn in [("standard", None),
                          ("adversarial", functools.partial(adversarial_training_loss, attack=attack, lam=1.0))]:
        torch.manual_seed(0)
        model = DigitsMLP()
        kwargs = {} if loss_fn is None else {"loss_fn": loss_fn}
        history = train_classifier(model, (x, y), epochs=6, progress=False, **kwargs)
        assert history["loss"][-1] < history["loss"][0]
        results[name] = (accuracy(model, x_test, y_test), accuracy(model, attack(model, x_test, y_test), y_test))
    assert results["adversarial"][0] > 0.85  # still learns the digits
    assert results["adversarial"][1] > results["standard"][1] + 0.2, results
