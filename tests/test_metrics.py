import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

from helpers.digits import load_digits
from helpers.metrics import (
    DigitsEvaluator,
    class_counts,
    classes_covered,
    confident_share,
    digits_classifier,
    frechet_distance,
    frechet_distance_from_stats,
    gaussian_stats,
)


def random_spd(n, seed):
    a = np.random.default_rng(seed).normal(size=(n, n))
    return a @ a.T + n * np.eye(n)


# --- Frechet distance ------------------------------------------------------------------------------------


def test_frechet_distance_of_one_dimensional_gaussians_is_the_closed_form():
    # N(0, 1) vs N(1, 2^2): (0 - 1)^2 + (1 - 2)^2 = 2
    assert frechet_distance_from_stats([0.0], [[1.0]], [1.0], [[4.0]]) == pytest.approx(2.0)


def test_frechet_distance_with_non_commuting_covariances_is_the_known_value():
    # sigma2 = sigma1^-1: sigma1 sigma2 = I, so the distance is tr(A) + tr(A^-1) - 2n (+ the mean term)
    a = random_spd(6, 0)
    mu1, mu2 = np.arange(6.0), np.ones(6)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(a) + np.trace(np.linalg.inv(a)) - 12
    assert frechet_distance_from_stats(mu1, a, mu2, np.linalg.inv(a)) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_agrees_with_the_sqrtm_formula_and_is_symmetric():
    s1, s2 = random_spd(10, 1), random_spd(10, 2)
    mu1, mu2 = np.zeros(10), np.full(10, 0.5)
    sqrtm_value = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance_from_stats(mu1, s1, mu2, s2) == pytest.approx(sqrtm_value, rel=1e-9)
    assert frechet_distance_from_stats(mu2, s2, mu1, s1) == pytest.approx(sqrtm_value, rel=1e-9)


def test_frechet_distance_of_samples_is_zero_for_the_same_set_and_about_the_mean_shift():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(20000, 3)), rng.normal(size=(20000, 3)) + [2.0, 0.0, 0.0]
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(a, b) == pytest.approx(4.0, abs=0.1)
    assert frechet_distance(torch.from_numpy(a), torch.from_numpy(b)) == pytest.approx(frechet_distance(a, b))


def test_dead_features_change_nothing_and_raise_no_warning():
    # ReLU features that are 0 for every image make both covariances singular
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(50, 8)), rng.normal(size=(60, 8)) * 1.5
    pad = lambda x: np.hstack([x, np.zeros((len(x), 30))])  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert frechet_distance(pad(a), pad(b)) == pytest.approx(frechet_distance(a, b), rel=1e-8)


def test_frechet_distance_rejects_bad_input():
    with pytest.raises(ValueError, match="2-d"):
        frechet_distance(np.zeros(5), np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.full((4, 2), np.nan), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="mismatched"):
        frechet_distance(np.zeros((4, 2)), np.zeros((4, 3)))
    mu, sigma = gaussian_stats(np.random.default_rng(0).normal(size=(100, 2)))
    assert mu.shape == (2,) and sigma.shape == (2, 2)


# --- confidence and classes ------------------------------------------------------------------------------


def logits_for(probabilities):
    return torch.tensor(probabilities).log()


def test_confident_share_and_classes_covered():
    logits = logits_for([[0.95, 0.05, 0.0], [0.5, 0.5, 0.0], [0.0, 0.05, 0.95], [0.02, 0.03, 0.95], [0.9, 0.1, 0.0]])
    assert confident_share(logits) == pytest.approx(4 / 5)  # 0.9 counts as confident
    assert confident_share(logits, threshold=0.96) == 0
    assert class_counts(logits).tolist() == [2, 0, 2]
    assert classes_covered(logits) == 2  # class 1 is only ever a toss-up: not covered
    assert class_counts(logits, threshold=0.0).tolist() == [3, 0, 2]  # the toss-up goes to the first class


def test_confidence_measures_reject_a_flat_tensor():
    with pytest.raises(ValueError, match="logits"):
        confident_share(torch.zeros(10))


# --- the evaluator ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def evaluator():
    return DigitsEvaluator(digits_classifier(size=16, epochs=3))


def test_the_classifier_is_trained_here_frozen_and_cached():
    model = digits_classifier(size=16, epochs=3)
    assert model is digits_classifier(size=16, epochs=3)
    assert not model.training and not any(p.requires_grad for p in model.parameters())


def test_real_digits_score_well_and_noise_scores_badly(evaluator):
    real = evaluator.real_baseline(n=400)
    noise = evaluator.evaluate(torch.rand(400, 1, 16, 16, generator=torch.Generator().manual_seed(0)))
    assert real["classes"] == 10 and real["confident"] > 0.5  # a classifier trained for 3 epochs only
    assert noise["frechet"] > 10 * real["frechet"]
    assert noise["classes"] <= 3  # confident or not, noise is not ten different digits


def test_mode_collapse_shows_as_missing_classes(evaluator):
    x, y = load_digits("train", size=16)
    collapsed = evaluator.evaluate(x[(y == 0) | (y == 1)][:200])
    assert collapsed["classes"] <= 3 and collapsed["counts"][2:].sum() < 10
    assert collapsed["frechet"] > 3 * evaluator.real_baseline(n=200)["frechet"]


def test_the_evaluator_checks_its_input(evaluator):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        evaluator.evaluate(torch.rand(10, 1, 16, 16) * 2 - 1)
    with pytest.raises(ValueError, match="n must be"):
        evaluator.real_baseline(n=10**6)
