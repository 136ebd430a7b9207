import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from PIL import Image

from helpers import data, figures, plotting
from helpers.imagenet import preprocess


def test_sample_photos_are_uint8_rgb_and_fresh_copies():
    photos = data.sample_photos()
    assert set(photos) == {"cat", "coffee", "astronaut", "rocket", "camera"}
    for name, photo in photos.items():
        assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3, name
    assert data.cat_image().shape == (300, 451, 3)
    first = data.cat_image()
    first[:] = 0
    assert data.cat_image().max() > 0, "a caller's change leaked into the next call"


def test_photo_batch_holds_each_photo_and_its_mirror_image():
    batch, names = data.photo_batch(size=32)
    assert batch.shape == (10, 3, 32, 32) and len(names) == 10
    assert names[:2] == ["cat", "cat (mirrored)"]
    assert torch.equal(batch[1], batch[0].flip(-1))
    assert batch.min() >= 0 and batch.max() <= 1
    assert data.photo_batch(size=32, mirrored=False)[0].shape == (5, 3, 32, 32)


def test_horse_silhouette_is_a_boolean_mask():
    horse = data.horse_silhouette()
    assert horse.dtype == np.bool_ and horse.shape == (328, 400)
    assert 0.05 < (~horse).mean() < 0.6  # the horse covers part of the picture


def test_to_display_accepts_tensors_and_arrays():
    x = preprocess(data.cat_image())
    assert plotting.to_display(x).shape == (224, 224, 3)
    assert plotting.to_display(x[0]).shape == (224, 224, 3)
    assert plotting.to_display(data.cat_image()).max() <= 1.0
    assert plotting.to_display(data.horse_silhouette()).shape == (328, 400)
    with pytest.raises(ValueError, match="batch"):
        plotting.to_display(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plotting.to_display(torch.rand(3, 8, 8) * 3)


def test_show_predictions_draws_one_row_per_image_with_the_labels():
    images = torch.rand(2, 3, 16, 16)
    predictions = [[("tabby", 0.6), ("tiger cat", 0.3)], [("espresso", 0.9), ("cup", 0.05)]]
    fig = plotting.show_predictions(images, predictions, titles=["a", "b"])
    assert len(fig.axes) == 4
    tick_labels = [t.get_text() for t in fig.axes[1].get_yticklabels()]
    assert tick_labels == ["tiger cat", "tabby"]  # most probable on top
    with pytest.raises(ValueError, match="predictions"):
        plotting.show_predictions(images, predictions[:1])


def test_show_images_lays_out_a_grid():
    fig = plotting.show_images(torch.rand(5, 3, 8, 8), titles=list("abcde"), ncols=3)
    assert len(fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes[:5]] == list("abcde")
    with pytest.raises(ValueError, match="titles"):
        plotting.show_images(torch.rand(2, 3, 8, 8), titles=["a"])


def test_figures_regenerate_into_a_folder(tmp_path, root):
    written = figures.make_figures(tmp_path)
    assert [p.name for p in written] == list(figures.FIGURES)
    for path in written:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width > 400
        committed = root / "images" / path.name
        assert committed.is_file(), f"{committed.name} is not committed; run python -m helpers.figures"


def test_amplify_maps_the_perturbation_to_0_1_with_zero_at_grey():
    delta = torch.tensor([[-0.02, 0.0, 0.01]])
    assert torch.allclose(plotting.amplify(delta), torch.tensor([[0.0, 0.5, 0.75]]))


def test_show_adversarial_draws_three_panels():
    x = torch.rand(1, 3, 8, 8) * 0.5
    fig = plotting.show_adversarial(x, x + 2 / 255, titles=("cat", "iguana"))
    assert [ax.get_title() for ax in fig.axes][:2] == ["cat", "iguana"]
    assert "2.0/255" in fig.axes[2].get_title()


def test_show_grid_puts_many_images_in_one_picture():
    ax = plotting.show_grid(torch.rand(20, 1, 16, 16), "twenty digits", nrow=8)
    picture = ax.get_images()[0].get_array()
    assert picture.shape[:2] == (3 * 17 + 1, 8 * 17 + 1)  # 3 rows of 8, one pixel of padding around each
    assert ax.get_title() == "twenty digits"
    with pytest.raises(ValueError):
        plotting.show_grid(torch.rand(4, 16, 16))
    plt.close("all")
