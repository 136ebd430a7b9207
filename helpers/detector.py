"""A SafetyNet-style detector of adversarial inputs (Lu, Issaranon and Forsyth, ICCV 2017), and an attacker
who knows it.

The classifier is left alone. A second classifier looks at a late layer of it: every unit of that layer
(a ReLU) is quantized into a small code -- 0 when off, then 1, 2, ... as its activation passes thresholds
learnt from clean data -- and an RBF-kernel SVM (scikit-learn's ``SVC``) on those codes tells clean inputs
(label 0) from adversarial ones (label 1). Lu et al. argue that the quantization makes the detector hard to
attack by gradient, since its output is piecewise constant in the input.

:func:`adaptive_attack` is the answer of Carlini and Wagner ("Adversarial examples are not easily
detected", 2017) and Athalye et al. (BPDA, 2018): an attacker who knows the classifier *and* the detector
runs PGD on ``loss(classifier) - c * score(detector)``, taking the detector's exact (quantized) score in
the forward pass and a smooth staircase's gradient in the backward pass.

Images are (N, C, H, W) in [0, 1]; ``features(x)`` returns (N, D) activations (default: ``model.features``,
e.g. the 128 penultimate ReLUs of :class:`helpers.digits.DigitsCNN`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .attacks import pgd
from .gradients import autograd_grad
from .validation import (
    call_model, check_callable, check_images, check_int, check_labels, check_model, check_number, check_tensor
)

__all__ = ["SafetyNetDetector", "adaptive_attack"]


class SafetyNetDetector:
    """Quantized late-layer codes of ``model`` + an RBF SVM: clean (0) or adversarial (1)?

    ``features(x) -> (N, D)`` is the late layer (default ``model.features``); ``levels`` >= 2 is the number
    of code values per unit: 0 for an activation <= 0, then ``levels - 2`` further thresholds per unit at
    quantiles of that unit's positive activations on the clean training images (``levels=2``: a binary
    on/off code; the default 3 adds "weakly on" / "strongly on" at the median). ``C`` and ``gamma`` are the
    SVM's (scikit-learn's ``SVC``). Use :meth:`fit`, then :meth:`flag` / :meth:`score` / :meth:`rates`.
    The model is not modified and is run in eval mode (its mode is restored). Bad input raises ``ValueError``
    (``TypeError`` for a wrong type) naming the parameter.
    """

    def __init__(self, model: nn.Module, *, features: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 levels: int = 3, C: float = 1.0, gamma: float | str = "scale", batch_size: int = 512):
        check_model(model)
        check_int(levels, "levels", minimum=2)
        check_number(C, "C", positive=True)
        if gamma not in ("scale", "auto"):
            check_number(gamma, "gamma", positive=True, hint="or 'scale' / 'auto', as scikit-learn's SVC")
        check_int(batch_size, "batch_size")
        if features is not None:
            check_callable(features, "features")
        elif not hasattr(model, "features"):
            raise ValueError("the model has no .features(x); pass features=, a function x -> (N, D) activations")
        self.model = model
        self.features = features if features is not None else model.features
        self.levels, self.C, self.gamma, self.batch_size = levels, C, gamma, batch_size
        self.thresholds: torch.Tensor | None = None  # (levels - 1, D)
        self.svm = None

    # ---------------------------------------------------------------------------------------------
    # Codes

    def _activations(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, channels=None)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                return torch.cat([self.features(xb) for xb in x.split(self.batch_size)]).float().cpu()
        finally:
            self.model.train(was_training)

    def _fit_thresholds(self, activations: torch.Tensor) -> torch.Tensor:
        """(levels - 1, D): 0, then quantiles of each unit's positive activations (0 for a dead unit)."""
        rows = [torch.zeros(activations.shape[1])]
        quantiles = [k / (self.levels - 1) for k in range(1, self.levels - 1)]
        for q in quantiles:
            row = torch.zeros(activations.shape[1])
            for unit in range(activations.shape[1]):
                positive = activations[:, unit][activations[:, unit] > 0]
                if len(positive):
                    row[unit] = torch.quantile(positive, q)
            rows.append(row)
        return torch.stack(rows)

    def quantize(self, activations: torch.Tensor) -> torch.Tensor:
        """The codes of activations (N, D): how many of each unit's thresholds it exceeds, in 0..levels-1."""
        if self.thresholds is None:
            raise RuntimeError("the detector is not fitted yet: call detector.fit(x_clean, x_adv) first")
        self._check_activations(activations)
        t = self.thresholds.to(activations.device, activations.dtype)
        return (activations.unsqueeze(1) > t).sum(dim=1).to(activations.dtype)

    def soft_codes(self, activations: torch.Tensor, temperature: float | None = None) -> torch.Tensor:
        """The exact codes in the forward pass; in the backward pass, the gradient of the smooth staircase
        ``sum_k sigmoid((a - t_k) / T)`` (BPDA, Athalye et al. 2018). ``T`` defaults to a quarter of the
        median positive threshold. Shape (N, D), differentiable in ``activations``."""
        self._check_fitted()
        self._check_activations(activations)
        if temperature is None:
            temperature = self.temperature
        check_number(temperature, "temperature", positive=True)
        t = self.thresholds.to(activations.device, activations.dtype)
        smooth = torch.sigmoid((activations.unsqueeze(1) - t) / temperature).sum(dim=1)
        return self.quantize(activations.detach()) + smooth - smooth.detach()

    @property
    def temperature(self) -> float:
        positive = self.thresholds[self.thresholds > 0]
        return 0.25 * float(positive.median()) if len(positive) else 0.25

    def codes(self, x: torch.Tensor) -> np.ndarray:
        """The codes of images ``x`` (N, C, H, W) in [0, 1], as a float NumPy array (N, D) in 0..levels-1."""
        return self.quantize(self._activations(x)).numpy()

    # ---------------------------------------------------------------------------------------------
    # Fitting and using the detector

    def fit(self, x_clean: torch.Tensor, x_adv: torch.Tensor) -> SafetyNetDetector:
        """Fit the thresholds on ``x_clean`` and the SVM on clean (0) versus ``x_adv`` (1), images (N, C, H, W)
        in [0, 1] of one image shape. Returns self."""
        from sklearn.svm import SVC

        check_images(x_clean, name="x_clean", channels=None)
        check_images(x_adv, name="x_adv", channels=None)
        if x_clean.shape[1:] != x_adv.shape[1:]:
            raise ValueError(f"x_clean and x_adv must be images of one shape (C, H, W), got {tuple(x_clean.shape)} "
                             f"and {tuple(x_adv.shape)}")
        clean = self._activations(x_clean)
        self.thresholds = self._fit_thresholds(clean)
        features = np.concatenate([self.quantize(clean).numpy(), self.codes(x_adv)])
        labels = np.concatenate([np.zeros(len(x_clean), dtype=np.int64), np.ones(len(x_adv), dtype=np.int64)])
        self.svm = SVC(kernel="rbf", C=self.C, gamma=self.gamma).fit(features, labels)
        return self

    def score(self, x: torch.Tensor) -> np.ndarray:
        """The SVM's decision value per image (N,): > 0 means "adversarial"."""
        self._check_fitted()
        return self.svm.decision_function(self.codes(x))

    def flag(self, x: torch.Tensor) -> torch.Tensor:
        """Bool (N,): True where the detector calls the image adversarial."""
        return torch.from_numpy(self.score(x) > 0)

    def rates(self, x_clean: torch.Tensor, x_adv: torch.Tensor) -> dict[str, float]:
        """``{"detection_rate": share of x_adv flagged, "false_positive_rate": share of x_clean flagged}``."""
        return {"detection_rate": self.flag(x_adv).float().mean().item(),
                "false_positive_rate": self.flag(x_clean).float().mean().item()}

    def score_torch(self, x: torch.Tensor) -> torch.Tensor:
        """The SVM's decision value (N,) as a torch function of ``x``, differentiable through :meth:`soft_codes`
        (same values as :meth:`score`): ``sum_i a_i exp(-gamma ||c - s_i||^2) + b`` over the support vectors."""
        self._check_fitted()
        codes = self.soft_codes(self.features(x))
        support = torch.as_tensor(self.svm.support_vectors_, dtype=codes.dtype, device=codes.device)
        dual = torch.as_tensor(self.svm.dual_coef_[0], dtype=codes.dtype, device=codes.device)
        kernel = torch.exp(-float(self.svm._gamma) * torch.cdist(codes, support).pow(2))
        return kernel @ dual + float(self.svm.intercept_[0])

    def _check_fitted(self) -> None:
        if self.svm is None or self.thresholds is None:
            raise RuntimeError("the detector is not fitted yet: call detector.fit(x_clean, x_adv) first")

    def _check_activations(self, activations: torch.Tensor) -> None:
        units = self.thresholds.shape[1]
        check_tensor(activations, "activations", ndim=2, shape=f"(N, {units})")
        if activations.shape[1] != units:
            raise ValueError(f"activations must have shape (N, {units}) (the fitted layer), got "
                             f"{tuple(activations.shape)}")


