"""Does a horses <-> zebras CycleGAN work? Measures on the synthetic data, whose answers are known.

- :class:`DomainClassifier` / :func:`domain_classifier`: a small CNN trained on *real* horses and zebras
  (:func:`helpers.horses.horses_and_zebras`' training split) and on a third class, animals that are neither
  (:func:`helpers.horses.other_animals`: other coats, blotches, faint stripes, noise, blur). The share of
  translated horses it calls zebra and of translated zebras it calls horse is the analogue of the paper's
  FCN score (a network trained on real data judges the fakes). Without the third class a two-way judge
  calls anything not brown a zebra: a generator 100 steps into training, painting white blobs, passed it.
- :func:`animal_mask`: where the animal is, by a colour rule. Every grass pixel is green (green exceeds red
  and blue by at least 0.17), a brown coat has green < red, a black or white one green = red: so the
  *greenness* ``green - max(red, blue)`` of a pixel the animal covers a share ``c`` of is about
  ``(1 - c) * grass + c * coat``, with ``coat <= 0``. The rule calls a pixel animal when its greenness is
  below half the picture's grass level (its median greenness: grass covers most of the picture), i.e. when
  the animal covers about half of it or more, the definition of the true masks. Taking the grass level
  from the picture itself makes the rule indifferent to a generator's slightly other green. Validated on
  the real test images of both domains against the true silhouettes (IoU about 0.96 and 0.98 at 64 px;
  :func:`evaluate_cyclegan` reports it). The IoU between the input's true silhouette and the output's
  segmented one says whether the animal stayed where it was.
- :func:`evaluate_cyclegan`: those two, the cycle error ``mean |F(G(x)) - x|`` and, for zebra -> horse,
  the distance to the hidden true horse, each against the do-nothing baseline ``mean |x_zebra - x_horse|``
  for the same pose (what the identity map leaves; it is also how far a translation has to move an image).

Images are (N, 3, S, S) in [0, 1], masks bool (N, 1, S, S); anything else raises ``ValueError`` (``TypeError``
for a wrong type) naming the parameter.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from torch import nn

from .cyclegan import translate
from .training import train_classifier
from .validation import check_images, check_int, check_model, check_number

__all__ = [
    "CLASSES", "DomainClassifier", "animal_mask", "domain_classifier", "evaluate_cyclegan", "format_results",
    "greenness", "judge", "mask_iou", "show_translations",
]


def greenness(images: torch.Tensor) -> torch.Tensor:
    """``green - max(red, blue)`` per pixel: (N, 3, H, W) in [0, 1] -> (N, 1, H, W) in [-1, 1]."""
    check_images(images, name="images")
    r, g, b = images.unbind(1)
    return (g - torch.maximum(r, b))[:, None]


def animal_mask(images: torch.Tensor, coverage: float = 0.5) -> torch.Tensor:
    """Where the animal is: (N, 3, H, W) in [0, 1] -> bool (N, 1, H, W), True where the animal covers about
    ``coverage`` of the pixel or more: ``greenness < (1 - coverage) * median greenness`` of the picture.
    Only meaningful on grass scenes like :func:`helpers.horses.horses_and_zebras`' (mostly grass)."""
    if not 0 < check_number(coverage, "coverage") < 1:
        raise ValueError(f"coverage must be in (0, 1), got {coverage!r}")
    values = greenness(images)
    grass = values.flatten(1).median(1).values.view(-1, 1, 1, 1)
    return values < (1 - coverage) * grass


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Intersection over union of two bool masks (N, 1, H, W), per image: (N,) in [0, 1] (1 if both empty)."""
    for mask, name in ((a, "a"), (b, "b")):
        if not isinstance(mask, torch.Tensor):
            raise TypeError(f"{name} must be a bool tensor (N, 1, H, W), got {type(mask).__name__}")
        if mask.ndim != 4 or mask.numel() == 0:
            raise ValueError(f"{name} must be a non-empty mask (N, 1, H, W), got shape {tuple(mask.shape)}")
    if a.shape != b.shape or a.dtype != torch.bool or b.dtype != torch.bool:
        raise ValueError(f"masks must be bool tensors of one shape, got {a.dtype} {tuple(a.shape)} and "
                         f"{b.dtype} {tuple(b.shape)}")
    inter = (a & b).flatten(1).sum(1).float()
    union = (a | b).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


CLASSES = ("horse", "zebra", "other")


class DomainClassifier(nn.Module):
    """Horse, zebra or other (:data:`CLASSES`)? Images (N, 3, S, S) in [0, 1] -> logits (N, 3).

    Three stride-2 3x3 convolutions (``width``, 2 ``width``, 4 ``width`` channels, ReLU), global average
    pooling and a linear layer: it judges the whole picture, whatever its size."""

    def __init__(self, width: int = 16):
        super().__init__()
        check_int(width, "width")
        self.net = nn.Sequential(
            nn.Conv2d(3, width, 3, 2, 1), nn.ReLU(), nn.Conv2d(width, 2 * width, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(2 * width, 4 * width, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(4 * width, len(CLASSES)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x)
        return self.net(x * 2 - 1)


def domain_classifier(horses: torch.Tensor, zebras: torch.Tensor, others: torch.Tensor, *, epochs: int = 5,
                      seed: int = 0, progress: bool = False) -> DomainClassifier:
    """A :class:`DomainClassifier` trained (Adam 1e-3, batch 64, ``epochs`` epochs) on real ``horses``
    (class 0), ``zebras`` (1) and ``others`` (2), each (N, 3, S, S) in [0, 1]; returned in eval mode.
    The three sets must share one image size. A measuring instrument: its ``seed`` is fixed (it does not
    follow ``COURSE_SEED``), so that every CycleGAN run is judged by the same classifier."""
    for images, name in ((horses, "horses"), (zebras, "zebras"), (others, "others")):
        check_images(images, name=name)
        if images.shape[1:] != horses.shape[1:]:
            raise ValueError(f"{name} must have the horses' image shape {tuple(horses.shape[1:])}, got "
                             f"{tuple(images.shape)}")
    check_int(epochs, "epochs")
    check_int(seed, "seed", minimum=0)
    torch.manual_seed(seed)
    model = DomainClassifier()
    x = torch.cat([horses, zebras, others])
    y = torch.cat([torch.full((len(images),), label, dtype=torch.long)
                   for label, images in enumerate((horses, zebras, others))])
    train_classifier(model, (x, y), epochs=epochs, seed=seed, progress=progress)
    return model.eval()


@torch.no_grad()
def judge(classifier: nn.Module, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """The class index (0 horse, 1 zebra, 2 other) per image, (N,) long, from a :class:`DomainClassifier`."""
    check_model(classifier, "classifier")
    check_images(images, name="images")
    check_int(batch_size, "batch_size")
    classifier.eval()
    return torch.cat([classifier(chunk).argmax(1) for chunk in images.split(batch_size)])


def _l1(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean absolute difference per pixel and channel, in [0, 1] units."""
    return (a - b).abs().mean().item()


