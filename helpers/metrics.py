"""How good are a generator's digits? Offline measures from a digits classifier trained here.

- :func:`frechet_distance`: the Frechet distance between Gaussians fitted to two sets of features (FID's
  formula, Heusel et al. 2017), here on the 128-d penultimate features of :class:`helpers.digits.DigitsCNN`
  instead of Inception's (there is no ImageNet network for 16x16 digits): lower is closer, 0 for equal
  statistics. Its value depends on the sample sizes, so compare sets of equal size.
- :func:`confident_share`: the share of images the classifier labels with probability >= 0.9.
- :func:`class_counts` / :func:`classes_covered`: how many of the 10 digits appear among the confidently
  classified images (mode collapse shows as missing classes).

:class:`DigitsEvaluator` bundles the three against held-out real digits, with the real-vs-real baseline.
Bad input (NaN, the wrong shape, too few samples, a threshold outside [0, 1]) raises ``ValueError``
(``TypeError`` for a wrong type) naming the parameter.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.linalg
import torch
from torch import nn

from .digits import DigitsCNN, load_digits
from .training import train_classifier
from .validation import check_array, check_images, check_int, check_logits, check_model, check_probability

__all__ = [
    "CONFIDENCE", "DigitsEvaluator", "class_counts", "classes_covered", "confident_share", "digits_classifier",
    "frechet_distance", "frechet_distance_from_stats", "gaussian_stats",
]

CONFIDENCE = 0.9


def _as_float64(features: object, name: str) -> np.ndarray:
    """``features`` as a finite float64 array (N, F) with N >= 2."""
    array = check_array(features, name)
    if array.ndim != 2 or len(array) < 2:
        raise ValueError(f"{name} must be a 2-d array (N, F) of N >= 2 feature vectors, got shape {array.shape}")
    return array


def gaussian_stats(features: object) -> tuple[np.ndarray, np.ndarray]:
    """Mean (F,) and covariance (F, F) (unbiased, float64) of features (N, F)."""
    array = _as_float64(features, "features")
    return array.mean(axis=0), np.cov(array, rowvar=False)


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix (round-off negatives -> 0)."""
    values, vectors = scipy.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(values.clip(min=0))) @ vectors.T