def adaptive_attack(
    detector: SafetyNetDetector,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    alpha: float,
    steps: int,
    weights: Sequence[float] = (1.0, 3.0, 10.0, 30.0),
    margin: float = 1.0,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """PGD against classifier and detector together, by an attacker who knows both (white box).

    For each weight ``c`` in ``weights``, L-inf PGD (``eps``, ``alpha``, ``steps``, random start) ascends
    ``CE(model(x'), y) - c * max(score(x'), -margin)``: misclassify, and push the detector's decision value
    below ``-margin`` (then stop pushing). Per image, the first result that is misclassified *and* not
    flagged by the real detector is kept (the attacker can run the detector; checking costs no more than
    the attack). Returns ``{"x_adv": (N, C, H, W), "fooled": (N,) bool misclassified, "flagged": (N,) bool,
    "success": (N,) bool fooled and not flagged}``. ``detector``: fitted; ``y``: int64 (N,) true labels.
    """
    if not isinstance(detector, SafetyNetDetector):
        raise TypeError(f"detector must be a fitted SafetyNetDetector, got {type(detector).__name__}")
    detector._check_fitted()
    check_images(x, channels=None)
    y = check_labels(y, len(x)).to(x.device)
    check_number(eps, "eps", minimum=0.0)
    check_number(alpha, "alpha", minimum=0.0)
    check_int(steps, "steps", minimum=0)
    weights = [check_number(w, "every weight", minimum=0.0) for w in weights]
    if not weights:
        raise ValueError("weights is empty; give the detector weights to try, e.g. (1.0, 3.0, 10.0, 30.0)")
    check_number(margin, "margin", minimum=0.0)
    model = detector.model

    def fooled_and_flagged(images, labels):
        with torch.no_grad():
            was_training = model.training
            model.eval()
            try:
                logits = call_model(model, images)
                fooled = (logits.argmax(1) != check_labels(labels, len(images), logits.shape[1])).cpu()
            finally:
                model.train(was_training)
        return fooled, detector.flag(images)

    best = x.clone()
    fooled, flagged = fooled_and_flagged(best, y)
    success = fooled & ~flagged
    for weight in weights:
        todo = (~success).nonzero().flatten()
        if len(todo) == 0:
            break

        def grad_fn(loss_fn, images, weight=weight):
            def objective(queries):
                n, k = queries.shape[:2]
                score = detector.score_torch(queries.reshape(n * k, *queries.shape[2:])).view(n, k)
                return loss_fn(queries) - weight * score.clamp(min=-margin)
            return autograd_grad(objective, images)

        candidate = pgd(model, x[todo], y[todo], eps=eps, alpha=alpha, steps=steps, random_start=True,
                        grad_fn=grad_fn, generator=generator)
        f, g = fooled_and_flagged(candidate, y[todo])
        was_fooled = fooled[todo]
        # keep a candidate that fools and evades; failing that, one that at least fools (flagged)
        for take in (f & ~g, f & g & ~was_fooled):
            best[todo[take]] = candidate[take]
            fooled[todo[take]], flagged[todo[take]] = True, g[take]
        success = fooled & ~flagged
    return {"x_adv": best, "fooled": fooled, "flagged": flagged, "success": success}
