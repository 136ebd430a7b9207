import functools

import numpy as np
import pytest
import torch

from helpers.attacks import pgd
from helpers.detector import SafetyNetDetector, adaptive_attack
from helpers.digits import DigitsCNN, load_digits
from helpers.training import train_classifier

ATTACK = functools.partial(pgd, eps=0.2, alpha=0.05, steps=10)


@pytest.fixture(scope="module")
def setting():
    """A small digits CNN (a few epochs), and PGD examples of it: 300 to fit on, 150 held out."""
    torch.manual_seed(0)
    x_train, y_train = load_digits("train")
    x_test, y_test = load_digits("test")
    model = DigitsCNN(channels=8)
    train_classifier(model, (x_train, y_train), epochs=4, progress=False)
    fit_x, fit_y = x_train[:300], y_train[:300]
    test_x, test_y = x_test[:150], y_test[:150]
    detector = SafetyNetDetector(model).fit(fit_x, ATTACK(model, fit_x, fit_y))
    return {"model": model, "detector": detector, "x": test_x, "y": test_y, "x_adv": ATTACK(model, test_x, test_y)}


def test_the_detector_flags_pgd_examples_of_a_known_model_above_chance(setting):
    rates = setting["detector"].rates(setting["x"], setting["x_adv"])
    assert set(rates) == {"detection_rate", "false_positive_rate"}
    # chance (a coin of any bias) flags clean and adversarial images alike: detection == false positives
    assert rates["detection_rate"] - rates["false_positive_rate"] > 0.3, rates
    assert rates["detection_rate"] > 0.6, rates


def test_codes_are_quantized_activations_with_thresholds_from_clean_data(setting):
    detector = setting["detector"]
    assert detector.thresholds.shape == (2, 128)  # levels - 1 thresholds per unit of the 128 features
    assert torch.all(detector.thresholds[0] == 0) and torch.all(detector.thresholds[1] >= 0)
    codes = detector.codes(setting["x"])
    assert codes.shape == (150, 128) and set(np.unique(codes)) <= {0.0, 1.0, 2.0}
    activations = setting["model"].features(setting["x"]).detach()
    assert np.array_equal(codes == 0, (activations <= 0).numpy())
    manual = (activations > 0).float() + (activations > detector.thresholds[1]).float()
    assert np.array_equal(codes, manual.numpy())


def test_the_differentiable_score_equals_the_svm_and_has_a_gradient(setting):
    detector, x = setting["detector"], setting["x_adv"][:20].clone().requires_grad_(True)
    score = detector.score_torch(x)
    assert np.allclose(score.detach().numpy(), detector.score(x.detach()), atol=1e-4)
    (gradient,) = torch.autograd.grad(score.sum(), x)
    assert gradient.abs().sum() > 0  # BPDA: the quantization does not stop the attacker's gradient


def test_soft_codes_are_the_exact_codes_in_the_forward_pass(setting):
    detector = setting["detector"]
    activations = setting["model"].features(setting["x"]).detach()
    assert torch.allclose(detector.soft_codes(activations), detector.quantize(activations), atol=1e-5)


def test_an_attacker_who_knows_the_detector_evades_it_more_often_than_plain_pgd(setting):
    detector, x, y = setting["detector"], setting["x"][:60], setting["y"][:60]
    plain = ATTACK(setting["model"], x, y)
    plain_success = ((setting["model"](plain).argmax(1) != y) & ~detector.flag(plain)).float().mean().item()
    result = adaptive_attack(detector, x, y, eps=0.2, alpha=0.05, steps=10, weights=(3.0, 30.0),
                             generator=torch.Generator().manual_seed(0))
    assert (result["x_adv"] - x).abs().max() <= 0.2 + 1e-6
    assert torch.equal(result["success"], result["fooled"] & ~result["flagged"])
    assert torch.equal(result["flagged"], detector.flag(result["x_adv"]))
    assert torch.equal(result["fooled"], setting["model"](result["x_adv"]).argmax(1) != y)
    assert result["success"].float().mean().item() > plain_success + 0.2


def test_bad_use_raises():
    model = DigitsCNN(channels=4)
    with pytest.raises(ValueError, match="levels"):
        SafetyNetDetector(model, levels=1)
    with pytest.raises(ValueError, match="features"):
        SafetyNetDetector(torch.nn.Linear(3, 3))
    with pytest.raises(RuntimeError, match="fit"):
        SafetyNetDetector(model).flag(torch.rand(2, 1, 8, 8))