def frechet_distance_from_stats(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """``||mu1 - mu2||^2 + Tr(sigma1) + Tr(sigma2) - 2 Tr((sigma1 sigma2)^(1/2))``: the squared 2-Wasserstein
    (Frechet) distance between N(mu1, sigma1) and N(mu2, sigma2), in squared feature units; >= 0.

    ``Tr((sigma1 sigma2)^(1/2))`` is computed as the sum of the square roots of the eigenvalues of the
    symmetric matrix ``sigma1^(1/2) sigma2 sigma1^(1/2)`` (which has the same eigenvalues as
    ``sigma1 sigma2``): exact for covariances, and stable when they are singular (dead ReLU features, fewer
    samples than features), where the usual ``scipy.linalg.sqrtm(sigma1 @ sigma2)`` warns and drifts.
    """
    mu1, mu2 = np.atleast_1d(check_array(mu1, "mu1")), np.atleast_1d(check_array(mu2, "mu2"))
    sigma1, sigma2 = np.atleast_2d(check_array(sigma1, "sigma1")), np.atleast_2d(check_array(sigma2, "sigma2"))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (len(mu1), len(mu1)) or mu1.ndim != 1:
        raise ValueError(f"mismatched statistics: means {mu1.shape}, {mu2.shape}; covariances {sigma1.shape}, "
                         f"{sigma2.shape}; pass mu (F,) and sigma (F, F) of both sets, from gaussian_stats")
    for sigma, name in ((sigma1, "sigma1"), (sigma2, "sigma2")):
        if not np.allclose(sigma, sigma.T, rtol=1e-6, atol=1e-9):
            raise ValueError(f"{name} must be a covariance matrix (symmetric), got an asymmetric one")
    root1 = _sqrt_psd(sigma1)
    cross = np.sqrt(scipy.linalg.eigvalsh(root1 @ sigma2 @ root1).clip(min=0)).sum()
    diff = mu1 - mu2
    return float(max(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * cross, 0.0))


def frechet_distance(features_a: object, features_b: object) -> float:
    """The Frechet distance between Gaussians fitted to two feature sets (Na, F) and (Nb, F)."""
    return frechet_distance_from_stats(*gaussian_stats(features_a), *gaussian_stats(features_b))


def _probabilities(logits: torch.Tensor, threshold: float) -> torch.Tensor:
    """Softmax of finite, non-empty ``logits`` (N, classes), after checking ``threshold`` in [0, 1]."""
    check_logits(logits)
    check_probability(threshold, "threshold")
    return logits.detach().float().softmax(dim=1)


def confident_share(logits: torch.Tensor, threshold: float = CONFIDENCE) -> float:
    """Share (in [0, 1]) of rows of ``logits`` (N, classes) whose largest softmax probability is >= threshold."""
    return (_probabilities(logits, threshold).max(dim=1).values >= threshold).float().mean().item()


def class_counts(logits: torch.Tensor, threshold: float = CONFIDENCE) -> torch.Tensor:
    """How many rows of ``logits`` (N, classes) are classified as each class with probability >= threshold:
    int64 (classes,). ``threshold=0`` counts every row by its arg-max."""
    probabilities = _probabilities(logits, threshold)
    confidence, label = probabilities.max(dim=1)
    return torch.bincount(label[confidence >= threshold], minlength=probabilities.shape[1])


def classes_covered(logits: torch.Tensor, threshold: float = CONFIDENCE) -> int:
    """Number of classes with at least one row classified as it with probability >= threshold."""
    return int((class_counts(logits, threshold) > 0).sum())


def digits_classifier(size: int = 16, epochs: int = 30, seed: int = 0, progress: bool = False) -> DigitsCNN:
    """A :class:`DigitsCNN` trained on the digits' training split at ``size`` x ``size`` (eval mode, frozen).

    Trained here, offline (30 epochs at 16x16: about 97% test accuracy in about 20 s on 2 CPU cores), and
    cached for the process: a second call with the same arguments returns the same model at once.

    It is a measuring instrument (the judge of :class:`DigitsEvaluator`), so its ``seed`` is fixed and does
    not follow ``COURSE_SEED``: every run of a GAN is judged by the same classifier, as FID judges every
    model with the same Inception network. Judges trained with other seeds differ by a few points in how
    confidently they recognise even real digits (94-97% of held-out digits at probability >= 0.9).
    ``epochs`` >= 1.
    """
    check_int(size, "size", minimum=8)
    check_int(epochs, "epochs")
    check_int(seed, "seed", minimum=0)
    return _digits_classifier(size, epochs, seed, progress)


@lru_cache(maxsize=4)
def _digits_classifier(size: int, epochs: int, seed: int, progress: bool) -> DigitsCNN:
    torch.manual_seed(seed)
    model = DigitsCNN()
    train_classifier(model, load_digits("train", size=size), epochs=epochs, seed=seed, progress=progress)
    return model.eval().requires_grad_(False)


class DigitsEvaluator:
    """Scores generated digits against held-out real ones with a digits classifier.

    ``classifier``: a trained :class:`DigitsCNN` (``.features`` gives the Frechet features); ``reference``:
    real images (N, 1, S, S) in [0, 1], by default the digits' test split, which neither the classifier nor a
    GAN trained on the training split has seen. :meth:`evaluate` returns ``{"frechet", "confident",
    "classes", "counts"}``; :meth:`real_baseline` gives the same for ``n`` real training images, the number
    a perfect generator would get with ``n`` samples. Images to evaluate must have the reference's shape
    (``ValueError`` otherwise), and at least 2 of them (a covariance needs 2).
    """

    def __init__(self, classifier: nn.Module, reference: torch.Tensor | None = None, *, size: int = 16):
        check_model(classifier, "classifier")
        if not (callable(getattr(classifier, "features", None)) and callable(getattr(classifier, "head", None))):
            raise TypeError("classifier must have .features and .head, as helpers.digits.DigitsCNN (see "
                            "digits_classifier())")
        check_int(size, "size", minimum=8)
        if reference is not None:
            self._check_batch(reference, "reference")
        self.classifier, self.size = classifier.eval(), size
        self.reference = load_digits("test", size=size)[0] if reference is None else reference
        self.reference_stats = gaussian_stats(self.features_and_logits(self.reference)[0])

    @torch.no_grad()
    def features_and_logits(self, images: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
        """The classifier's features (N, 128) and logits (N, 10) for images (N, 1, S, S) in [0, 1]."""
        check_images(images, name="images", channels=1)
        check_int(batch_size, "batch_size")
        device = next(self.classifier.parameters()).device
        features = torch.cat([self.classifier.features(x.to(device)).cpu() for x in images.split(batch_size)])
        return features, self.classifier.head(features.to(device)).cpu()

    def evaluate(self, images: torch.Tensor) -> dict[str, object]:
        """Frechet distance to the reference (lower is better), confident share, classes covered and the
        per-class counts of the confidently classified images, for images (N, 1, S, S) in [0, 1], N >= 2."""
        self._check_batch(images, "images")
        if images.shape[1:] != self.reference.shape[1:]:
            wanted = ", ".join(map(str, self.reference.shape[1:]))
            raise ValueError(f"images must have the reference's shape (N, {wanted}), got {tuple(images.shape)}")
        features, logits = self.features_and_logits(images)
        return {
            "frechet": frechet_distance_from_stats(*gaussian_stats(features), *self.reference_stats),
            "confident": confident_share(logits),
            "classes": classes_covered(logits),
            "counts": class_counts(logits),
        }

    def real_baseline(self, n: int = 1000, seed: int = 0) -> dict[str, object]:
        """:meth:`evaluate` on ``n`` real training digits (drawn without replacement): real vs real."""
        images = load_digits("train", size=self.size)[0]
        check_int(seed, "seed", minimum=0)
        if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= len(images):
            raise ValueError(f"n must be in [2, {len(images)}] (the training digits), got {n!r}")
        return self.evaluate(images[torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]])

    @staticmethod
    def _check_batch(images: torch.Tensor, name: str) -> None:
        check_images(images, name=name, channels=1)
        if len(images) < 2:
            raise ValueError(f"{name} must hold at least 2 images (a covariance needs 2), got {tuple(images.shape)}")
