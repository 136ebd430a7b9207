import numpy as np
import pytest
import torch
from PIL import Image

from helpers.data import cat_image
from helpers.imagenet import FITS, preprocess


def _check(x, size=224):
    assert x.shape == (1, 3, size, size)
    assert x.dtype == torch.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert x.is_contiguous()


RNG = np.random.default_rng(0)
ACCEPTED = {
    "uint8 HxWx3": RNG.integers(0, 256, (50, 80, 3), dtype=np.uint8),
    "uint8 HxW": RNG.integers(0, 256, (50, 80), dtype=np.uint8),
    "uint8 HxWx1": RNG.integers(0, 256, (50, 80, 1), dtype=np.uint8),
    "uint8 HxWx4": RNG.integers(0, 256, (50, 80, 4), dtype=np.uint8),
    "float32 HxWx3": RNG.random((300, 120, 3), dtype=np.float32),
    "float64 HxW": RNG.random((33, 33)),
    "bool HxW": RNG.random((40, 60)) > 0.5,
    "PIL RGB": Image.fromarray(RNG.integers(0, 256, (64, 48, 3), dtype=np.uint8)),
    "PIL L": Image.fromarray(RNG.integers(0, 256, (64, 48), dtype=np.uint8)),
    "PIL RGBA": Image.fromarray(RNG.integers(0, 256, (64, 48, 4), dtype=np.uint8)),
    "PIL P": Image.fromarray(RNG.integers(0, 256, (64, 48, 3), dtype=np.uint8)).convert("P"),
    "tensor CxHxW": torch.rand(3, 40, 50),
    "tensor 1xCxHxW": torch.rand(1, 3, 40, 50),
    "tensor 1xHxW": torch.rand(1, 40, 50),
}


@pytest.mark.parametrize("kind", list(ACCEPTED))
@pytest.mark.parametrize("fit", FITS)
def test_every_accepted_kind_gives_a_1x3xSxS_float_tensor_in_0_1(kind, fit):
    image = ACCEPTED[kind]
    before = image.copy() if isinstance(image, (np.ndarray, Image.Image)) else image.clone()
    _check(preprocess(image, fit=fit))
    _check(preprocess(image, size=37, fit=fit), size=37)
    if isinstance(image, np.ndarray):
        assert np.array_equal(image, before), "the caller's array was modified"
    elif isinstance(image, torch.Tensor):
        assert torch.equal(image, before), "the caller's tensor was modified"
    else:
        assert np.array_equal(np.asarray(image), np.asarray(before))


def test_result_does_not_share_memory_with_the_input():
    image = torch.rand(3, 224, 224)
    x = preprocess(image)
    x.zero_()
    assert image.sum() > 0


def test_grayscale_is_repeated_and_uint8_is_scaled():
    gray = np.full((10, 10), 51, dtype=np.uint8)
    x = preprocess(gray, size=10)
    assert torch.allclose(x, torch.full((1, 3, 10, 10), 0.2), atol=1e-6)


def test_alpha_is_composited_over_white():
    transparent_black = np.zeros((10, 10, 4), dtype=np.uint8)
    assert torch.allclose(preprocess(transparent_black, size=10), torch.ones(1, 3, 10, 10), atol=1e-6)
    opaque_black = transparent_black.copy()
    opaque_black[..., 3] = 255
    assert torch.allclose(preprocess(opaque_black, size=10), torch.zeros(1, 3, 10, 10), atol=1e-6)


def test_fits_differ_as_documented():
    image = np.zeros((100, 200, 3), dtype=np.uint8)
    image[:, :50] = 255  # a white band on the left quarter
    squash, crop, pad = (preprocess(image, size=100, fit=fit) for fit in ("squash", "crop", "pad"))
    assert squash[0, :, :, :20].min() > 0.9  # the band is kept, squashed to the left quarter
    assert crop[0, :, :, :20].max() < 0.1  # the centre crop cuts it off
    assert pad[0, :, :20, :].max() < 0.1 and pad[0, :, 30:70, :20].min() > 0.9  # black bars above


def test_a_square_photo_at_its_own_size_is_unchanged():
    image = np.random.default_rng(1).random((32, 32, 3)).astype(np.float32)
    for fit in FITS:
        assert torch.allclose(preprocess(image, size=32, fit=fit)[0].permute(1, 2, 0), torch.from_numpy(image), atol=1e-6)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((3, 50, 60), dtype=np.uint8), "channels-first"),
        (np.zeros((50, 60, 2), dtype=np.uint8), "shape"),
        (np.zeros((2, 50, 60, 3), dtype=np.uint8), "shape"),
        (np.zeros((0, 60, 3), dtype=np.uint8), "empty"),
        (np.full((10, 10, 3), 1.5, dtype=np.float32), r"\[0, 1\]"),
        (np.full((10, 10, 3), -0.1), r"\[0, 1\]"),
        (np.full((10, 10, 3), np.nan, dtype=np.float32), "NaN"),
        (np.zeros((10, 10, 3), dtype=np.int64), "dtype"),
        (np.zeros((10, 10, 3), dtype=np.uint16), "dtype"),
        (torch.rand(2, 3, 10, 10), "shape"),
        (torch.rand(3, 10, 10) + 1, r"\[0, 1\]"),
        ([[0, 1], [1, 0]], "PIL image, a NumPy array or a torch tensor"),
        (Image.new("I;16", (10, 10)), "mode"),
    ],
)
def test_bad_images_raise_a_value_error_naming_the_problem(bad, message):
    with pytest.raises(ValueError, match=message):
        preprocess(bad)


@pytest.mark.parametrize("size", [0, -3, 2.5, True, "224"])
def test_bad_size_raises(size):
    with pytest.raises(ValueError, match="size"):
        preprocess(cat_image(), size=size)


def test_unknown_fit_raises():
    with pytest.raises(ValueError, match="fit"):
        preprocess(cat_image(), fit="stretch")