def evaluate_cyclegan(G: nn.Module, F_: nn.Module, test_a: torch.Tensor, test_b: torch.Tensor,
                      test_mask: torch.Tensor, classifier: nn.Module) -> dict[str, dict[str, float]]:
    """Evaluate ``G`` (horse -> zebra) and ``F_`` (zebra -> horse) on the paired test split.

    ``test_a[i]`` / ``test_b[i]``: the same pose as horse / zebra; ``test_mask[i]``: its silhouette
    (bool (N, 1, S, S)). Returns ``{"horse -> zebra": {...}, "zebra -> horse": {...}}``, each with
    ``judged_target`` (share of translations the classifier puts in the target domain), ``iou`` (mean IoU
    of the true silhouette and :func:`animal_mask` of the translation), ``cycle_error`` (mean
    ``|F(G(x)) - x|``, per pixel and channel), ``baseline`` (the do-nothing distance ``mean |test_a -
    test_b|``), and for zebra -> horse ``truth_distance`` (mean ``|F(b) - a|`` to the hidden true horse;
    the baseline is the identity's). Plus ``"real images"``: the classifier's accuracy and the mask rule's
    IoU on the real test images, the ceiling of both measures.
    """
    for name, model in (("G", G), ("F_", F_), ("classifier", classifier)):
        check_model(model, name)
    for name, images in (("test_a", test_a), ("test_b", test_b)):
        check_images(images, name=name)
    if not isinstance(test_mask, torch.Tensor) or test_mask.dtype != torch.bool:
        raise ValueError(f"test_mask must be a bool tensor (N, 1, H, W), got "
                         f"{getattr(test_mask, 'dtype', type(test_mask).__name__)}")
    if test_a.shape != test_b.shape or test_mask.shape != (len(test_a), 1, *test_a.shape[2:]):
        raise ValueError(f"test_a, test_b must share one shape and test_mask be (N, 1, H, W) bool; got "
                         f"{tuple(test_a.shape)}, {tuple(test_b.shape)}, {tuple(test_mask.shape)}")
    fake_b, fake_a = translate(G, test_a), translate(F_, test_b)
    back_a, back_b = translate(F_, fake_b), translate(G, fake_a)
    baseline = _l1(test_a, test_b)
    return {
        "horse -> zebra": {
            "judged_target": (judge(classifier, fake_b) == 1).float().mean().item(),
            "iou": mask_iou(test_mask, animal_mask(fake_b)).mean().item(),
            "cycle_error": _l1(back_a, test_a),
            "baseline": baseline,
        },
        "zebra -> horse": {
            "judged_target": (judge(classifier, fake_a) == 0).float().mean().item(),
            "iou": mask_iou(test_mask, animal_mask(fake_a)).mean().item(),
            "cycle_error": _l1(back_b, test_b),
            "baseline": baseline,
            "truth_distance": _l1(fake_a, test_a),
        },
        "real images": {
            "classifier_accuracy": 0.5 * ((judge(classifier, test_a) == 0).float().mean()
                                          + (judge(classifier, test_b) == 1).float().mean()).item(),
            "mask_iou_horses": mask_iou(test_mask, animal_mask(test_a)).mean().item(),
            "mask_iou_zebras": mask_iou(test_mask, animal_mask(test_b)).mean().item(),
        },
    }


def format_results(results: dict[str, dict[str, float]]) -> str:
    """The results of :func:`evaluate_cyclegan` as a small text table."""
    expected = {"horse -> zebra": ("judged_target", "iou", "cycle_error", "baseline"),
                "zebra -> horse": ("judged_target", "iou", "cycle_error", "baseline", "truth_distance"),
                "real images": ("classifier_accuracy", "mask_iou_horses", "mask_iou_zebras")}
    for group, keys in expected.items():
        missing = [key for key in keys if not isinstance(results, dict) or key not in results.get(group, {})]
        if missing:
            raise ValueError(f"results must be what evaluate_cyclegan returns: {group!r} lacks {missing}")
        for key in keys:
            check_number(results[group][key], f"results[{group!r}][{key!r}]")
    hz, zh, real = results["horse -> zebra"], results["zebra -> horse"], results["real images"]
    rows = [
        ("", "horse -> zebra", "zebra -> horse"),
        ("judged as the target domain", f"{hz['judged_target']:.1%}", f"{zh['judged_target']:.1%}"),
        ("silhouette IoU (input vs output)", f"{hz['iou']:.3f}", f"{zh['iou']:.3f}"),
        ("cycle error |F(G(x)) - x|", f"{hz['cycle_error']:.4f}", f"{zh['cycle_error']:.4f}"),
        ("distance to the true horse", "-", f"{zh['truth_distance']:.4f}"),
        ("do-nothing baseline |x_zebra - x_horse|", f"{hz['baseline']:.4f}", f"{zh['baseline']:.4f}"),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"{a:<{width}}  {b:>15}  {c:>15}" for a, b, c in rows]
    lines.append(f"(real test images: classifier accuracy {real['classifier_accuracy']:.1%}, mask rule IoU "
                 f"{real['mask_iou_horses']:.3f} on horses, {real['mask_iou_zebras']:.3f} on zebras)")
    return "\n".join(lines)


def show_translations(rows: dict[str, torch.Tensor], n: int = 6) -> plt.Figure:
    """A grid: one column per entry of ``rows`` (title -> images (N, 3, H, W) in [0, 1], e.g. input,
    translation, reconstruction), one row per example (the first ``n``)."""
    if not isinstance(rows, dict) or not rows:
        raise ValueError("rows must be a non-empty dict {title: images}")
    check_int(n, "n")
    for title, images in rows.items():
        check_images(images, name=title)
    n = min(n, *(len(images) for images in rows.values()))
    fig, axes = plt.subplots(n, len(rows), figsize=(1.8 * len(rows), 1.8 * n), squeeze=False)
    for col, (title, images) in enumerate(rows.items()):
        for row in range(n):
            ax = axes[row, col]
            ax.imshow(images[row].permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
            ax.set_axis_off()
            if row == 0:
                ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
